// Copies that reshape data: tril / triu over the last two dims (x strided, out contiguous).
// (flip needs no kernel of its own: it is copy_strided with negative strides.)

// Keeps x where col - row <= k (lower) or col - row >= k (upper), zero elsewhere.
#define TRIANGLE(T, SUF)                                                                            \
    extern "C" __global__ void triangle_##SUF(T* out, const T* x, Strided sx, i64 rows, i64 cols,   \
                                              i64 k, int lower, i64 n) {                            \
        GRID_STRIDE(i, n) {                                                                         \
            i64 c = i % cols, r = (i / cols) % rows;                                                \
            bool keep = lower ? (c - r <= k) : (c - r >= k);                                        \
            out[i] = keep ? x[strided_offset(sx, i)] : (T)0;                                        \
        }                                                                                           \
    }

TRIANGLE(u8, u8)
TRIANGLE(u16, u16)
TRIANGLE(int, i32)
TRIANGLE(i64, i64)
TRIANGLE(float, f32)
TRIANGLE(double, f64)
