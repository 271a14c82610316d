// Shared by every ember kernel source: prepended to each .cu file before NVRTC compiles it
// (textually, so no include paths are needed at run time).
//
// Conventions:
// - every kernel writes a contiguous output and walks it with a grid-stride loop, so any grid
//   size is correct and the launcher only picks one for speed;
// - strided inputs are described by `Strided` (passed by value), so views (transpose, expand,
//   slice) are read in place without a copy;
// - f16/bf16 travel as their 16-bit patterns and are converted with PTX instructions, so no
//   CUDA header is needed.

typedef long long i64;
typedef unsigned long long u64;
typedef unsigned int u32;
typedef unsigned short u16;
typedef unsigned char u8;

#define EMBER_MAX_DIMS 8

// The layout of one operand, broadcast to the output's shape (stride 0 on broadcast dims).
struct Strided {
    int ndim;
    int contiguous; // 1 when offset + linear index addresses the element directly
    i64 offset;
    i64 shape[EMBER_MAX_DIMS];
    i64 stride[EMBER_MAX_DIMS];
};

// Element offset of the output's linear index `i` inside an operand's storage.
__device__ __forceinline__ i64 strided_offset(const Strided& s, i64 i) {
    if (s.contiguous) return s.offset + i;
    i64 off = s.offset;
    for (int d = s.ndim - 1; d >= 0; --d) {
        i64 n = s.shape[d];
        off += (i % n) * s.stride[d];
        i /= n;
    }
    return off;
}

#define GRID_STRIDE(i, n) \
    for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (i64)blockDim.x * gridDim.x)

__device__ __forceinline__ float f16_to_f32(u16 h) {
    float f;
    asm("{ cvt.f32.f16 %0, %1; }" : "=f"(f) : "h"(h));
    return f;
}
__device__ __forceinline__ u16 f32_to_f16(float f) {
    u16 h;
    asm("{ cvt.rn.f16.f32 %0, %1; }" : "=h"(h) : "f"(f));
    return h;
}
__device__ __forceinline__ float bf16_to_f32(u16 b) {
    return __uint_as_float(((u32)b) << 16);
}
// Round to nearest even, NaN kept quiet (as half::bf16::from_f32 does).
__device__ __forceinline__ u16 f32_to_bf16(float f) {
    u32 x = __float_as_uint(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (u16)((x >> 16) | 0x40u);
    u32 rounding = 0x7fffu + ((x >> 16) & 1u);
    return (u16)((x + rounding) >> 16);
}
