// 2-D max and average pooling (NCHW, contiguous), forward and backward.
// Max pooling records the flat h*w index of the winner (as PyTorch's `indices`) so backward is a
// scatter; NaN wins, as in PyTorch. Average pooling divides by the window size, with or without
// the padded cells (`count_include_pad`), and backward spreads each gradient evenly.

struct PoolGeom {
    i64 planes;         // batch * channels
    i64 h, w, oh, ow;
    i64 kh, kw, sh, sw, ph, pw, dh, dw;
};

#define POOL(T, SUF, NEG_INF)                                                                           \
    extern "C" __global__ void max_pool2d_##SUF(T* out, i64* arg, const T* x, PoolGeom g) {             \
        GRID_STRIDE(i, g.planes * g.oh * g.ow) {                                                        \
            i64 ow = i % g.ow, oh = (i / g.ow) % g.oh, p = i / (g.ow * g.oh);                           \
            const T* plane = x + p * g.h * g.w;                                                         \
            T best = NEG_INF;                                                                           \
            i64 at = -1;                                                                                \
            for (i64 kh = 0; kh < g.kh; ++kh) {                                                         \
                i64 ih = oh * g.sh - g.ph + kh * g.dh;                                                  \
                if (ih < 0 || ih >= g.h) continue;                                                      \
                for (i64 kw = 0; kw < g.kw; ++kw) {                                                     \
                    i64 iw = ow * g.sw - g.pw + kw * g.dw;                                              \
                    if (iw < 0 || iw >= g.w) continue;                                                  \
                    T v = plane[ih * g.w + iw];                                                         \
                    if (at < 0 || v > best || (v != v && best == best)) { best = v; at = ih * g.w + iw; } \
                }                                                                                       \
            }                                                                                           \
            out[i] = best;                                                                              \
            arg[i] = at;                                                                                \
        }                                                                                               \
    }                                                                                                   \
    /* gx must be zeroed; windows overlap when stride < kernel, hence the atomics */                    \
    extern "C" __global__ void max_pool2d_backward_##SUF(T* gx, const T* g_out, const i64* arg, PoolGeom g) { \
        GRID_STRIDE(i, g.planes * g.oh * g.ow) {                                                        \
            i64 p = i / (g.ow * g.oh);                                                                  \
            if (arg[i] >= 0) atomicAdd(gx + p * g.h * g.w + arg[i], g_out[i]);                          \
        }                                                                                               \
    }                                                                                                   \
    extern "C" __global__ void avg_pool2d_##SUF(T* out, const T* x, PoolGeom g, int count_include_pad) { \
        GRID_STRIDE(i, g.planes * g.oh * g.ow) {                                                        \
            i64 ow = i % g.ow, oh = (i / g.ow) % g.oh, p = i / (g.ow * g.oh);                           \
            const T* plane = x + p * g.h * g.w;                                                         \
            i64 h0 = oh * g.sh - g.ph, w0 = ow * g.sw - g.pw;                                           \
            i64 h1 = min(h0 + g.kh, g.h + g.ph), w1 = min(w0 + g.kw, g.w + g.pw);                       \
            i64 padded = (h1 - h0) * (w1 - w0);                                                         \
            i64 hs = max(h0, (i64)0), ws = max(w0, (i64)0), he = min(h1, g.h), we = min(w1, g.w);       \
            T acc = 0;                                                                                  \
            for (i64 ih = hs; ih < he; ++ih)                                                            \
                for (i64 iw = ws; iw < we; ++iw) acc += plane[ih * g.w + iw];                           \
            i64 div = count_include_pad ? padded : (he - hs) * (we - ws);                               \
            out[i] = div > 0 ? acc / (T)div : (T)0;                                                     \
        }                                                                                               \
    }                                                                                                   \
    extern "C" __global__ void avg_pool2d_backward_##SUF(T* gx, const T* g_out, PoolGeom g,             \
                                                         int count_include_pad) {                       \
        GRID_STRIDE(i, g.planes * g.oh * g.ow) {                                                        \
            i64 ow = i % g.ow, oh = (i / g.ow) % g.oh, p = i / (g.ow * g.oh);                           \
            i64 h0 = oh * g.sh - g.ph, w0 = ow * g.sw - g.pw;                                           \
            i64 h1 = min(h0 + g.kh, g.h + g.ph), w1 = min(w0 + g.kw, g.w + g.pw);                       \
            i64 padded = (h1 - h0) * (w1 - w0);                                                         \
            i64 hs = max(h0, (i64)0), ws = max(w0, (i64)0), he = min(h1, g.h), we = min(w1, g.w);       \
            i64 div = count_include_pad ? padded : (he - hs) * (we - ws);                               \
            if (div <= 0) continue;                                                                     \
            T share = g_out[i] / (T)div;                                                                \
            for (i64 ih = hs; ih < he; ++ih)                                                            \
                for (i64 iw = ws; iw < we; ++iw) atomicAdd(gx + p * g.h * g.w + ih * g.w + iw, share);  \
        }                                                                                               \
    }

POOL(float, f32, __int_as_float(0xff800000))
POOL(double, f64, __longlong_as_double((long long)0xfff0000000000000ULL))
