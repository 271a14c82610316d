//! In-place ops (`add_`, `mul_`, `copy_`, `fill_`, ...), used by optimizers and init under
//! `no_grad`. Each bumps the storage's version counter so autograd can detect saved tensors
//! that were changed after being saved.

use crate::cpu::elementwise::for_each_row2;
use crate::error::{shape_err, Result};
use crate::storage::CpuStorage;
use crate::tensor::Tensor;

impl Tensor {
    /// Copy `src` (broadcast to this view's shape, cast to its dtype) into this view's elements.
    /// No autograd, no version bump: the building block of the in-place ops.
    pub(crate) fn copy_data_from(&self, src: &Tensor) -> Result<()> {
        let src = if src.dtype() != self.dtype() {
            crate::autograd::no_grad_scope(|| src.to_dtype(self.dtype()))?
        } else {
            src.clone()
        };
        #[cfg(feature = "cuda")]
        if self.device().is_cuda() || src.device().is_cuda() {
            return crate::cuda::ops::copy_across(self, &src);
        }
        // Reading and writing one storage at once would deadlock (and alias): copy first.
        let src = if src.shares_storage(self) {
            src.contiguous_data().detach_copy()
        } else {
            src
        };
        let ls = src.layout().broadcast_to("copy_", self.shape())?;
        let ld = self.layout().clone();
        let gs = src.read();
        let mut gd = self.write();
        macro_rules! copy {
            ($d:expr, $s:expr) => {
                for_each_row2(&ld, &ls, |od, sd, os, ss, len| {
                    if sd == 1 && ss == 1 {
                        $d[od..od + len].copy_from_slice(&$s[os..os + len]);
                    } else {
                        for i in 0..len {
                            $d[od + i * sd] = $s[os + i * ss];
                        }
                    }
                })
            };
        }
        match (&mut *gd, &*gs) {
            (CpuStorage::F32(d), CpuStorage::F32(s)) => copy!(d, s),
            (CpuStorage::F64(d), CpuStorage::F64(s)) => copy!(d, s),
            (CpuStorage::F16(d), CpuStorage::F16(s)) => copy!(d, s),
            (CpuStorage::BF16(d), CpuStorage::BF16(s)) => copy!(d, s),
            (CpuStorage::I64(d), CpuStorage::I64(s)) => copy!(d, s),
            (CpuStorage::I32(d), CpuStorage::I32(s)) => copy!(d, s),
            (CpuStorage::U8(d), CpuStorage::U8(s)) => copy!(d, s),
            (CpuStorage::Bool(d), CpuStorage::Bool(s)) => copy!(d, s),
            _ => unreachable!("source was cast to the destination dtype"),
        }
        Ok(())
    }

    /// A copy with its own storage (never shares with `self`).
    pub(crate) fn detach_copy(&self) -> Tensor {
        #[cfg(feature = "cuda")]
        if self.device().is_cuda() {
            return crate::cuda::ops::copy_fresh(self).expect("copy on the GPU: copy kernel failed");
        }
        Tensor::from_storage(crate::cpu::copy::strided_copy(self), self.shape())
    }

    /// A deep copy with its own storage, recorded by autograd (PyTorch's `clone()`).
    pub fn copy(&self) -> Tensor {
        let out = self.detach_copy();
        crate::autograd::record("clone", out, &[self], |_| Box::new(|g| Ok(vec![Some(g.clone())])))
    }

    fn inplace(&self, op: &'static str, value: &Tensor) -> Result<()> {
        self.check_inplace(op)?;
        if crate::shape::broadcast_shapes(op, self.shape(), value.shape())?.as_slice() != self.shape() {
            return Err(shape_err(
                op,
                format!(
                    "output with shape {:?} doesn't match the broadcast shape of {:?}",
                    self.shape(),
                    value.shape()
                ),
            ));
        }
        self.copy_data_from(value)?;
        self.bump_version();
        Ok(())
    }

    /// Copy `src` into this tensor in place (broadcasting, casting).
    pub fn copy_(&self, src: &Tensor) -> Result<()> {
        self.inplace("copy_", src)
    }

    /// Set every element to `v`.
    pub fn fill_(&self, v: f64) -> Result<()> {
        self.inplace("fill_", &Tensor::full_dtype(&[], v, self.dtype())?)
    }

    pub fn zero_(&self) -> Result<()> {
        self.fill_(0.0)
    }

