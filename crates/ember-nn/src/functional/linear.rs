//! `linear` and `bilinear`.

use ember_core::autograd::{needs_grad, record, SavedTensor};
use ember_core::{no_grad, Error, Result, Tensor};

/// `y = x W^T + b` for `x` of shape `[*, in]`, `W` of shape `[out, in]`, `b` of shape `[out]`.
///
/// One recorded op. The forward product reads `W` transposed in place (no copy), and the
/// gradient rule computes `dW = g^T x` directly in `W`'s layout, so the weight gradient is a
/// contiguous `[out, in]` tensor that an optimizer updates in one fused pass. No gradient is
/// computed for inputs that do not need one (the data batch of the first layer).
///
/// ```
/// use ember_core::Tensor;
/// use ember_nn::functional::linear;
/// let x = Tensor::new(&[[1.0f32, 2.0]]);
/// let w = Tensor::new(&[[1.0f32, 0.0], [1.0, 1.0], [0.0, 2.0]]);
/// let b = Tensor::new(&[0.5f32, 0.0, -1.0]);
/// assert_eq!(linear(&x, &w, Some(&b)).unwrap().to_vec::<f32>().unwrap(), vec![1.5, 3.0, 3.0]);
/// ```
pub fn linear(x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
    if w.ndim() != 2 || x.ndim() == 0 || x.shape()[x.ndim() - 1] != w.shape()[1] {
        return Err(Error::Shape {
            op: "linear",
            msg: format!(
                "input of shape {:?} cannot be multiplied with a weight of shape {:?} (expected [*, {}])",
                x.shape(),
                w.shape(),
                w.shape().get(1).copied().unwrap_or(0)
            ),
        });
    }
    if let Some(b) = b {
        if b.shape() != [w.shape()[0]] {
            return Err(Error::Shape {
                op: "linear",
                msg: format!(
                    "bias of shape {:?} does not match a weight of shape {:?}",
                    b.shape(),
                    w.shape()
                ),
            });
        }
    }
    let y = {
        let _g = no_grad();
        match b {
            // addmm adds the bias inside the product (f32/f64 CPU; matmul + add else)
            Some(b) if x.ndim() == 2 => b.addmm(x, &w.t())?,
            Some(b) => {
                // [.., k] as one [rows, k] matrix, as matmul itself folds it
                let k = w.shape()[1];
                let mut shape = x.shape().to_vec();
                let rows = shape[..shape.len() - 1].iter().product();
                *shape.last_mut().expect("x has a dim") = w.shape()[0];
                b.addmm(&x.reshape_to(&[rows, k])?, &w.t())?.reshape_to(&shape)?
            }
            None => x.matmul(&w.t())?,
        }
    };
    let inputs: Vec<&Tensor> = std::iter::once(x).chain(std::iter::once(w)).chain(b).collect();
    if !needs_grad(&inputs) {
        return Ok(y);
    }
    let need = [
        x.requires_grad(),
        w.requires_grad(),
        b.is_some_and(|b| b.requires_grad()),
    ];
    let (sx, sw) = (SavedTensor::new(x), SavedTensor::new(w));
    let has_bias = b.is_some();
    Ok(record("linear", y, &inputs, move |_| {
        Box::new(move |g| {
            let (x, w) = (sx.get()?, sw.get()?);
            let out_f = w.shape()[0];
            let in_f = w.shape()[1];
            let gx = if need[0] { Some(g.matmul(w)?) } else { None };
            let g2 = if need[1] || need[2] {
                Some(g.reshape(&[-1, out_f as isize])?)
            } else {
                None
            };
            let gw = match (&g2, need[1]) {
                (Some(g2), true) => Some(g2.t().matmul(&x.reshape(&[-1, in_f as isize])?)?),
                _ => None,
            };
            let mut out = vec![gx, gw];
            if has_bias {
                out.push(match (&g2, need[2]) {
                    (Some(g2), true) => Some(g2.sum(0, false)?),
                    _ => None,
                });
            }
            Ok(out)
        })
    }))
}

/// `y[n, o] = x1[n, :] W[o, :, :] x2[n, :] + b[o]` (`torch.nn.functional.bilinear`), for inputs
/// of shape `[*, in1]` and `[*, in2]` and a weight of shape `[out, in1, in2]`.
pub fn bilinear(x1: &Tensor, x2: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
    let bad = || Error::Shape {
        op: "bilinear",
        msg: format!(
            "inputs of shapes {:?} and {:?} do not fit a weight of shape {:?}",
            x1.shape(),
            x2.shape(),
            w.shape()
        ),
    };
    if w.ndim() != 3 || x1.ndim() == 0 || x2.ndim() == 0 {
        return Err(bad());
    }
    let (out_f, in1, in2) = (w.shape()[0], w.shape()[1], w.shape()[2]);
    if x1.shape()[x1.ndim() - 1] != in1
        || x2.shape()[x2.ndim() - 1] != in2
        || x1.shape()[..x1.ndim() - 1] != x2.shape()[..x2.ndim() - 1]
    {
        return Err(bad());
    }
    let lead: Vec<usize> = x1.shape()[..x1.ndim() - 1].to_vec();
    let a = x1.reshape(&[-1, in1 as isize])?; // [n, in1]
    let c = x2.reshape(&[-1, in2 as isize])?; // [n, in2]
                                              // t[n, o*in2] = a @ W viewed as [in1, out*in2]
    let wv = w
        .permute(&[1, 0, 2])?
        .reshape(&[in1 as isize, (out_f * in2) as isize])?;
    let t = a.matmul(&wv)?.reshape(&[-1, out_f as isize, in2 as isize])?;
    let mut y = t.mul(&c.unsqueeze(1)?)?.sum(-1, false)?;
    if let Some(b) = b {
        y = y.add(b)?;
    }
    let mut shape = lead;
    shape.push(out_f);
    y.reshape_to(&shape)
}
