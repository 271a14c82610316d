//! Launchers for fill, strided copy, cast, unary and binary kernels (fill.cu, cast.cu,
//! elementwise.cu).

use super::{buffer, gpu_of, ptr, tensor};
use crate::cuda::api::not_on_cuda;
use crate::cuda::buffer::DeviceBuffer;
use crate::cuda::device::gpu;
use crate::cuda::launch::{cast_suffix, grid, suffix, Strided};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::ops::binary::Binary;
use crate::ops::unary::Unary;
use crate::shape::Layout;
use crate::tensor::Tensor;
use half::{bf16, f16};

/// A contiguous copy of a (strided) GPU tensor; `t` itself when already contiguous from 0.
pub(crate) fn contiguous(t: &Tensor) -> Result<Tensor> {
    if t.is_contiguous() && t.offset() == 0 && buffer(t)?.len == t.numel() {
        return Ok(t.clone());
    }
    let g = gpu_of(t)?;
    let n = t.numel();
    let out = DeviceBuffer::alloc(g, t.dtype(), n)?;
    if n > 0 {
        let (o, x, sx, n64) = (out.ptr(), ptr(t)?, Strided::new("contiguous", t.layout())?, n as i64);
        // copy_strided_<T>(T* out, const T* x, Strided sx, i64 n)
        launch!(
            g,
            "contiguous",
            format!("copy_strided_{}", suffix(t.dtype())),
            grid(n),
            [&o, &x, &sx, &n64]
        )?;
    }
    Ok(tensor(out, t.shape()))
}

/// Write `x` (broadcast to `view`'s shape) into the strided `view` in place.
pub(crate) fn copy_into(view: &Tensor, x: &Tensor) -> Result<()> {
    let g = gpu_of(view)?;
    let n = view.numel();
    let x = if x.dtype() == view.dtype() {
        x.clone()
    } else {
        cast(x, view.dtype())?
    };
    if n > 0 {
        let lx = x.layout().broadcast_to("copy", view.shape())?;
        let (o, so, xp, sx, n64) = (
            ptr(view)?,
            Strided::new("copy", view.layout())?,
            ptr(&x)?,
            Strided::new("copy", &lx)?,
            n as i64,
        );
        // copy_into_<T>(T* out, Strided so, const T* x, Strided sx, i64 n)
        launch!(
            g,
            "copy",
            format!("copy_into_{}", suffix(view.dtype())),
            grid(n),
            [&o, &so, &xp, &sx, &n64]
        )?;
    }
    Ok(())
}

/// `dst.copy_(src)` where either side is on a GPU: a CPU source is uploaded first, a CPU
/// destination gets the downloaded data, and a source aliasing the destination is copied out
/// first (the kernel reads and writes elements in no fixed order).
pub(crate) fn copy_across(dst: &Tensor, src: &Tensor) -> Result<()> {
    match (dst.device(), src.device()) {
        (crate::Device::Cuda(_), crate::Device::Cuda(_)) if dst.device() == src.device() => {
            let src = if src.shares_storage(dst) {
                copy_fresh(src)?
            } else {
                src.clone()
            };
            copy_into(dst, &src)
        }
        (crate::Device::Cuda(_), _) => copy_into(dst, &src.detach().to(dst.device())?),
        (_, _) => dst.copy_data_from(&src.detach().to(dst.device())?),
    }
}

/// A fresh contiguous copy (never `t` itself), for out-of-place ops that write into a copy.
pub(crate) fn copy_fresh(t: &Tensor) -> Result<Tensor> {
    let g = gpu_of(t)?;
    let out = tensor(DeviceBuffer::alloc(g, t.dtype(), t.numel())?, t.shape());
    copy_into(&out, t)?;
    Ok(out)
}

