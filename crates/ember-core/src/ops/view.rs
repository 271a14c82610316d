//! View ops: O(1) changes of shape/strides/offset that share storage with their input.
//!
//! A slicing view (narrow, slice with step, select) is declared as a function from a layout to
//! a layout. Forward applies it to the input's layout; backward applies it to a contiguous
//! zero tensor of the input's shape and writes the gradient through that view
//! (`view_scatter`), whose own gradient is the view again — so double backward works.

use crate::autograd::{needs_grad, record};
use crate::error::{shape_err, Error, Result};
use crate::shape::{contiguous_strides, normalize_dim, Dims, Layout};
use crate::tensor::Tensor;
use std::sync::Arc;

type LayoutFn = Arc<dyn Fn(&Layout) -> Result<Layout> + Send + Sync>;

/// A range along one dimension for `slice`: `start..end` by `step` (negative start/end count
/// from the end, as in Python; `end = None` means to the end).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SliceArg {
    pub start: isize,
    pub end: Option<isize>,
    pub step: usize,
}

impl SliceArg {
    /// The whole dimension (`:`).
    pub fn full() -> SliceArg {
        SliceArg {
            start: 0,
            end: None,
            step: 1,
        }
    }
}

impl From<std::ops::Range<isize>> for SliceArg {
    fn from(r: std::ops::Range<isize>) -> Self {
        SliceArg {
            start: r.start,
            end: Some(r.end),
            step: 1,
        }
    }
}
impl From<std::ops::RangeFrom<isize>> for SliceArg {
    fn from(r: std::ops::RangeFrom<isize>) -> Self {
        SliceArg {
            start: r.start,
            end: None,
            step: 1,
        }
    }
}
impl From<std::ops::RangeTo<isize>> for SliceArg {
    fn from(r: std::ops::RangeTo<isize>) -> Self {
        SliceArg {
            start: 0,
            end: Some(r.end),
            step: 1,
        }
    }
}
impl From<std::ops::RangeFull> for SliceArg {
    fn from(_: std::ops::RangeFull) -> Self {
        SliceArg::full()
    }
}

/// `s(start, end, step)` — a slice with a step, for `Tensor::slice`.
pub fn s(start: isize, end: Option<isize>, step: usize) -> SliceArg {
    SliceArg { start, end, step }
}

fn slice_layout(op: &'static str, l: &Layout, dim: usize, a: SliceArg) -> Result<Layout> {
    if a.step == 0 {
        return Err(Error::Arg {
            op,
            msg: "slice step must be positive".into(),
        });
    }
    let n = l.shape[dim] as isize;
    let clamp = |v: isize| -> isize {
        let v = if v < 0 { v + n } else { v };
        v.clamp(0, n)
    };
    let start = clamp(a.start);
    let end = clamp(a.end.unwrap_or(n)).max(start);
    let len = ((end - start) as usize).div_ceil(a.step);
    let mut out = l.clone();
    out.offset += start as usize * l.strides[dim];
    out.shape[dim] = len;
    out.strides[dim] *= a.step;
    Ok(out)
}

impl Tensor {
    /// Apply a slicing view: forward through the layout function, backward by scattering into
    /// zeros through the same function.
    fn slicing_view(&self, name: &'static str, f: LayoutFn) -> Result<Tensor> {
        let layout = f(self.layout())?;
        let out = self.view_with_layout(layout);
        if !needs_grad(&[self]) {
            return Ok(out);
        }
        let shape = self.shape().to_vec();
        Ok(record(name, out, &[self], move |_| {
            Box::new(move |g| Ok(vec![Some(g.view_scatter(&shape, f.clone())?)]))
        }))
    }

    /// Zeros of `base_shape` with the view `f` of it set to `self` (the adjoint of a view).
    fn view_scatter(&self, base_shape: &[usize], f: LayoutFn) -> Result<Tensor> {
        let base = Tensor::zeros_dtype(base_shape, self.dtype())?;
        #[cfg(feature = "cuda")]
        let base = match self.device() {
            crate::Device::Cuda(i) => crate::cuda::ops::fill(i, self.dtype(), base_shape, 0.0)?,
            _ => base,
        };
        let view = base.view_with_layout(f(base.layout())?);
        #[cfg(feature = "cuda")]
        if self.device().is_cuda() {
            crate::cuda::ops::copy_into(&view, self)?;
        } else {
            view.copy_data_from(self)?;
        }
        #[cfg(not(feature = "cuda"))]
        view.copy_data_from(self)?;
        if !needs_grad(&[self]) {
            return Ok(base);
        }
        Ok(record("view_scatter", base, &[self], move |_| {
            Box::new(move |g| {
                let g = g.contiguous();
                Ok(vec![Some(g.view_with_layout(f(g.layout())?).contiguous())])
            })
        }))
    }

