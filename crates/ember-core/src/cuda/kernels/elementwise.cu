// Unary and binary elementwise kernels over strided, broadcast operands. One kernel per dtype
// takes an op code (the same on every thread, so the switch does not diverge); the codes are
// the `code()` of `Unary`/`Binary` in cuda/ops/elementwise.rs and must stay in step with it.

// Overloads that pick the f32 or f64 libdevice function, so one template serves both.
#define MATH1(NAME, F32FN, F64FN)                                          \
    __device__ __forceinline__ float NAME(float x) { return F32FN(x); }   \
    __device__ __forceinline__ double NAME(double x) { return F64FN(x); }
MATH1(m_exp, expf, exp)
MATH1(m_exp2, exp2f, exp2)
MATH1(m_log, logf, log)
MATH1(m_log2, log2f, log2)
MATH1(m_log1p, log1pf, log1p)
MATH1(m_expm1, expm1f, expm1)
MATH1(m_sqrt, sqrtf, sqrt)
MATH1(m_rsqrt, rsqrtf, rsqrt)
MATH1(m_sin, sinf, sin)
MATH1(m_cos, cosf, cos)
MATH1(m_tan, tanf, tan)
MATH1(m_tanh, tanhf, tanh)
MATH1(m_erf, erff, erf)
MATH1(m_floor, floorf, floor)
MATH1(m_ceil, ceilf, ceil)
MATH1(m_rint, rintf, rint)
MATH1(m_fabs, fabsf, fabs)
__device__ __forceinline__ float m_pow(float a, float b) { return powf(a, b); }
__device__ __forceinline__ double m_pow(double a, double b) { return pow(a, b); }
__device__ __forceinline__ float m_fmod(float a, float b) { return fmodf(a, b); }
__device__ __forceinline__ double m_fmod(double a, double b) { return fmod(a, b); }

template <typename T>
__device__ __forceinline__ T unary_op(int op, T x, T a, T b) {
    const T zero = (T)0, one = (T)1;
    switch (op) {
        case 0: return -x;                                                // neg
        case 1: return m_fabs(x);                                         // abs
        case 2: return x > zero ? one : (x < zero ? -one : zero);         // sign (NaN and -0 give 0)
        case 3: return m_exp(x);
        case 4: return m_exp2(x);
        case 5: return m_log(x);
        case 6: return m_log2(x);
        case 7: return m_log1p(x);
        case 8: return m_expm1(x);
        case 9: return m_sqrt(x);
        case 10: return m_rsqrt(x);
        case 11: return x * x;                                            // square
        case 12: return one / x;                                          // reciprocal
        case 13: return m_sin(x);
        case 14: return m_cos(x);
        case 15: return m_tan(x);
        case 16: return m_tanh(x);
        case 17: return one / (one + m_exp(-x));                          // sigmoid
        case 18: return x > zero ? x : (x != x ? x : zero);               // relu (NaN stays)
        case 19: return x > zero ? x : x * a;                             // leaky_relu(a)
        case 20: return x > zero ? x : a * m_expm1(x);                    // elu(a)
        case 21: return (T)0.5 * x * (one + m_erf(x * (T)0.70710678118654752440)); // gelu
        case 22: {                                                        // gelu, tanh form
            T inner = (T)0.79788456080286535588 * (x + (T)0.044715 * x * x * x);
            return (T)0.5 * x * (one + m_tanh(inner));
        }
        case 23: return x / (one + m_exp(-x));                            // silu
        case 24: {                                                        // softplus(beta=a, threshold=b)
            T bx = a * x;
            return bx > b ? x : m_log1p(m_exp(bx)) / a;
        }
        case 25: return m_erf(x);
        case 26: return m_floor(x);
        case 27: return m_ceil(x);
        case 28: return m_rint(x);                                        // round half to even
        case 29: {                                                        // clamp(a, b): max, then min
            if (x != x) return x;                                         // (b wins when a > b)
            T y = x < a ? a : x;
            return y > b ? b : y;
        }
        case 30: return m_pow(x, a);                                      // pow(x, scalar)
        default: return x;
    }
}

template <typename T>
__device__ __forceinline__ T binary_op(int op, T x, T y) {
    switch (op) {
        case 0: return x + y;
        case 1: return x - y;
        case 2: return x * y;
        case 3: return x / y;
        case 4: {                                                         // Python remainder
            T r = m_fmod(x, y);
            return (r != (T)0 && ((r < (T)0) != (y < (T)0))) ? r + y : r;
        }
        case 5: return m_pow(x, y);
        case 6: return (x != x || x > y) ? x : y;                         // maximum, NaN wins
        case 7: return (x != x || x < y) ? x : y;                         // minimum, NaN wins
        default: return x;
    }
}

