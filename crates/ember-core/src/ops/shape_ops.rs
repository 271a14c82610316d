//! Movement ops that copy: `pad`, `flip`, `roll`, `repeat`, `tril` / `triu`.
//!
//! Constant padding and flips have their own kernels; reflect / replicate / circular padding
//! and roll are an `index_select` with a computed index (one pass per padded dim), and
//! `repeat` is a broadcast followed by a copy, so their gradients come from those ops.

use crate::autograd::{needs_grad, no_grad_scope, record};
use crate::error::{arg_err, shape_err, Result};
use crate::shape::{normalize_dim, Layout};
use crate::tensor::Tensor;

/// How `pad` fills the new border (PyTorch's `mode` of `torch.nn.functional.pad`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PadMode {
    /// Fill with a value; negative pads crop instead.
    Constant(f64),
    /// Mirror without repeating the edge: `[1, 2, 3]` padded by 2 on the left gives
    /// `[3, 2, 1, 2, 3]`. Each pad must be smaller than the dim.
    Reflect,
    /// Repeat the edge element.
    Replicate,
    /// Wrap around; each pad must be at most the dim's size.
    Circular,
}

impl PadMode {
    fn name(self) -> &'static str {
        match self {
            PadMode::Constant(_) => "constant",
            PadMode::Reflect => "reflect",
            PadMode::Replicate => "replicate",
            PadMode::Circular => "circular",
        }
    }

    /// The source position of output position `p` (in `-left..n + right`) of a dim of size `n`.
    fn source(self, p: isize, n: isize) -> isize {
        match self {
            PadMode::Reflect => {
                if p < 0 {
                    -p
                } else if p >= n {
                    2 * (n - 1) - p
                } else {
                    p
                }
            }
            PadMode::Replicate => p.clamp(0, n - 1),
            PadMode::Circular => p.rem_euclid(n),
            PadMode::Constant(_) => p,
        }
    }
}

/// A strided copy in which some dims run backwards (strides are usize, so flips cannot be
/// views; this walks the source with signed strides instead).
fn flip_kernel<T: Copy>(x: &[T], l: &Layout, flip: &[bool]) -> Vec<T> {
    let nd = l.ndim();
    let mut out = Vec::with_capacity(l.numel());
    if l.numel() == 0 {
        return out;
    }
    if nd == 0 {
        out.push(x[l.offset]);
        return out;
    }
    let mut off = l.offset as isize;
    let mut strides: Vec<isize> = l.strides.iter().map(|&s| s as isize).collect();
    for d in 0..nd {
        if flip[d] {
            off += (l.shape[d] as isize - 1) * strides[d];
            strides[d] = -strides[d];
        }
    }
    let (inner, is) = (l.shape[nd - 1], strides[nd - 1]);
    let mut idx = vec![0usize; nd];
    loop {
        let s = off as usize;
        if is == 1 {
            out.extend_from_slice(&x[s..s + inner]);
        } else if is == -1 {
            out.extend(x[s + 1 - inner..=s].iter().rev().copied());
        } else {
            out.extend((0..inner).map(|t| x[(off + t as isize * is) as usize]));
        }
        let mut d = nd - 1;
        loop {
            if d == 0 {
                return out;
            }
            d -= 1;
            idx[d] += 1;
            off += strides[d];
            if idx[d] < l.shape[d] {
                break;
            }
            off -= strides[d] * l.shape[d] as isize;
            idx[d] = 0;
        }
    }
}

