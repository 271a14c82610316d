//! `Tensor`: a cheap handle (one `Arc`) to a view of a shared storage, with autograd metadata.

use crate::autograd::is_grad_enabled;
use crate::autograd::node::{BackwardFn, Edge, GradHook, Node};
use crate::device::Device;
use crate::dtype::{DType, Elem};
use crate::error::{shape_err, Error, Result};
use crate::shape::{Dims, Layout};
use crate::storage::{CpuStorage, Storage, StorageElem};
use parking_lot::{Mutex, RwLockReadGuard, RwLockWriteGuard};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// An n-dimensional array of one dtype on one device, optionally tracked by autograd.
///
/// Cloning a `Tensor` is cheap and yields another handle to the same tensor (as a second Python
/// reference would in PyTorch): both see the same `.grad()` and the same data.
///
/// ```
/// use ember_core::Tensor;
/// let a = Tensor::new(&[[1.0f32, 2.0], [3.0, 4.0]]);
/// let b = a.matmul(&a.t()).unwrap();
/// assert_eq!(b.to_vec::<f32>().unwrap(), vec![5.0, 11.0, 11.0, 25.0]);
/// ```
#[derive(Clone)]
pub struct Tensor {
    pub(crate) inner: Arc<TensorInner>,
}

pub struct TensorInner {
    pub(crate) storage: Arc<Storage>,
    pub(crate) layout: Layout,
    pub(crate) dtype: DType,
    /// The op that produced this tensor, when it was recorded (None for leaves).
    pub(crate) grad_fn: Option<Arc<Node>>,
    /// For leaves: whether gradients accumulate into `.grad`.
    pub(crate) requires_grad: AtomicBool,
    pub(crate) grad: Mutex<Option<Tensor>>,
    /// Hooks on a leaf's gradient (non-leaf hooks live on its node).
    pub(crate) hooks: Mutex<Vec<GradHook>>,
}

impl Tensor {
    // ------------------------------------------------------------------ construction

    /// A new leaf tensor from a buffer and a contiguous layout.
    pub(crate) fn from_storage(data: CpuStorage, shape: &[usize]) -> Tensor {
        debug_assert_eq!(data.len(), shape.iter().product::<usize>());
        crate::alloc::init();
        let dtype = data.dtype();
        Tensor::from_parts(Arc::new(Storage::new(data)), Layout::contiguous(shape), dtype, None)
    }

    pub(crate) fn from_parts(
        storage: Arc<Storage>,
        layout: Layout,
        dtype: DType,
        grad_fn: Option<Arc<Node>>,
    ) -> Tensor {
        Tensor {
            inner: Arc::new(TensorInner {
                storage,
                layout,
                dtype,
                grad_fn,
                requires_grad: AtomicBool::new(false),
                grad: Mutex::new(None),
                hooks: Mutex::new(Vec::new()),
            }),
        }
    }

    /// A tensor from a flat Vec and a shape; errors if the lengths disagree.
    ///
    /// ```
    /// use ember_core::Tensor;
    /// let t = Tensor::from_vec(vec![1i64, 2, 3, 4, 5, 6], &[2, 3]).unwrap();
    /// assert_eq!(t.shape(), &[2, 3]);
    /// assert!(Tensor::from_vec(vec![1.0f32; 5], &[2, 3]).is_err());
    /// ```
    pub fn from_vec<T: StorageElem>(data: Vec<T>, shape: &[usize]) -> Result<Tensor> {
        let n: usize = shape.iter().product();
        if data.len() != n {
            return Err(shape_err(
                "from_vec",
                format!(
                    "a Vec of {} elements cannot have shape {shape:?} ({n} elements)",
                    data.len()
                ),
            ));
        }
        crate::alloc::init();
        Ok(Tensor::from_storage(T::into_storage(data), shape))
    }

    /// A 1-D tensor copied from a slice.
    pub fn from_slice<T: StorageElem>(data: &[T]) -> Tensor {
        Tensor::from_storage(T::into_storage(data.to_vec()), &[data.len()])
    }

