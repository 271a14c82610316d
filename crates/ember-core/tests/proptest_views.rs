//! Property tests: broadcasting, view ops and `contiguous()` against a naive reference on random
//! shapes and random chains of views.
//!
//! The reference is a row-major array of f64 that implements every op by index arithmetic, one
//! element at a time. The base tensor holds `0, 1, 2, ...`, so after any chain of views each
//! reference element *is* the flat index of the base element it reads: forward results compare
//! values, and the gradient of `sum(view * cot)` is the scatter-add of `cot` into those indices.

use ember_core::{s, DType, Tensor};
use proptest::prelude::*;

/// A dense row-major array: the naive reference.
#[derive(Clone, Debug)]
struct Ref {
    shape: Vec<usize>,
    data: Vec<f64>,
}

fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// The multi-index of flat position `i` in `shape` (row-major).
fn unravel(mut i: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for d in (0..shape.len()).rev() {
        idx[d] = i % shape[d];
        i /= shape[d];
    }
    idx
}

impl Ref {
    fn arange(shape: &[usize]) -> Ref {
        Ref {
            shape: shape.to_vec(),
            data: (0..numel(shape)).map(|i| i as f64).collect(),
        }
    }

    fn at(&self, idx: &[usize]) -> f64 {
        let flat = idx.iter().zip(&self.shape).fold(0, |acc, (&i, &n)| acc * n + i);
        self.data[flat]
    }

    /// The array of `shape` whose element at `idx` is `self.at(source(idx))`.
    fn gather(&self, shape: &[usize], source: impl Fn(&[usize]) -> Vec<usize>) -> Ref {
        let data = (0..numel(shape))
            .map(|i| self.at(&source(&unravel(i, shape))))
            .collect();
        Ref {
            shape: shape.to_vec(),
            data,
        }
    }

    fn permute(&self, perm: &[usize]) -> Ref {
        let shape: Vec<usize> = perm.iter().map(|&p| self.shape[p]).collect();
        self.gather(&shape, |idx| {
            let mut src = vec![0; perm.len()];
            for (i, &p) in perm.iter().enumerate() {
                src[p] = idx[i];
            }
            src
        })
    }

    /// Elements `start, start + step, ...` (fewer than `len` of them) along `dim`.
    fn strided(&self, dim: usize, start: usize, len: usize, step: usize) -> Ref {
        let mut shape = self.shape.clone();
        shape[dim] = len;
        self.gather(&shape, |idx| {
            let mut src = idx.to_vec();
            src[dim] = start + idx[dim] * step;
            src
        })
    }

    fn select(&self, dim: usize, index: usize) -> Ref {
        let mut shape = self.shape.clone();
        shape.remove(dim);
        self.gather(&shape, |idx| {
            let mut src = idx.to_vec();
            src.insert(dim, index);
            src
        })
    }

    /// NumPy broadcasting of this array to `shape`.
    fn expand(&self, shape: &[usize]) -> Ref {
        let lead = shape.len() - self.shape.len();
        self.gather(shape, |idx| {
            (0..self.shape.len())
                .map(|d| if self.shape[d] == 1 { 0 } else { idx[lead + d] })
                .collect()
        })
    }

    fn reshape(&self, shape: &[usize]) -> Ref {
        assert_eq!(numel(shape), self.data.len());
        Ref {
            shape: shape.to_vec(),
            data: self.data.clone(),
        }
    }
}

/// One step of a view chain; parameters are drawn from `seed` for the current shape, so any
/// seed is valid for any shape (and proptest can shrink seeds freely).
#[derive(Clone, Copy, Debug)]
enum Step {
    Permute,
    Transpose,
    Narrow,
    Slice,
    Select,
    Expand,
    Reshape,
    Squeeze,
    Unsqueeze,
    Flatten,
    Contiguous,
}

const STEPS: [Step; 11] = [
    Step::Permute,
    Step::Transpose,
    Step::Narrow,
    Step::Slice,
    Step::Select,
    Step::Expand,
    Step::Reshape,
    Step::Squeeze,
    Step::Unsqueeze,
    Step::Flatten,
    Step::Contiguous,
];

/// A small deterministic stream of choices from one seed.
struct Pick(u64);

impl Pick {
    /// A number in `0..n` (0 when n == 0).
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        if n == 0 {
            0
        } else {
            ((self.0 >> 33) % n as u64) as usize
        }
    }
}

