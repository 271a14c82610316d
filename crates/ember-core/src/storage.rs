//! Typed element buffers. A storage is shared by every view of it; in-place ops bump its
//! version counter so autograd can refuse saved tensors that changed after they were saved.

use crate::device::Device;
use crate::dtype::{DType, Elem};
use half::{bf16, f16};
use parking_lot::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// A CPU buffer of one dtype.
#[derive(Debug, Clone)]
pub enum CpuStorage {
    Bool(Vec<bool>),
    U8(Vec<u8>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    F16(Vec<f16>),
    BF16(Vec<bf16>),
    F32(Vec<f32>),
    F64(Vec<f64>),
}

/// Run `$body` with `$v` bound to the typed Vec inside a `CpuStorage` (any dtype).
#[macro_export]
#[doc(hidden)]
macro_rules! with_storage {
    ($s:expr, $v:ident => $body:expr) => {
        match $s {
            $crate::storage::CpuStorage::Bool($v) => $body,
            $crate::storage::CpuStorage::U8($v) => $body,
            $crate::storage::CpuStorage::I32($v) => $body,
            $crate::storage::CpuStorage::I64($v) => $body,
            $crate::storage::CpuStorage::F16($v) => $body,
            $crate::storage::CpuStorage::BF16($v) => $body,
            $crate::storage::CpuStorage::F32($v) => $body,
            $crate::storage::CpuStorage::F64($v) => $body,
        }
    };
}

/// Like `with_storage!` but the body must build a new `CpuStorage` of the same variant.
#[macro_export]
#[doc(hidden)]
macro_rules! map_storage {
    ($s:expr, $v:ident => $body:expr) => {
        match $s {
            $crate::storage::CpuStorage::Bool($v) => $crate::storage::CpuStorage::Bool($body),
            $crate::storage::CpuStorage::U8($v) => $crate::storage::CpuStorage::U8($body),
            $crate::storage::CpuStorage::I32($v) => $crate::storage::CpuStorage::I32($body),
            $crate::storage::CpuStorage::I64($v) => $crate::storage::CpuStorage::I64($body),
            $crate::storage::CpuStorage::F16($v) => $crate::storage::CpuStorage::F16($body),
            $crate::storage::CpuStorage::BF16($v) => $crate::storage::CpuStorage::BF16($body),
            $crate::storage::CpuStorage::F32($v) => $crate::storage::CpuStorage::F32($body),
            $crate::storage::CpuStorage::F64($v) => $crate::storage::CpuStorage::F64($body),
        }
    };
}

impl CpuStorage {
    pub fn dtype(&self) -> DType {
        match self {
            CpuStorage::Bool(_) => DType::Bool,
            CpuStorage::U8(_) => DType::U8,
            CpuStorage::I32(_) => DType::I32,
            CpuStorage::I64(_) => DType::I64,
            CpuStorage::F16(_) => DType::F16,
            CpuStorage::BF16(_) => DType::BF16,
            CpuStorage::F32(_) => DType::F32,
            CpuStorage::F64(_) => DType::F64,
        }
    }

    pub fn len(&self) -> usize {
        with_storage!(self, v => v.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A zero-filled buffer.
    pub fn zeros(dtype: DType, n: usize) -> CpuStorage {
        crate::alloc::init();
        match dtype {
            DType::Bool => CpuStorage::Bool(vec![false; n]),
            DType::U8 => CpuStorage::U8(vec![0; n]),
            DType::I32 => CpuStorage::I32(vec![0; n]),
            DType::I64 => CpuStorage::I64(vec![0; n]),
            DType::F16 => CpuStorage::F16(vec![f16::ZERO; n]),
            DType::BF16 => CpuStorage::BF16(vec![bf16::ZERO; n]),
            DType::F32 => CpuStorage::F32(vec![0.0; n]),
            DType::F64 => CpuStorage::F64(vec![0.0; n]),
        }
    }

    /// A buffer filled with `value` (converted to the dtype).
    pub fn full(dtype: DType, n: usize, value: f64) -> CpuStorage {
        crate::alloc::init();
        match dtype {
            DType::Bool => CpuStorage::Bool(vec![value != 0.0; n]),
            // through i64: out-of-range values wrap as in C++ and PyTorch (`x + -1` on u8)
            DType::U8 => CpuStorage::U8(vec![value as i64 as u8; n]),
            DType::I32 => CpuStorage::I32(vec![value as i32; n]),
            DType::I64 => CpuStorage::I64(vec![value as i64; n]),
            DType::F16 => CpuStorage::F16(vec![f16::from_f64(value); n]),
            DType::BF16 => CpuStorage::BF16(vec![bf16::from_f64(value); n]),
            DType::F32 => CpuStorage::F32(vec![value as f32; n]),
            DType::F64 => CpuStorage::F64(vec![value; n]),
        }
    }

    /// Raw little-endian bytes (for safetensors).
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            CpuStorage::Bool(v) => {
                // bool is one byte holding 0 or 1, the same as safetensors' BOOL.
                unsafe { std::slice::from_raw_parts(v.as_ptr() as *const u8, v.len()) }
            }
            CpuStorage::U8(v) => v,
            CpuStorage::I32(v) => bytemuck::cast_slice(v),
            CpuStorage::I64(v) => bytemuck::cast_slice(v),
            CpuStorage::F16(v) => bytemuck::cast_slice(v),
            CpuStorage::BF16(v) => bytemuck::cast_slice(v),
            CpuStorage::F32(v) => bytemuck::cast_slice(v),
            CpuStorage::F64(v) => bytemuck::cast_slice(v),
        }
    }

