//! Elementwise loops over one or two (broadcast, strided) inputs.

use super::{PAR_CHUNK, PAR_THRESHOLD};
use crate::shape::{Dims, Layout};
use rayon::prelude::*;
use smallvec::SmallVec;
use std::mem::MaybeUninit;

/// out[i] = f(x[i]) over a layout of `x`'s storage, in row-major order.
pub fn map1<T: Copy + Send + Sync, U: Copy + Send + Sync + Default>(
    x: &[T],
    layout: &Layout,
    f: impl Fn(T) -> U + Sync + Send,
) -> Vec<U> {
    if let Some(r) = layout.contiguous_range() {
        let x = &x[r];
        return fill(x.len(), |out, start| {
            for (o, &x) in out.iter_mut().zip(&x[start..]) {
                o.write(f(x));
            }
        });
    }
    let mut out = Vec::with_capacity(layout.numel());
    layout.for_each_row(|start, stride, len| {
        if stride == 1 {
            // unit-stride rows of a view (a narrow of the last dim): a slice loop vectorizes
            out.extend(x[start..start + len].iter().map(|&v| f(v)));
        } else {
            out.extend((0..len).map(|i| f(x[start + i * stride])));
        }
    });
    out
}

/// out[i] = f(a[i], b[i]) where both layouts already have the output's shape (broadcast views).
pub fn map2<A: Copy + Send + Sync, B: Copy + Send + Sync, U: Copy + Send + Sync + Default>(
    a: &[A],
    la: &Layout,
    b: &[B],
    lb: &Layout,
    f: impl Fn(A, B) -> U + Sync + Send,
) -> Vec<U> {
    let n = la.numel();
    match (la.contiguous_range(), lb.contiguous_range()) {
        (Some(ra), Some(rb)) => {
            let (a, b) = (&a[ra], &b[rb]);
            return fill(n, |out, start| {
                for ((o, &a), &b) in out.iter_mut().zip(&a[start..]).zip(&b[start..]) {
                    o.write(f(a, b));
                }
            });
        }
        (Some(ra), None) if lb.strides.iter().all(|&s| s == 0) => {
            let y = b[lb.offset];
            return map1(&a[ra.clone()], &Layout::contiguous(&[ra.len()]), |x| f(x, y));
        }
        (None, Some(rb)) if la.strides.iter().all(|&s| s == 0) => {
            let x = a[la.offset];
            return map1(&b[rb.clone()], &Layout::contiguous(&[rb.len()]), |y| f(x, y));
        }
        _ => {}
    }
    let mut out = Vec::with_capacity(n);
    for_each_row2(la, lb, |oa, sa, ob, sb, len| {
        if sa == 1 && sb == 1 {
            out.extend(a[oa..oa + len].iter().zip(&b[ob..ob + len]).map(|(&x, &y)| f(x, y)));
        } else if sb == 0 {
            let y = b[ob];
            out.extend((0..len).map(|i| f(a[oa + i * sa], y)));
        } else if sa == 0 {
            let x = a[oa];
            out.extend((0..len).map(|i| f(x, b[ob + i * sb])));
        } else {
            out.extend((0..len).map(|i| f(a[oa + i * sa], b[ob + i * sb])));
        }
    });
    out
}

/// Walk two layouts of the same shape together, one innermost row at a time.
pub fn for_each_row2(la: &Layout, lb: &Layout, mut f: impl FnMut(usize, usize, usize, usize, usize)) {
    if la.numel() == 0 {
        return;
    }
    // Coalesce dims that are mergeable in both layouts.
    let mut shape: Dims = SmallVec::new();
    let mut sa: Dims = SmallVec::new();
    let mut sb: Dims = SmallVec::new();
    for i in 0..la.ndim() {
        let (d, x, y) = (la.shape[i], la.strides[i], lb.strides[i]);
        if d == 1 {
            continue;
        }
        if let Some(&ld) = shape.last() {
            let n = shape.len();
            if sa[n - 1] == x * d && sb[n - 1] == y * d {
                shape[n - 1] = ld * d;
                sa[n - 1] = x;
                sb[n - 1] = y;
                continue;
            }
        }
        shape.push(d);
        sa.push(x);
        sb.push(y);
    }
    if shape.is_empty() {
        f(la.offset, 1, lb.offset, 1, 1);
        return;
    }
    let nd = shape.len();
    let mut idx: Dims = SmallVec::from_elem(0, nd);
    let (mut oa, mut ob) = (la.offset, lb.offset);
    loop {
        f(oa, sa[nd - 1], ob, sb[nd - 1], shape[nd - 1]);
        let mut d = nd - 1;
        loop {
            if d == 0 {
                return;
            }
            d -= 1;
            idx[d] += 1;
            oa += sa[d];
            ob += sb[d];
            if idx[d] < shape[d] {
                break;
            }
            oa -= sa[d] * shape[d];
            ob -= sb[d] * shape[d];
            idx[d] = 0;
        }
    }
}

/// Build a Vec of `n` elements by letting `body(chunk, start)` write every slot of each chunk
/// (chunk = out[start..start + chunk.len()]), in parallel above the threshold. Writing into
/// spare capacity skips the zero-fill pass, which costs as much as a cheap op itself.
pub fn fill<U: Send>(n: usize, body: impl Fn(&mut [MaybeUninit<U>], usize) + Sync + Send) -> Vec<U> {
    let mut out: Vec<U> = Vec::with_capacity(n);
    {
        let spare = &mut out.spare_capacity_mut()[..n];
        if n >= PAR_THRESHOLD {
            spare
                .par_chunks_mut(PAR_CHUNK)
                .enumerate()
                .for_each(|(i, c)| body(c, i * PAR_CHUNK));
        } else {
            body(spare, 0);
        }
    }
    // SAFETY: `body` wrote every element of every chunk, and the chunks cover 0..n.
    unsafe { out.set_len(n) };
    out
}
