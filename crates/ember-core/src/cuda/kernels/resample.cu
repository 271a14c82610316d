// Plane-wise linear maps over contiguous [planes, H, W] data, forward and adjoint (the adjoint
// is the gradient): adaptive average pooling, nearest and bilinear resampling. Index and weight
// formulas are PyTorch's, as in the CPU kernels (cpu/pool_kernels.rs, cpu/upsample_kernels.rs).
// Adjoints scatter with atomics (gx must be zeroed): the order of the sums is not fixed, as on
// PyTorch's CUDA path.

// Multiplications that are never fused into an FMA, so the source positions round as on the CPU.
__device__ __forceinline__ float mul_rn(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ double mul_rn(double a, double b) { return __dmul_rn(a, b); }

// Adaptive pooling bin `i` of `out` over `len`: [floor(i * len / out), ceil((i + 1) * len / out)).
__device__ __forceinline__ void adaptive_bin(i64 i, i64 len, i64 out, i64& s, i64& e) {
    s = i * len / out;
    e = ((i + 1) * len + out - 1) / out;
}

// PyTorch's nearest source index (computed in f32 for every dtype, as PyTorch does).
__device__ __forceinline__ i64 nearest_src(i64 dst, i64 in, i64 out) {
    if (out == in) return dst;
    if (out == 2 * in) return dst >> 1;
    float scale = (float)in / (float)out;
    i64 s = (i64)floorf(__fmul_rn((float)dst, scale));
    return s < in - 1 ? s : in - 1;
}

// PyTorch's linear interpolation taps along one axis: sources i0, i1 and their weights.
template <typename T>
__device__ __forceinline__ void linear_taps(i64 d, i64 in, i64 out, int align, i64& i0, i64& i1, T& l0, T& l1) {
    if (in == out) {
        i0 = i1 = d;
        l0 = (T)1;
        l1 = (T)0;
        return;
    }
    T src;
    if (align) {
        T scale = out > 1 ? (T)(in - 1) / (T)(out - 1) : (T)0;
        src = mul_rn(scale, (T)d);
    } else {
        T scale = (T)in / (T)out;
        src = mul_rn(scale, (T)d + (T)0.5) - (T)0.5;
        if (src < (T)0) src = (T)0;
    }
    i0 = (i64)floor((double)src);
    if (i0 > in - 1) i0 = in - 1;
    T l = src - (T)i0;
    if (l < (T)0) l = (T)0;
    if (l > (T)1) l = (T)1;
    i1 = i0 + (i0 < in - 1 ? 1 : 0);
    l0 = (T)1 - l;
    l1 = l;
}

#define RESAMPLE(T, SUF)                                                                                 \
    extern "C" __global__ void adaptive_avg_pool2d_##SUF(T* y, const T* x, i64 planes, i64 h, i64 w,     \
                                                         i64 oh, i64 ow) {                               \
        GRID_STRIDE(i, planes * oh * ow) {                                                               \
            i64 ox = i % ow, oy = (i / ow) % oh, p = i / (ow * oh);                                      \
            i64 ys, ye, xs, xe;                                                                          \
            adaptive_bin(oy, h, oh, ys, ye);                                                             \
            adaptive_bin(ox, w, ow, xs, xe);                                                             \
            const T* plane = x + p * h * w;                                                              \
            T sum = (T)0;                                                                                \
            for (i64 iy = ys; iy < ye; ++iy)                                                             \
                for (i64 ix = xs; ix < xe; ++ix) sum += plane[iy * w + ix];                              \
            y[i] = sum / (T)(ye - ys) / (T)(xe - xs);                                                    \
        }                                                                                                \
    }                                                                                                    \
    extern "C" __global__ void adaptive_avg_pool2d_backward_##SUF(T* gx, const T* gy, i64 planes, i64 h, \
                                                                  i64 w, i64 oh, i64 ow) {               \
        GRID_STRIDE(i, planes * oh * ow) {                                                               \
            i64 ox = i % ow, oy = (i / ow) % oh, p = i / (ow * oh);                                      \
            i64 ys, ye, xs, xe;                                                                          \
            adaptive_bin(oy, h, oh, ys, ye);                                                             \
            adaptive_bin(ox, w, ow, xs, xe);                                                             \
            T g = gy[i] / (T)(ye - ys) / (T)(xe - xs);                                                   \
            for (i64 iy = ys; iy < ye; ++iy)                                                             \
                for (i64 ix = xs; ix < xe; ++ix) atomicAdd(gx + p * h * w + iy * w + ix, g);             \
        }                                                                                                \
    }                                                                                                    \
    extern "C" __global__ void upsample_nearest2d_##SUF(T* y, const T* x, i64 planes, i64 h, i64 w,      \
                                                        i64 oh, i64 ow) {                                \
        GRID_STRIDE(i, planes * oh * ow) {                                                               \
            i64 ox = i % ow, oy = (i / ow) % oh, p = i / (ow * oh);                                      \
            y[i] = x[p * h * w + nearest_src(oy, h, oh) * w + nearest_src(ox, w, ow)];                   \
        }                                                                                                \
    }                                                                                                    \
    extern "C" __global__ void upsample_nearest2d_backward_##SUF(T* gx, const T* gy, i64 planes, i64 h,  \
                                                                 i64 w, i64 oh, i64 ow) {                \
        GRID_STRIDE(i, planes * oh * ow) {                                                               \
            i64 ox = i % ow, oy = (i / ow) % oh, p = i / (ow * oh);                                      \
            atomicAdd(gx + p * h * w + nearest_src(oy, h, oh) * w + nearest_src(ox, w, ow), gy[i]);      \
        }                                                                                                \
    }                                                                                                    \
    extern "C" __global__ void upsample_bilinear2d_##SUF(T* y, const T* x, i64 planes, i64 h, i64 w,     \
                                                         i64 oh, i64 ow, int align) {                    \
        GRID_STRIDE(i, planes * oh * ow) {                                                               \
            i64 ox = i % ow, oy = (i / ow) % oh, p = i / (ow * oh);                                      \
            i64 r0, r1, c0, c1;                                                                          \
            T rl0, rl1, cl0, cl1;                                                                        \
            linear_taps<T>(oy, h, oh, align, r0, r1, rl0, rl1);                                          \
            linear_taps<T>(ox, w, ow, align, c0, c1, cl0, cl1);                                          \
            const T* x0 = x + p * h * w + r0 * w;                                                        \
            const T* x1 = x + p * h * w + r1 * w;                                                        \
            T top = x0[c0] * cl0 + x0[c1] * cl1;                                                         \
            T bottom = x1[c0] * cl0 + x1[c1] * cl1;                                                      \
            y[i] = top * rl0 + bottom * rl1;                                                             \
        }                                                                                                \
    }                                                                                                    \
    extern "C" __global__ void upsample_bilinear2d_backward_##SUF(T* gx, const T* gy, i64 planes, i64 h, \
                                                                  i64 w, i64 oh, i64 ow, int align) {    \
        GRID_STRIDE(i, planes * oh * ow) {                                                               \
            i64 ox = i % ow, oy = (i / ow) % oh, p = i / (ow * oh);                                      \
            i64 r0, r1, c0, c1;                                                                          \
            T rl0, rl1, cl0, cl1;                                                                        \
            linear_taps<T>(oy, h, oh, align, r0, r1, rl0, rl1);                                          \
            linear_taps<T>(ox, w, ow, align, c0, c1, cl0, cl1);                                          \
            T g = gy[i];                                                                                 \
            T* plane = gx + p * h * w;                                                                   \
            atomicAdd(plane + r0 * w + c0, rl0 * cl0 * g);                                               \
            atomicAdd(plane + r0 * w + c1, rl0 * cl1 * g);                                               \
            atomicAdd(plane + r1 * w + c0, rl1 * cl0 * g);                                               \
            atomicAdd(plane + r1 * w + c1, rl1 * cl1 * g);                                               \
        }                                                                                                \
    }

RESAMPLE(float, f32)
RESAMPLE(double, f64)