    /// `narrow(dim, start, len)`: the elements `start..start+len` along `dim`, as a view.
    pub fn narrow(&self, dim: isize, start: usize, len: usize) -> Result<Tensor> {
        let d = normalize_dim("narrow", dim, self.ndim())?;
        if start + len > self.shape()[d] {
            return Err(shape_err(
                "narrow",
                format!(
                    "start ({start}) + length ({len}) exceeds dimension {d} of size {} (shape {:?})",
                    self.shape()[d],
                    self.shape()
                ),
            ));
        }
        let a = SliceArg {
            start: start as isize,
            end: Some((start + len) as isize),
            step: 1,
        };
        self.slicing_view("narrow", Arc::new(move |l| slice_layout("narrow", l, d, a)))
    }

    /// Slice one dimension by a range with a step (Python's `x[:, 1:10:2]`), as a view.
    pub fn slice(&self, dim: isize, arg: impl Into<SliceArg>) -> Result<Tensor> {
        let d = normalize_dim("slice", dim, self.ndim())?;
        let a = arg.into();
        self.slicing_view("slice", Arc::new(move |l| slice_layout("slice", l, d, a)))
    }

    /// Slice every leading dimension at once: `x.i(&[s(0, None, 2), (1..3).into()])`.
    pub fn i(&self, args: &[SliceArg]) -> Result<Tensor> {
        if args.len() > self.ndim() {
            return Err(shape_err(
                "i",
                format!("too many indices ({}) for a tensor of {} dims", args.len(), self.ndim()),
            ));
        }
        let args = args.to_vec();
        self.slicing_view(
            "slice",
            Arc::new(move |l| {
                let mut l = l.clone();
                for (d, a) in args.iter().enumerate() {
                    l = slice_layout("slice", &l, d, *a)?;
                }
                Ok(l)
            }),
        )
    }

    /// Pick index `index` along `dim`, removing that dim (`x[:, 3]`), as a view.
    pub fn select(&self, dim: isize, index: isize) -> Result<Tensor> {
        let d = normalize_dim("select", dim, self.ndim())?;
        let n = self.shape()[d] as isize;
        let i = if index < 0 { index + n } else { index };
        if i < 0 || i >= n {
            return Err(crate::error::index_err(
                "select",
                format!("index {index} is out of bounds for dimension {d} with size {n}"),
            ));
        }
        self.slicing_view(
            "select",
            Arc::new(move |l| {
                let mut out = l.clone();
                out.offset += i as usize * l.strides[d];
                out.shape.remove(d);
                out.strides.remove(d);
                Ok(out)
            }),
        )
    }

    /// Same data, new shape (one dim may be -1). A view when the layout allows, else a copy.
    pub fn reshape(&self, shape: &[isize]) -> Result<Tensor> {
        self.reshape_impl("reshape", shape)
    }

    fn reshape_impl(&self, op: &'static str, spec: &[isize]) -> Result<Tensor> {
        let shape = infer_shape(op, spec, self.numel(), self.shape())?;
        if shape.as_slice() == self.shape() {
            return Ok(self.clone());
        }
        let src = if self.is_contiguous() {
            self.clone()
        } else {
            self.contiguous()
        };
        let layout = Layout {
            shape: shape.clone(),
            strides: contiguous_strides(&shape),
            offset: src.offset(),
        };
        let out = src.view_with_layout(layout);
        if !needs_grad(&[&src]) {
            return Ok(out);
        }
        let in_shape: Vec<isize> = src.shape().iter().map(|&x| x as isize).collect();
        Ok(record(op, out, &[&src], move |_| {
            Box::new(move |g| Ok(vec![Some(g.reshape(&in_shape)?)]))
        }))
    }

    /// `reshape` with a fully known shape.
    pub fn reshape_to(&self, shape: &[usize]) -> Result<Tensor> {
        let spec: Vec<isize> = shape.iter().map(|&x| x as isize).collect();
        self.reshape_impl("reshape", &spec)
    }

    /// Like `reshape`, but errors instead of copying when the layout is not contiguous.
    pub fn view(&self, shape: &[isize]) -> Result<Tensor> {
        if !self.is_contiguous() {
            return Err(shape_err(
                "view",
                format!(
                    "view size is not compatible with input tensor's size and stride (shape {:?}, strides {:?}); use reshape",
                    self.shape(),
                    self.strides()
                ),
            ));
        }
        self.reshape_impl("view", shape)
    }

