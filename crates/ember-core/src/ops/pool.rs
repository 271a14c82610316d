//! Pooling: `max_pool2d` (with PyTorch's indices), `avg_pool2d`, `adaptive_avg_pool2d`, over
//! `[N, C, H, W]` or `[C, H, W]` inputs.
//!
//! Every gradient here is a linear map applied plane by plane, declared once as a [`PlaneMap`]
//! with its adjoint: the map's forward is one op and its adjoint another, each the gradient of
//! the other, so gradients of any order come for free. Max pooling's gradient is the adjoint
//! of "gather by the saved indices" (a scatter-add); average pooling is linear itself.

use crate::autograd::{needs_grad, record};
use crate::cpu::math::Float;
use crate::cpu::pool_kernels::{self, AvgWindow, Window};
use crate::dtype::DType;
use crate::error::{arg_err, dtype_err, shape_err, Error, Result};
use crate::ops::conv::{run_float, FloatKernel};
use crate::storage::{CpuStorage, StorageElem};
use crate::tensor::Tensor;
use std::sync::Arc;

/// A linear map applied independently to every `[H, W]` plane (the last two dims), declared
/// with its adjoint.
pub(crate) trait PlaneMap: Clone + Send + Sync + 'static {
    /// Op names of the map and of its adjoint (for the graph and for errors).
    const NAME: &'static str;
    const ADJOINT_NAME: &'static str;
    fn in_hw(&self) -> [usize; 2];
    fn out_hw(&self) -> [usize; 2];
    /// `A x` over `planes` contiguous input planes.
    fn forward<T: Float + StorageElem>(&self, x: &[T], planes: usize) -> Vec<T>;
    /// `A^T y` over `planes` contiguous output planes.
    fn adjoint<T: Float + StorageElem>(&self, y: &[T], planes: usize) -> Vec<T>;
    /// Whether the map can still run (a map holding saved tensors checks their versions).
    fn check(&self) -> Result<()> {
        Ok(())
    }
    /// `A x` (or `A^T y` when `adjoint`) of a GPU tensor `[.., H, W]`; `None` where the map
    /// has no CUDA kernel (the op then errors).
    #[cfg(feature = "cuda")]
    fn run_cuda(&self, _x: &Tensor, _adjoint: bool) -> Option<Result<Tensor>> {
        None
    }
}

struct PlaneRun<'a, M> {
    map: &'a M,
    adjoint: bool,
    planes: usize,
}

impl<M: PlaneMap> FloatKernel for PlaneRun<'_, M> {
    fn run<T: Float + StorageElem>(&self, i: &[&[T]]) -> Vec<T> {
        if self.adjoint {
            self.map.adjoint(i[0], self.planes)
        } else {
            self.map.forward(i[0], self.planes)
        }
    }

    #[cfg(feature = "cuda")]
    fn run_cuda(&self, i: &[&Tensor]) -> Option<Result<Tensor>> {
        self.map.run_cuda(i[0], self.adjoint)
    }
}

/// Apply `map` (or its adjoint) to every plane of `x`, recording the other direction as the
/// gradient.
pub(crate) fn apply_plane_map<M: PlaneMap>(x: &Tensor, map: &M, adjoint: bool) -> Result<Tensor> {
    let name = if adjoint { M::ADJOINT_NAME } else { M::NAME };
    map.check()?;
    let (src, dst) = if adjoint {
        (map.out_hw(), map.in_hw())
    } else {
        (map.in_hw(), map.out_hw())
    };
    let nd = x.ndim();
    if nd < 2 || x.shape()[nd - 2..] != src {
        return Err(shape_err(
            name,
            format!(
                "expected a tensor of shape [.., {}, {}], got {:?}",
                src[0],
                src[1],
                x.shape()
            ),
        ));
    }
    let lead = &x.shape()[..nd - 2];
    let mut shape = lead.to_vec();
    shape.extend(dst);
    let run = PlaneRun {
        map,
        adjoint,
        planes: lead.iter().product(),
    };
    let out = run_float(name, &[x], &shape, &run)?;
    if !needs_grad(&[x]) {
        return Ok(out);
    }
    let map = map.clone();
    Ok(record(name, out, &[x], move |_| {
        Box::new(move |g| Ok(vec![Some(apply_plane_map(g, &map, !adjoint)?)]))
    }))
}

/// Gather each output plane from its input plane at the saved max-pool indices; the adjoint
/// scatters (adds) into the input plane, which is max pooling's gradient.
#[derive(Clone)]
struct IndexMap {
    /// i64, contiguous, shaped like the pooled output.
    indices: Tensor,
    version: u64,
    /// The pooling window that produced the indices (for the 2x2 fast path).
    win: Window,
}

impl IndexMap {
    fn with_indices<R>(&self, f: impl FnOnce(&[i64]) -> R) -> R {
        let g = self.indices.read();
        let all = i64::slice(&g).expect("max-pool indices are i64");
        f(&all[self.indices.offset()..self.indices.offset() + self.indices.numel()])
    }
}

