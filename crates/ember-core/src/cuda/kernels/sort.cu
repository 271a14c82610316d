// Row-wise stable sort (and so topk) by a bitonic network over (key, index) pairs in global
// memory: each row of n elements is padded to a power of two, one launch per network stage
// (log2(n)^2 / 2 launches), which sorts every row at once and has no length limit.
// Order: NaN above every number (last ascending, first descending); equal keys by index, which
// makes the result stable, as the CPU's sort. Padding (index >= n) always sorts last.

template <typename T>
__device__ __forceinline__ bool sort_before(T a, i64 ia, T b, i64 ib, i64 n, int desc) {
    if (ia >= n) return false;
    if (ib >= n) return true;
    bool an = a != a, bn = b != b;
    if (an != bn) return desc ? an : bn;
    if (!an && a != b) return desc ? a > b : a < b;
    return ia < ib;
}

#define SORT(T, SUF)                                                                                     \
    /* keys/idx: [rows, m] with m = n rounded up to a power of two */                                    \
    extern "C" __global__ void sort_init_##SUF(T* keys, i64* idx, const T* x, i64 rows, i64 n, i64 m) {  \
        GRID_STRIDE(i, rows * m) {                                                                       \
            i64 r = i / m, j = i % m;                                                                    \
            keys[i] = j < n ? x[r * n + j] : (T)0;                                                       \
            idx[i] = j;                                                                                  \
        }                                                                                                \
    }                                                                                                    \
    /* one compare-exchange stage (k: bitonic block size, j: partner distance) */                        \
    extern "C" __global__ void sort_step_##SUF(T* keys, i64* idx, i64 rows, i64 n, i64 m, i64 k, i64 j,  \
                                               int desc) {                                               \
        GRID_STRIDE(i, rows * m) {                                                                       \
            i64 l = i % m, p = l ^ j;                                                                    \
            if (p <= l) continue;                                                                        \
            i64 a = i, b = i - l + p;                                                                    \
            bool up = (l & k) == 0;                                                                      \
            bool swap = up ? sort_before<T>(keys[b], idx[b], keys[a], idx[a], n, desc)                   \
                           : sort_before<T>(keys[a], idx[a], keys[b], idx[b], n, desc);                  \
            if (swap) {                                                                                  \
                T tk = keys[a]; keys[a] = keys[b]; keys[b] = tk;                                         \
                i64 ti = idx[a]; idx[a] = idx[b]; idx[b] = ti;                                           \
            }                                                                                            \
        }                                                                                                \
    }                                                                                                    \
    /* the first `take` of each sorted row: values [rows, take] and their input indices */               \
    extern "C" __global__ void sort_take_##SUF(T* vals, i64* out_idx, const T* keys, const i64* idx,     \
                                               i64 rows, i64 m, i64 take) {                              \
        GRID_STRIDE(i, rows * take) {                                                                    \
            i64 r = i / take, j = i % take;                                                              \
            vals[i] = keys[r * m + j];                                                                   \
            out_idx[i] = idx[r * m + j];                                                                 \
        }                                                                                                \
    }

SORT(u8, u8)
SORT(int, i32)
SORT(i64, i64)
SORT(float, f32)
SORT(double, f64)