impl Tensor {
    /// Pad the trailing dims. `pads` lists (left, right) pairs starting from the last dim, as
    /// PyTorch's `F.pad`: `[1, 2]` pads the last dim by 1 before and 2 after, `[1, 1, 0, 3]`
    /// also pads the second-to-last by 0 before and 3 after.
    ///
    /// ```
    /// use ember_core::{ops::shape_ops::PadMode, Tensor};
    /// let x = Tensor::new(&[1.0f32, 2.0, 3.0]);
    /// assert_eq!(x.pad(&[1, 2], PadMode::Constant(0.0)).unwrap().to_vec::<f32>().unwrap(), vec![0.0, 1.0, 2.0, 3.0, 0.0, 0.0]);
    /// assert_eq!(x.pad(&[2, 1], PadMode::Reflect).unwrap().to_vec::<f32>().unwrap(), vec![3.0, 2.0, 1.0, 2.0, 3.0, 2.0]);
    /// ```
    pub fn pad(&self, pads: &[isize], mode: PadMode) -> Result<Tensor> {
        const OP: &str = "pad";
        let nd = self.ndim();
        if !pads.len().is_multiple_of(2) || pads.len() / 2 > nd {
            return Err(arg_err(
                OP,
                format!("padding {pads:?} must have an even length of at most twice the number of dims ({nd}) of shape {:?}", self.shape()),
            ));
        }
        // (dim, left, right) for each padded dim
        let spec: Vec<(usize, isize, isize)> = pads
            .chunks(2)
            .enumerate()
            .map(|(i, p)| (nd - 1 - i, p[0], p[1]))
            .collect();
        if let PadMode::Constant(v) = mode {
            return self.pad_constant(&spec, v);
        }
        let mut out = self.clone();
        for &(d, l, r) in &spec {
            if l == 0 && r == 0 {
                continue;
            }
            let n = self.shape()[d] as isize;
            let ok = match mode {
                PadMode::Reflect => l < n && r < n,
                PadMode::Circular => l <= n && r <= n,
                _ => n > 0,
            };
            if l < 0 || r < 0 || !ok {
                let rule = match mode {
                    PadMode::Reflect => "non-negative and smaller than the dim's size",
                    PadMode::Circular => "non-negative and at most the dim's size",
                    _ => "non-negative, on a non-empty dim",
                };
                return Err(arg_err(
                    OP,
                    format!(
                        "{} padding ({l}, {r}) of dim {d} (size {n}, shape {:?}) must be {rule}",
                        mode.name(),
                        self.shape()
                    ),
                ));
            }
            let idx: Vec<i64> = (-l..n + r).map(|p| mode.source(p, n) as i64).collect();
            let len = idx.len();
            out = out.index_select(d as isize, &Tensor::from_vec(idx, &[len])?.to(self.device())?)?;
        }
        Ok(out)
    }

    fn pad_constant(&self, spec: &[(usize, isize, isize)], value: f64) -> Result<Tensor> {
        const OP: &str = "pad";
        // negative pads crop first
        let mut x = self.clone();
        for &(d, l, r) in spec {
            if l < 0 || r < 0 {
                let n = x.shape()[d] as isize;
                let (start, end) = ((-l).max(0), n - (-r).max(0));
                if end < start {
                    return Err(shape_err(
                        OP,
                        format!("the input size {n} of dim {d}, plus negative padding ({l}, {r}), gives a negative output size"),
                    ));
                }
                x = x.narrow(d as isize, start as usize, (end - start) as usize)?;
            }
        }
        let mut shape = x.shape().to_vec();
        for &(d, l, r) in spec {
            shape[d] += (l.max(0) + r.max(0)) as usize;
        }
        let out = Tensor::full_on(&shape, value, x.dtype(), x.device())?;
        // (dim, start, len) of the region of `out` that holds `x`
        let interior: Vec<(usize, usize, usize)> = spec
            .iter()
            .map(|&(d, l, _)| (d, l.max(0) as usize, x.shape()[d]))
            .collect();
        let region = |t: &Tensor| -> Result<Tensor> {
            let mut v = t.clone();
            for &(d, s, n) in &interior {
                v = v.narrow(d as isize, s, n)?;
            }
            Ok(v)
        };
        no_grad_scope(|| region(&out))?.copy_data_from(&x)?;
        if !needs_grad(&[&x]) {
            return Ok(out);
        }
        Ok(record(OP, out, &[&x], move |_| {
            Box::new(move |g| {
                let mut v = g.clone();
                for &(d, s, n) in &interior {
                    v = v.narrow(d as isize, s, n)?;
                }
                Ok(vec![Some(v)])
            })
        }))
    }

