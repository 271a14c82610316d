//! Raw access to a contiguous tensor's bytes, for code that hands buffers to C libraries
//! (MPI and NCCL collectives in ember-dist) and must read or write them in place, without a copy.
//!
//! The closures run while the storage lock is held, so the slice cannot be moved or freed while a
//! library reads or writes it; no pointer to it may outlive the closure.

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::storage::CpuStorage;
use crate::tensor::Tensor;

impl Tensor {
    /// Run `f` on this tensor's elements as little-endian bytes (`numel * dtype size` of them).
    /// Errors on a non-contiguous view (call `contiguous()` first).
    pub fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> Result<R> {
        let range = self.byte_range("with_bytes")?;
        let g = self.read();
        Ok(f(&g.as_bytes()[range]))
    }

    /// Run `f` on this tensor's elements as mutable little-endian bytes, then bump the version
    /// counter (autograd refuses saved tensors modified this way, as for any in-place op).
    /// Errors on a non-contiguous view, on `bool` tensors (not every byte is a valid bool), and,
    /// as other in-place ops do, on a tensor that requires grad while grad mode is on.
    pub fn with_bytes_mut<R>(&self, f: impl FnOnce(&mut [u8]) -> R) -> Result<R> {
        self.check_inplace("with_bytes_mut")?;
        if self.dtype() == DType::Bool {
            return Err(Error::DType {
                op: "with_bytes_mut",
                msg: "bool tensors cannot be written as raw bytes".into(),
            });
        }
        let range = self.byte_range("with_bytes_mut")?;
        let r = {
            let mut g = self.write();
            f(&mut bytes_mut(&mut g)[range])
        };
        self.bump_version();
        Ok(r)
    }

    fn byte_range(&self, op: &'static str) -> Result<std::ops::Range<usize>> {
        let r = self.layout().contiguous_range().ok_or_else(|| Error::Arg {
            op,
            msg: format!(
                "the tensor must be contiguous (shape {:?}, strides {:?}); call contiguous() first",
                self.shape(),
                self.strides()
            ),
        })?;
        let size = self.dtype().size_in_bytes();
        Ok(r.start * size..r.end * size)
    }
}

fn bytes_mut(s: &mut CpuStorage) -> &mut [u8] {
    match s {
        // excluded by the caller: writing arbitrary bytes into a bool is undefined behaviour
        CpuStorage::Bool(_) => &mut [],
        CpuStorage::U8(v) => v,
        CpuStorage::I32(v) => bytemuck::cast_slice_mut(v),
        CpuStorage::I64(v) => bytemuck::cast_slice_mut(v),
        CpuStorage::F16(v) => bytemuck::cast_slice_mut(v),
        CpuStorage::BF16(v) => bytemuck::cast_slice_mut(v),
        CpuStorage::F32(v) => bytemuck::cast_slice_mut(v),
        CpuStorage::F64(v) => bytemuck::cast_slice_mut(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip_in_place() {
        let t = Tensor::new(&[1.0f32, 2.0, 3.0]);
        t.with_bytes_mut(|b| {
            let v: &mut [f32] = bytemuck::cast_slice_mut(b);
            v[1] = 5.0;
        })
        .unwrap();
        assert_eq!(t.to_vec::<f32>().unwrap(), vec![1.0, 5.0, 3.0]);
        let n = t.with_bytes(|b| b.len()).unwrap();
        assert_eq!(n, 12);
    }

    #[test]
    fn views_see_their_own_range_and_strided_views_error() {
        let t = Tensor::new(&[[1.0f64, 2.0], [3.0, 4.0]]);
        let row = t.select(0, 1).unwrap();
        let v = row.with_bytes(|b| bytemuck::cast_slice::<u8, f64>(b).to_vec()).unwrap();
        assert_eq!(v, vec![3.0, 4.0]);
        assert!(t.t().with_bytes(|_| ()).is_err());
        assert!(Tensor::new(&[true]).with_bytes_mut(|_| ()).is_err());
        let p = Tensor::new(&[1.0f32]).requires_grad_(true);
        assert!(p.with_bytes_mut(|_| ()).is_err());
    }
}