impl PlaneMap for IndexMap {
    const NAME: &'static str = "max_pool2d_gather";
    const ADJOINT_NAME: &'static str = "max_pool2d_backward";
    fn in_hw(&self) -> [usize; 2] {
        self.win.in_hw
    }
    fn out_hw(&self) -> [usize; 2] {
        self.win.out_hw
    }
    fn forward<T: Float + StorageElem>(&self, x: &[T], planes: usize) -> Vec<T> {
        let [src, dst] = [self.win.in_hw, self.win.out_hw].map(|s| s[0] * s[1]);
        self.with_indices(|idx| pool_kernels::gather_planes(x, idx, planes, src, dst))
    }
    fn adjoint<T: Float + StorageElem>(&self, y: &[T], planes: usize) -> Vec<T> {
        let [dst, src] = [self.win.in_hw, self.win.out_hw].map(|s| s[0] * s[1]);
        if self.win.is_2x2() {
            let offs = self.with_indices(|idx| pool_kernels::offsets_2x2(idx, planes, &self.win));
            return pool_kernels::scatter_2x2(y, &offs, planes, &self.win);
        }
        self.with_indices(|idx| pool_kernels::scatter_planes(y, idx, planes, src, dst))
    }
    fn check(&self) -> Result<()> {
        if self.indices.storage_version() != self.version {
            return Err(Error::Autograd(format!(
                "the indices of max_pool2d (shape {:?}) needed for its gradient were modified by an in-place operation",
                self.indices.shape()
            )));
        }
        Ok(())
    }
}

/// `IndexMap` for 2x2 windows of stride 2, holding each maximum's offset in its window (one
/// byte) instead of a flat i64 index; `max_pool2d_simple` uses it, as its indices stay internal.
#[derive(Clone)]
struct OffsetMap {
    offsets: Arc<Vec<u8>>,
    win: Window,
}

impl PlaneMap for OffsetMap {
    const NAME: &'static str = "max_pool2d_gather";
    const ADJOINT_NAME: &'static str = "max_pool2d_backward";
    fn in_hw(&self) -> [usize; 2] {
        self.win.in_hw
    }
    fn out_hw(&self) -> [usize; 2] {
        self.win.out_hw
    }
    fn forward<T: Float + StorageElem>(&self, x: &[T], planes: usize) -> Vec<T> {
        pool_kernels::gather_2x2(x, &self.offsets, planes, &self.win)
    }
    fn adjoint<T: Float + StorageElem>(&self, y: &[T], planes: usize) -> Vec<T> {
        pool_kernels::scatter_2x2(y, &self.offsets, planes, &self.win)
    }
}

#[derive(Clone)]
struct AvgMap(AvgWindow);

impl PlaneMap for AvgMap {
    const NAME: &'static str = "avg_pool2d";
    const ADJOINT_NAME: &'static str = "avg_pool2d_backward";
    fn in_hw(&self) -> [usize; 2] {
        self.0.in_hw
    }
    fn out_hw(&self) -> [usize; 2] {
        self.0.out_hw
    }
    fn forward<T: Float + StorageElem>(&self, x: &[T], planes: usize) -> Vec<T> {
        let [i, o] = [self.0.in_hw, self.0.out_hw].map(|s| s[0] * s[1]);
        pool_kernels::for_each_plane(x, planes, i, o, |_, x, y| self.0.forward(x, y))
    }
    fn adjoint<T: Float + StorageElem>(&self, y: &[T], planes: usize) -> Vec<T> {
        let [i, o] = [self.0.in_hw, self.0.out_hw].map(|s| s[0] * s[1]);
        pool_kernels::for_each_plane(y, planes, o, i, |_, y, x| self.0.adjoint(y, x))
    }
    #[cfg(feature = "cuda")]
    fn run_cuda(&self, x: &Tensor, adjoint: bool) -> Option<Result<Tensor>> {
        Some(crate::cuda::ops::pool::avg_pool2d(x, &self.0, adjoint))
    }
}

#[derive(Clone)]
struct AdaptiveAvgMap {
    in_hw: [usize; 2],
    out_hw: [usize; 2],
}

