//! What every launcher shares: the `Strided` argument (must match `struct Strided` in
//! kernels/common.cuh field for field), the grid shape, dtype suffixes of kernel names, and the
//! list of kernel names the launchers use (tested against the compiled PTX).

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::shape::Layout;
use cudarc::driver::{DeviceRepr, LaunchConfig};

pub(crate) const MAX_DIMS: usize = 8;
/// Threads per block; the block-per-row kernels (reduce_rows, softmax_rows) assume it.
pub(crate) const BLOCK: u32 = 256;

/// `struct Strided` of common.cuh: an operand's layout over the output's shape.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub(crate) struct Strided {
    ndim: i32,
    contiguous: i32,
    offset: i64,
    shape: [i64; MAX_DIMS],
    stride: [i64; MAX_DIMS],
}

// SAFETY: plain old data with the C layout the kernels declare.
unsafe impl DeviceRepr for Strided {}

impl Strided {
    /// The layout of an operand (already broadcast to the output's shape). Adjacent dims that
    /// are contiguous with each other are merged first, so only layouts with more than 8 truly
    /// strided dims are refused.
    pub(crate) fn new(op: &'static str, l: &Layout) -> Result<Strided> {
        let mut s = Strided {
            ndim: 0,
            contiguous: i32::from(l.is_contiguous()),
            offset: l.offset as i64,
            shape: [1; MAX_DIMS],
            stride: [0; MAX_DIMS],
        };
        if s.contiguous == 1 {
            return Ok(s);
        }
        let (shape, strides) = crate::shape::coalesce(&l.shape, &l.strides);
        if shape.len() > MAX_DIMS {
            return Err(Error::Device {
                op,
                msg: format!(
                    "CUDA kernels read at most {MAX_DIMS} strided dims; this view has {} (shape {:?}); call \
                     .contiguous() first",
                    shape.len(),
                    l.shape
                ),
            });
        }
        s.ndim = shape.len() as i32;
        for (d, (&n, &st)) in shape.iter().zip(strides.iter()).enumerate() {
            s.shape[d] = n as i64;
            s.stride[d] = st as i64;
        }
        Ok(s)
    }

    /// A layout with signed strides (flip walks dims backwards), read dim by dim.
    pub(crate) fn signed(op: &'static str, shape: &[usize], strides: &[i64], offset: i64) -> Result<Strided> {
        if shape.len() > MAX_DIMS {
            return Err(Error::Device {
                op,
                msg: format!("CUDA kernels take at most {MAX_DIMS} dims (shape {shape:?})"),
            });
        }
        let mut s = Strided {
            ndim: shape.len() as i32,
            contiguous: 0,
            offset,
            shape: [1; MAX_DIMS],
            stride: [0; MAX_DIMS],
        };
        for (d, (&n, &st)) in shape.iter().zip(strides).enumerate() {
            s.shape[d] = n as i64;
            s.stride[d] = st;
        }
        Ok(s)
    }

    /// The layout of a contiguous tensor of `shape` (for kernels that need the shape itself).
    pub(crate) fn with_shape(op: &'static str, l: &Layout) -> Result<Strided> {
        if l.ndim() > MAX_DIMS {
            return Err(Error::Device {
                op,
                msg: format!("CUDA kernels take at most {MAX_DIMS} dims (shape {:?})", l.shape),
            });
        }
        let mut s = Strided {
            ndim: l.ndim() as i32,
            contiguous: 0,
            offset: l.offset as i64,
            shape: [1; MAX_DIMS],
            stride: [0; MAX_DIMS],
        };
        for d in 0..l.ndim() {
            s.shape[d] = l.shape[d] as i64;
            s.stride[d] = l.strides[d] as i64;
        }
        Ok(s)
    }
}

/// A 1-D grid for a grid-stride kernel over `n` elements: enough blocks to fill the GPU, capped
/// (the loop covers the rest).
pub(crate) fn grid(n: usize) -> LaunchConfig {
    let blocks = n.div_ceil(BLOCK as usize).clamp(1, 65_535) as u32;
    LaunchConfig {
        grid_dim: (blocks, 1, 1),
        block_dim: (BLOCK, 1, 1),
        shared_mem_bytes: 0,
    }
}

