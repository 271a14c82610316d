// softmax / log_softmax over the middle axis of a contiguous (outer, n, inner) tensor, and their
// backward. Max-subtracted, so large logits do not overflow. One thread per (outer, inner) lane:
// simple and exact; the rows of a classifier (inner == 1) use the block-per-row kernels below.

#define SOFTMAX(T, SUF, EXP, LOG, NEG_INF)                                                                       \
    extern "C" __global__ void softmax_lanes_##SUF(T* y, const T* x, i64 outer, i64 n, i64 inner, int log_out) { \
        GRID_STRIDE(i, outer * inner) {                                                                 \
            i64 o = i / inner, k = i % inner;                                                           \
            const T* p = x + o * n * inner + k;                                                         \
            T* q = y + o * n * inner + k;                                                               \
            T m = p[0];                                                                                 \
            for (i64 r = 1; r < n; ++r) m = p[r * inner] > m ? p[r * inner] : m;                        \
            T s = 0;                                                                                    \
            for (i64 r = 0; r < n; ++r) s += EXP(p[r * inner] - m);                                     \
            T ls = LOG(s);                                                                              \
            for (i64 r = 0; r < n; ++r) {                                                               \
                T z = p[r * inner] - m;                                                                 \
                q[r * inner] = log_out ? z - ls : EXP(z) / s;                                           \
            }                                                                                           \
        }                                                                                               \
    }                                                                                                   \
    /* rows (inner == 1), one block of 256 threads per row */                                           \
    extern "C" __global__ void softmax_rows_##SUF(T* y, const T* x, i64 outer, i64 n, int log_out) {    \
        __shared__ T buf[256];                                                                          \
        for (i64 row = blockIdx.x; row < outer; row += gridDim.x) {                                     \
            const T* p = x + row * n;                                                                   \
            T* q = y + row * n;                                                                         \
            T m = NEG_INF;                                                                         \
            for (i64 r = threadIdx.x; r < n; r += blockDim.x) m = p[r] > m ? p[r] : m;                  \
            buf[threadIdx.x] = m;                                                                       \
            __syncthreads();                                                                            \
            for (int s = blockDim.x / 2; s > 0; s >>= 1) {                                              \
                if (threadIdx.x < s && buf[threadIdx.x + s] > buf[threadIdx.x]) buf[threadIdx.x] = buf[threadIdx.x + s]; \
                __syncthreads();                                                                        \
            }                                                                                           \
            m = buf[0];                                                                                 \
            __syncthreads();                                                                            \
            T acc = 0;                                                                                  \
            for (i64 r = threadIdx.x; r < n; r += blockDim.x) acc += EXP(p[r] - m);                     \
            buf[threadIdx.x] = acc;                                                                     \
            __syncthreads();                                                                            \
            for (int s = blockDim.x / 2; s > 0; s >>= 1) {                                              \
                if (threadIdx.x < s) buf[threadIdx.x] += buf[threadIdx.x + s];                          \
                __syncthreads();                                                                        \
            }                                                                                           \
            T sum = buf[0];                                                                             \
            T ls = LOG(sum);                                                                            \
            for (i64 r = threadIdx.x; r < n; r += blockDim.x) {                                         \
                T z = p[r] - m;                                                                         \
                q[r] = log_out ? z - ls : EXP(z) / sum;                                                 \
            }                                                                                           \
            __syncthreads();                                                                            \
        }                                                                                               \
    }                                                                                                   \
    /* backward: softmax gx = y * (g - sum(g * y)); log_softmax gx = g - exp(y) * sum(g) */             \
    extern "C" __global__ void softmax_backward_##SUF(T* gx, const T* y, const T* g, i64 outer, i64 n,  \
                                                      i64 inner, int log_out) {                         \
        GRID_STRIDE(i, outer * inner) {                                                                 \
            i64 o = i / inner, k = i % inner;                                                           \
            i64 base = o * n * inner + k;                                                               \
            T s = 0;                                                                                    \
            for (i64 r = 0; r < n; ++r) {                                                               \
                i64 j = base + r * inner;                                                               \
                s += log_out ? g[j] : g[j] * y[j];                                                      \
            }                                                                                           \
            for (i64 r = 0; r < n; ++r) {                                                               \
                i64 j = base + r * inner;                                                               \
                gx[j] = log_out ? g[j] - EXP(y[j]) * s : y[j] * (g[j] - s);                             \
            }                                                                                           \
        }                                                                                               \
    }

SOFTMAX(float, f32, expf, logf, __int_as_float(0xff800000))
SOFTMAX(double, f64, exp, log, __longlong_as_double((long long)0xfff0000000000000ULL))