    /// Reverse the order of elements along each of `dims` (a copy, as in PyTorch).
    ///
    /// ```
    /// use ember_core::Tensor;
    /// let x = Tensor::new(&[[1i64, 2, 3], [4, 5, 6]]);
    /// assert_eq!(x.flip(&[1]).unwrap().to_vec::<i64>().unwrap(), vec![3, 2, 1, 6, 5, 4]);
    /// assert_eq!(x.flip(&[0, -1]).unwrap().to_vec::<i64>().unwrap(), vec![6, 5, 4, 3, 2, 1]);
    /// ```
    pub fn flip(&self, dims: &[isize]) -> Result<Tensor> {
        const OP: &str = "flip";
        let nd = self.ndim();
        let mut flip = vec![false; nd];
        for &d in dims {
            let d = normalize_dim(OP, d, nd)?;
            if nd == 0 {
                continue;
            }
            if flip[d] {
                return Err(shape_err(
                    OP,
                    format!("dim {d} appears multiple times in the list of dims {dims:?}"),
                ));
            }
            flip[d] = true;
        }
        let out = self.flip_raw(&flip)?;
        if !needs_grad(&[self]) {
            return Ok(out);
        }
        let dims = dims.to_vec();
        Ok(record(OP, out, &[self], move |_| {
            Box::new(move |g| Ok(vec![Some(g.flip(&dims)?)]))
        }))
    }

    /// Shift elements along `dims` by `shifts`, wrapping around (`torch.roll`). With empty
    /// `dims` the tensor is rolled as if flattened (`shifts` must then hold one value).
    ///
    /// ```
    /// use ember_core::Tensor;
    /// let x = Tensor::new(&[[1i64, 2, 3], [4, 5, 6]]);
    /// assert_eq!(x.roll(&[1], &[]).unwrap().to_vec::<i64>().unwrap(), vec![6, 1, 2, 3, 4, 5]);
    /// assert_eq!(x.roll(&[-1, 1], &[1, 0]).unwrap().to_vec::<i64>().unwrap(), vec![5, 6, 4, 2, 3, 1]);
    /// ```
    pub fn roll(&self, shifts: &[isize], dims: &[isize]) -> Result<Tensor> {
        const OP: &str = "roll";
        if dims.is_empty() {
            if shifts.len() != 1 {
                return Err(arg_err(
                    OP,
                    format!("with no dims, shifts must hold one value, got {shifts:?}"),
                ));
            }
            return self.reshape(&[-1])?.roll(shifts, &[0])?.reshape_to(self.shape());
        }
        if shifts.len() != dims.len() {
            return Err(arg_err(
                OP,
                format!("shifts {shifts:?} and dims {dims:?} must have the same length"),
            ));
        }
        let mut out = self.clone();
        for (&s, &d) in shifts.iter().zip(dims) {
            let d = normalize_dim(OP, d, self.ndim())?;
            let n = self.shape().get(d).copied().unwrap_or(1);
            if n == 0 {
                continue;
            }
            let s = s.rem_euclid(n as isize) as usize;
            if s == 0 {
                continue;
            }
            let idx: Vec<i64> = (0..n).map(|j| ((j + n - s) % n) as i64).collect();
            out = out.index_select(d as isize, &Tensor::from_vec(idx, &[n])?.to(self.device())?)?;
        }
        Ok(out)
    }

    /// Tile the tensor `reps[i]` times along each dim (`torch.Tensor.repeat`); extra leading
    /// entries of `reps` add new leading dims.
    ///
    /// ```
    /// use ember_core::Tensor;
    /// let x = Tensor::new(&[1i64, 2]);
    /// let y = x.repeat(&[2, 2]).unwrap();
    /// assert_eq!(y.shape(), &[2, 4]);
    /// assert_eq!(y.to_vec::<i64>().unwrap(), vec![1, 2, 1, 2, 1, 2, 1, 2]);
    /// ```
    pub fn repeat(&self, reps: &[usize]) -> Result<Tensor> {
        let nd = self.ndim();
        if reps.len() < nd {
            return Err(shape_err(
                "repeat",
                format!(
                    "the number of repeats ({}) cannot be smaller than the number of dims ({nd}) of shape {:?}",
                    reps.len(),
                    self.shape()
                ),
            ));
        }
        let mut src = vec![1usize; reps.len() - nd];
        src.extend_from_slice(self.shape());
        let (mut inter, mut expanded, mut fin) = (Vec::new(), Vec::new(), Vec::new());
        for (&r, &s) in reps.iter().zip(&src) {
            inter.extend([1, s]);
            expanded.extend([r, s]);
            fin.push(r * s);
        }
        // [1, s0, 1, s1, ..] -> broadcast [r0, s0, r1, s1, ..] -> copy into [r0 s0, r1 s1, ..]
        self.reshape_to(&inter)?.broadcast_to(&expanded)?.reshape_to(&fin)
    }