    /// A tensor from a scalar, a slice, or a nested array (`&[[1.0, 2.0], [3.0, 4.0]]`).
    pub fn new<D: TensorData>(data: D) -> Tensor {
        let (v, shape) = data.flatten();
        Tensor::from_storage(D::Elem::into_storage(v), &shape)
    }

    /// A 0-dim tensor holding one value.
    pub fn scalar<T: StorageElem>(v: T) -> Tensor {
        Tensor::from_storage(T::into_storage(vec![v]), &[])
    }

    // ------------------------------------------------------------------ metadata

    pub fn shape(&self) -> &[usize] {
        &self.inner.layout.shape
    }

    /// Alias of `shape` (PyTorch's `size()`).
    pub fn dims(&self) -> &[usize] {
        self.shape()
    }

    /// Size of one dimension (negative counts from the end).
    pub fn size(&self, dim: isize) -> Result<usize> {
        let d = crate::shape::normalize_dim("size", dim, self.ndim())?;
        Ok(if self.ndim() == 0 { 1 } else { self.shape()[d] })
    }

    pub fn strides(&self) -> &[usize] {
        &self.inner.layout.strides
    }

    pub fn offset(&self) -> usize {
        self.inner.layout.offset
    }

    pub fn layout(&self) -> &Layout {
        &self.inner.layout
    }

    pub fn ndim(&self) -> usize {
        self.inner.layout.ndim()
    }

    pub fn numel(&self) -> usize {
        self.inner.layout.numel()
    }

    pub fn dtype(&self) -> DType {
        self.inner.dtype
    }

    pub fn device(&self) -> Device {
        self.inner.storage.device
    }

    pub fn is_contiguous(&self) -> bool {
        self.inner.layout.is_contiguous()
    }

    /// The in-place version counter of the underlying storage.
    pub fn storage_version(&self) -> u64 {
        self.inner.storage.version()
    }

    /// True when both handles view the same storage.
    pub fn shares_storage(&self, other: &Tensor) -> bool {
        Arc::ptr_eq(&self.inner.storage, &other.inner.storage)
    }

    /// True when both handles are the same tensor (not just equal values).
    pub fn same_tensor(&self, other: &Tensor) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    #[cfg_attr(feature = "cuda", track_caller)]
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, CpuStorage> {
        #[cfg(feature = "cuda")]
        crate::cuda::ops::assert_host(self);
        self.inner.storage.data.read()
    }

    #[cfg_attr(feature = "cuda", track_caller)]
    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, CpuStorage> {
        #[cfg(feature = "cuda")]
        crate::cuda::ops::assert_host(self);
        self.inner.storage.data.write()
    }

    // ------------------------------------------------------------------ data out

    /// The elements in row-major order, converted to `T` (like `tensor.flatten().tolist()`).
    pub fn to_vec<T: StorageElem>(&self) -> Result<Vec<T>> {
        if !self.device().is_cpu() {
            return self.to(Device::Cpu)?.to_vec();
        }
        let t = if self.dtype() == T::DTYPE {
            self.clone()
        } else {
            self.to_dtype(T::DTYPE)?
        };
        let g = t.read();
        let s = T::slice(&g).expect("dtype checked above");
        Ok(match t.inner.layout.contiguous_range() {
            Some(r) => s[r].to_vec(),
            None => t.inner.layout.offsets().into_iter().map(|o| s[o]).collect(),
        })
    }

    /// The value of a one-element tensor as f64 (PyTorch's `item()`).
    pub fn item(&self) -> Result<f64> {
        if self.numel() != 1 {
            return Err(shape_err(
                "item",
                format!(
                    "a tensor with {} elements (shape {:?}) cannot be converted to a scalar",
                    self.numel(),
                    self.shape()
                ),
            ));
        }
        if !self.device().is_cpu() {
            return self.to(Device::Cpu)?.item();
        }
        let g = self.read();
        let o = self.inner.layout.offset;
        Ok(crate::with_storage!(&*g, v => v[o].to_f64()))
    }