impl PlaneMap for AdaptiveAvgMap {
    const NAME: &'static str = "adaptive_avg_pool2d";
    const ADJOINT_NAME: &'static str = "adaptive_avg_pool2d_backward";
    fn in_hw(&self) -> [usize; 2] {
        self.in_hw
    }
    fn out_hw(&self) -> [usize; 2] {
        self.out_hw
    }
    fn forward<T: Float + StorageElem>(&self, x: &[T], planes: usize) -> Vec<T> {
        let rows = pool_kernels::adaptive_bins(self.in_hw[0], self.out_hw[0]);
        let cols = pool_kernels::adaptive_bins(self.in_hw[1], self.out_hw[1]);
        let [i, o] = [self.in_hw, self.out_hw].map(|s| s[0] * s[1]);
        pool_kernels::for_each_plane(x, planes, i, o, |_, x, y| {
            pool_kernels::adaptive_avg_forward(x, self.in_hw[1], &rows, &cols, y)
        })
    }
    fn adjoint<T: Float + StorageElem>(&self, y: &[T], planes: usize) -> Vec<T> {
        let rows = pool_kernels::adaptive_bins(self.in_hw[0], self.out_hw[0]);
        let cols = pool_kernels::adaptive_bins(self.in_hw[1], self.out_hw[1]);
        let [i, o] = [self.in_hw, self.out_hw].map(|s| s[0] * s[1]);
        pool_kernels::for_each_plane(y, planes, o, i, |_, y, x| {
            pool_kernels::adaptive_avg_adjoint(y, self.in_hw[1], &rows, &cols, x)
        })
    }
    #[cfg(feature = "cuda")]
    fn run_cuda(&self, x: &Tensor, adjoint: bool) -> Option<Result<Tensor>> {
        use crate::cuda::ops::resample::{resample, Resample};
        Some(resample(Resample::AdaptiveAvg, x, self.in_hw, self.out_hw, adjoint))
    }
}

/// Input checks shared by the pooling ops: a 3-D or 4-D float tensor with non-empty planes.
pub(crate) fn check_pool_input(op: &'static str, x: &Tensor) -> Result<[usize; 2]> {
    let s = x.shape();
    if !(s.len() == 3 || s.len() == 4) || s[s.len() - 2] == 0 || s[s.len() - 1] == 0 {
        return Err(shape_err(
            op,
            format!("expected a 3-D or 4-D input with non-empty H and W, got {s:?}"),
        ));
    }
    if !x.dtype().is_float() {
        return Err(dtype_err(
            op,
            format!("expected a floating point input, got {}", x.dtype()),
        ));
    }
    Ok([s[s.len() - 2], s[s.len() - 1]])
}

/// PyTorch's pooled size along one axis (`pooling_output_shape`): floor or ceil division, and
/// in ceil mode the last window must start inside the input or its left padding.
fn pooled_len(len: usize, k: usize, s: usize, pad: usize, dil: usize, ceil: bool) -> isize {
    let (len, k, s, pad, dil) = (len as isize, k as isize, s as isize, pad as isize, dil as isize);
    let num = len + 2 * pad - dil * (k - 1) - 1 + if ceil { s - 1 } else { 0 };
    let mut out = num.div_euclid(s) + 1;
    if ceil && (out - 1) * s >= len + pad {
        out -= 1;
    }
    out
}

/// Validate pooling arguments and compute the output size.
fn pool_geometry(
    op: &'static str,
    in_hw: [usize; 2],
    kernel: [usize; 2],
    stride: [usize; 2],
    pad: [usize; 2],
    dilation: [usize; 2],
    ceil: bool,
) -> Result<[usize; 2]> {
    if kernel.contains(&0) || stride.contains(&0) || dilation.contains(&0) {
        return Err(arg_err(
            op,
            format!("kernel {kernel:?}, stride {stride:?} and dilation {dilation:?} must be positive"),
        ));
    }
    if pad[0] > kernel[0] / 2 || pad[1] > kernel[1] / 2 {
        return Err(arg_err(
            op,
            format!("padding {pad:?} should be at most half of the kernel size {kernel:?}"),
        ));
    }
    let out = [0, 1].map(|a| pooled_len(in_hw[a], kernel[a], stride[a], pad[a], dilation[a], ceil));
    if out[0] < 1 || out[1] < 1 {
        return Err(shape_err(
            op,
            format!("input size {in_hw:?} gives output size {out:?} with kernel {kernel:?}, stride {stride:?}, padding {pad:?}, dilation {dilation:?}: output size is too small"),
        ));
    }
    Ok(out.map(|o| o as usize))
}

/// Where each maximum came from.
enum Argmax {
    /// PyTorch's flat indices into each input plane.
    Flat(Tensor),
    /// Offsets in 2x2 windows (`Window::is_2x2` only).
    Offsets(Vec<u8>),
}

