// Counter-based random numbers (Philox-4x32-10, Salmon et al. 2011): element i of a draw is a
// pure function of (seed, offset + i), so the result does not depend on the launch shape and a
// generator only has to advance its offset by the number of values it handed out.

__device__ __forceinline__ void philox_round(u32 ctr[4], u32 key[2]) {
    const u32 M0 = 0xD2511F53u, M1 = 0xCD9E8D57u;
    u32 hi0 = __umulhi(M0, ctr[0]), lo0 = M0 * ctr[0];
    u32 hi1 = __umulhi(M1, ctr[2]), lo1 = M1 * ctr[2];
    u32 c0 = hi1 ^ ctr[1] ^ key[0];
    u32 c2 = hi0 ^ ctr[3] ^ key[1];
    ctr[0] = c0;
    ctr[1] = lo1;
    ctr[2] = c2;
    ctr[3] = lo0;
}

__device__ __forceinline__ void philox(u64 seed, u64 counter, u32 out[4]) {
    u32 key[2] = {(u32)seed, (u32)(seed >> 32)};
    u32 ctr[4] = {(u32)counter, (u32)(counter >> 32), 0u, 0u};
    for (int r = 0; r < 10; ++r) {
        philox_round(ctr, key);
        key[0] += 0x9E3779B9u;
        key[1] += 0xBB67AE85u;
    }
    for (int k = 0; k < 4; ++k) out[k] = ctr[k];
}

// 24 high bits -> [0, 1), never 1.0 (as torch.rand)
__device__ __forceinline__ float u32_to_unit(u32 x) { return (float)(x >> 8) * (1.0f / 16777216.0f); }
// 53 bits -> [0, 1)
__device__ __forceinline__ double u64_to_unit(u32 hi, u32 lo) {
    return (double)((((u64)hi) << 21) ^ (u64)(lo >> 11)) * (1.0 / 9007199254740992.0);
}

extern "C" __global__ void rand_uniform_f32(float* out, i64 n, u64 seed, u64 offset, float low, float high) {
    GRID_STRIDE(i, n) {
        u32 r[4];
        philox(seed, offset + (u64)i, r);
        out[i] = low + (high - low) * u32_to_unit(r[0]);
    }
}
extern "C" __global__ void rand_uniform_f64(double* out, i64 n, u64 seed, u64 offset, double low, double high) {
    GRID_STRIDE(i, n) {
        u32 r[4];
        philox(seed, offset + (u64)i, r);
        out[i] = low + (high - low) * u64_to_unit(r[0], r[1]);
    }
}
// Box-Muller on two uniforms of the same counter; 1 - u keeps the log argument in (0, 1].
extern "C" __global__ void rand_normal_f32(float* out, i64 n, u64 seed, u64 offset, float mean, float std) {
    GRID_STRIDE(i, n) {
        u32 r[4];
        philox(seed, offset + (u64)i, r);
        float u1 = 1.0f - u32_to_unit(r[0]), u2 = u32_to_unit(r[1]);
        out[i] = mean + std * sqrtf(-2.0f * logf(u1)) * cospif(2.0f * u2);
    }
}
extern "C" __global__ void rand_normal_f64(double* out, i64 n, u64 seed, u64 offset, double mean, double std) {
    GRID_STRIDE(i, n) {
        u32 r[4];
        philox(seed, offset + (u64)i, r);
        double u1 = 1.0 - u64_to_unit(r[0], r[1]), u2 = u64_to_unit(r[2], r[3]);
        out[i] = mean + std * sqrt(-2.0 * log(u1)) * cospi(2.0 * u2);
    }
}
