//! `to_dtype`: casts between every pair of dtypes (differentiable between float dtypes).

use crate::autograd::record;
use crate::dtype::{DType, Elem};
use crate::error::Result;
use crate::storage::{CpuStorage, StorageElem};
use crate::tensor::Tensor;
use half::{bf16, f16};

fn cast_slice<S: Elem + Sync, D: StorageElem + Default>(v: &[S], t: &Tensor) -> CpuStorage {
    D::into_storage(crate::cpu::elementwise::map1(v, t.layout(), |x| {
        D::from_f64(x.to_f64())
    }))
}

fn cast_to<D: StorageElem + Default>(t: &Tensor) -> CpuStorage {
    let g = t.read();
    match &*g {
        // integer -> integer without passing through f64 (exact for every i64)
        CpuStorage::I64(v) if D::DTYPE == DType::I32 => {
            CpuStorage::I32(crate::cpu::elementwise::map1(v, t.layout(), |x| x as i32))
        }
        CpuStorage::I32(v) if D::DTYPE == DType::I64 => {
            CpuStorage::I64(crate::cpu::elementwise::map1(v, t.layout(), |x| x as i64))
        }
        CpuStorage::F32(v) if D::DTYPE == DType::F16 => {
            CpuStorage::F16(crate::cpu::elementwise::map1(v, t.layout(), f16::from_f32))
        }
        CpuStorage::F32(v) if D::DTYPE == DType::BF16 => {
            CpuStorage::BF16(crate::cpu::elementwise::map1(v, t.layout(), bf16::from_f32))
        }
        CpuStorage::F16(v) if D::DTYPE == DType::F32 => {
            CpuStorage::F32(crate::cpu::elementwise::map1(v, t.layout(), f16::to_f32))
        }
        CpuStorage::BF16(v) if D::DTYPE == DType::F32 => {
            CpuStorage::F32(crate::cpu::elementwise::map1(v, t.layout(), bf16::to_f32))
        }
        s => crate::with_storage!(s, v => cast_slice::<_, D>(v, t)),
    }
}

impl Tensor {
    /// A copy converted to `dtype` (`self` itself when it already has that dtype).
    pub fn to_dtype(&self, dtype: DType) -> Result<Tensor> {
        if dtype == self.dtype() {
            return Ok(self.clone());
        }
        #[cfg(feature = "cuda")]
        if self.device().is_cuda() {
            let out = crate::cuda::ops::cast(self, dtype)?;
            if !dtype.is_float() {
                return Ok(out);
            }
            let src = self.dtype();
            return Ok(record("to_dtype", out, &[self], move |_| {
                Box::new(move |g| Ok(vec![Some(g.to_dtype(src)?)]))
            }));
        }
        let data = match dtype {
            DType::Bool => cast_to::<bool>(self),
            DType::U8 => cast_to::<u8>(self),
            DType::I32 => cast_to::<i32>(self),
            DType::I64 => cast_to::<i64>(self),
            DType::F16 => cast_to::<f16>(self),
            DType::BF16 => cast_to::<bf16>(self),
            DType::F32 => cast_to::<f32>(self),
            DType::F64 => cast_to::<f64>(self),
        };
        let out = Tensor::from_storage(data, self.shape());
        if !dtype.is_float() {
            return Ok(out);
        }
        let src = self.dtype();
        Ok(record("to_dtype", out, &[self], move |_| {
            Box::new(move |g| Ok(vec![Some(g.to_dtype(src)?)]))
        }))
    }

    /// The default float dtype (f32) copy; float tensors are returned as they are.
    pub fn to_float(&self) -> Result<Tensor> {
        self.to_dtype(self.dtype().to_float())
    }
}
