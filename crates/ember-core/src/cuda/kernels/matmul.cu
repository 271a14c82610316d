// Integer matrix products (cuBLAS has none): one thread per output element of contiguous
// operands a [batch, m, k] and b [batch, k, n], wrapping arithmetic as on the CPU (the sum runs
// in the unsigned type UT, where overflow is defined). Integer matmul is rare and small; the
// float products go to cuBLAS.

#define MATMUL_INT(T, UT, SUF)                                                                         \
    extern "C" __global__ void matmul_int_##SUF(T* out, const T* a, const T* b, i64 batch, i64 m,     \
                                                i64 k, i64 n) {                                        \
        GRID_STRIDE(i, batch * m * n) {                                                                \
            i64 j = i % n, row = (i / n) % m, bi = i / (m * n);                                        \
            const T* ar = a + (bi * m + row) * k;                                                      \
            const T* bc = b + bi * k * n + j;                                                          \
            UT acc = 0;                                                                                \
            for (i64 p = 0; p < k; ++p) acc += (UT)ar[p] * (UT)bc[p * n];                              \
            out[i] = (T)acc;                                                                           \
        }                                                                                              \
    }

MATMUL_INT(i64, u64, i64)
MATMUL_INT(int, u32, i32)
MATMUL_INT(u8, u32, u8)