    /// Build from little-endian bytes; `None` if the length is not a multiple of the element size.
    pub fn from_bytes(dtype: DType, bytes: &[u8]) -> Option<CpuStorage> {
        if !bytes.len().is_multiple_of(dtype.size_in_bytes()) {
            return None;
        }
        fn read<T: bytemuck::Pod>(b: &[u8]) -> Vec<T> {
            // pod_collect_to_vec copies, so unaligned input (e.g. a mapped file) is fine
            bytemuck::pod_collect_to_vec(b)
        }
        Some(match dtype {
            DType::Bool => CpuStorage::Bool(bytes.iter().map(|&b| b != 0).collect()),
            DType::U8 => CpuStorage::U8(bytes.to_vec()),
            DType::I32 => CpuStorage::I32(read(bytes)),
            DType::I64 => CpuStorage::I64(read(bytes)),
            DType::F16 => CpuStorage::F16(read(bytes)),
            DType::BF16 => CpuStorage::BF16(read(bytes)),
            DType::F32 => CpuStorage::F32(read(bytes)),
            DType::F64 => CpuStorage::F64(read(bytes)),
        })
    }
}

/// Conversion between typed Vecs and `CpuStorage`.
pub trait StorageElem: Elem {
    fn into_storage(v: Vec<Self>) -> CpuStorage;
    fn slice(s: &CpuStorage) -> Option<&[Self]>;
    fn slice_mut(s: &mut CpuStorage) -> Option<&mut [Self]>;
}

macro_rules! impl_storage_elem {
    ($t:ty, $v:ident) => {
        impl StorageElem for $t {
            fn into_storage(v: Vec<Self>) -> CpuStorage {
                CpuStorage::$v(v)
            }
            fn slice(s: &CpuStorage) -> Option<&[Self]> {
                match s {
                    CpuStorage::$v(v) => Some(v),
                    _ => None,
                }
            }
            fn slice_mut(s: &mut CpuStorage) -> Option<&mut [Self]> {
                match s {
                    CpuStorage::$v(v) => Some(v),
                    _ => None,
                }
            }
        }
    };
}
impl_storage_elem!(bool, Bool);
impl_storage_elem!(u8, U8);
impl_storage_elem!(i32, I32);
impl_storage_elem!(i64, I64);
impl_storage_elem!(f16, F16);
impl_storage_elem!(bf16, BF16);
impl_storage_elem!(f32, F32);
impl_storage_elem!(f64, F64);

/// A device buffer shared by all views of it, with the in-place version counter.
#[derive(Debug)]
pub struct Storage {
    pub(crate) data: RwLock<CpuStorage>,
    pub(crate) version: AtomicU64,
    pub(crate) device: Device,
    /// The device memory of a GPU storage (`data` is then an empty buffer of the same dtype).
    #[cfg(feature = "cuda")]
    pub(crate) cuda: Option<crate::cuda::buffer::DeviceBuffer>,
}

/// Bytes held by live tensor storages in this process (for leak tests and memory stats).
static LIVE_BYTES: AtomicU64 = AtomicU64::new(0);

/// Bytes currently held by tensor storages (all devices' host mirrors excluded).
pub fn live_storage_bytes() -> u64 {
    LIVE_BYTES.load(Ordering::Relaxed)
}

impl Storage {
    pub fn new(data: CpuStorage) -> Storage {
        LIVE_BYTES.fetch_add((data.len() * data.dtype().size_in_bytes()) as u64, Ordering::Relaxed);
        Storage {
            data: RwLock::new(data),
            version: AtomicU64::new(0),
            device: Device::Cpu,
            #[cfg(feature = "cuda")]
            cuda: None,
        }
    }

    /// A storage on a GPU (its bytes count in `ember::cuda::memory_allocated`, not here).
    #[cfg(feature = "cuda")]
    pub(crate) fn new_cuda(buf: crate::cuda::buffer::DeviceBuffer) -> Storage {
        Storage {
            data: RwLock::new(CpuStorage::zeros(buf.dtype, 0)),
            version: AtomicU64::new(0),
            device: Device::Cuda(buf.gpu.ordinal),
            cuda: Some(buf),
        }
    }

    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Relaxed)
    }

    pub(crate) fn bump_version(&self) {
        self.version.fetch_add(1, Ordering::Relaxed);
    }
}

impl Drop for Storage {
    fn drop(&mut self) {
        let d = self.data.get_mut();
        LIVE_BYTES.fetch_sub((d.len() * d.dtype().size_in_bytes()) as u64, Ordering::Relaxed);
    }
}
