// Layer norm over contiguous rows of d elements, fused: the formulas and the CPU twin are in
// ops/layer_norm.rs. The composite it replaces runs about nine launches forward and twenty
// backward per call; these run one forward and three backward.
//
// The per-row kernels take one block of 256 threads per row (the launcher's rows_grid) and sum
// with the shared-memory tree of reduce_rows. A null weight or bias pointer means "absent".

// The sum of every thread's `v` over the block, returned to all threads. `buf` holds one value
// per thread and is free again on return.
template <typename T>
__device__ __forceinline__ T block_sum(T v, T* buf) {
    buf[threadIdx.x] = v;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) buf[threadIdx.x] += buf[threadIdx.x + s];
        __syncthreads();
    }
    T total = buf[0];
    __syncthreads();
    return total;
}

__device__ __forceinline__ float sqrt_of(float v) { return sqrtf(v); }
__device__ __forceinline__ double sqrt_of(double v) { return sqrt(v); }

// y = (x - mean) * rstd * w + b per row; mean and rstd (1 / sqrt(biased var + eps)) saved per row.
template <typename T>
__device__ void layer_norm_rows(T* y, T* mean, T* rstd, const T* x, const T* w, const T* b, i64 rows,
                                i64 d, T eps, T* buf) {
    for (i64 row = blockIdx.x; row < rows; row += gridDim.x) {
        const T* p = x + row * d;
        T* q = y + row * d;
        T s = 0;
        for (i64 j = threadIdx.x; j < d; j += blockDim.x) s += p[j];
        T mu = block_sum(s, buf) / (T)d;
        // two passes, so the variance stays exact for rows far from zero
        T s2 = 0;
        for (i64 j = threadIdx.x; j < d; j += blockDim.x) {
            T c = p[j] - mu;
            s2 += c * c;
        }
        T var = block_sum(s2, buf) / (T)d;
        T rs = (T)1 / sqrt_of(var + eps);
        for (i64 j = threadIdx.x; j < d; j += blockDim.x) {
            T v = (p[j] - mu) * rs;
            if (w) v = v * w[j];
            if (b) v = v + b[j];
            q[j] = v;
        }
        if (threadIdx.x == 0) {
            mean[row] = mu;
            rstd[row] = rs;
        }
    }
}

// dx = rstd * (gh - mean(gh) - xhat * mean(gh * xhat)) per row, with gh = g * w (or g) and
// xhat = (x - mean) * rstd.
template <typename T>
__device__ void layer_norm_dx_rows(T* dx, const T* x, const T* g, const T* w, const T* mean, const T* rstd,
                                   i64 rows, i64 d, T* buf) {
    T inv_d = (T)1 / (T)d;
    for (i64 row = blockIdx.x; row < rows; row += gridDim.x) {
        const T* xr = x + row * d;
        const T* gr = g + row * d;
        T mu = mean[row], rs = rstd[row];
        T s1 = 0, s2 = 0;
        for (i64 j = threadIdx.x; j < d; j += blockDim.x) {
            T h = w ? gr[j] * w[j] : gr[j];
            s1 += h;
            s2 += h * (xr[j] - mu);
        }
        T mh = block_sum(s1, buf) * inv_d;
        T mhx = block_sum(s2, buf) * rs * inv_d;
        for (i64 j = threadIdx.x; j < d; j += blockDim.x) {
            T h = w ? gr[j] * w[j] : gr[j];
            dx[row * d + j] = rs * (h - mh - (xr[j] - mu) * rs * mhx);
        }
    }
}

#define LAYER_NORM(T, SUF)                                                                                  \
    extern "C" __global__ void layer_norm_##SUF(T* y, T* mean, T* rstd, const T* x, const T* w, const T* b, \
                                                i64 rows, i64 d, T eps) {                                   \
        __shared__ T buf[256];                                                                              \
        layer_norm_rows<T>(y, mean, rstd, x, w, b, rows, d, eps, buf);                                      \
    }                                                                                                       \
    extern "C" __global__ void layer_norm_dx_##SUF(T* dx, const T* x, const T* g, const T* w, const T* mean, \
                                                   const T* rstd, i64 rows, i64 d) {                        \
        __shared__ T buf[256];                                                                              \
        layer_norm_dx_rows<T>(dx, x, g, w, mean, rstd, rows, d, buf);                                       \
    }                                                                                                       \
    /* dw and db, stage 1: partial sums over chunks of `chunk` rows, one thread per (chunk, column); */     \
    /* consecutive threads take consecutive columns, so every row is read coalesced */                      \
    extern "C" __global__ void layer_norm_wb_partial_##SUF(T* pw, T* pb, const T* x, const T* g,            \
                                                           const T* mean, const T* rstd, i64 rows, i64 d,   \
                                                           i64 chunk, i64 chunks) {                         \
        GRID_STRIDE(i, chunks * d) {                                                                        \
            i64 c = i / d, j = i % d;                                                                       \
            i64 r0 = c * chunk, r1 = r0 + chunk < rows ? r0 + chunk : rows;                                 \
            T aw = 0, ab = 0;                                                                               \
            for (i64 r = r0; r < r1; ++r) {                                                                 \
                T gv = g[r * d + j];                                                                        \
                aw += gv * (x[r * d + j] - mean[r]) * rstd[r];                                              \
                ab += gv;                                                                                   \
            }                                                                                               \
            pw[i] = aw;                                                                                     \
            pb[i] = ab;                                                                                     \
        }                                                                                                   \
    }                                                                                                       \
    /* stage 2: each column sums its chunks in order (deterministic, no atomics) */                         \
    extern "C" __global__ void layer_norm_wb_final_##SUF(T* dw, T* db, const T* pw, const T* pb, i64 d,     \
                                                         i64 chunks) {                                      \
        GRID_STRIDE(j, d) {                                                                                 \
            T aw = 0, ab = 0;                                                                               \
            for (i64 c = 0; c < chunks; ++c) {                                                              \
                aw += pw[c * d + j];                                                                        \
                ab += pb[c * d + j];                                                                        \
            }                                                                                               \
            dw[j] = aw;                                                                                     \
            db[j] = ab;                                                                                     \
        }                                                                                                   \
    }

LAYER_NORM(float, f32)
LAYER_NORM(double, f64)
