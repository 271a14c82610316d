// Index kernels. Out-of-range indices are not UB: the kernel skips the element and sets
// `*bad` to 1 (an int on the device the launcher reads back), and the op returns an Err.
//
// index_select: x viewed as contiguous (outer, n, inner), idx (k) -> out (outer, k, inner).
// gather:       out[p] = x[p with coordinate `dim` replaced by idx[p]]; idx strided, x strided.
// scatter_add:  out[p with coordinate `dim` replaced by idx[p]] += src[p]  (atomics, so the
//               order of the sums across duplicates is not fixed, as on PyTorch's CUDA path).

__device__ __forceinline__ bool fix_index(i64& j, i64 n, int* bad) {
    if (j < 0) j += n; // negative indices count from the end, as in PyTorch
    if (j < 0 || j >= n) {
        *bad = 1;
        return false;
    }
    return true;
}

// Offset in `x` of the element whose coordinates are those of `p` in the (contiguous) shape
// `shape`, except that coordinate `dim` is `j`.
__device__ __forceinline__ i64 offset_with(const Strided& x, const i64* shape, int ndim, int dim, i64 p, i64 j) {
    i64 off = x.offset;
    for (int d = ndim - 1; d >= 0; --d) {
        i64 c = p % shape[d];
        p /= shape[d];
        off += (d == dim ? j : c) * x.stride[d];
    }
    return off;
}

#define INDEX(T, SUF)                                                                                   \
    extern "C" __global__ void index_select_##SUF(T* out, const T* x, const i64* idx, i64 outer, i64 n, \
                                                  i64 inner, i64 k, int* bad) {                         \
        GRID_STRIDE(i, outer * k * inner) {                                                             \
            i64 c = i % inner, r = (i / inner) % k, o = i / (inner * k);                                \
            i64 j = idx[r];                                                                             \
            out[i] = fix_index(j, n, bad) ? x[(o * n + j) * inner + c] : (T)0;                          \
        }                                                                                               \
    }                                                                                                   \
    /* `si` is the index's layout; its shape (si.shape) is the output's shape */                        \
    extern "C" __global__ void gather_##SUF(T* out, const T* x, Strided sx, const i64* idx, Strided si, \
                                            int dim, i64 n) {                                           \
        GRID_STRIDE(i, n) {                                                                             \
            i64 j = idx[strided_offset(si, i)];                                                         \
            i64 lim = sx.shape[dim];                                                                    \
            if (j < 0) j += lim;                                                                        \
            out[i] = (j >= 0 && j < lim) ? x[offset_with(sx, si.shape, si.ndim, dim, i, j)] : (T)0;     \
        }                                                                                               \
    }

INDEX(float, f32)
INDEX(double, f64)
INDEX(int, i32)
INDEX(i64, i64)
INDEX(u8, u8)
INDEX(u16, u16)

// Range check for gather (kept apart so the gather kernel stays branch-light): flags any index
// outside [-n, n).
extern "C" __global__ void check_indices(const i64* idx, Strided si, i64 count, i64 n, int* bad) {
    GRID_STRIDE(i, count) {
        i64 j = idx[strided_offset(si, i)];
        fix_index(j, n, bad);
    }
}

// One name for the atomic adds of every accumulating dtype (i64 adds as unsigned: the same bits).
__device__ __forceinline__ void atomic_add(float* p, float v) { atomicAdd(p, v); }
__device__ __forceinline__ void atomic_add(double* p, double v) { atomicAdd(p, v); }
__device__ __forceinline__ void atomic_add(int* p, int v) { atomicAdd(p, v); }
__device__ __forceinline__ void atomic_add(i64* p, i64 v) { atomicAdd((u64*)p, (u64)v); }

// `out` is a contiguous tensor (a copy of `self`) with shape `oshape` given in `so`;
// `src` and `idx` share the index's shape (si.shape).
#define SCATTER_ADD(T, SUF)                                                                              \
    extern "C" __global__ void scatter_add_##SUF(T* out, Strided so, const T* src, Strided ss,           \
                                                 const i64* idx, Strided si, int dim, i64 n, int* bad) { \
        GRID_STRIDE(i, n) {                                                                              \
            i64 j = idx[strided_offset(si, i)];                                                          \
            if (!fix_index(j, so.shape[dim], bad)) continue;                                             \
            atomic_add(out + offset_with(so, si.shape, si.ndim, dim, i, j), src[strided_offset(ss, i)]); \
        }                                                                                                \
    }                                                                                                    \
    /* index_add along the middle axis: out (outer, n, inner) += src (outer, k, inner) at idx (k) */     \
    extern "C" __global__ void index_add_##SUF(T* out, const T* src, const i64* idx, i64 outer, i64 n,   \
                                               i64 inner, i64 k, int* bad) {                             \
        GRID_STRIDE(i, outer * k * inner) {                                                              \
            i64 c = i % inner, r = (i / inner) % k, o = i / (inner * k);                                 \
            i64 j = idx[r];                                                                              \
            if (fix_index(j, n, bad)) atomic_add(out + (o * n + j) * inner + c, src[i]);                 \
        }                                                                                                \
    }

SCATTER_ADD(float, f32)
SCATTER_ADD(double, f64)
SCATTER_ADD(int, i32)
SCATTER_ADD(i64, i64)

// scatter (assignment): out[p with coordinate `dim` replaced by idx[p]] = src[p]. Duplicate
// indices leave one of the written values (which one is unspecified, as in PyTorch).
#define SCATTER(T, SUF)                                                                                  \
    extern "C" __global__ void scatter_##SUF(T* out, Strided so, const T* src, Strided ss,               \
                                             const i64* idx, Strided si, int dim, i64 n, int* bad) {     \
        GRID_STRIDE(i, n) {                                                                              \
            i64 j = idx[strided_offset(si, i)];                                                          \
            if (!fix_index(j, so.shape[dim], bad)) continue;                                             \
            out[offset_with(so, si.shape, si.ndim, dim, i, j)] = src[strided_offset(ss, i)];             \
        }                                                                                                \
    }

SCATTER(u8, u8)
SCATTER(u16, u16)
SCATTER(int, i32)
SCATTER(i64, i64)
SCATTER(float, f32)
SCATTER(double, f64)