/// Max pooling: the values and where they came from (`compact`: window offsets, for 2x2
/// windows only).
fn max_pool_raw(x: &Tensor, win: &Window, compact: bool) -> Result<(Tensor, Argmax)> {
    let nd = x.ndim();
    let mut shape = x.shape()[..nd - 2].to_vec();
    let planes = shape.iter().product();
    shape.extend(win.out_hw);
    let go = |x: &Tensor| -> (CpuStorage, Argmax) {
        fn typed<T: Float + StorageElem>(
            x: &Tensor,
            planes: usize,
            win: &Window,
            compact: bool,
            shape: &[usize],
        ) -> (CpuStorage, Argmax) {
            let g = x.read();
            let data = &T::slice(&g).expect("dtype checked")[x.offset()..x.offset() + x.numel()];
            if compact {
                let (v, o) = pool_kernels::max_pool2d_2x2(data, planes, win);
                (T::into_storage(v), Argmax::Offsets(o))
            } else {
                let (v, i) = pool_kernels::max_pool2d(data, planes, win);
                (
                    T::into_storage(v),
                    Argmax::Flat(Tensor::from_storage(CpuStorage::I64(i), shape)),
                )
            }
        }
        if x.dtype() == DType::F32 {
            typed::<f32>(x, planes, win, compact, &shape)
        } else {
            typed::<f64>(x, planes, win, compact, &shape)
        }
    };
    let (vals, arg) = match x.dtype() {
        DType::F32 | DType::F64 => go(&x.contiguous_data()),
        DType::F16 | DType::BF16 => {
            // the maximum of rounded values is exact: pool in f32, round back losslessly
            let _ng = crate::autograd::no_grad();
            let (v, a) = max_pool_raw(&x.to_dtype(DType::F32)?, win, compact)?;
            return Ok((v.to_dtype(x.dtype())?, a));
        }
        d => return Err(dtype_err("max_pool2d", format!("not supported for dtype {d}"))),
    };
    Ok((Tensor::from_storage(vals, &shape), arg))
}

/// 2x2 max pooling values only, for inputs that need no gradient (nothing to remember).
struct MaxValues2x2 {
    win: Window,
    planes: usize,
}

impl FloatKernel for MaxValues2x2 {
    fn run<T: Float + StorageElem>(&self, inputs: &[&[T]]) -> Vec<T> {
        pool_kernels::max_pool2d_2x2_values(inputs[0], self.planes, &self.win)
    }
}

/// Validate max-pooling arguments for `x`: its window.
fn max_pool_window(
    x: &Tensor,
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
    dilation: [usize; 2],
    ceil_mode: bool,
) -> Result<Window> {
    let in_hw = check_pool_input("max_pool2d", x)?;
    let out_hw = pool_geometry("max_pool2d", in_hw, kernel, stride, padding, dilation, ceil_mode)?;
    Ok(Window {
        in_hw,
        out_hw,
        kernel,
        stride,
        pad: padding,
        dilation,
    })
}

impl Tensor {
    /// 2-D max pooling (PyTorch's `F.max_pool2d(..., return_indices=True)`): the maximum of
    /// each window and its flat index `h * W + w` into the input plane (i64). Padding counts as
    /// `-inf`; ties keep the first maximum; NaN propagates.
    ///
    /// ```
    /// use ember_core::Tensor;
    /// let x = Tensor::from_vec(vec![1.0f32, 5.0, 2.0, 0.0, 3.0, 4.0, 8.0, 1.0], &[1, 1, 2, 4]).unwrap();
    /// let (v, i) = x.max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], false).unwrap();
    /// assert_eq!(v.to_vec::<f32>().unwrap(), vec![5.0, 8.0]);
    /// assert_eq!(i.to_vec::<i64>().unwrap(), vec![1, 6]);
    /// ```
    pub fn max_pool2d(
        &self,
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
        dilation: [usize; 2],
        ceil_mode: bool,
    ) -> Result<(Tensor, Tensor)> {
        let win = max_pool_window(self, kernel, stride, padding, dilation, ceil_mode)?;
        #[cfg(feature = "cuda")]
        if self.device().is_cuda() {
            let (vals, idx) = crate::cuda::ops::pool::max_pool2d(&self.detach(), &win)?;
            if !needs_grad(&[self]) {
                return Ok((vals, idx));
            }
            let (saved, in_shape) = (idx.clone(), self.shape().to_vec());
            let vals = record("max_pool2d", vals, &[self], move |_| {
                Box::new(move |g| {
                    Ok(vec![Some(crate::cuda::ops::pool::max_pool2d_backward(
                        g, &saved, &in_shape,
                    )?)])
                })
            });
            return Ok((vals, idx));
        }
        let (vals, Argmax::Flat(idx)) = max_pool_raw(self, &win, false)? else {
            unreachable!("flat indices were asked for")
        };
        if !needs_grad(&[self]) {
            return Ok((vals, idx));
        }
        let map = IndexMap {
            indices: idx.clone(),
            version: idx.storage_version(),
            win,
        };
        let vals = record("max_pool2d", vals, &[self], move |_| {
            Box::new(move |g| Ok(vec![Some(apply_plane_map(g, &map, true)?)]))
        });
        Ok((vals, idx))
    }