/// A tensor of `shape` on GPU `ordinal` filled with `value` (converted to `dtype`).
pub(crate) fn fill(ordinal: usize, dtype: DType, shape: &[usize], value: f64) -> Result<Tensor> {
    let g = gpu(ordinal)?;
    let n: usize = shape.iter().product();
    let out = DeviceBuffer::alloc(&g, dtype, n)?;
    if n > 0 {
        let (o, n64) = (out.ptr(), n as i64);
        // fill_<T>(T* out, T value, i64 n): `value` is passed with T's size and bits
        // the value goes over as the kernel's element type (f16/bf16 as their bits)
        let v: [u8; 8] = match dtype {
            DType::Bool => widen(&[u8::from(value != 0.0)]),
            DType::U8 => widen(&[value as i64 as u8]),
            DType::I32 => widen(&(value as i32).to_ne_bytes()),
            DType::I64 => (value as i64).to_ne_bytes(),
            DType::F16 => widen(&f16::from_f64(value).to_bits().to_ne_bytes()),
            DType::BF16 => widen(&bf16::from_f64(value).to_bits().to_ne_bytes()),
            DType::F32 => widen(&(value as f32).to_ne_bytes()),
            DType::F64 => value.to_ne_bytes(),
        };
        let name = format!("fill_{}", suffix(dtype));
        let (v8, v16) = (v[0], u16::from_ne_bytes([v[0], v[1]]));
        let (v32, v64) = (u32::from_ne_bytes([v[0], v[1], v[2], v[3]]), u64::from_ne_bytes(v));
        match dtype.size_in_bytes() {
            1 => launch!(&g, "full", name, grid(n), [&o, &v8, &n64])?,
            2 => launch!(&g, "full", name, grid(n), [&o, &v16, &n64])?,
            4 => launch!(&g, "full", name, grid(n), [&o, &v32, &n64])?,
            _ => launch!(&g, "full", name, grid(n), [&o, &v64, &n64])?,
        }
    }
    Ok(tensor(out, shape))
}

/// `t` converted to `dtype` (any pair; strided input read in place).
pub(crate) fn cast(t: &Tensor, dtype: DType) -> Result<Tensor> {
    let g = gpu_of(t)?;
    let n = t.numel();
    let out = DeviceBuffer::alloc(g, dtype, n)?;
    if n > 0 {
        let (o, x, sx, n64) = (out.ptr(), ptr(t)?, Strided::new("to_dtype", t.layout())?, n as i64);
        let name = if t.dtype() == DType::I64 && dtype == DType::I32 {
            "cast_i64_i32_exact".to_string()
        } else {
            format!("cast_{}_{}", cast_suffix(t.dtype()), cast_suffix(dtype))
        };
        // cast_<S>_<D>(D* out, const S* x, Strided sx, i64 n)
        launch!(g, "to_dtype", name, grid(n), [&o, &x, &sx, &n64])?;
    }
    Ok(tensor(out, t.shape()))
}

/// The op code of elementwise.cu's `unary_op` and the two parameters it reads.
fn unary_code(op: Unary) -> (i32, f64, f64) {
    use Unary::*;
    match op {
        Neg => (0, 0.0, 0.0),
        Abs => (1, 0.0, 0.0),
        Sign => (2, 0.0, 0.0),
        Exp => (3, 0.0, 0.0),
        Exp2 => (4, 0.0, 0.0),
        Log => (5, 0.0, 0.0),
        Log2 => (6, 0.0, 0.0),
        Log1p => (7, 0.0, 0.0),
        Expm1 => (8, 0.0, 0.0),
        Sqrt => (9, 0.0, 0.0),
        Rsqrt => (10, 0.0, 0.0),
        Square => (11, 0.0, 0.0),
        Reciprocal => (12, 0.0, 0.0),
        Sin => (13, 0.0, 0.0),
        Cos => (14, 0.0, 0.0),
        Tan => (15, 0.0, 0.0),
        Tanh => (16, 0.0, 0.0),
        Sigmoid => (17, 0.0, 0.0),
        Relu => (18, 0.0, 0.0),
        LeakyRelu(a) => (19, a, 0.0),
        Elu(a) => (20, a, 0.0),
        Gelu => (21, 0.0, 0.0),
        GeluTanh => (22, 0.0, 0.0),
        Silu => (23, 0.0, 0.0),
        Softplus { beta, threshold } => (24, beta, threshold),
        Erf => (25, 0.0, 0.0),
        Floor => (26, 0.0, 0.0),
        Ceil => (27, 0.0, 0.0),
        Round => (28, 0.0, 0.0),
        Clamp(lo, hi) => (29, lo, hi),
        PowScalar(p) => (30, p, 0.0),
    }
}