    /// The lower triangle of the last two dims: elements with `col - row <= k` are kept, the
    /// rest zeroed (`k = 0` is the main diagonal, `k > 0` above it).
    ///
    /// ```
    /// use ember_core::Tensor;
    /// let x = Tensor::ones(&[2, 3]);
    /// assert_eq!(x.tril(0).unwrap().to_vec::<f32>().unwrap(), vec![1.0, 0.0, 0.0, 1.0, 1.0, 0.0]);
    /// ```
    pub fn tril(&self, k: isize) -> Result<Tensor> {
        self.triangle("tril", k, true)
    }

    /// The upper triangle of the last two dims: elements with `col - row >= k` are kept.
    ///
    /// ```
    /// use ember_core::Tensor;
    /// let x = Tensor::ones(&[2, 3]);
    /// assert_eq!(x.triu(1).unwrap().to_vec::<f32>().unwrap(), vec![0.0, 1.0, 1.0, 0.0, 0.0, 1.0]);
    /// ```
    pub fn triu(&self, k: isize) -> Result<Tensor> {
        self.triangle("triu", k, false)
    }

    fn triangle(&self, op: &'static str, k: isize, lower: bool) -> Result<Tensor> {
        let nd = self.ndim();
        if nd < 2 {
            return Err(shape_err(
                op,
                format!(
                    "input tensor must have at least 2 dimensions, got shape {:?}",
                    self.shape()
                ),
            ));
        }
        let (rows, cols) = (self.shape()[nd - 2], self.shape()[nd - 1]);
        // the zeroed columns of row i
        let zeroed = |i: usize| -> std::ops::Range<usize> {
            let c = cols as isize;
            if lower {
                (i as isize + k + 1).clamp(0, c) as usize..cols
            } else {
                0..(i as isize + k).clamp(0, c) as usize
            }
        };
        #[cfg(feature = "cuda")]
        if self.device().is_cuda() {
            let out = crate::cuda::ops::shape::triangle(op, self, k, lower)?;
            return Ok(self.finish_triangle(op, out, k, lower));
        }
        let mut data = crate::cpu::copy::strided_copy(self);
        if rows * cols > 0 {
            crate::with_storage!(&mut data, v => {
                for m in v.chunks_mut(rows * cols) {
                    for i in 0..rows {
                        let z = zeroed(i);
                        m[i * cols + z.start..i * cols + z.end].fill(Default::default());
                    }
                }
            });
        }
        Ok(self.finish_triangle(op, Tensor::from_storage(data, self.shape()), k, lower))
    }

    /// The autograd record of tril / triu (every backend): the gradient keeps the same triangle.
    fn finish_triangle(&self, op: &'static str, out: Tensor, k: isize, lower: bool) -> Tensor {
        if !needs_grad(&[self]) {
            return out;
        }
        record(op, out, &[self], move |_| {
            Box::new(move |g| Ok(vec![Some(if lower { g.tril(k)? } else { g.triu(k)? })]))
        })
    }

    /// The flipped copy (no autograd).
    fn flip_raw(&self, flip: &[bool]) -> Result<Tensor> {
        #[cfg(feature = "cuda")]
        if self.device().is_cuda() {
            return crate::cuda::ops::shape::flip(self, flip);
        }
        let data = {
            let g = self.read();
            crate::map_storage!(&*g, v => flip_kernel(v, self.layout(), flip))
        };
        Ok(Tensor::from_storage(data, self.shape()))
    }
}

#[cfg(test)]
mod tests {
    use super::PadMode;
    use crate::autograd::{gradcheck, gradgradcheck};
    use crate::{DType, Tensor};
    use std::slice::from_ref;

    fn f64t(v: &[f64], shape: &[usize]) -> Tensor {
        Tensor::from_vec(v.to_vec(), shape).unwrap()
    }

