// Reductions over the middle axis of a contiguous (outer, red, inner) view — the canonical form
// ops/reduce.rs already builds with `canonical()`. Op codes: 0 sum, 1 prod, 2 max, 3 min
// (max/min propagate NaN, as PyTorch does). Accumulation is in the input type; f16/bf16 are
// widened to f32 on the Rust side first, as on the CPU.

template <typename T>
__device__ __forceinline__ T reduce_combine(int op, T a, T b) {
    switch (op) {
        case 0: return a + b;
        case 1: return a * b;
        case 2: return (b > a || b != b) ? b : a;
        default: return (b < a || b != b) ? b : a;
    }
}

// inner > 1: one thread per output, reading a column with stride `inner` (coalesced across
// neighbouring threads, which read neighbouring columns).
#define REDUCE(T, SUF)                                                                                  \
    extern "C" __global__ void reduce_cols_##SUF(T* out, const T* x, i64 outer, i64 red, i64 inner,     \
                                                 int op, T init) {                                      \
        GRID_STRIDE(i, outer * inner) {                                                                 \
            i64 o = i / inner, k = i % inner;                                                           \
            const T* p = x + o * red * inner + k;                                                       \
            T acc = init;                                                                               \
            for (i64 r = 0; r < red; ++r) acc = reduce_combine<T>(op, acc, p[r * inner]);               \
            out[i] = acc;                                                                               \
        }                                                                                               \
    }                                                                                                   \
    /* inner == 1: one block per row, a tree in shared memory (blockDim.x must be 256) */               \
    extern "C" __global__ void reduce_rows_##SUF(T* out, const T* x, i64 outer, i64 red, int op, T init) { \
        __shared__ T buf[256];                                                                          \
        for (i64 row = blockIdx.x; row < outer; row += gridDim.x) {                                     \
            const T* p = x + row * red;                                                                 \
            T acc = init;                                                                               \
            for (i64 r = threadIdx.x; r < red; r += blockDim.x) acc = reduce_combine<T>(op, acc, p[r]); \
            buf[threadIdx.x] = acc;                                                                     \
            __syncthreads();                                                                            \
            for (int s = blockDim.x / 2; s > 0; s >>= 1) {                                              \
                if (threadIdx.x < s) buf[threadIdx.x] = reduce_combine<T>(op, buf[threadIdx.x], buf[threadIdx.x + s]); \
                __syncthreads();                                                                        \
            }                                                                                           \
            if (threadIdx.x == 0) out[row] = buf[0];                                                    \
            __syncthreads();                                                                            \
        }                                                                                               \
    }                                                                                                   \
    /* argmax (want_max=1) / argmin: first index of the extreme value; NaN counts as the extreme */     \
    extern "C" __global__ void arg_reduce_##SUF(i64* out, const T* x, i64 outer, i64 red, i64 inner,    \
                                                int want_max) {                                         \
        GRID_STRIDE(i, outer * inner) {                                                                 \
            i64 o = i / inner, k = i % inner;                                                           \
            const T* p = x + o * red * inner + k;                                                       \
            T best = p[0];                                                                              \
            i64 at = 0;                                                                                 \
            for (i64 r = 1; r < red && best == best; ++r) {                                             \
                T v = p[r * inner];                                                                     \
                bool better = v != v || (want_max ? v > best : v < best);                               \
                if (better) { best = v; at = r; }                                                       \
            }                                                                                           \
            out[i] = at;                                                                                \
        }                                                                                               \
    }

REDUCE(float, f32)
REDUCE(double, f64)
REDUCE(int, i32)
REDUCE(i64, i64)
REDUCE(u8, u8)