/// Apply `step` to both the tensor and the reference. Returns None when the step does not apply
/// to this shape (e.g. select on an empty dim), leaving both unchanged.
fn apply(step: Step, seed: u64, t: &Tensor, r: &Ref) -> Option<(Tensor, Ref, String)> {
    let mut p = Pick(seed);
    let nd = r.shape.len();
    let neg = |d: usize, n: usize, flip: bool| if flip { d as isize - n as isize } else { d as isize };
    Some(match step {
        Step::Permute => {
            let mut perm: Vec<usize> = (0..nd).collect();
            for i in (1..nd).rev() {
                perm.swap(i, p.below(i + 1));
            }
            let dims: Vec<isize> = perm.iter().map(|&d| neg(d, nd, p.below(2) == 1)).collect();
            (
                t.permute(&dims).unwrap(),
                r.permute(&perm),
                format!("permute({dims:?})"),
            )
        }
        Step::Transpose => {
            if nd == 0 {
                return None;
            }
            let (a, b) = (p.below(nd), p.below(nd));
            let mut perm: Vec<usize> = (0..nd).collect();
            perm.swap(a, b);
            let (da, db) = (neg(a, nd, p.below(2) == 1), neg(b, nd, p.below(2) == 1));
            (
                t.transpose(da, db).unwrap(),
                r.permute(&perm),
                format!("transpose({da}, {db})"),
            )
        }
        Step::Narrow => {
            if nd == 0 {
                return None;
            }
            let d = p.below(nd);
            let start = p.below(r.shape[d] + 1);
            let len = p.below(r.shape[d] - start + 1);
            (
                t.narrow(d as isize, start, len).unwrap(),
                r.strided(d, start, len, 1),
                format!("narrow({d}, {start}, {len})"),
            )
        }
        Step::Slice => {
            if nd == 0 {
                return None;
            }
            let d = p.below(nd);
            let n = r.shape[d];
            let step = 1 + p.below(3);
            // Python-style bounds: negative counts from the end, out of range clamps
            let start = p.below(n + 3) as isize - 1 - (p.below(2) as isize) * (n as isize);
            let end = if p.below(3) == 0 {
                None
            } else {
                Some(p.below(n + 3) as isize - 1)
            };
            let clamp = |v: isize| (if v < 0 { v + n as isize } else { v }).clamp(0, n as isize) as usize;
            let (lo, hi) = (clamp(start), clamp(end.unwrap_or(n as isize)).max(clamp(start)));
            let len = (hi - lo).div_ceil(step);
            let view = t.slice(d as isize, s(start, end, step)).unwrap();
            (
                view,
                r.strided(d, lo, len, step),
                format!("slice({d}, {start}:{end:?}:{step})"),
            )
        }
        Step::Select => {
            if nd == 0 || r.shape.contains(&0) {
                return None;
            }
            let d = p.below(nd);
            let i = p.below(r.shape[d]);
            let index = if p.below(2) == 1 {
                i as isize - r.shape[d] as isize
            } else {
                i as isize
            };
            (
                t.select(d as isize, index).unwrap(),
                r.select(d, i),
                format!("select({d}, {index})"),
            )
        }
        Step::Expand => {
            let lead = p.below(2);
            let mut shape: Vec<usize> = (0..lead).map(|_| 1 + p.below(3)).collect();
            let mut spec: Vec<isize> = shape.iter().map(|&n| n as isize).collect();
            for &n in &r.shape {
                let m = if n == 1 { 1 + p.below(3) } else { n };
                shape.push(m);
                spec.push(if m == n && p.below(2) == 1 { -1 } else { m as isize });
            }
            if numel(&shape) > 2048 {
                return None;
            }
            (t.expand(&spec).unwrap(), r.expand(&shape), format!("expand({spec:?})"))
        }
        Step::Reshape => {
            let n = r.data.len();
            let k = 1 + p.below(4);
            let (shape, spec): (Vec<usize>, Vec<isize>) = if n > 0 && n % k == 0 {
                let shape = vec![k, n / k];
                let spec = if p.below(2) == 1 {
                    vec![k as isize, -1]
                } else {
                    vec![k as isize, (n / k) as isize]
                };
                (shape, spec)
            } else {
                (vec![n], vec![n as isize])
            };
            (
                t.reshape(&spec).unwrap(),
                r.reshape(&shape),
                format!("reshape({spec:?})"),
            )
        }
        Step::Squeeze => {
            if nd == 0 || p.below(3) == 0 {
                let shape: Vec<usize> = r.shape.iter().copied().filter(|&n| n != 1).collect();
                (t.squeeze_all().unwrap(), r.reshape(&shape), "squeeze()".into())
            } else {
                let d = p.below(nd);
                let mut shape = r.shape.clone();
                if shape[d] == 1 {
                    shape.remove(d);
                }
                let dim = neg(d, nd, p.below(2) == 1);
                (t.squeeze(dim).unwrap(), r.reshape(&shape), format!("squeeze({dim})"))
            }
        }
        Step::Unsqueeze => {
            let d = p.below(nd + 1);
            let mut shape = r.shape.clone();
            shape.insert(d, 1);
            let dim = neg(d, nd + 1, p.below(2) == 1);
            (
                t.unsqueeze(dim).unwrap(),
                r.reshape(&shape),
                format!("unsqueeze({dim})"),
            )
        }
        Step::Flatten => {
            if nd == 0 {
                return Some((t.flatten(0, -1).unwrap(), r.reshape(&[1]), "flatten(0, -1)".into()));
            }
            let a = p.below(nd);
            let b = a + p.below(nd - a);
            let mut shape = r.shape[..a].to_vec();
            shape.push(numel(&r.shape[a..=b]));
            shape.extend(&r.shape[b + 1..]);
            (
                t.flatten(a as isize, b as isize).unwrap(),
                r.reshape(&shape),
                format!("flatten({a}, {b})"),
            )
        }
        Step::Contiguous => {
            let c = t.contiguous();
            assert!(
                c.is_contiguous(),
                "contiguous() returned strides {:?} for shape {:?}",
                c.strides(),
                c.shape()
            );
            (c, r.clone(), "contiguous()".into())
        }
    })
}

