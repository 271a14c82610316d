//! The CUDA C kernel sources, one module per file, compiled at run time by NVRTC (see
//! `nvrtc.rs`). Kept as real `.cu` files so editors and `nvcc` can read them; `common.cuh` is
//! prepended to each, so NVRTC needs no include path.

/// The header every source starts with.
pub const COMMON: &str = include_str!("kernels/common.cuh");

/// (module name, source) of every kernel file.
pub const SOURCES: &[(&str, &str)] = &[
    ("fill", include_str!("kernels/fill.cu")),
    ("cast", include_str!("kernels/cast.cu")),
    ("elementwise", include_str!("kernels/elementwise.cu")),
    ("compare", include_str!("kernels/compare.cu")),
    ("reduce", include_str!("kernels/reduce.cu")),
    ("softmax", include_str!("kernels/softmax.cu")),
    ("index", include_str!("kernels/index.cu")),
    ("shape", include_str!("kernels/shape.cu")),
    ("scan", include_str!("kernels/scan.cu")),
    ("sort", include_str!("kernels/sort.cu")),
    ("conv", include_str!("kernels/conv.cu")),
    ("pool", include_str!("kernels/pool.cu")),
    ("resample", include_str!("kernels/resample.cu")),
    ("rng", include_str!("kernels/rng.cu")),
    ("matmul", include_str!("kernels/matmul.cu")),
    ("optim", include_str!("kernels/optim.cu")),
    ("norm", include_str!("kernels/norm.cu")),
];

/// The full text NVRTC compiles for module `name` (the common header plus the file).
pub fn full_source(name: &str) -> Option<String> {
    SOURCES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(n, src)| format!("{COMMON}\n// ---- {n}.cu\n{src}"))
}

/// The `extern "C" __global__` kernel names a module defines, found by stamping the macros the
/// sources use: used by tests to check that every name the launchers ask for exists.
pub fn module_of(kernel: &str) -> Option<&'static str> {
    let prefixes: &[(&str, &str)] = &[
        ("fill_", "fill"),
        ("copy_strided_", "fill"),
        ("copy_into_", "fill"),
        ("arange_", "fill"),
        ("cast_", "cast"),
        ("unary_", "elementwise"),
        ("binary_", "elementwise"),
        ("neg_", "elementwise"),
        ("compare_", "compare"),
        ("where_", "compare"),
        ("logical_", "compare"),
        ("reduce_", "reduce"),
        ("arg_reduce_", "reduce"),
        ("softmax_", "softmax"),
        ("index_select_", "index"),
        ("index_add_", "index"),
        ("gather_", "index"),
        ("scatter_add_", "index"),
        ("scatter_", "index"),
        ("check_indices", "index"),
        ("triangle_", "shape"),
        ("scan_", "scan"),
        ("sort_", "sort"),
        ("im2col_", "conv"),
        ("col2im_", "conv"),
        ("max_pool2d", "pool"),
        ("avg_pool2d", "pool"),
        ("adaptive_avg_pool2d", "resample"),
        ("upsample_", "resample"),
        ("rand_", "rng"),
        ("matmul_int_", "matmul"),
        ("adam_", "optim"),
        ("layer_norm", "norm"),
    ];
    prefixes.iter().find(|(p, _)| kernel.starts_with(p)).map(|(_, m)| *m)
}
