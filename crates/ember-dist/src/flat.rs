//! `FlatBuffer`: an owned, typed, contiguous buffer that a non-blocking collective can work on
//! while the program goes on (its heap memory never moves), and that becomes a tensor without a copy.

use ember_core::{DType, Error, Result, Tensor};
use half::{bf16, f16};

/// A flat buffer of one float dtype (a gradient bucket).
#[derive(Debug, Clone)]
pub enum FlatBuffer {
    F32(Vec<f32>),
    F64(Vec<f64>),
    F16(Vec<f16>),
    BF16(Vec<bf16>),
}

impl FlatBuffer {
    /// A zero-filled buffer of `n` elements; errors on a non-float dtype.
    pub fn zeros(dtype: DType, n: usize) -> Result<FlatBuffer> {
        Ok(match dtype {
            DType::F32 => FlatBuffer::F32(vec![0.0; n]),
            DType::F64 => FlatBuffer::F64(vec![0.0; n]),
            DType::F16 => FlatBuffer::F16(vec![f16::ZERO; n]),
            DType::BF16 => FlatBuffer::BF16(vec![bf16::ZERO; n]),
            d => {
                return Err(Error::DType {
                    op: "FlatBuffer",
                    msg: format!("gradient buckets hold float dtypes, got {d}"),
                })
            }
        })
    }

    pub fn dtype(&self) -> DType {
        match self {
            FlatBuffer::F32(_) => DType::F32,
            FlatBuffer::F64(_) => DType::F64,
            FlatBuffer::F16(_) => DType::F16,
            FlatBuffer::BF16(_) => DType::BF16,
        }
    }

    pub fn len(&self) -> usize {
        self.bytes().len() / self.dtype().size_in_bytes()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn bytes(&self) -> &[u8] {
        match self {
            FlatBuffer::F32(v) => bytemuck::cast_slice(v),
            FlatBuffer::F64(v) => bytemuck::cast_slice(v),
            FlatBuffer::F16(v) => bytemuck::cast_slice(v),
            FlatBuffer::BF16(v) => bytemuck::cast_slice(v),
        }
    }

    pub fn bytes_mut(&mut self) -> &mut [u8] {
        match self {
            FlatBuffer::F32(v) => bytemuck::cast_slice_mut(v),
            FlatBuffer::F64(v) => bytemuck::cast_slice_mut(v),
            FlatBuffer::F16(v) => bytemuck::cast_slice_mut(v),
            FlatBuffer::BF16(v) => bytemuck::cast_slice_mut(v),
        }
    }

    /// Copy a tensor's elements (any layout, same dtype) to `offset..offset + numel`.
    pub fn write_at(&mut self, offset: usize, t: &Tensor) -> Result<()> {
        if t.dtype() != self.dtype() || offset + t.numel() > self.len() {
            return Err(Error::Arg {
                op: "FlatBuffer::write_at",
                msg: format!(
                    "a {} tensor of {} elements does not fit at {offset} in a {} buffer of {}",
                    t.dtype(),
                    t.numel(),
                    self.dtype(),
                    self.len()
                ),
            });
        }
        let size = self.dtype().size_in_bytes();
        let dst = &mut self.bytes_mut()[offset * size..(offset + t.numel()) * size];
        t.contiguous().with_bytes(|src| dst.copy_from_slice(src))
    }

    /// Multiply every element by `s` (the 1/world of a mean).
    pub fn scale(&mut self, s: f64) {
        match self {
            FlatBuffer::F32(v) => v.iter_mut().for_each(|x| *x *= s as f32),
            FlatBuffer::F64(v) => v.iter_mut().for_each(|x| *x *= s),
            FlatBuffer::F16(v) => v.iter_mut().for_each(|x| *x = f16::from_f64(x.to_f64() * s)),
            FlatBuffer::BF16(v) => v.iter_mut().for_each(|x| *x = bf16::from_f64(x.to_f64() * s)),
        }
    }

    /// The buffer as a 1-D tensor (moves the Vec: no copy).
    pub fn into_tensor(self) -> Tensor {
        let n = self.len();
        let r = match self {
            FlatBuffer::F32(v) => Tensor::from_vec(v, &[n]),
            FlatBuffer::F64(v) => Tensor::from_vec(v, &[n]),
            FlatBuffer::F16(v) => Tensor::from_vec(v, &[n]),
            FlatBuffer::BF16(v) => Tensor::from_vec(v, &[n]),
        };
        r.expect("length matches by construction")
    }
}

/// Scale a tensor's float elements in place (a mean after a sum).
pub(crate) fn scale_bytes(bytes: &mut [u8], dtype: DType, s: f64) {
    match dtype {
        DType::F32 => bytemuck::cast_slice_mut::<u8, f32>(bytes)
            .iter_mut()
            .for_each(|x| *x *= s as f32),
        DType::F64 => bytemuck::cast_slice_mut::<u8, f64>(bytes)
            .iter_mut()
            .for_each(|x| *x *= s),
        DType::F16 => bytemuck::cast_slice_mut::<u8, f16>(bytes)
            .iter_mut()
            .for_each(|x| *x = f16::from_f64(x.to_f64() * s)),
        DType::BF16 => bytemuck::cast_slice_mut::<u8, bf16>(bytes)
            .iter_mut()
            .for_each(|x| *x = bf16::from_f64(x.to_f64() * s)),
        _ => {}
    }
}
