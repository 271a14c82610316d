// Fused optimizer steps: one thread per element does the whole update, reading the gradient
// and the state once and writing them once.

// struct AdamArgs of cuda/ops/optim.rs (same order and types).
struct AdamArgs {
    float decay_factor, l2, one_minus_beta1, beta2, one_minus_beta2, bias_correction2_sqrt, eps, step_size;
    int decay, maximize;
};

// Adam/AdamW on contiguous f32 tensors, the arithmetic of `AdamStep::apply` in
// ops/fused_adam.rs in the same order. `vmax` is null without amsgrad.
extern "C" __global__ void adam_f32(float* p, float* m, float* v, float* vmax, const float* g, i64 n,
                                    AdamArgs a) {
    GRID_STRIDE(i, n) {
        float pi = p[i];
        if (a.decay) pi *= a.decay_factor;
        float d = a.maximize ? -g[i] : g[i];
        if (a.l2 != 0.0f) d += a.l2 * pi;
        float mi = m[i] + a.one_minus_beta1 * (d - m[i]);
        float vi = v[i] * a.beta2 + a.one_minus_beta2 * d * d;
        float second = vi;
        if (vmax) {
            second = fmaxf(vmax[i], vi);
            vmax[i] = second;
        }
        float denom = sqrtf(second) / a.bias_correction2_sqrt + a.eps;
        p[i] = pi + -a.step_size * mi / denom;
        m[i] = mi;
        v[i] = vi;
    }
}