    fn randn(shape: &[usize]) -> Tensor {
        let mut g = crate::Generator::new(11);
        Tensor::randn_with(shape, &mut g).to_dtype(DType::F64).unwrap()
    }

    fn vals(t: crate::Result<Tensor>) -> Vec<f64> {
        t.unwrap().to_vec::<f64>().unwrap()
    }

    #[test]
    fn constant_pad_values_order_and_cropping() {
        let x = f64t(&[1., 2., 3., 4.], &[2, 2]);
        // last dim (1 left, 0 right), then dim 0 (0 top, 1 bottom)
        let y = x.pad(&[1, 0, 0, 1], PadMode::Constant(9.)).unwrap();
        assert_eq!(y.shape(), &[3, 3]);
        assert_eq!(y.to_vec::<f64>().unwrap(), vec![9., 1., 2., 9., 3., 4., 9., 9., 9.]);
        // negative pads crop
        let y = x.pad(&[-1, 1], PadMode::Constant(0.)).unwrap();
        assert_eq!(y.to_vec::<f64>().unwrap(), vec![2., 0., 4., 0.]);
        assert!(x.pad(&[-2, -1], PadMode::Constant(0.)).is_err());
        assert!(x.pad(&[1], PadMode::Constant(0.)).is_err());
        assert!(x.pad(&[1, 1, 1, 1, 1, 1], PadMode::Constant(0.)).is_err());
        let xi = Tensor::new(&[1i64, 2]).pad(&[1, 1], PadMode::Constant(-1.)).unwrap();
        assert_eq!(xi.to_vec::<i64>().unwrap(), vec![-1, 1, 2, -1]);
    }

    #[test]
    fn reflect_replicate_circular_values() {
        let x = f64t(&[1., 2., 3.], &[1, 3]);
        assert_eq!(vals(x.pad(&[2, 1], PadMode::Reflect)), vec![3., 2., 1., 2., 3., 2.]);
        assert_eq!(vals(x.pad(&[2, 1], PadMode::Replicate)), vec![1., 1., 1., 2., 3., 3.]);
        assert_eq!(
            vals(x.pad(&[1, 3], PadMode::Circular)),
            vec![3., 1., 2., 3., 1., 2., 3.]
        );
        assert!(x.pad(&[3, 0], PadMode::Reflect).is_err());
        assert!(x.pad(&[-1, 0], PadMode::Reflect).is_err());
        assert!(x.pad(&[4, 0], PadMode::Circular).is_err());
        let m = f64t(&[1., 2., 3., 4.], &[2, 2]);
        let y = m.pad(&[1, 0, 1, 0], PadMode::Reflect).unwrap();
        assert_eq!(y.to_vec::<f64>().unwrap(), vec![4., 3., 4., 2., 1., 2., 4., 3., 4.]);
    }

    #[test]
    fn pad_grads() {
        let x = randn(&[2, 3, 4]);
        for mode in [
            PadMode::Constant(1.5),
            PadMode::Reflect,
            PadMode::Replicate,
            PadMode::Circular,
        ] {
            gradcheck(&|xs| xs[0].pad(&[2, 1, 1, 2], mode), from_ref(&x), 1e-6, 1e-7).unwrap();
        }
        gradcheck(
            &|xs| xs[0].pad(&[-1, 2], PadMode::Constant(0.)),
            from_ref(&x),
            1e-6,
            1e-7,
        )
        .unwrap();
        gradgradcheck(
            &|xs| xs[0].pad(&[1, 1], PadMode::Reflect)?.square(),
            from_ref(&x),
            1e-6,
            1e-6,
        )
        .unwrap();
        gradgradcheck(
            &|xs| xs[0].pad(&[1, 1], PadMode::Constant(0.))?.square(),
            &[x],
            1e-6,
            1e-6,
        )
        .unwrap();
    }

