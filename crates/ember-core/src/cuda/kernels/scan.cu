// Cumulative sums and products along the middle axis of a contiguous (outer, n, inner) view.
// The running value is kept in a wider accumulator A (f64 for f32, as the CPU kernels do; u64
// for i64 so overflow wraps as i64::wrapping_add/mul). op: 0 sum, 1 prod.

template <typename A>
__device__ __forceinline__ A scan_combine(int prod, A a, A b) {
    return prod ? a * b : a + b;
}

#define SCAN(T, A, SUF)                                                                                  \
    /* inner > 1: one thread per (outer, inner) lane, walking the n elements in order */                 \
    extern "C" __global__ void scan_lanes_##SUF(T* out, const T* x, i64 outer, i64 n, i64 inner,         \
                                                int prod) {                                              \
        GRID_STRIDE(i, outer * inner) {                                                                  \
            i64 o = i / inner, k = i % inner;                                                            \
            const T* p = x + o * n * inner + k;                                                          \
            T* q = out + o * n * inner + k;                                                              \
            A acc = prod ? (A)1 : (A)0;                                                                  \
            for (i64 r = 0; r < n; ++r) {                                                                \
                acc = scan_combine<A>(prod, acc, (A)p[r * inner]);                                       \
                q[r * inner] = (T)acc;                                                                   \
            }                                                                                            \
        }                                                                                                \
    }                                                                                                    \
    /* inner == 1: one block per row; each 256-element chunk is scanned in shared memory         */    \
    /* (Hillis-Steele) and offset by the carry of the chunks before it. blockDim.x must be 256. */     \
    extern "C" __global__ void scan_rows_##SUF(T* out, const T* x, i64 rows, i64 n, int prod) {          \
        __shared__ A buf[256];                                                                           \
        const A id = prod ? (A)1 : (A)0;                                                                 \
        for (i64 row = blockIdx.x; row < rows; row += gridDim.x) {                                       \
            A carry = id;                                                                                \
            for (i64 base = 0; base < n; base += blockDim.x) {                                           \
                i64 j = base + threadIdx.x;                                                              \
                buf[threadIdx.x] = j < n ? (A)x[row * n + j] : id;                                       \
                __syncthreads();                                                                         \
                for (unsigned s = 1; s < blockDim.x; s <<= 1) {                                          \
                    A t = threadIdx.x >= s ? buf[threadIdx.x - s] : id;                                  \
                    __syncthreads();                                                                     \
                    buf[threadIdx.x] = scan_combine<A>(prod, t, buf[threadIdx.x]);                       \
                    __syncthreads();                                                                     \
                }                                                                                        \
                if (j < n) out[row * n + j] = (T)scan_combine<A>(prod, carry, buf[threadIdx.x]);         \
                carry = scan_combine<A>(prod, carry, buf[blockDim.x - 1]);                               \
                __syncthreads();                                                                         \
            }                                                                                            \
        }                                                                                                \
    }

SCAN(float, double, f32)
SCAN(double, double, f64)
SCAN(i64, u64, i64)