    /// The value of a one-element tensor as `T`.
    pub fn scalar_value<T: StorageElem>(&self) -> Result<T> {
        let v = self.to_vec::<T>()?;
        if v.len() != 1 {
            return Err(shape_err(
                "scalar_value",
                format!("tensor of shape {:?} is not a scalar", self.shape()),
            ));
        }
        Ok(v[0])
    }

    /// A contiguous copy of the data if this view is not contiguous already (else `self`).
    pub fn contiguous(&self) -> Tensor {
        if self.is_contiguous() {
            return self.clone();
        }
        #[cfg(feature = "cuda")]
        if self.device().is_cuda() {
            let out = crate::cuda::ops::contiguous(self).expect("contiguous: CUDA copy kernel failed");
            return crate::autograd::record("contiguous", out, &[self], |_ins| {
                Box::new(|g| Ok(vec![Some(g.clone())]))
            });
        }
        let out = Tensor::from_storage(crate::cpu::copy::strided_copy(self), self.shape());
        crate::autograd::record("contiguous", out, &[self], |_ins| {
            Box::new(|g| Ok(vec![Some(g.clone())]))
        })
    }

    /// The contiguous storage slice of this tensor, copying when it is a strided view.
    pub(crate) fn contiguous_data(&self) -> Tensor {
        if self.is_contiguous() {
            self.clone()
        } else {
            #[cfg(feature = "cuda")]
            if self.device().is_cuda() {
                return crate::cuda::ops::contiguous(self).expect("contiguous: CUDA copy kernel failed");
            }
            Tensor::from_storage(crate::cpu::copy::strided_copy(self), self.shape())
        }
    }

    /// A new view sharing storage with `self` (the caller records autograd).
    pub(crate) fn view_with_layout(&self, mut layout: Layout) -> Tensor {
        if layout.numel() == 0 {
            // an empty view reads nothing; a slice past the end of an empty storage (narrow at
            // 1 of a [0, 1] tensor) must not leave an offset outside the buffer
            layout.offset = 0;
        }
        Tensor::from_parts(self.inner.storage.clone(), layout, self.inner.dtype, None)
    }

    // ------------------------------------------------------------------ autograd metadata

    /// Whether gradients flow to or through this tensor.
    pub fn requires_grad(&self) -> bool {
        self.inner.grad_fn.is_some() || self.inner.requires_grad.load(Ordering::Relaxed)
    }

    /// True for tensors not produced by a recorded op.
    pub fn is_leaf(&self) -> bool {
        self.inner.grad_fn.is_none()
    }

    /// Mark a leaf as requiring grad (builder style: `Tensor::randn(..).requires_grad_(true)`).
    pub fn requires_grad_(self, requires_grad: bool) -> Tensor {
        self.set_requires_grad(requires_grad)
            .expect("requires_grad_ on a non-leaf tensor");
        self
    }

    /// Mark a leaf as requiring grad; errors on non-leaves and on non-float dtypes.
    pub fn set_requires_grad(&self, requires_grad: bool) -> Result<()> {
        if !self.is_leaf() {
            if requires_grad {
                return Ok(());
            }
            return Err(Error::Autograd(
                "you can only change requires_grad flags of leaf tensors; use detach() to get a \
                 tensor that does not require grad"
                    .into(),
            ));
        }
        if requires_grad && !self.dtype().is_float() {
            return Err(Error::Autograd(format!(
                "only tensors of floating point dtype can require gradients (got {})",
                self.dtype()
            )));
        }
        self.inner.requires_grad.store(requires_grad, Ordering::Relaxed);
        Ok(())
    }

    /// The accumulated gradient of a leaf (or of a non-leaf that called `retain_grad`).
    pub fn grad(&self) -> Option<Tensor> {
        self.inner.grad.lock().clone()
    }

    /// Replace the stored gradient (`None` clears it, like `zero_grad(set_to_none=True)`).
    pub fn set_grad(&self, grad: Option<Tensor>) {
        *self.inner.grad.lock() = grad;
    }

    /// Clear the stored gradient.
    pub fn zero_grad(&self) {
        self.set_grad(None);
    }