/// A unary op: on floats (f16/bf16 compute in f32 and round once, as on the CPU), or on
/// i64/i32/u8 for the ops that keep integers (`Unary::keeps_int`: neg, abs, sign, square, relu,
/// the roundings, clamp with integral bounds; `ops::unary` sends no other op here).
pub(crate) fn unary(t: &Tensor, op: Unary) -> Result<Tensor> {
    let kernel = match t.dtype() {
        DType::F32 | DType::F64 => "unary",
        DType::F16 | DType::BF16 => return cast(&unary(&cast(t, DType::F32)?, op)?, t.dtype()),
        DType::I64 | DType::I32 | DType::U8 => "unary_int",
        d => return Err(not_on_cuda(op.name(), format!("dtype {d}"))),
    };
    let g = gpu_of(t)?;
    let n = t.numel();
    let out = DeviceBuffer::alloc(g, t.dtype(), n)?;
    if n > 0 {
        let (code, a, b) = unary_code(op);
        let (o, x, sx, n64) = (out.ptr(), ptr(t)?, Strided::new(op.name(), t.layout())?, n as i64);
        // unary_<T> / unary_int_<T>(T* out, const T* x, Strided sx, i64 n, int op, double a, double b)
        launch!(
            g,
            op.name(),
            format!("{kernel}_{}", suffix(t.dtype())),
            grid(n),
            [&o, &x, &sx, &n64, &code, &a, &b]
        )?;
    }
    Ok(tensor(out, t.shape()))
}

fn binary_code(op: Binary) -> i32 {
    match op {
        Binary::Add => 0,
        Binary::Sub => 1,
        Binary::Mul => 2,
        Binary::Div => 3,
        Binary::Rem => 4,
        Binary::Pow => 5,
        Binary::Maximum => 6,
        Binary::Minimum => 7,
    }
}

/// `a op b` with both operands already in the compute dtype (f32/f64 for floats, as
/// `ops::binary` converts f16/bf16) and broadcast to `shape` (their layouts `la`, `lb`). Floats
/// take every op; integers every op but div (which promotes); bools add (or), mul (and),
/// maximum and minimum, computed as u8.
pub(crate) fn binary(op: Binary, a: &Tensor, la: &Layout, b: &Tensor, lb: &Layout, shape: &[usize]) -> Result<Tensor> {
    let d = a.dtype();
    match d {
        DType::F32 | DType::F64 => {}
        DType::U8 | DType::I32 | DType::I64 if op != Binary::Div => {
            // as the CPU kernel (and PyTorch): an integer remainder by zero is an error, not a
            // value; the check reads one flag back from the device
            if op == Binary::Rem && b.numel() > 0 && b.eq_scalar(0.0)?.any(&[], false)?.item()? != 0.0 {
                return Err(Error::Arg {
                    op: "rem",
                    msg: "integer remainder by zero".into(),
                });
            }
        }
        DType::Bool if matches!(op, Binary::Add | Binary::Mul | Binary::Maximum | Binary::Minimum) => {
            // 0/1 bytes: a sum of 2 casts back to true, so add is `or` and mul is `and`
            let (a8, b8) = (cast(a, DType::U8)?, cast(b, DType::U8)?);
            let la8 = a8.layout().broadcast_to(op.name(), shape)?;
            let lb8 = b8.layout().broadcast_to(op.name(), shape)?;
            return cast(&binary(op, &a8, &la8, &b8, &lb8, shape)?, DType::Bool);
        }
        d => return Err(not_on_cuda(op.name(), format!("dtype {d}"))),
    }
    let g = gpu_of(a)?;
    let n: usize = shape.iter().product();
    let out = DeviceBuffer::alloc(g, d, n)?;
    if n > 0 {
        let (o, x, y) = (out.ptr(), ptr(a)?, ptr(b)?);
        let (sx, sy) = (Strided::new(op.name(), la)?, Strided::new(op.name(), lb)?);
        let (n64, code) = (n as i64, binary_code(op));
        // binary_<T>(T* out, const T* x, Strided sx, const T* y, Strided sy, i64 n, int op)
        launch!(
            g,
            op.name(),
            format!("binary_{}", suffix(d)),
            grid(n),
            [&o, &x, &sx, &y, &sy, &n64, &code]
        )?;
    }
    Ok(tensor(out, shape))
}

/// The bytes of a small value, zero-padded to 8.
fn widen(b: &[u8]) -> [u8; 8] {
    let mut v = [0u8; 8];
    v[..b.len()].copy_from_slice(b);
    v
}
