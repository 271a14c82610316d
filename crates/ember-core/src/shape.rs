//! Shapes, strides and the layout of a tensor view over its storage.

use crate::error::{shape_err, Error, Result};
use smallvec::SmallVec;

/// Dimension sizes, inline for up to 6 dims (no heap allocation for the common case).
pub type Dims = SmallVec<[usize; 6]>;

/// Turn a possibly negative dim (`-1` = last) into an index, or a clear error.
pub fn normalize_dim(op: &'static str, dim: isize, ndim: usize) -> Result<usize> {
    let n = ndim.max(1) as isize;
    let d = if dim < 0 { dim + n } else { dim };
    if d < 0 || d >= n {
        return Err(Error::Dim { op, dim, ndim });
    }
    Ok(d as usize)
}

/// Contiguous (row-major) strides for a shape.
pub fn contiguous_strides(shape: &[usize]) -> Dims {
    let mut strides: Dims = SmallVec::from_elem(1, shape.len());
    let mut acc = 1usize;
    for i in (0..shape.len()).rev() {
        strides[i] = acc;
        acc *= shape[i].max(1);
    }
    strides
}

/// NumPy broadcasting of two shapes.
pub fn broadcast_shapes(op: &'static str, a: &[usize], b: &[usize]) -> Result<Dims> {
    let n = a.len().max(b.len());
    let mut out: Dims = SmallVec::from_elem(1, n);
    for i in 0..n {
        let da = if i + a.len() >= n { a[i + a.len() - n] } else { 1 };
        let db = if i + b.len() >= n { b[i + b.len() - n] } else { 1 };
        out[i] = if da == db || db == 1 {
            da
        } else if da == 1 {
            db
        } else {
            return Err(shape_err(
                op,
                format!("shapes {a:?} and {b:?} cannot be broadcast together (dim {i}: {da} vs {db})"),
            ));
        };
    }
    Ok(out)
}

/// Where a tensor's elements live inside its storage: shape, strides (in elements), offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub shape: Dims,
    pub strides: Dims,
    pub offset: usize,
}

impl Layout {
    pub fn contiguous(shape: &[usize]) -> Layout {
        Layout {
            shape: Dims::from_slice(shape),
            strides: contiguous_strides(shape),
            offset: 0,
        }
    }

    pub fn ndim(&self) -> usize {
        self.shape.len()
    }

    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// True when the elements are laid out row-major with no gaps (offset may be non-zero).
    /// A tensor without elements is contiguous whatever its strides, as in PyTorch.
    pub fn is_contiguous(&self) -> bool {
        if self.numel() == 0 {
            return true;
        }
        let mut expected = 1usize;
        for i in (0..self.shape.len()).rev() {
            if self.shape[i] != 1 && self.strides[i] != expected {
                return false;
            }
            expected *= self.shape[i];
        }
        true
    }

    /// The storage range `[offset, offset + numel)` when contiguous.
    pub fn contiguous_range(&self) -> Option<std::ops::Range<usize>> {
        if self.is_contiguous() {
            Some(self.offset..self.offset + self.numel())
        } else {
            None
        }
    }

    /// A view of this layout broadcast to `shape` (stride 0 on expanded dims).
    pub fn broadcast_to(&self, op: &'static str, shape: &[usize]) -> Result<Layout> {
        if shape.len() < self.ndim() {
            return Err(shape_err(
                op,
                format!("cannot broadcast shape {:?} to {:?}", self.shape.as_slice(), shape),
            ));
        }
        let lead = shape.len() - self.ndim();
        let mut strides: Dims = SmallVec::from_elem(0, shape.len());
        for (i, &s) in shape.iter().enumerate() {
            if i < lead {
                continue;
            }
            let src = self.shape[i - lead];
            strides[i] = if src == s {
                self.strides[i - lead]
            } else if src == 1 {
                0
            } else {
                return Err(shape_err(
                    op,
                    format!(
                        "cannot broadcast shape {:?} to {:?} (dim {i}: {src} vs {s})",
                        self.shape.as_slice(),
                        shape
                    ),
                ));
            };
        }
        Ok(Layout {
            shape: Dims::from_slice(shape),
            strides,
            offset: self.offset,
        })
    }

    /// Storage offsets of every element in row-major order, in blocks along the last dim:
    /// calls `f(start_offset, stride, len)` for each innermost row. This is the strided
    /// fallback every kernel uses; the inner loop is a plain strided loop.
    pub fn for_each_row(&self, mut f: impl FnMut(usize, usize, usize)) {
        let nd = self.ndim();
        if self.numel() == 0 {
            return;
        }
        if nd == 0 {
            f(self.offset, 1, 1);
            return;
        }
        // Merge dims to make rows as long as possible.
        let (shape, strides) = coalesce(&self.shape, &self.strides);
        let nd = shape.len();
        let inner = shape[nd - 1];
        let inner_stride = strides[nd - 1];
        let mut idx: Dims = SmallVec::from_elem(0, nd);
        let mut off = self.offset;
        loop {
            f(off, inner_stride, inner);
            // advance the outer counter
            let mut d = nd - 1;
            loop {
                if d == 0 {
                    return;
                }
                d -= 1;
                idx[d] += 1;
                off += strides[d];
                if idx[d] < shape[d] {
                    break;
                }
                off -= strides[d] * shape[d];
                idx[d] = 0;
            }
        }
    }

    /// All storage offsets in row-major order (for small tensors and tests).
    pub fn offsets(&self) -> Vec<usize> {
        let mut v = Vec::with_capacity(self.numel());
        self.for_each_row(|start, stride, len| {
            for i in 0..len {
                v.push(start + i * stride);
            }
        });
        v
    }
}

/// Merge adjacent dims whose strides allow it (dims of size 1 are dropped), so strided loops
/// run over as few, as long rows as possible. Always returns at least one dim.
pub fn coalesce(shape: &[usize], strides: &[usize]) -> (Dims, Dims) {
    let mut s: Dims = SmallVec::new();
    let mut st: Dims = SmallVec::new();
    for i in 0..shape.len() {
        if shape[i] == 1 {
            continue;
        }
        if let (Some(&ls), Some(&lst)) = (s.last(), st.last()) {
            if lst == strides[i] * shape[i] {
                let n = s.len();
                s[n - 1] = ls * shape[i];
                st[n - 1] = strides[i];
                continue;
            }
        }
        s.push(shape[i]);
        st.push(strides[i]);
    }
    if s.is_empty() {
        s.push(1);
        st.push(1);
    }
    (s, st)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_rules() {
        assert_eq!(broadcast_shapes("t", &[3, 1], &[4]).unwrap().as_slice(), &[3, 4]);
        assert_eq!(broadcast_shapes("t", &[], &[2, 2]).unwrap().as_slice(), &[2, 2]);
        assert!(broadcast_shapes("t", &[3], &[4]).is_err());
    }

    #[test]
    fn transposed_offsets() {
        let l = Layout {
            shape: Dims::from_slice(&[3, 2]),
            strides: Dims::from_slice(&[1, 3]),
            offset: 0,
        };
        assert_eq!(l.offsets(), vec![0, 3, 1, 4, 2, 5]);
        assert!(!l.is_contiguous());
        assert!(Layout::contiguous(&[2, 3]).is_contiguous());
    }
}