    /// `max_pool2d` without padding or dilation, returning only the values. The common 2x2,
    /// stride-2 layer keeps one byte per output for its gradient instead of an i64 index.
    ///
    /// ```
    /// use ember_core::Tensor;
    /// let x = Tensor::arange(0.0, 16.0, 1.0).unwrap().to_float().unwrap().reshape(&[1, 1, 4, 4]).unwrap();
    /// let y = x.max_pool2d_simple([2, 2], [2, 2]).unwrap();
    /// assert_eq!(y.to_vec::<f32>().unwrap(), vec![5.0, 7.0, 13.0, 15.0]);
    /// ```
    pub fn max_pool2d_simple(&self, kernel: [usize; 2], stride: [usize; 2]) -> Result<Tensor> {
        let win = max_pool_window(self, kernel, stride, [0, 0], [1, 1], false)?;
        if !win.is_2x2() || !self.device().is_cpu() {
            return Ok(self.max_pool2d(kernel, stride, [0, 0], [1, 1], false)?.0);
        }
        if !needs_grad(&[self]) && self.dtype().is_float() {
            let planes = self.shape()[..self.ndim() - 2].iter().product();
            let mut shape = self.shape()[..self.ndim() - 2].to_vec();
            shape.extend(win.out_hw);
            return run_float("max_pool2d", &[self], &shape, &MaxValues2x2 { win, planes });
        }
        let (vals, Argmax::Offsets(offsets)) = max_pool_raw(self, &win, true)? else {
            unreachable!("window offsets were asked for")
        };
        let map = OffsetMap {
            offsets: Arc::new(offsets),
            win,
        };
        Ok(record("max_pool2d", vals, &[self], move |_| {
            Box::new(move |g| Ok(vec![Some(apply_plane_map(g, &map, true)?)]))
        }))
    }

    /// 2-D average pooling (PyTorch's `F.avg_pool2d`). Windows are clipped to the padded input;
    /// `count_include_pad` divides by the clipped window size including padding, otherwise by
    /// the number of real inputs in the window.
    ///
    /// ```
    /// use ember_core::Tensor;
    /// let x = Tensor::ones(&[1, 1, 2, 2]);
    /// let y = x.avg_pool2d([2, 2], [2, 2], [1, 1], false, true).unwrap();
    /// assert_eq!(y.to_vec::<f32>().unwrap(), vec![0.25; 4]);
    /// let y = x.avg_pool2d([2, 2], [2, 2], [1, 1], false, false).unwrap();
    /// assert_eq!(y.to_vec::<f32>().unwrap(), vec![1.0; 4]);
    /// ```
    pub fn avg_pool2d(
        &self,
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
        ceil_mode: bool,
        count_include_pad: bool,
    ) -> Result<Tensor> {
        let op = "avg_pool2d";
        let in_hw = check_pool_input(op, self)?;
        let out_hw = pool_geometry(op, in_hw, kernel, stride, padding, [1, 1], ceil_mode)?;
        apply_plane_map(
            self,
            &AvgMap(AvgWindow {
                in_hw,
                out_hw,
                kernel,
                stride,
                pad: padding,
                count_include_pad,
            }),
            false,
        )
    }

    /// Adaptive average pooling to `[oh, ow]` (PyTorch's `F.adaptive_avg_pool2d`): output `i`
    /// averages inputs `floor(i * H / oh) .. ceil((i + 1) * H / oh)` (bins may overlap).
    ///
    /// ```
    /// use ember_core::Tensor;
    /// let x = Tensor::arange(0.0, 6.0, 1.0).unwrap().to_float().unwrap().reshape(&[1, 1, 1, 6]).unwrap();
    /// let y = x.adaptive_avg_pool2d([1, 3]).unwrap();
    /// assert_eq!(y.to_vec::<f32>().unwrap(), vec![0.5, 2.5, 4.5]);
    /// ```
    pub fn adaptive_avg_pool2d(&self, output_size: [usize; 2]) -> Result<Tensor> {
        let in_hw = check_pool_input("adaptive_avg_pool2d", self)?;
        apply_plane_map(
            self,
            &AdaptiveAvgMap {
                in_hw,
                out_hw: output_size,
            },
            false,
        )
    }
}

