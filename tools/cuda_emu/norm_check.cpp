// norm.cu's layer norm kernels (forward; dx; dw/db in two stages) run under the CPU emulation
// of shim.h and compared with a double-precision reference, for row lengths below, at and
// above the block size, with and without affine parameters, and with fewer blocks than rows
// (the grid-stride loop over rows). Exits 1 on a mismatch. Run by `tools/cuda_emu/run.sh`.
#include "shim.h"
#include "norm.cu"

// The layer norm and its gradients in double.
static void ref(const std::vector<float>& x, const float* w, const float* b, i64 rows, i64 d, float eps,
                const std::vector<float>& g, std::vector<double>& y, std::vector<double>& dx,
                std::vector<double>& dw, std::vector<double>& db) {
    y.assign(rows * d, 0); dx.assign(rows * d, 0); dw.assign(d, 0); db.assign(d, 0);
    for (i64 r = 0; r < rows; ++r) {
        double mu = 0; for (i64 j = 0; j < d; ++j) mu += x[r*d+j]; mu /= d;
        double var = 0; for (i64 j = 0; j < d; ++j) var += (x[r*d+j]-mu)*(x[r*d+j]-mu); var /= d;
        double rs = 1 / std::sqrt(var + eps);
        double s1 = 0, s2 = 0;
        for (i64 j = 0; j < d; ++j) {
            double xh = (x[r*d+j]-mu)*rs;
            y[r*d+j] = xh * (w ? w[j] : 1) + (b ? b[j] : 0);
            double h = g[r*d+j] * (w ? w[j] : 1);
            s1 += h; s2 += h * xh;
            dw[j] += g[r*d+j] * xh; db[j] += g[r*d+j];
        }
        for (i64 j = 0; j < d; ++j) {
            double xh = (x[r*d+j]-mu)*rs;
            double h = g[r*d+j] * (w ? w[j] : 1);
            dx[r*d+j] = rs * (h - s1/d - xh * s2/d);
        }
    }
}
static double maxerr(const float* a, const std::vector<double>& b) {
    double m = 0; for (size_t i = 0; i < b.size(); ++i) m = std::fmax(m, std::fabs(a[i]-b[i]) / (1 + std::fabs(b[i]))); return m;
}
int main() {
    int failed = 0;
    srand(1);
    struct C { i64 rows, d; bool affine; unsigned grid; } cases[] = {{6, 256, true, 6}, {3, 1000, true, 2}, {7, 15, true, 7}, {9, 40, false, 4}, {5, 300, true, 65535}};
    for (auto c : cases) {
        i64 n = c.rows * c.d;
        std::vector<float> x(n), g(n), w(c.d), b(c.d);
        for (auto& v : x) v = (rand() / (float)RAND_MAX - 0.5f) * 6 + 1.5f;
        for (auto& v : g) v = rand() / (float)RAND_MAX - 0.5f;
        for (auto& v : w) v = rand() / (float)RAND_MAX + 0.5f;
        for (auto& v : b) v = rand() / (float)RAND_MAX - 0.5f;
        const float* wp = c.affine ? w.data() : nullptr;
        const float* bp = c.affine ? b.data() : nullptr;
        std::vector<float> y(n), mean(c.rows), rstd(c.rows), dx(n), dw(c.d), db(c.d);
        unsigned grid = c.grid < c.rows ? c.grid : (unsigned)c.rows;
        launch(grid, 256, [&] { layer_norm_f32(y.data(), mean.data(), rstd.data(), x.data(), wp, bp, c.rows, c.d, 1e-5f); });
        launch(grid, 256, [&] { layer_norm_dx_f32(dx.data(), x.data(), g.data(), wp, mean.data(), rstd.data(), c.rows, c.d); });
        i64 chunks = 65536 / c.d; if (chunks < 1) chunks = 1; if (chunks > c.rows) chunks = c.rows;
        i64 chunk = (c.rows + chunks - 1) / chunks; chunks = (c.rows + chunk - 1) / chunk;
        std::vector<float> pw(chunks * c.d), pb(chunks * c.d);
        unsigned g1 = (unsigned)((chunks * c.d + 255) / 256);
        launch(g1, 256, [&] { layer_norm_wb_partial_f32(pw.data(), pb.data(), x.data(), g.data(), mean.data(), rstd.data(), c.rows, c.d, chunk, chunks); });
        launch((unsigned)((c.d + 255) / 256), 256, [&] { layer_norm_wb_final_f32(dw.data(), db.data(), pw.data(), pb.data(), c.d, chunks); });
        std::vector<double> ry, rdx, rdw, rdb;
        ref(x, wp, bp, c.rows, c.d, 1e-5f, g, ry, rdx, rdw, rdb);
        double e[4] = {maxerr(y.data(), ry), maxerr(dx.data(), rdx), maxerr(dw.data(), rdw), maxerr(db.data(), rdb)};
        printf("layer norm rows %lld d %lld affine %d grid %u: max relative error y %.1e dx %.1e dw %.1e db %.1e\n",
               c.rows, c.d, (int)c.affine, grid, e[0], e[1], e[2], e[3]);
        for (double v : e) {
            if (!(v < 1e-5)) {
                printf("FAILED: error above 1e-5\n");
                failed = 1;
            }
        }
    }
    return failed;
}