fn shape_strategy(max_ndim: usize) -> impl Strategy<Value = Vec<usize>> {
    // sizes 1..=4 mostly, sometimes 0
    prop::collection::vec(prop_oneof![8 => 1usize..=4, 1 => Just(0usize)], 0..=max_ndim)
}

fn dtype_strategy() -> impl Strategy<Value = DType> {
    prop_oneof![
        Just(DType::F64),
        Just(DType::F32),
        Just(DType::F16),
        Just(DType::I64),
        Just(DType::I32),
        Just(DType::Bool)
    ]
}

/// The values a dtype can hold exactly for `0, 1, 2, ...` (bools hold parity).
fn stored(v: f64, dtype: DType) -> f64 {
    if dtype == DType::Bool {
        (v != 0.0) as u8 as f64
    } else {
        v
    }
}

// 256 cases per property by default; PROPTEST_CASES=20000 for a longer search.
proptest! {
    /// A random chain of views matches the reference after every step, and the gradient of the
    /// chain (f64 runs) is the scatter-add of the cotangent into the base.
    #[test]
    fn view_chains_match_reference(
        shape in shape_strategy(4),
        dtype in dtype_strategy(),
        steps in prop::collection::vec((0..STEPS.len(), any::<u64>()), 1..6),
    ) {
        let base_ref = Ref::arange(&shape);
        let base = Tensor::from_vec(base_ref.data.clone(), &shape).unwrap().to_dtype(dtype).unwrap();
        let differentiable = dtype == DType::F64;
        let base = if differentiable { base.requires_grad_(true) } else { base };
        let (mut t, mut r) = (base.clone(), base_ref.clone());
        let mut trail = Vec::new();
        for &(k, seed) in &steps {
            let Some((t2, r2, what)) = apply(STEPS[k], seed, &t, &r) else { continue };
            trail.push(what);
            prop_assert_eq!(t2.shape(), &r2.shape[..], "shape after {:?}", trail);
            let got = t2.to_vec::<f64>().unwrap();
            let want: Vec<f64> = r2.data.iter().map(|&v| stored(v, dtype)).collect();
            prop_assert_eq!(got, want, "values after {:?} (strides {:?}, offset {})", trail, t2.strides(), t2.offset());
            prop_assert_eq!(t2.dtype(), dtype);
            t = t2;
            r = r2;
        }
        // contiguous() of whatever we ended with: same values, contiguous layout
        let c = t.contiguous();
        prop_assert!(c.is_contiguous());
        prop_assert_eq!(c.to_vec::<f64>().unwrap(), t.to_vec::<f64>().unwrap());
        if differentiable && !trail.is_empty() {
            let cot_vals: Vec<f64> = (0..r.data.len()).map(|i| (i % 7) as f64 - 3.0).collect();
            let cot = Tensor::from_vec(cot_vals.clone(), &r.shape).unwrap();
            t.backward_with(&cot).unwrap();
            let mut want = vec![0.0; base_ref.data.len()];
            for (j, &src) in r.data.iter().enumerate() {
                want[src as usize] += cot_vals[j];
            }
            let got = base.grad().map(|g| g.to_vec::<f64>().unwrap()).unwrap_or_else(|| vec![0.0; want.len()]);
            prop_assert_eq!(got, want, "gradient through {:?}", trail);
        }
    }

    /// The pure view ops share storage with a (non-contiguous) input; `contiguous()` of a
    /// non-contiguous input copies.
    #[test]
    fn views_share_storage(shape in shape_strategy(4), k in 0..STEPS.len(), seed in any::<u64>()) {
        let r = Ref::arange(&shape);
        let rev: Vec<isize> = (0..shape.len() as isize).rev().collect();
        let stored = Tensor::from_vec(r.permute(&(0..shape.len()).rev().collect::<Vec<_>>()).data, &shape.iter().rev().copied().collect::<Vec<_>>()).unwrap();
        let base = stored.permute(&rev).unwrap(); // values of `r`, reversed strides
        prop_assert_eq!(base.to_vec::<f64>().unwrap(), r.data.clone());
        let step = STEPS[k];
        if let Some((t, _, what)) = apply(step, seed, &base, &r) {
            match step {
                Step::Permute | Step::Transpose | Step::Narrow | Step::Slice | Step::Select | Step::Expand => {
                    prop_assert!(t.shares_storage(&base), "{} copied", what);
                }
                Step::Contiguous if !base.is_contiguous() => prop_assert!(!t.shares_storage(&base), "contiguous() did not copy"),
                _ => {}
            }
        }
    }

    /// Binary ops broadcast like NumPy: same result shape, values and reduced gradients as the
    /// reference, for operands that are themselves strided views.
    #[test]
    fn broadcasting_matches_reference(
        out in shape_strategy(4),
        mask_a in prop::collection::vec(any::<bool>(), 4),
        mask_b in prop::collection::vec(any::<bool>(), 4),
        drop_a in 0usize..=4,
        drop_b in 0usize..=4,
        transpose_a in any::<bool>(),
    ) {
        // each operand: a suffix of `out` with some dims set to 1
        let operand = |mask: &[bool], drop: usize| -> Vec<usize> {
            let skip = drop.min(out.len());
            out[skip..].iter().enumerate().map(|(i, &n)| if mask[i] { 1 } else { n }).collect()
        };
        let (sa, sb) = (operand(&mask_a, drop_a), operand(&mask_b, drop_b));
        let ra = Ref::arange(&sa);
        let rb = Ref { shape: sb.clone(), data: Ref::arange(&sb).data.iter().map(|v| v * 1000.0).collect() };
        let make = |r: &Ref, column_major: bool| -> Tensor {
            if column_major && r.shape.len() >= 2 {
                // stored with dims 0 and 1 swapped, viewed back: same values, strided layout
                let mut perm: Vec<usize> = (0..r.shape.len()).collect();
                perm.swap(0, 1);
                let swapped = r.permute(&perm);
                Tensor::from_vec(swapped.data, &swapped.shape).unwrap().transpose(0, 1).unwrap()
            } else {
                Tensor::from_vec(r.data.clone(), &r.shape).unwrap()
            }
        };
        let a = make(&ra, transpose_a).requires_grad_(true);
        let b = make(&rb, false).requires_grad_(true);
        let y = a.add(&b).unwrap();
        let shape = ember_core::shape::broadcast_shapes("test", &sa, &sb).unwrap();
        prop_assert_eq!(y.shape(), &shape[..]);
        let (ea, eb) = (ra.expand(&shape), rb.expand(&shape));
        let want: Vec<f64> = ea.data.iter().zip(&eb.data).map(|(x, y)| x + y).collect();
        prop_assert_eq!(y.to_vec::<f64>().unwrap(), want);
        // gradient of sum(y * cot): cot summed over the broadcast positions of each operand
        let cot_vals: Vec<f64> = (0..numel(&shape)).map(|i| (i % 5) as f64 + 1.0).collect();
        y.backward_with(&Tensor::from_vec(cot_vals.clone(), &shape).unwrap()).unwrap();
        for (x, ex, scale) in [(&a, &ea, 1.0), (&b, &eb, 1000.0)] {
            let mut want = vec![0.0; x.numel()];
            for (j, &src) in ex.data.iter().enumerate() {
                want[(src / scale) as usize] += cot_vals[j];
            }
            let g = x.grad().unwrap();
            prop_assert_eq!(g.shape(), x.shape());
            prop_assert_eq!(g.to_vec::<f64>().unwrap(), want);
        }
    }

    /// Shapes that do not broadcast give an error, never a panic; shapes that do, agree with
    /// the rule "equal, or one of them is 1" on every aligned dim.
    #[test]
    fn broadcast_errors(sa in shape_strategy(4), sb in shape_strategy(4)) {
        let n = sa.len().max(sb.len());
        let dim = |s: &[usize], i: usize| if i + s.len() >= n { s[i + s.len() - n] } else { 1 };
        let ok = (0..n).all(|i| dim(&sa, i) == dim(&sb, i) || dim(&sa, i) == 1 || dim(&sb, i) == 1);
        let a = Tensor::zeros(&sa);
        let b = Tensor::zeros(&sb);
        let r = a.mul(&b);
        prop_assert_eq!(r.is_ok(), ok, "{:?} * {:?}: {:?}", sa, sb, r.as_ref().err());
        if let Ok(y) = r {
            let want: Vec<usize> = (0..n).map(|i| if dim(&sa, i) == 1 { dim(&sb, i) } else { dim(&sa, i) }).collect();
            prop_assert_eq!(y.shape(), &want[..]);
        }
    }
}
