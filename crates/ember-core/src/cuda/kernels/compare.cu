// Comparisons (bool = one byte 0/1 out) and `where`, over strided, broadcast operands.
// Op codes: 0 eq, 1 ne, 2 lt, 3 le, 4 gt, 5 ge (cuda/ops/compare.rs keeps the same order).

template <typename T>
__device__ __forceinline__ u8 compare_op(int op, T x, T y) {
    switch (op) {
        case 0: return x == y;
        case 1: return x != y;
        case 2: return x < y;
        case 3: return x <= y;
        case 4: return x > y;
        case 5: return x >= y;
        default: return 0;
    }
}

#define COMPARE(T, SUF)                                                                               \
    extern "C" __global__ void compare_##SUF(u8* out, const T* x, Strided sx, const T* y, Strided sy, \
                                             i64 n, int op) {                                         \
        GRID_STRIDE(i, n) { out[i] = compare_op<T>(op, x[strided_offset(sx, i)], y[strided_offset(sy, i)]); } \
    }                                                                                                 \
    extern "C" __global__ void where_##SUF(T* out, const u8* c, Strided sc, const T* x, Strided sx,   \
                                           const T* y, Strided sy, i64 n) {                           \
        GRID_STRIDE(i, n) {                                                                           \
            out[i] = c[strided_offset(sc, i)] ? x[strided_offset(sx, i)] : y[strided_offset(sy, i)];  \
        }                                                                                             \
    }

COMPARE(u8, u8)
COMPARE(int, i32)
COMPARE(i64, i64)
COMPARE(float, f32)
COMPARE(double, f64)

// f16/bf16 values compared through f32; `where` only moves bits, so u16 serves both.
__device__ __forceinline__ float load_half(const u16* x, i64 o, int bf) {
    return bf ? bf16_to_f32(x[o]) : f16_to_f32(x[o]);
}
extern "C" __global__ void compare_half(u8* out, const u16* x, Strided sx, const u16* y, Strided sy, i64 n,
                                        int op, int bf) {
    GRID_STRIDE(i, n) {
        out[i] = compare_op<float>(op, load_half(x, strided_offset(sx, i), bf), load_half(y, strided_offset(sy, i), bf));
    }
}
extern "C" __global__ void where_u16(u16* out, const u8* c, Strided sc, const u16* x, Strided sx, const u16* y,
                                     Strided sy, i64 n) {
    GRID_STRIDE(i, n) { out[i] = c[strided_offset(sc, i)] ? x[strided_offset(sx, i)] : y[strided_offset(sy, i)]; }
}

// Logical ops on bool bytes. Op codes: 0 and, 1 or, 2 xor, 3 not (y unused).
extern "C" __global__ void logical_u8(u8* out, const u8* x, Strided sx, const u8* y, Strided sy, i64 n, int op) {
    GRID_STRIDE(i, n) {
        u8 a = x[strided_offset(sx, i)] != 0;
        u8 b = op == 3 ? 0 : (y[strided_offset(sy, i)] != 0);
        out[i] = op == 0 ? (a & b) : op == 1 ? (a | b) : op == 2 ? (a ^ b) : (u8)!a;
    }
}
