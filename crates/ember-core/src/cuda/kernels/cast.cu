// Casts between every pair of dtypes. Each source type is read into a double (exact for every
// type but i64 beyond 2^53, which has its own integer path) and written as the target type.
// Float -> integer truncates toward zero, as Rust's `as` and C++ do; bool is 0/1.

__device__ __forceinline__ double load_bool(const u8* x, i64 o) { return x[o] ? 1.0 : 0.0; }
__device__ __forceinline__ double load_u8(const u8* x, i64 o) { return (double)x[o]; }
__device__ __forceinline__ double load_i32(const int* x, i64 o) { return (double)x[o]; }
__device__ __forceinline__ double load_i64(const i64* x, i64 o) { return (double)x[o]; }
__device__ __forceinline__ double load_f16(const u16* x, i64 o) { return (double)f16_to_f32(x[o]); }
__device__ __forceinline__ double load_bf16(const u16* x, i64 o) { return (double)bf16_to_f32(x[o]); }
__device__ __forceinline__ double load_f32(const float* x, i64 o) { return (double)x[o]; }
__device__ __forceinline__ double load_f64(const double* x, i64 o) { return x[o]; }

__device__ __forceinline__ u8 store_bool(double v) { return v != 0.0 ? 1 : 0; }
// through i64 so that out-of-range values wrap, matching the CPU backend
__device__ __forceinline__ u8 store_u8(double v) { return (u8)(i64)v; }
__device__ __forceinline__ int store_i32(double v) { return (int)v; }
__device__ __forceinline__ i64 store_i64(double v) { return (i64)v; }
__device__ __forceinline__ u16 store_f16(double v) { return f32_to_f16((float)v); }
__device__ __forceinline__ u16 store_bf16(double v) { return f32_to_bf16((float)v); }
__device__ __forceinline__ float store_f32(double v) { return (float)v; }
__device__ __forceinline__ double store_f64(double v) { return v; }

#define CAST(SRC_T, SRC, DST_T, DST)                                                          \
    extern "C" __global__ void cast_##SRC##_##DST(DST_T* out, const SRC_T* x, Strided sx, i64 n) { \
        GRID_STRIDE(i, n) { out[i] = store_##DST(load_##SRC(x, strided_offset(sx, i))); }    \
    }

#define CAST_FROM(SRC_T, SRC)        \
    CAST(SRC_T, SRC, u8, bool)       \
    CAST(SRC_T, SRC, u8, u8)         \
    CAST(SRC_T, SRC, int, i32)       \
    CAST(SRC_T, SRC, i64, i64)       \
    CAST(SRC_T, SRC, u16, f16)       \
    CAST(SRC_T, SRC, u16, bf16)      \
    CAST(SRC_T, SRC, float, f32)     \
    CAST(SRC_T, SRC, double, f64)

CAST_FROM(u8, bool)
CAST_FROM(u8, u8)
CAST_FROM(int, i32)
CAST_FROM(i64, i64)
CAST_FROM(u16, f16)
CAST_FROM(u16, bf16)
CAST_FROM(float, f32)
CAST_FROM(double, f64)

// i64 <-> i32 without the trip through double (exact for every i64)
extern "C" __global__ void cast_i64_i32_exact(int* out, const i64* x, Strided sx, i64 n) {
    GRID_STRIDE(i, n) { out[i] = (int)x[strided_offset(sx, i)]; }
}