    /// Reorder dims (`x.permute(&[2, 0, 1])`), as a view.
    pub fn permute(&self, dims: &[isize]) -> Result<Tensor> {
        let nd = self.ndim();
        if dims.len() != nd {
            return Err(shape_err(
                "permute",
                format!("got {} dims for a tensor of shape {:?}", dims.len(), self.shape()),
            ));
        }
        let mut perm = Vec::with_capacity(nd);
        let mut seen = vec![false; nd];
        for &d in dims {
            let d = normalize_dim("permute", d, nd)?;
            if seen[d] {
                return Err(shape_err("permute", format!("repeated dim {d} in {dims:?}")));
            }
            seen[d] = true;
            perm.push(d);
        }
        let l = self.layout();
        let layout = Layout {
            shape: perm.iter().map(|&p| l.shape[p]).collect(),
            strides: perm.iter().map(|&p| l.strides[p]).collect(),
            offset: l.offset,
        };
        let out = self.view_with_layout(layout);
        if !needs_grad(&[self]) {
            return Ok(out);
        }
        let mut inv = vec![0isize; nd];
        for (i, &p) in perm.iter().enumerate() {
            inv[p] = i as isize;
        }
        Ok(record("permute", out, &[self], move |_| {
            Box::new(move |g| Ok(vec![Some(g.permute(&inv)?)]))
        }))
    }

    /// Swap two dims, as a view.
    pub fn transpose(&self, d0: isize, d1: isize) -> Result<Tensor> {
        let nd = self.ndim();
        let (a, b) = (normalize_dim("transpose", d0, nd)?, normalize_dim("transpose", d1, nd)?);
        if nd == 0 {
            return Ok(self.clone());
        }
        let mut perm: Vec<isize> = (0..nd as isize).collect();
        perm.swap(a, b);
        self.permute(&perm)
    }

    /// Transpose of a 2-D tensor (1-D and 0-D tensors are returned as they are).
    pub fn t(&self) -> Tensor {
        if self.ndim() < 2 {
            return self.clone();
        }
        self.transpose(-2, -1).expect("t() on a tensor of at least 2 dims")
    }

    /// Broadcast to a larger shape without copying (stride 0 on expanded dims); `-1` keeps a dim.
    pub fn expand(&self, shape: &[isize]) -> Result<Tensor> {
        let lead = shape.len().checked_sub(self.ndim()).ok_or_else(|| {
            shape_err(
                "expand",
                format!(
                    "the expanded shape {shape:?} has fewer dims than the tensor's {:?}",
                    self.shape()
                ),
            )
        })?;
        let target: Dims = shape
            .iter()
            .enumerate()
            .map(|(i, &s)| {
                if s < 0 && i >= lead {
                    self.shape()[i - lead]
                } else {
                    s.max(0) as usize
                }
            })
            .collect();
        self.broadcast_to(&target)
    }

    /// Broadcast to `shape` (NumPy's `broadcast_to`), as a view.
    pub fn broadcast_to(&self, shape: &[usize]) -> Result<Tensor> {
        if shape == self.shape() {
            return Ok(self.clone());
        }
        let layout = self.layout().broadcast_to("expand", shape)?;
        let out = self.view_with_layout(layout);
        if !needs_grad(&[self]) {
            return Ok(out);
        }
        let in_shape = self.shape().to_vec();
        Ok(record("expand", out, &[self], move |_| {
            Box::new(move |g| Ok(vec![Some(g.sum_to(&in_shape)?)]))
        }))
    }

    /// Insert a dim of size 1 at `dim`.
    pub fn unsqueeze(&self, dim: isize) -> Result<Tensor> {
        let d = normalize_dim("unsqueeze", dim, self.ndim() + 1)?;
        let mut shape: Vec<isize> = self.shape().iter().map(|&x| x as isize).collect();
        shape.insert(d, 1);
        self.reshape(&shape)
    }