    /// A tensor sharing this storage, cut from the graph.
    pub fn detach(&self) -> Tensor {
        self.view_with_layout(self.inner.layout.clone())
    }

    /// The name of the op that produced this tensor, if recorded (`"mul"`, `"matmul"`, ...).
    pub fn grad_fn_name(&self) -> Option<&'static str> {
        self.inner.grad_fn.as_ref().map(|n| n.name)
    }

    /// Attach a node to a freshly computed output (used by `autograd::record`).
    pub(crate) fn with_grad_fn(mut self, name: &'static str, edges: Vec<Option<Edge>>, f: BackwardFn) -> Tensor {
        let node = Some(Arc::new(Node::new(name, edges, f)));
        // A freshly computed output is unique: set its node in place (no reallocation).
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.grad_fn = node;
            return self;
        }
        Tensor::from_parts(
            self.inner.storage.clone(),
            self.inner.layout.clone(),
            self.inner.dtype,
            node,
        )
    }

    /// The edge a gradient for this tensor flows into, if it requires grad.
    pub(crate) fn edge(&self) -> Option<Edge> {
        if let Some(n) = &self.inner.grad_fn {
            Some(Edge::Node(n.clone()))
        } else if self.inner.requires_grad.load(Ordering::Relaxed) {
            Some(Edge::Leaf(self.inner.clone()))
        } else {
            None
        }
    }

    /// Errors for in-place ops that autograd cannot allow (PyTorch raises the same).
    pub(crate) fn check_inplace(&self, op: &'static str) -> Result<()> {
        if is_grad_enabled() && self.requires_grad() {
            let what = if self.is_leaf() {
                "a leaf tensor that requires grad"
            } else {
                "a tensor that is part of a recorded graph"
            };
            return Err(Error::Autograd(format!(
                "{op}: an in-place operation on {what} is not allowed while grad mode is on; \
                 wrap it in no_grad() or use the out-of-place op"
            )));
        }
        Ok(())
    }

    pub(crate) fn bump_version(&self) {
        self.inner.storage.bump_version();
    }
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// Nested Rust data that can become a tensor: scalars, slices, Vecs, nested arrays.
pub trait TensorData {
    type Elem: StorageElem;
    fn flatten(self) -> (Vec<Self::Elem>, Dims);
}

macro_rules! impl_tensor_data_scalar {
    ($($t:ty),*) => {$(
        impl TensorData for $t {
            type Elem = $t;
            fn flatten(self) -> (Vec<$t>, Dims) { (vec![self], Dims::new()) }
        }
    )*};
}
impl_tensor_data_scalar!(f32, f64, half::f16, half::bf16, i64, i32, u8, bool);

impl<T: StorageElem> TensorData for &[T] {
    type Elem = T;
    fn flatten(self) -> (Vec<T>, Dims) {
        (self.to_vec(), Dims::from_slice(&[self.len()]))
    }
}

impl<T: StorageElem> TensorData for Vec<T> {
    type Elem = T;
    fn flatten(self) -> (Vec<T>, Dims) {
        let n = self.len();
        (self, Dims::from_slice(&[n]))
    }
}

impl<T: StorageElem, const N: usize> TensorData for &[T; N] {
    type Elem = T;
    fn flatten(self) -> (Vec<T>, Dims) {
        (self.to_vec(), Dims::from_slice(&[N]))
    }
}

impl<T: StorageElem, const N: usize, const M: usize> TensorData for &[[T; N]; M] {
    type Elem = T;
    fn flatten(self) -> (Vec<T>, Dims) {
        (
            self.iter().flat_map(|r| r.iter().copied()).collect(),
            Dims::from_slice(&[M, N]),
        )
    }
}

impl<T: StorageElem, const N: usize, const M: usize, const K: usize> TensorData for &[[[T; N]; M]; K] {
    type Elem = T;
    fn flatten(self) -> (Vec<T>, Dims) {
        (
            self.iter()
                .flat_map(|m| m.iter().flat_map(|r| r.iter().copied()))
                .collect(),
            Dims::from_slice(&[K, M, N]),
        )
    }
}
