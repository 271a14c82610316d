//! The LSTM cell's pointwise work in one pass per direction (`ops::lstm`). Rows are batch
//! entries; a gates row is `[i | f | g | o]`, `H` values each (PyTorch's order). The
//! arithmetic follows the composite op for op (same formulas, same order), so f32 results
//! match the composite's to rounding of the (vectorized) exp and tanh alone.

use super::math::Float;

#[inline(always)]
fn sigmoid<T: Float>(v: T) -> T {
    T::ONE / (T::ONE + (-v).exp())
}

fn sigmoid_in_place<T: Float>(x: &mut [T]) {
    for v in x {
        *v = sigmoid(*v);
    }
}

/// One step forward over `rows` batch entries. `gates` holds the pre-activations on entry
/// (plus `add`, when given: the step's input projection) and the activated gates on exit (what
/// backward needs); writes `c = f c_prev + i g`, `tanh_c = tanh(c)` and `h = o tanh_c`.
/// Slices: `gates` and `add` `rows * 4H`, the others `rows * H`.
pub fn cell_forward<T: Float>(
    gates: &mut [T],
    add: Option<&[T]>,
    c_prev: &[T],
    c: &mut [T],
    tanh_c: &mut [T],
    h: &mut [T],
    hs: usize,
) {
    let rows = c_prev.len() / hs.max(1);
    assert!(
        hs > 0
            && gates.len() == 4 * rows * hs
            && add.is_none_or(|a| a.len() == gates.len())
            && [c.len(), tanh_c.len(), h.len()].iter().all(|&n| n == rows * hs),
        "lstm cell_forward: buffer sizes do not fit"
    );
    for r in 0..rows {
        let row = &mut gates[r * 4 * hs..(r + 1) * 4 * hs];
        if let Some(add) = add {
            // a pass over the row while it is in L1 (the product wrote it just before)
            for (p, &a) in row.iter_mut().zip(&add[r * 4 * hs..(r + 1) * 4 * hs]) {
                *p = a + *p;
            }
        }
        // short loops of one function each vectorize where one loop of five would not
        let (ifg, go) = row.split_at_mut(3 * hs);
        let (gif, gg) = ifg.split_at_mut(2 * hs);
        sigmoid_in_place(gif);
        sigmoid_in_place(go);
        for v in gg.iter_mut() {
            *v = v.tanh();
        }
        let (gi, gf) = gif.split_at(hs);
        let span = r * hs..(r + 1) * hs;
        let (cp, cr, tr, hr) = (
            &c_prev[span.clone()],
            &mut c[span.clone()],
            &mut tanh_c[span.clone()],
            &mut h[span],
        );
        for (((((&iv, &fv), &gv), &cpv), cv), tv) in gi
            .iter()
            .zip(gf)
            .zip(gg.iter())
            .zip(cp)
            .zip(cr.iter_mut())
            .zip(tr.iter_mut())
        {
            let cn = fv * cpv + iv * gv;
            (*cv, *tv) = (cn, cn.tanh());
        }
        for ((hv, &ov), &tv) in hr.iter_mut().zip(go.iter()).zip(tr.iter()) {
            *hv = ov * tv;
        }
    }
}

/// One step backward over `rows` batch entries, from the activated `gates`, `tanh_c`, `c_prev`
/// and the gradients reaching `h` (`gh`) and `c` (`dc`, on entry): writes the pre-activation
/// gradient `dpre` (`rows * 4H`) and leaves in `dc` the gradient of `c_prev` (`dc_total * f`).
pub fn cell_backward<T: Float>(
    gates: &[T],
    tanh_c: &[T],
    c_prev: &[T],
    gh: &[T],
    dc: &mut [T],
    dpre: &mut [T],
    hs: usize,
) {
    let rows = c_prev.len() / hs.max(1);
    assert!(
        hs > 0
            && gates.len() == 4 * rows * hs
            && dpre.len() == 4 * rows * hs
            && [tanh_c.len(), gh.len(), dc.len()].iter().all(|&n| n == rows * hs),
        "lstm cell_backward: buffer sizes do not fit"
    );
    let one = T::ONE;
    for r in 0..rows {
        let row = &gates[r * 4 * hs..(r + 1) * 4 * hs];
        let (gi, rest) = row.split_at(hs);
        let (gf, rest) = rest.split_at(hs);
        let (gg, go) = rest.split_at(hs);
        let drow = &mut dpre[r * 4 * hs..(r + 1) * 4 * hs];
        let (di, rest) = drow.split_at_mut(hs);
        let (df, rest) = rest.split_at_mut(hs);
        let (dg, d_o) = rest.split_at_mut(hs);
        let span = r * hs..(r + 1) * hs;
        let (tr, cp, ghr, dcr) = (
            &tanh_c[span.clone()],
            &c_prev[span.clone()],
            &gh[span.clone()],
            &mut dc[span],
        );
        for (((((((((((&i, &f), &g), &o), &t), &cpv), &ghv), dcv), div), dfv), dgv), dov) in gi
            .iter()
            .zip(gf)
            .zip(gg)
            .zip(go)
            .zip(tr)
            .zip(cp)
            .zip(ghr)
            .zip(dcr.iter_mut())
            .zip(di.iter_mut())
            .zip(df.iter_mut())
            .zip(dg.iter_mut())
            .zip(d_o.iter_mut())
        {
            let dct = *dcv + ghv * o * (one - t * t);
            *div = dct * g * (i * (one - i));
            *dfv = dct * cpv * (f * (one - f));
            *dgv = dct * i * (one - g * g);
            *dov = ghv * t * (o * (one - o));
            *dcv = dct * f;
        }
    }
}
