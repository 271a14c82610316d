// Creation kernels: fill, arange, and the strided copy that makes views contiguous.

#define FILL(T, SUF)                                                                  \
    extern "C" __global__ void fill_##SUF(T* out, T value, i64 n) {                   \
        GRID_STRIDE(i, n) { out[i] = value; }                                         \
    }                                                                                 \
    extern "C" __global__ void copy_strided_##SUF(T* out, const T* x, Strided sx, i64 n) { \
        GRID_STRIDE(i, n) { out[i] = x[strided_offset(sx, i)]; }                      \
    }

FILL(u8, u8)
FILL(u16, u16)
FILL(int, i32)
FILL(i64, i64)
FILL(float, f32)
FILL(double, f64)

extern "C" __global__ void arange_f32(float* out, double start, double step, i64 n) {
    GRID_STRIDE(i, n) { out[i] = (float)(start + step * (double)i); }
}
extern "C" __global__ void arange_f64(double* out, double start, double step, i64 n) {
    GRID_STRIDE(i, n) { out[i] = start + step * (double)i; }
}
extern "C" __global__ void arange_i64(i64* out, i64 start, i64 step, i64 n) {
    GRID_STRIDE(i, n) { out[i] = start + step * i; }
}

// out (a strided view, e.g. a slice of a zero tensor) = x, elementwise over the view's shape.
#define COPY_INTO(T, SUF)                                                                           \
    extern "C" __global__ void copy_into_##SUF(T* out, Strided so, const T* x, Strided sx, i64 n) { \
        GRID_STRIDE(i, n) { out[strided_offset(so, i)] = x[strided_offset(sx, i)]; }               \
    }
COPY_INTO(u8, u8)
COPY_INTO(u16, u16)
COPY_INTO(int, i32)
COPY_INTO(i64, i64)
COPY_INTO(float, f32)
COPY_INTO(double, f64)