    /// Fast path for `self op= other` on contiguous f32 of the same shape (optimizer updates).
    fn fast_f32_inplace(&self, other: &Tensor, f: impl Fn(f32, f32) -> f32 + Sync) -> bool {
        if self.shares_storage(other) || self.shape() != other.shape() || !self.device().is_cpu() {
            return false;
        }
        let (Some(rd), Some(rs)) = (self.layout().contiguous_range(), other.layout().contiguous_range()) else {
            return false;
        };
        let gs = other.read();
        let mut gd = self.write();
        if let (CpuStorage::F32(d), CpuStorage::F32(s)) = (&mut *gd, &*gs) {
            let (d, s) = (&mut d[rd], &s[rs]);
            if d.len() >= crate::cpu::PAR_THRESHOLD {
                use rayon::prelude::*;
                d.par_chunks_mut(crate::cpu::PAR_CHUNK)
                    .zip(s.par_chunks(crate::cpu::PAR_CHUNK))
                    .for_each(|(d, s)| {
                        for (x, &y) in d.iter_mut().zip(s) {
                            *x = f(*x, y);
                        }
                    });
            } else {
                for (x, &y) in d.iter_mut().zip(s) {
                    *x = f(*x, y);
                }
            }
            true
        } else {
            false
        }
    }

    fn binary_inplace(
        &self,
        op: &'static str,
        other: &Tensor,
        f: fn(f32, f32) -> f32,
        slow: impl FnOnce() -> Result<Tensor>,
    ) -> Result<()> {
        self.check_inplace(op)?;
        if self.fast_f32_inplace(other, f) {
            self.bump_version();
            return Ok(());
        }
        let r = crate::autograd::no_grad_scope(slow)?;
        self.inplace(op, &r)
    }

    pub fn add_(&self, o: &Tensor) -> Result<()> {
        self.binary_inplace("add_", o, |x, y| x + y, || self.add(o))
    }
    pub fn sub_(&self, o: &Tensor) -> Result<()> {
        self.binary_inplace("sub_", o, |x, y| x - y, || self.sub(o))
    }
    pub fn mul_(&self, o: &Tensor) -> Result<()> {
        self.binary_inplace("mul_", o, |x, y| x * y, || self.mul(o))
    }
    pub fn div_(&self, o: &Tensor) -> Result<()> {
        self.binary_inplace("div_", o, |x, y| x / y, || self.div(o))
    }
    pub fn add_scalar_(&self, v: f64) -> Result<()> {
        self.check_inplace("add_")?;
        let r = crate::autograd::no_grad_scope(|| self.add_scalar(v))?;
        self.inplace("add_", &r)
    }
    pub fn mul_scalar_(&self, v: f64) -> Result<()> {
        self.check_inplace("mul_")?;
        let r = crate::autograd::no_grad_scope(|| self.mul_scalar(v))?;
        self.inplace("mul_", &r)
    }
    /// `self += alpha * other` (the optimizer's axpy), in place.
    pub fn add_scaled_(&self, other: &Tensor, alpha: f64) -> Result<()> {
        self.check_inplace("add_")?;
        let a = alpha as f32;
        if self.fast_f32_inplace(other, |x, y| x + a * y) {
            self.bump_version();
            return Ok(());
        }
        let r = crate::autograd::no_grad_scope(|| self.add(&other.mul_scalar(alpha)?))?;
        self.inplace("add_", &r)
    }
    pub fn clamp_(&self, min: Option<f64>, max: Option<f64>) -> Result<()> {
        let r = crate::autograd::no_grad_scope(|| self.clamp(min, max))?;
        self.inplace("clamp_", &r)
    }
    pub fn relu_(&self) -> Result<()> {
        let r = crate::autograd::no_grad_scope(|| self.relu())?;
        self.inplace("relu_", &r)
    }
    pub fn masked_fill_(&self, mask: &Tensor, v: f64) -> Result<()> {
        let r = crate::autograd::no_grad_scope(|| self.masked_fill(mask, v))?;
        self.inplace("masked_fill_", &r)
    }
}