    /// Remove `dim` if its size is 1 (a no-op otherwise, as in PyTorch).
    pub fn squeeze(&self, dim: isize) -> Result<Tensor> {
        if self.ndim() == 0 {
            return Ok(self.clone());
        }
        let d = normalize_dim("squeeze", dim, self.ndim())?;
        if self.shape()[d] != 1 {
            return Ok(self.clone());
        }
        let shape: Vec<isize> = self
            .shape()
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != d)
            .map(|(_, &x)| x as isize)
            .collect();
        self.reshape(&shape)
    }

    /// Remove every dim of size 1.
    pub fn squeeze_all(&self) -> Result<Tensor> {
        let shape: Vec<isize> = self.shape().iter().filter(|&&x| x != 1).map(|&x| x as isize).collect();
        self.reshape(&shape)
    }

    /// Merge dims `start..=end` into one.
    pub fn flatten(&self, start: isize, end: isize) -> Result<Tensor> {
        if self.ndim() == 0 {
            return self.reshape(&[1]);
        }
        let s = normalize_dim("flatten", start, self.ndim())?;
        let e = normalize_dim("flatten", end, self.ndim())?;
        if s > e {
            return Err(shape_err("flatten", format!("start dim {s} is after end dim {e}")));
        }
        let mut shape: Vec<isize> = self.shape()[..s].iter().map(|&x| x as isize).collect();
        shape.push(self.shape()[s..=e].iter().product::<usize>() as isize);
        shape.extend(self.shape()[e + 1..].iter().map(|&x| x as isize));
        self.reshape(&shape)
    }

    /// Split `dim` into `sizes` (one may be -1).
    pub fn unflatten(&self, dim: isize, sizes: &[isize]) -> Result<Tensor> {
        let d = normalize_dim("unflatten", dim, self.ndim())?;
        let inner = infer_shape("unflatten", sizes, self.shape()[d], &self.shape()[d..=d])?;
        let mut shape: Vec<isize> = self.shape()[..d].iter().map(|&x| x as isize).collect();
        shape.extend(inner.iter().map(|&x| x as isize));
        shape.extend(self.shape()[d + 1..].iter().map(|&x| x as isize));
        self.reshape(&shape)
    }

    /// Split into pieces of `size` along `dim` (the last may be smaller), as views.
    pub fn split(&self, size: usize, dim: isize) -> Result<Vec<Tensor>> {
        let d = normalize_dim("split", dim, self.ndim())?;
        if size == 0 {
            return Err(shape_err("split", "split size must be positive"));
        }
        let n = self.shape()[d];
        (0..n.div_ceil(size).max(1))
            .map(|i| self.narrow(d as isize, i * size, size.min(n - i * size)))
            .collect()
    }

    /// Split into pieces of the given sizes along `dim`, as views.
    pub fn split_sizes(&self, sizes: &[usize], dim: isize) -> Result<Vec<Tensor>> {
        let d = normalize_dim("split", dim, self.ndim())?;
        if sizes.iter().sum::<usize>() != self.shape()[d] {
            return Err(shape_err(
                "split",
                format!(
                    "sizes {sizes:?} do not sum to dimension {d} of size {}",
                    self.shape()[d]
                ),
            ));
        }
        let mut start = 0;
        sizes
            .iter()
            .map(|&s| {
                let t = self.narrow(d as isize, start, s);
                start += s;
                t
            })
            .collect()
    }

    /// Split into `chunks` nearly equal pieces along `dim`, as views.
    pub fn chunk(&self, chunks: usize, dim: isize) -> Result<Vec<Tensor>> {
        let d = normalize_dim("chunk", dim, self.ndim())?;
        if chunks == 0 {
            return Err(shape_err("chunk", "number of chunks must be positive"));
        }
        self.split(self.shape()[d].div_ceil(chunks).max(1), dim)
    }
}

/// Resolve a shape with at most one `-1` against a number of elements.
pub(crate) fn infer_shape(op: &'static str, spec: &[isize], numel: usize, from: &[usize]) -> Result<Dims> {
    let mut infer = None;
    let mut known = 1usize;
    for (i, &s) in spec.iter().enumerate() {
        if s == -1 {
            if infer.is_some() {
                return Err(shape_err(op, format!("only one dimension can be inferred in {spec:?}")));
            }
            infer = Some(i);
        } else if s < 0 {
            return Err(shape_err(op, format!("invalid shape dimension {s} in {spec:?}")));
        } else {
            known *= s as usize;
        }
    }
    let mut out: Dims = spec.iter().map(|&s| s.max(0) as usize).collect();
    if let Some(i) = infer {
        if known == 0 || !numel.is_multiple_of(known) {
            return Err(shape_err(
                op,
                format!("shape {spec:?} is invalid for input of size {numel} (shape {from:?})"),
            ));
        }
        out[i] = numel / known;
    } else if known != numel {
        return Err(shape_err(
            op,
            format!("shape {spec:?} is invalid for input of size {numel} (shape {from:?})"),
        ));
    }
    Ok(out)
}
