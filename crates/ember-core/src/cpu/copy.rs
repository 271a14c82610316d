//! Copying strided views into contiguous buffers.

use crate::storage::CpuStorage;
use crate::tensor::Tensor;

/// Gather the elements of a (possibly strided) view into a new contiguous buffer.
pub fn strided_copy(t: &Tensor) -> CpuStorage {
    let g = t.read();
    let layout = t.layout();
    crate::map_storage!(&*g, v => gather(v, layout))
}

pub(crate) fn gather<T: Copy>(v: &[T], layout: &crate::shape::Layout) -> Vec<T> {
    if let Some(r) = layout.contiguous_range() {
        return v[r].to_vec();
    }
    let mut out = Vec::with_capacity(layout.numel());
    layout.for_each_row(|start, stride, len| {
        if stride == 1 {
            out.extend_from_slice(&v[start..start + len]);
        } else {
            out.extend((0..len).map(|i| v[start + i * stride]));
        }
    });
    out
}