    #[test]
    fn flip_values_strided_and_grads() {
        let x = f64t(&[1., 2., 3., 4., 5., 6.], &[2, 3]);
        assert_eq!(vals(x.flip(&[0])), vec![4., 5., 6., 1., 2., 3.]);
        assert_eq!(vals(x.t().flip(&[1])), vec![4., 1., 5., 2., 6., 3.]);
        assert_eq!(vals(x.flip(&[])), vec![1., 2., 3., 4., 5., 6.]);
        assert!(x.flip(&[1, -1]).is_err());
        assert!(x.flip(&[2]).is_err());
        let r = randn(&[2, 3, 2]);
        gradcheck(&|xs| xs[0].flip(&[0, 2]), from_ref(&r), 1e-6, 1e-7).unwrap();
        gradgradcheck(&|xs| xs[0].flip(&[1])?.square(), &[r], 1e-6, 1e-6).unwrap();
    }

    #[test]
    fn roll_values_and_grads() {
        let x = f64t(&[1., 2., 3., 4., 5.], &[5]);
        assert_eq!(vals(x.roll(&[2], &[0])), vec![4., 5., 1., 2., 3.]);
        assert_eq!(vals(x.roll(&[-7], &[])), vec![3., 4., 5., 1., 2.]);
        let m = f64t(&[1., 2., 3., 4., 5., 6.], &[2, 3]);
        assert_eq!(vals(m.roll(&[1], &[0])), vec![4., 5., 6., 1., 2., 3.]);
        assert_eq!(vals(m.roll(&[2], &[])), vec![5., 6., 1., 2., 3., 4.]);
        assert!(m.roll(&[1, 2], &[0]).is_err());
        assert!(m.roll(&[1, 2], &[]).is_err());
        let r = randn(&[3, 4]);
        gradcheck(&|xs| xs[0].roll(&[1, -3], &[0, 1]), from_ref(&r), 1e-6, 1e-7).unwrap();
        gradcheck(&|xs| xs[0].roll(&[5], &[]), &[r], 1e-6, 1e-7).unwrap();
    }

    #[test]
    fn repeat_values_and_grads() {
        let x = f64t(&[1., 2., 3., 4.], &[2, 2]);
        let y = x.repeat(&[1, 2]).unwrap();
        assert_eq!(y.to_vec::<f64>().unwrap(), vec![1., 2., 1., 2., 3., 4., 3., 4.]);
        let y = x.repeat(&[2, 1, 1]).unwrap();
        assert_eq!(y.shape(), &[2, 2, 2]);
        assert_eq!(y.to_vec::<f64>().unwrap(), vec![1., 2., 3., 4., 1., 2., 3., 4.]);
        assert_eq!(x.repeat(&[0, 3]).unwrap().shape(), &[0, 6]);
        assert!(x.repeat(&[2]).is_err());
        let r = randn(&[2, 3]);
        gradcheck(&|xs| xs[0].repeat(&[2, 3, 2]), from_ref(&r), 1e-6, 1e-7).unwrap();
        gradgradcheck(&|xs| xs[0].repeat(&[2, 1])?.square(), &[r], 1e-6, 1e-6).unwrap();
    }

    #[test]
    fn tril_triu_values_and_grads() {
        let x = f64t(&(1..=12).map(|v| v as f64).collect::<Vec<_>>(), &[3, 4]);
        assert_eq!(vals(x.tril(0)), vec![1., 0., 0., 0., 5., 6., 0., 0., 9., 10., 11., 0.]);
        assert_eq!(vals(x.tril(-1)), vec![0., 0., 0., 0., 5., 0., 0., 0., 9., 10., 0., 0.]);
        assert_eq!(vals(x.triu(1)), vec![0., 2., 3., 4., 0., 0., 7., 8., 0., 0., 0., 12.]);
        assert_eq!(vals(x.triu(-5)), x.to_vec::<f64>().unwrap());
        assert_eq!(vals(x.tril(-3)), vec![0.; 12]);
        // batched and transposed
        let b = x.t().unsqueeze(0).unwrap().repeat(&[2, 1, 1]).unwrap();
        let t = b.triu(0).unwrap().to_vec::<f64>().unwrap();
        assert_eq!(&t[..6], &[1., 5., 9., 0., 6., 10.]);
        assert!(f64t(&[1.], &[1]).tril(0).is_err());
        let r = randn(&[2, 3, 3]);
        gradcheck(&|xs| xs[0].tril(1), from_ref(&r), 1e-6, 1e-7).unwrap();
        gradgradcheck(&|xs| xs[0].triu(0)?.square(), &[r], 1e-6, 1e-6).unwrap();
    }
}