impl Tensor {
    /// One fused elementwise pass that updates `M` f32 tensors in place from `N` f32 inputs: for
    /// every index `i`, `f(&mut [out_0[i], ..], &[in_0[i], ..])`. This is the primitive behind
    /// optimizer steps (Adam reads param, grad and two moments and writes three of them: one pass
    /// instead of eight), and it is the only way a library gets a fused loop without touching
    /// storage itself.
    ///
    /// It applies only when every tensor is f32, contiguous, of one shape, and no two share a
    /// storage; otherwise it returns `Ok(false)` and changes nothing, and the caller runs its
    /// composite (reference) version written with ordinary Tensor ops. Like the other in-place
    /// ops it refuses tensors that require grad while grad mode is on, and bumps the version
    /// counter of every output.
    ///
    /// ```
    /// use ember_core::{no_grad, Tensor};
    /// let p = Tensor::new(&[1.0f32, 2.0]);
    /// let m = Tensor::zeros(&[2]);
    /// let g = Tensor::new(&[0.5f32, -1.0]);
    /// let _ng = no_grad();
    /// // m = 0.9 m + g; p -= 0.1 m
    /// let done = Tensor::fused_update_f32([&p, &m], [&g], |o, i| {
    ///     o[1] = 0.9 * o[1] + i[0];
    ///     o[0] -= 0.1 * o[1];
    /// })
    /// .unwrap();
    /// assert!(done);
    /// assert_eq!(p.to_vec::<f32>().unwrap(), vec![0.95, 2.1]);
    /// ```
    pub fn fused_update_f32<const M: usize, const N: usize>(
        outs: [&Tensor; M],
        ins: [&Tensor; N],
        f: impl Fn(&mut [f32; M], &[f32; N]) + Sync + Send,
    ) -> Result<bool> {
        let Some(first) = outs.first() else { return Ok(false) };
        let all: Vec<&Tensor> = outs.iter().chain(ins.iter()).copied().collect();
        for (i, t) in all.iter().enumerate() {
            if t.dtype() != crate::dtype::DType::F32 || t.shape() != first.shape() || !t.is_contiguous() {
                return Ok(false);
            }
            if all[..i].iter().any(|u| u.shares_storage(t)) || !t.device().is_cpu() {
                return Ok(false);
            }
        }
        for t in outs {
            t.check_inplace("fused_update_f32")?;
        }
        let n = first.numel();
        {
            let mut wg: Vec<_> = outs.iter().map(|t| t.write()).collect();
            let rg: Vec<_> = ins.iter().map(|t| t.read()).collect();
            let mut os: Vec<&mut [f32]> = Vec::with_capacity(M);
            for (g, t) in wg.iter_mut().zip(outs) {
                let CpuStorage::F32(v) = &mut **g else {
                    unreachable!("dtype checked above")
                };
                os.push(&mut v[t.offset()..t.offset() + n]);
            }
            let is: Vec<&[f32]> = rg
                .iter()
                .zip(ins)
                .map(|(g, t)| {
                    let CpuStorage::F32(v) = &**g else {
                        unreachable!("dtype checked above")
                    };
                    &v[t.offset()..t.offset() + n]
                })
                .collect();
            let run = |os: &mut [&mut [f32]], base: usize| {
                let len = os[0].len();
                debug_assert!(os.iter().all(|o| o.len() == len) && is.iter().all(|i| i.len() >= base + len));
                let op: [*mut f32; M] = std::array::from_fn(|j| os[j].as_mut_ptr());
                // SAFETY: `base + len <= n` and every input slice has `n` elements
                let ip: [*const f32; N] = std::array::from_fn(|j| unsafe { is[j].as_ptr().add(base) });
                // Raw pointers let the loop run without bounds checks (so it can vectorize):
                // every output chunk has `len` elements, every input `len` from `base`, and no
                // two tensors share a storage (checked above), so nothing aliases.
                // Blocks of 8 lanes copied into local arrays: the update then runs on
                // registers the compiler can vectorize across lanes.
                const L: usize = 8;
                let blocks = len / L;
                for blk in 0..blocks {
                    let k0 = blk * L;
                    // SAFETY: k0 + L <= len for every pointer, see above
                    unsafe {
                        let mut a: [[f32; L]; M] =
                            std::array::from_fn(|j| std::ptr::read_unaligned(op[j].add(k0) as *const [f32; L]));
                        let b: [[f32; L]; N] =
                            std::array::from_fn(|j| std::ptr::read_unaligned(ip[j].add(k0) as *const [f32; L]));
                        for l in 0..L {
                            let mut x: [f32; M] = std::array::from_fn(|j| a[j][l]);
                            let y: [f32; N] = std::array::from_fn(|j| b[j][l]);
                            f(&mut x, &y);
                            for j in 0..M {
                                a[j][l] = x[j];
                            }
                        }
                        for j in 0..M {
                            std::ptr::write_unaligned(op[j].add(k0) as *mut [f32; L], a[j]);
                        }
                    }
                }
                for k in blocks * L..len {
                    // SAFETY: k < len for every pointer, see above
                    unsafe {
                        let mut a: [f32; M] = std::array::from_fn(|j| *op[j].add(k));
                        let b: [f32; N] = std::array::from_fn(|j| *ip[j].add(k));
                        f(&mut a, &b);
                        for (p, v) in op.iter().zip(a) {
                            *p.add(k) = v;
                        }
                    }
                }
            };
            if n >= crate::cpu::PAR_THRESHOLD {
                use rayon::prelude::*;
                let chunk = crate::cpu::PAR_CHUNK;
                let mut iters: Vec<_> = os.into_iter().map(|s| s.chunks_mut(chunk)).collect();
                let tasks: Vec<(usize, Vec<&mut [f32]>)> = (0..n.div_ceil(chunk))
                    .map(|c| {
                        (
                            c * chunk,
                            iters.iter_mut().map(|it| it.next().expect("equal lengths")).collect(),
                        )
                    })
                    .collect();
                tasks.into_par_iter().for_each(|(base, mut o)| run(&mut o, base));
            } else {
                run(&mut os, 0);
            }
        }
        for t in outs {
            t.bump_version();
        }
        Ok(true)
    }
}