/// Test helper: checks the gradient of an op's backward (its vector-Jacobian product as a
/// function of the cotangent), which is what double backward runs through. `gradgradcheck`
/// does not apply to linear ops: their gradient does not depend on the input at all.
#[cfg(test)]
pub(crate) fn check_backward_of_backward(f: impl Fn(&Tensor) -> Result<Tensor> + 'static, x: &Tensor) {
    let out = f(x).unwrap();
    let u = Tensor::randn_with(out.shape(), &mut crate::rng::Generator::new(77))
        .to_dtype(DType::F64)
        .unwrap();
    let x = x.detach();
    let vjp = move |t: &[Tensor]| -> Result<Tensor> {
        let _eg = crate::autograd::enable_grad();
        let xr = x.detach().requires_grad_(true);
        let y = f(&xr)?;
        let g = crate::autograd::grad(&[y], &[xr], Some(&[t[0].clone()]), true, true)?;
        Ok(g[0].clone().expect("the input is reached"))
    };
    crate::autograd::gradcheck(&vjp, &[u], 1e-6, 1e-7).unwrap();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autograd::gradcheck;
    use crate::rng::Generator;

    fn rand(shape: &[usize], seed: u64) -> Tensor {
        Tensor::randn_with(shape, &mut Generator::new(seed))
            .to_dtype(DType::F64)
            .unwrap()
    }

    fn assert_close(a: &[f64], b: &[f64], tol: f64) {
        assert_eq!(a.len(), b.len());
        for (i, (p, q)) in a.iter().zip(b).enumerate() {
            assert!((p - q).abs() <= tol * (1.0 + q.abs()), "element {i}: {p} vs {q}");
        }
    }

    /// Direct max pooling of `[planes, h, w]` data: each window scanned in order, the first
    /// in-range tap as the starting index, a larger value or a NaN taking over.
    fn naive_max(x: &[f64], planes: usize, win: &Window) -> (Vec<f64>, Vec<i64>) {
        let ([h, w], [oh, ow]) = (win.in_hw, win.out_hw);
        let (mut vals, mut idx) = (vec![], vec![]);
        for p in 0..planes {
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut best: Option<(f64, i64)> = None;
                    for ky in 0..win.kernel[0] {
                        for kx in 0..win.kernel[1] {
                            let iy = (oy * win.stride[0] + ky * win.dilation[0]) as isize - win.pad[0] as isize;
                            let ix = (ox * win.stride[1] + kx * win.dilation[1]) as isize - win.pad[1] as isize;
                            if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                continue;
                            }
                            let i = iy as usize * w + ix as usize;
                            let v = x[p * h * w + i];
                            best = match best {
                                None => Some((v, i as i64)),
                                Some((b, _)) if v > b || v.is_nan() => Some((v, i as i64)),
                                keep => keep,
                            };
                        }
                    }
                    let (v, i) = best.expect("every window has an input");
                    vals.push(v);
                    idx.push(i);
                }
            }
        }
        (vals, idx)
    }

    #[test]
    fn pooled_sizes_follow_pytorch() {
        assert_eq!(pooled_len(5, 2, 2, 0, 1, false), 2);
        assert_eq!(pooled_len(5, 2, 2, 0, 1, true), 3);
        assert_eq!(pooled_len(6, 3, 2, 1, 1, false), 3);
        assert_eq!(pooled_len(6, 3, 2, 1, 1, true), 4);
        // ceil mode drops a last window that would start in the right padding
        assert_eq!(pooled_len(4, 2, 3, 1, 1, true), 2);
        assert_eq!(pooled_len(7, 3, 1, 0, 2, false), 3);
    }

    #[test]
    fn max_pool_matches_direct_scan() {
        type Case = ([usize; 2], [usize; 2], [usize; 2], [usize; 2], [usize; 2], bool);
        let cases: Vec<Case> = vec![
            ([6, 8], [2, 2], [2, 2], [0, 0], [1, 1], false),
            ([7, 9], [2, 2], [2, 2], [0, 0], [1, 1], true),
            ([7, 6], [3, 3], [2, 2], [1, 1], [1, 1], false),
            ([7, 6], [3, 2], [2, 1], [1, 1], [1, 1], true),
            ([9, 8], [3, 3], [1, 2], [1, 0], [2, 3], false),
            ([5, 5], [2, 2], [1, 1], [1, 1], [1, 1], true),
        ];
        for (i, (hw, k, s, p, d, ceil)) in cases.into_iter().enumerate() {
            let x = rand(&[2, 3, hw[0], hw[1]], i as u64);
            let (v, idx) = x.max_pool2d(k, s, p, d, ceil).unwrap();
            let out_hw = [v.shape()[2], v.shape()[3]];
            let win = Window {
                in_hw: hw,
                out_hw,
                kernel: k,
                stride: s,
                pad: p,
                dilation: d,
            };
            let (wv, wi) = naive_max(&x.to_vec::<f64>().unwrap(), 6, &win);
            assert_eq!(v.to_vec::<f64>().unwrap(), wv, "case {i}");
            assert_eq!(idx.to_vec::<i64>().unwrap(), wi, "case {i}");
            assert_eq!(idx.dtype(), DType::I64);
            // f32 and f16 pick the same elements
            let v32 = x.to_dtype(DType::F32).unwrap().max_pool2d(k, s, p, d, ceil).unwrap();
            assert_eq!(v32.1.to_vec::<i64>().unwrap(), wi);
            let xh = x.to_dtype(DType::F16).unwrap();
            let vh = xh.max_pool2d(k, s, p, d, ceil).unwrap();
            assert_eq!(vh.0.dtype(), DType::F16);
            let (whv, _) = naive_max(&xh.to_vec::<f64>().unwrap(), 6, &win);
            assert_eq!(vh.0.to_vec::<f64>().unwrap(), whv);
        }
    }

    #[test]
    fn max_pool_known_values_ties_and_nan() {
        let x = Tensor::arange(0.0, 25.0, 1.0)
            .unwrap()
            .to_dtype(DType::F32)
            .unwrap()
            .reshape(&[1, 1, 5, 5])
            .unwrap();
        let (v, i) = x.max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], true).unwrap();
        assert_eq!(
            v.to_vec::<f32>().unwrap(),
            vec![6.0, 8.0, 9.0, 16.0, 18.0, 19.0, 21.0, 23.0, 24.0]
        );
        assert_eq!(i.to_vec::<i64>().unwrap(), vec![6, 8, 9, 16, 18, 19, 21, 23, 24]);
        // ties keep the first maximum; a NaN wins and stays
        let x = Tensor::new(&[[[1.0f32, 1.0, 1.0, f32::NAN], [0.0, 1.0, 2.0, 3.0]]]);
        let (v, i) = x.max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], false).unwrap();
        let v = v.to_vec::<f32>().unwrap();
        assert_eq!(v[0], 1.0);
        assert!(v[1].is_nan());
        assert_eq!(i.to_vec::<i64>().unwrap(), vec![0, 3]);
        assert_eq!(x.max_pool2d_simple([2, 2], [2, 2]).unwrap().shape(), &[1, 1, 2]);
    }

    #[test]
    fn max_pool_gradients() {
        for (k, s, p, d) in [
            ([2, 2], [2, 2], [0, 0], [1, 1]),
            ([3, 3], [1, 2], [1, 1], [1, 1]),
            ([2, 3], [2, 1], [1, 0], [2, 1]),
        ] {
            let f = move |t: &[Tensor]| Ok(t[0].max_pool2d(k, s, p, d, true)?.0);
            gradcheck(&f, &[rand(&[2, 2, 7, 6], 3)], 1e-6, 1e-7).unwrap();
            check_backward_of_backward(move |x| Ok(x.max_pool2d(k, s, p, d, true)?.0), &rand(&[2, 2, 7, 6], 4));
        }
        // the 2x2 fast path, with a last row and column outside every window
        let f = |t: &[Tensor]| t[0].max_pool2d_simple([2, 2], [2, 2]);
        gradcheck(&f, &[rand(&[2, 3, 7, 5], 5)], 1e-6, 1e-7).unwrap();
        check_backward_of_backward(|x| x.max_pool2d_simple([2, 2], [2, 2]), &rand(&[2, 3, 7, 5], 6));
        // overlapping windows sending two gradients to one input
        let x = Tensor::new(&[[[0.0f64, 5.0, 0.0]]]).requires_grad_(true);
        x.max_pool2d([1, 2], [1, 1], [0, 0], [1, 1], false)
            .unwrap()
            .0
            .sum_all()
            .backward()
            .unwrap();
        assert_eq!(x.grad().unwrap().to_vec::<f64>().unwrap(), vec![0.0, 2.0, 0.0]);
        assert_eq!(
            Tensor::ones(&[1, 2, 2])
                .max_pool2d_simple([2, 2], [2, 2])
                .unwrap()
                .grad_fn_name(),
            None
        );
    }

    #[test]
    fn max_pool_indices_modified_in_place_are_caught() {
        let x = rand(&[1, 1, 4, 4], 5).requires_grad_(true);
        let (v, i) = x.max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], false).unwrap();
        crate::autograd::no_grad_scope(|| i.fill_(0.0)).unwrap();
        assert!(v.sum_all().backward().unwrap_err().to_string().contains("max_pool2d"));
    }

    /// Direct average pooling from PyTorch's definition.
    fn naive_avg(x: &[f64], planes: usize, win: &AvgWindow) -> Vec<f64> {
        let (hw, out, k, s, p) = (win.in_hw, win.out_hw, win.kernel, win.stride, win.pad);
        let mut y = vec![];
        for pl in 0..planes {
            for oy in 0..out[0] {
                for ox in 0..out[1] {
                    let (y0, x0) = (
                        (oy * s[0]) as isize - p[0] as isize,
                        (ox * s[1]) as isize - p[1] as isize,
                    );
                    let y1 = (y0 + k[0] as isize).min((hw[0] + p[0]) as isize);
                    let x1 = (x0 + k[1] as isize).min((hw[1] + p[1]) as isize);
                    let mut sum = 0.0;
                    let mut count = 0;
                    for iy in y0.max(0)..y1.min(hw[0] as isize) {
                        for ix in x0.max(0)..x1.min(hw[1] as isize) {
                            sum += x[pl * hw[0] * hw[1] + iy as usize * hw[1] + ix as usize];
                            count += 1;
                        }
                    }
                    let div = if win.count_include_pad {
                        ((y1 - y0) * (x1 - x0)) as f64
                    } else {
                        count as f64
                    };
                    y.push(if count == 0 { 0.0 } else { sum / div });
                }
            }
        }
        y
    }

    #[test]
    fn avg_pool_matches_definition_and_gradients() {
        let cases = [
            ([6, 6], [2, 2], [2, 2], [0, 0], false),
            ([7, 5], [3, 3], [2, 2], [1, 1], true),
            ([5, 7], [3, 2], [2, 3], [1, 1], false),
            ([4, 4], [2, 2], [3, 3], [1, 1], true),
        ];
        for (i, (hw, k, s, p, ceil)) in cases.into_iter().enumerate() {
            let x = rand(&[2, 2, hw[0], hw[1]], 10 + i as u64);
            for include in [true, false] {
                let y = x.avg_pool2d(k, s, p, ceil, include).unwrap();
                let out = [y.shape()[2], y.shape()[3]];
                assert_eq!(
                    out.map(|o| o as isize),
                    [0, 1].map(|a| pooled_len(hw[a], k[a], s[a], p[a], 1, ceil))
                );
                let win = AvgWindow {
                    in_hw: hw,
                    out_hw: out,
                    kernel: k,
                    stride: s,
                    pad: p,
                    count_include_pad: include,
                };
                let want = naive_avg(&x.to_vec::<f64>().unwrap(), 4, &win);
                assert_close(&y.to_vec::<f64>().unwrap(), &want, 1e-12);
                let f = move |t: &[Tensor]| t[0].avg_pool2d(k, s, p, ceil, include);
                gradcheck(&f, &[x.clone()], 1e-6, 1e-7).unwrap();
                check_backward_of_backward(move |x| x.avg_pool2d(k, s, p, ceil, include), &x);
            }
        }
        let y = rand(&[3, 4, 4], 1)
            .to_dtype(DType::BF16)
            .unwrap()
            .avg_pool2d([2, 2], [2, 2], [0, 0], false, true)
            .unwrap();
        assert_eq!((y.dtype(), y.shape()), (DType::BF16, &[3, 2, 2][..]));
    }

    #[test]
    fn adaptive_avg_pool_matches_definition_and_gradients() {
        for (hw, out) in [([6, 6], [3, 2]), ([5, 7], [3, 4]), ([3, 2], [5, 4]), ([4, 4], [1, 1])] {
            let x = rand(&[2, 3, hw[0], hw[1]], 7);
            let y = x.adaptive_avg_pool2d(out).unwrap();
            assert_eq!(y.shape(), &[2, 3, out[0], out[1]]);
            let xv = x.to_vec::<f64>().unwrap();
            let mut want = vec![];
            for pl in 0..6 {
                for i in 0..out[0] {
                    for j in 0..out[1] {
                        let (y0, y1) = (
                            (i * hw[0]) as f64 / out[0] as f64,
                            ((i + 1) * hw[0]) as f64 / out[0] as f64,
                        );
                        let (x0, x1) = (
                            (j * hw[1]) as f64 / out[1] as f64,
                            ((j + 1) * hw[1]) as f64 / out[1] as f64,
                        );
                        let (ys, ye, xs, xe) = (
                            y0.floor() as usize,
                            y1.ceil() as usize,
                            x0.floor() as usize,
                            x1.ceil() as usize,
                        );
                        let mut sum = 0.0;
                        for a in ys..ye {
                            for b in xs..xe {
                                sum += xv[pl * hw[0] * hw[1] + a * hw[1] + b];
                            }
                        }
                        want.push(sum / ((ye - ys) * (xe - xs)) as f64);
                    }
                }
            }
            assert_close(&y.to_vec::<f64>().unwrap(), &want, 1e-12);
            let f = move |t: &[Tensor]| t[0].adaptive_avg_pool2d(out);
            gradcheck(&f, &[x.clone()], 1e-6, 1e-7).unwrap();
            check_backward_of_backward(move |x| x.adaptive_avg_pool2d(out), &x);
        }
    }

    #[test]
    fn bad_pool_arguments_are_errors() {
        let x = rand(&[1, 2, 5, 5], 1);
        let err = |r: Result<Tensor>| r.unwrap_err().to_string();
        assert!(err(x.reshape(&[10, 5]).unwrap().max_pool2d_simple([2, 2], [2, 2])).contains("max_pool2d"));
        assert!(err(x.max_pool2d_simple([2, 2], [0, 2])).contains("stride"));
        assert!(err(x.max_pool2d([2, 2], [2, 2], [2, 2], [1, 1], false).map(|r| r.0)).contains("half of the kernel"));
        let e = err(x.max_pool2d_simple([6, 6], [1, 1]));
        assert!(e.contains("too small") && e.contains("[5, 5]"), "{e}");
        assert!(err(x.avg_pool2d([6, 6], [1, 1], [0, 0], false, true)).contains("avg_pool2d"));
        let xi = Tensor::zeros_dtype(&[1, 1, 4, 4], DType::I64).unwrap();
        assert!(err(xi.max_pool2d_simple([2, 2], [2, 2])).contains("dtype"));
        assert!(err(x.reshape(&[50]).unwrap().adaptive_avg_pool2d([2, 2])).contains("adaptive_avg_pool2d"));
    }
}