/// One block per row, capped (the kernels loop over rows).
pub(crate) fn rows_grid(rows: usize) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (rows.clamp(1, 65_535) as u32, 1, 1),
        block_dim: (BLOCK, 1, 1),
        shared_mem_bytes: 0,
    }
}

/// The suffix of a dtype in kernel names (bool is one byte, as u8; f16 and bf16 move as u16).
pub(crate) fn suffix(d: DType) -> &'static str {
    match d {
        DType::Bool | DType::U8 => "u8",
        DType::I32 => "i32",
        DType::I64 => "i64",
        DType::F16 | DType::BF16 => "u16",
        DType::F32 => "f32",
        DType::F64 => "f64",
    }
}

/// The suffix in cast kernel names, where bool, f16 and bf16 are told apart.
pub(crate) fn cast_suffix(d: DType) -> &'static str {
    match d {
        DType::Bool => "bool",
        DType::F16 => "f16",
        DType::BF16 => "bf16",
        d => suffix(d),
    }
}

/// Every kernel name a launcher can ask for (tests check each exists in the PTX).
pub fn launched_kernel_names() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = Vec::new();
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    for d in DType::ALL {
        v.push(leak(format!("fill_{}", suffix(d))));
        v.push(leak(format!("copy_strided_{}", suffix(d))));
        v.push(leak(format!("copy_into_{}", suffix(d))));
        v.push(leak(format!("triangle_{}", suffix(d))));
        for e in DType::ALL {
            v.push(leak(format!("cast_{}_{}", cast_suffix(d), cast_suffix(e))));
        }
    }
    for s in ["f32", "f64"] {
        for k in [
            "unary",
            "binary",
            "softmax_lanes",
            "softmax_rows",
            "softmax_backward",
            "scatter_add",
            "index_add",
            "im2col",
            "col2im",
            "max_pool2d",
            "max_pool2d_backward",
            "avg_pool2d",
            "avg_pool2d_backward",
            "adaptive_avg_pool2d",
            "adaptive_avg_pool2d_backward",
            "upsample_nearest2d",
            "upsample_nearest2d_backward",
            "upsample_bilinear2d",
            "upsample_bilinear2d_backward",
            "rand_uniform",
            "rand_normal",
            "arange",
            "layer_norm",
            "layer_norm_dx",
            "layer_norm_wb_partial",
            "layer_norm_wb_final",
        ] {
            v.push(leak(format!("{k}_{s}")));
        }
    }
    for s in ["u8", "i32", "i64", "f32", "f64"] {
        for k in [
            "reduce_cols",
            "reduce_rows",
            "arg_reduce",
            "index_select",
            "gather",
            "scatter",
            "compare",
            "where",
        ] {
            v.push(leak(format!("{k}_{s}")));
        }
    }
    for s in ["u8", "i32", "i64"] {
        v.push(leak(format!("binary_{s}")));
        v.push(leak(format!("unary_int_{s}")));
        v.push(leak(format!("matmul_int_{s}")));
    }
    for s in ["i32", "i64"] {
        v.push(leak(format!("scatter_add_{s}")));
        v.push(leak(format!("index_add_{s}")));
    }
    for s in ["u8", "i32", "i64", "f32", "f64"] {
        for k in ["sort_init", "sort_step", "sort_take"] {
            v.push(leak(format!("{k}_{s}")));
        }
    }
    for s in ["i64", "f32", "f64"] {
        v.push(leak(format!("scan_rows_{s}")));
        v.push(leak(format!("scan_lanes_{s}")));
    }
    v.extend([
        "index_select_u16",
        "gather_u16",
        "scatter_u16",
        "compare_half",
        "where_u16",
        "logical_u8",
        "check_indices",
        "arange_i64",
        "adam_f32",
    ]);
    v
}