// Integer arithmetic (no div: it promotes to float on the Rust side), wrapping around as on the
// CPU: + - * and pow run in the unsigned type UT, where overflow is defined.
template <typename T, typename UT>
__device__ __forceinline__ T binary_int_op(int op, T x, T y) {
    switch (op) {
        case 0: return (T)((UT)x + (UT)y);
        case 1: return (T)((UT)x - (UT)y);
        case 2: return (T)((UT)x * (UT)y);
        case 4: {                                                         // Python remainder
            if (y == 0) return 0;
            T r = x % y;
            return (r != 0 && ((r < 0) != (y < 0))) ? r + y : r;
        }
        case 5: {                                                         // pow
            if (y < (T)0) {                      // 1 / x^|y| truncated: 0 unless x is 1 or -1
                if (x == (T)1) return x;
                if (x == (T)-1) return (y % 2 == 0) ? (T)1 : x;
                return (T)0;
            }
            UT r = 1, base = (UT)x;
            for (u64 e = (u64)y; e != 0; e >>= 1) {
                if (e & 1) r = (UT)(r * base);
                base = (UT)(base * base);
            }
            return (T)r;
        }
        case 6: return x > y ? x : y;
        case 7: return x < y ? x : y;
        default: return x;
    }
}

#define FLOAT_ELEMENTWISE(T, SUF)                                                                      \
    extern "C" __global__ void unary_##SUF(T* out, const T* x, Strided sx, i64 n, int op, double a,    \
                                           double b) {                                                 \
        GRID_STRIDE(i, n) { out[i] = unary_op<T>(op, x[strided_offset(sx, i)], (T)a, (T)b); }         \
    }                                                                                                  \
    extern "C" __global__ void binary_##SUF(T* out, const T* x, Strided sx, const T* y, Strided sy,    \
                                            i64 n, int op) {                                           \
        GRID_STRIDE(i, n) { out[i] = binary_op<T>(op, x[strided_offset(sx, i)], y[strided_offset(sy, i)]); } \
    }

FLOAT_ELEMENTWISE(float, f32)
FLOAT_ELEMENTWISE(double, f64)

// The unary ops that keep integers (Unary::keeps_int): neg, abs, sign, square, relu, the
// roundings (identity), clamp(a, b). neg/abs/square wrap around as on the CPU, computed in the
// unsigned type UT so the overflow is defined.
template <typename T, typename UT>
__device__ __forceinline__ T unary_int_op(int op, T x, double a, double b) {
    switch (op) {
        case 0: return (T)((UT)0 - (UT)x);                                // neg
        case 1: return x < (T)0 ? (T)((UT)0 - (UT)x) : x;                 // abs
        case 2: return x > (T)0 ? (T)1 : (x < (T)0 ? (T)-1 : (T)0);       // sign
        case 11: return (T)((UT)x * (UT)x);                               // square
        case 18: return x > (T)0 ? x : (T)0;                              // relu
        case 29: {                                                        // clamp(a, b)
            T y = (double)x < a ? (T)a : x;
            return (double)y > b ? (T)b : y;
        }
        default: return x;                                                // floor, ceil, round
    }
}

#define INT_ELEMENTWISE(T, UT, SUF)                                                                    \
    extern "C" __global__ void unary_int_##SUF(T* out, const T* x, Strided sx, i64 n, int op, double a, \
                                               double b) {                                             \
        GRID_STRIDE(i, n) { out[i] = unary_int_op<T, UT>(op, x[strided_offset(sx, i)], a, b); }         \
    }                                                                                                  \
    extern "C" __global__ void binary_##SUF(T* out, const T* x, Strided sx, const T* y, Strided sy,    \
                                            i64 n, int op) {                                           \
        GRID_STRIDE(i, n) { out[i] = binary_int_op<T, UT>(op, x[strided_offset(sx, i)], y[strided_offset(sy, i)]); } \
    }                                                                                                  \
    extern "C" __global__ void neg_##SUF(T* out, const T* x, Strided sx, i64 n) {                      \
        GRID_STRIDE(i, n) { out[i] = -x[strided_offset(sx, i)]; }                                      \
    }

INT_ELEMENTWISE(int, u32, i32)
INT_ELEMENTWISE(i64, u64, i64)
INT_ELEMENTWISE(u8, u8, u8)
