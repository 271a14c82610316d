// im2col / col2im for 2-D convolution (NCHW), so conv runs as one cuBLAS GEMM per image batch.
// cols has shape (C * KH * KW, OH * OW) per image; rows are (c, kh, kw), columns (oh, ow).
// col2im gathers (each input pixel sums the columns that read it), so it needs no atomics and
// its sums have a fixed order.

struct ConvGeom {
    i64 c, h, w;        // input channels and spatial size
    i64 kh, kw;         // kernel
    i64 oh, ow;         // output spatial size
    i64 sh, sw;         // stride
    i64 ph, pw;         // padding
    i64 dh, dw;         // dilation
};

#define CONV(T, SUF)                                                                                    \
    extern "C" __global__ void im2col_##SUF(T* cols, const T* x, ConvGeom g, i64 batch) {               \
        i64 per_image = g.c * g.kh * g.kw * g.oh * g.ow;                                                \
        GRID_STRIDE(i, batch * per_image) {                                                             \
            i64 b = i / per_image, r = i % per_image;                                                   \
            i64 ow = r % g.ow, oh = (r / g.ow) % g.oh, row = r / (g.ow * g.oh);                         \
            i64 kw = row % g.kw, kh = (row / g.kw) % g.kh, c = row / (g.kw * g.kh);                     \
            i64 ih = oh * g.sh - g.ph + kh * g.dh, iw = ow * g.sw - g.pw + kw * g.dw;                   \
            bool in = ih >= 0 && ih < g.h && iw >= 0 && iw < g.w;                                       \
            cols[i] = in ? x[((b * g.c + c) * g.h + ih) * g.w + iw] : (T)0;                             \
        }                                                                                               \
    }                                                                                                   \
    extern "C" __global__ void col2im_##SUF(T* x, const T* cols, ConvGeom g, i64 batch) {               \
        i64 per_image = g.c * g.h * g.w;                                                                \
        GRID_STRIDE(i, batch * per_image) {                                                             \
            i64 b = i / per_image, r = i % per_image;                                                   \
            i64 iw = r % g.w, ih = (r / g.w) % g.h, c = r / (g.w * g.h);                                \
            const T* col = cols + b * g.c * g.kh * g.kw * g.oh * g.ow;                                  \
            T acc = 0;                                                                                  \
            for (i64 kh = 0; kh < g.kh; ++kh) {                                                         \
                i64 th = ih + g.ph - kh * g.dh;                                                         \
                if (th < 0 || th % g.sh != 0) continue;                                                 \
                i64 oh = th / g.sh;                                                                     \
                if (oh >= g.oh) continue;                                                               \
                for (i64 kw = 0; kw < g.kw; ++kw) {                                                     \
                    i64 tw = iw + g.pw - kw * g.dw;                                                     \
                    if (tw < 0 || tw % g.sw != 0) continue;                                             \
                    i64 ow = tw / g.sw;                                                                 \
                    if (ow >= g.ow) continue;                                                           \
                    i64 row = (c * g.kh + kh) * g.kw + kw;                                              \
                    acc += col[(row * g.oh + oh) * g.ow + ow];                                          \
                }                                                                                       \
            }                                                                                           \
            x[i] = acc;                                                                                 \
        }                                                                                               \
    }

CONV(float, f32)
CONV(double, f64)
