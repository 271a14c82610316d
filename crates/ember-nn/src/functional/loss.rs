//! Loss functions, as in `torch.nn.functional`, with PyTorch's reductions and edge cases.

use super::activation::log_softmax;
use super::index::{check_range, class_mask};
use ember_core::autograd::{is_grad_enabled, needs_grad, record, SavedTensor};
use ember_core::{no_grad, DType, Error, Result, Tensor};

/// How per-element losses are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reduction {
    /// Return the per-element losses.
    None,
    /// Their mean (PyTorch's default).
    #[default]
    Mean,
    /// Their sum.
    Sum,
    /// Sum divided by the batch size (only for `kl_div`, where it is the mathematically right
    /// mean).
    BatchMean,
}

fn reduce(op: &'static str, loss: Tensor, r: Reduction) -> Result<Tensor> {
    match r {
        Reduction::None => Ok(loss),
        Reduction::Mean => loss.mean_all(),
        Reduction::Sum => Ok(loss.sum_all()),
        Reduction::BatchMean => Err(Error::Arg {
            op,
            msg: "reduction 'batchmean' is only defined for kl_div".into(),
        }),
    }
}

fn same_shape(op: &'static str, a: &Tensor, b: &Tensor) -> Result<()> {
    if a.shape() != b.shape() {
        return Err(Error::Shape {
            op,
            msg: format!(
                "input of shape {:?} and target of shape {:?} differ",
                a.shape(),
                b.shape()
            ),
        });
    }
    Ok(())
}

/// Mean squared error `(x - y)^2`.
///
/// ```
/// use ember_core::Tensor;
/// use ember_nn::functional::{mse_loss, Reduction};
/// let l = mse_loss(&Tensor::new(&[1.0f32, 2.0]), &Tensor::new(&[0.0f32, 0.0]), Reduction::Mean).unwrap();
/// assert_eq!(l.item().unwrap(), 2.5);
/// ```
pub fn mse_loss(input: &Tensor, target: &Tensor, reduction: Reduction) -> Result<Tensor> {
    same_shape("mse_loss", input, target)?;
    reduce("mse_loss", input.sub(target)?.square()?, reduction)
}

/// Mean absolute error `|x - y|`.
pub fn l1_loss(input: &Tensor, target: &Tensor, reduction: Reduction) -> Result<Tensor> {
    same_shape("l1_loss", input, target)?;
    reduce("l1_loss", input.sub(target)?.abs()?, reduction)
}

/// `0.5 d^2 / beta` where `|d| < beta`, else `|d| - 0.5 beta` (L1 when `beta == 0`).
pub fn smooth_l1_loss(input: &Tensor, target: &Tensor, reduction: Reduction, beta: f64) -> Result<Tensor> {
    same_shape("smooth_l1_loss", input, target)?;
    if beta < 0.0 {
        return Err(Error::Arg {
            op: "smooth_l1_loss",
            msg: format!("beta must be non-negative, got {beta}"),
        });
    }
    let d = input.sub(target)?;
    let z = d.abs()?;
    if beta == 0.0 {
        return reduce("smooth_l1_loss", z, reduction);
    }
    let quad = d.square()?.mul_scalar(0.5 / beta)?;
    let lin = z.sub_scalar(0.5 * beta)?;
    reduce(
        "smooth_l1_loss",
        Tensor::where_(&z.lt_scalar(beta)?, &quad, &lin)?,
        reduction,
    )
}

/// `0.5 d^2` where `|d| < delta`, else `delta (|d| - 0.5 delta)`.
pub fn huber_loss(input: &Tensor, target: &Tensor, reduction: Reduction, delta: f64) -> Result<Tensor> {
    same_shape("huber_loss", input, target)?;
    if delta <= 0.0 {
        return Err(Error::Arg {
            op: "huber_loss",
            msg: format!("delta must be positive, got {delta}"),
        });
    }
    let d = input.sub(target)?;
    let z = d.abs()?;
    let quad = d.square()?.mul_scalar(0.5)?;
    let lin = z.sub_scalar(0.5 * delta)?.mul_scalar(delta)?;
    reduce(
        "huber_loss",
        Tensor::where_(&z.lt_scalar(delta)?, &quad, &lin)?,
        reduction,
    )
}

/// Options of `cross_entropy` / `nll_loss` beyond input, target and reduction.
#[derive(Debug, Clone)]
pub struct CrossEntropyOptions {
    /// A weight per class (shape `[C]`).
    pub weight: Option<Tensor>,
    /// Targets equal to this index contribute nothing (class-index targets only).
    pub ignore_index: i64,
    pub reduction: Reduction,
    /// Mix the target with the uniform distribution: `(1 - s) * target + s / C`.
    pub label_smoothing: f64,
}

impl Default for CrossEntropyOptions {
    fn default() -> Self {
        CrossEntropyOptions {
            weight: None,
            ignore_index: -100,
            reduction: Reduction::Mean,
            label_smoothing: 0.0,
        }
    }
}

/// Move the class dim (dim 1, or 0 for an unbatched `[C]` input) last and flatten the rest:
/// `[N, C, d1, ..] -> [N * d1 * .., C]`.
fn classes_last(x: &Tensor) -> Result<Tensor> {
    match x.ndim() {
        1 => x.unsqueeze(0),
        2 => Ok(x.clone()),
        n => {
            let c = x.shape()[1] as isize;
            let mut perm: Vec<isize> = vec![0];
            perm.extend(2..n as isize);
            perm.push(1);
            x.permute(&perm)?.reshape(&[-1, c])
        }
    }
}

fn check_targets(op: &'static str, input: &Tensor, target: &Tensor) -> Result<()> {
    let mut expect: Vec<usize> = input.shape().to_vec();
    if input.ndim() == 1 {
        expect.clear();
    } else {
        expect.remove(1);
    }
    if target.shape() != expect.as_slice() {
        return Err(Error::Shape {
            op,
            msg: format!(
                "expected a target of shape {expect:?} for an input of shape {:?}, got {:?}",
                input.shape(),
                target.shape()
            ),
        });
    }
    if target.dtype().is_float() {
        return Err(Error::DType {
            op,
            msg: format!(
                "expected class-index targets of an integer dtype, got {}",
                target.dtype()
            ),
        });
    }
    Ok(())
}

/// Negative log-likelihood of class-index targets given log-probabilities `input`
/// (`[N, C]`, `[N, C, d1, ..]` or `[C]`).
pub fn nll_loss(input: &Tensor, target: &Tensor, opts: &CrossEntropyOptions) -> Result<Tensor> {
    check_targets("nll_loss", input, target)?;
    let logp = classes_last(input)?; // [M, C]
    let t = target.reshape(&[-1])?;
    let per = nll_rows("nll_loss", &logp, &t, opts)?;
    finish_class_loss(per, input, target, opts)
}

/// Per-row weighted NLL `-w[t] * logp[t]` (zero for ignored rows), and the weight of each row.
struct Rows {
    loss: Tensor,
    row_weight: Tensor,
    ignored: Tensor,
}

fn nll_rows(op: &'static str, logp: &Tensor, t: &Tensor, opts: &CrossEntropyOptions) -> Result<Rows> {
    let c = logp.shape()[1];
    let ignored = t.eq_scalar(opts.ignore_index as f64)?;
    let safe_t = t.masked_fill(&ignored, 0.0)?.to_dtype(DType::I64)?;
    check_range(op, &safe_t, c)?;
    let row_weight = match &opts.weight {
        Some(w) => {
            if w.shape() != [c] {
                return Err(Error::Shape {
                    op,
                    msg: format!("weight of shape {:?} does not match {c} classes", w.shape()),
                });
            }
            w.to_dtype(logp.dtype())?.index_select(0, &safe_t)?
        }
        None => Tensor::ones_dtype(&[t.numel()], logp.dtype())?,
    };
    let row_weight = row_weight.masked_fill(&ignored, 0.0)?;
    let picked = logp.gather(1, &safe_t.unsqueeze(1)?)?.squeeze(1)?;
    let loss = picked.mul(&row_weight)?.neg()?;
    Ok(Rows {
        loss,
        row_weight,
        ignored,
    })
}

fn finish_class_loss(rows: Rows, input: &Tensor, target: &Tensor, opts: &CrossEntropyOptions) -> Result<Tensor> {
    match opts.reduction {
        Reduction::None => rows.loss.reshape_to(target.shape()),
        Reduction::Sum => Ok(rows.loss.sum_all()),
        Reduction::Mean => rows.loss.sum_all().div(&rows.row_weight.sum_all()),
        Reduction::BatchMean => {
            let _ = input;
            Err(Error::Arg {
                op: "nll_loss",
                msg: "reduction 'batchmean' is only defined for kl_div".into(),
            })
        }
    }
}

/// Cross-entropy between logits `input` (`[N, C]`, `[N, C, d1, ..]` or `[C]`) and either
/// class indices (an integer tensor without the class dim) or class probabilities (a float
/// tensor of the input's shape), with PyTorch's class weights, `ignore_index` and label
/// smoothing.
///
/// The plain case (class indices, no weight, no smoothing, mean) is one fused op whose
/// gradient is `(softmax(x) - onehot(t)) * g / N`.
///
/// ```
/// use ember_core::Tensor;
/// use ember_nn::functional::{cross_entropy, CrossEntropyOptions};
/// let logits = Tensor::new(&[[0.0f32, 0.0], [0.0, 0.0]]);
/// let t = Tensor::new(&[0i64, 1]);
/// let l = cross_entropy(&logits, &t, &CrossEntropyOptions::default()).unwrap();
/// assert!((l.item().unwrap() - 2f64.ln()).abs() < 1e-6);
/// ```
pub fn cross_entropy(input: &Tensor, target: &Tensor, opts: &CrossEntropyOptions) -> Result<Tensor> {
    const OP: &str = "cross_entropy";
    if !(0.0..=1.0).contains(&opts.label_smoothing) {
        return Err(Error::Arg {
            op: OP,
            msg: format!("label_smoothing must be in [0, 1], got {}", opts.label_smoothing),
        });
    }
    if input.ndim() == 0 {
        return Err(Error::Shape {
            op: OP,
            msg: "input must have at least one dim (the classes)".into(),
        });
    }
    let class_dim: isize = if input.ndim() == 1 { 0 } else { 1 };
    let c = input.shape()[class_dim as usize];
    if target.dtype().is_float() {
        return cross_entropy_probs(input, target, opts, class_dim, c);
    }
    check_targets(OP, input, target)?;
    if opts.weight.is_none() && opts.label_smoothing == 0.0 && opts.reduction == Reduction::Mean && input.ndim() == 2 {
        return cross_entropy_fused(input, target, opts.ignore_index);
    }
    let logp = classes_last(&log_softmax(input, class_dim)?)?;
    let t = target.reshape(&[-1])?;
    let rows = nll_rows(OP, &logp, &t, opts)?;
    let s = opts.label_smoothing;
    if s == 0.0 {
        return finish_class_loss(rows, input, target, opts);
    }
    // smoothing term: -sum_c w_c logp_c per row, zero for ignored rows
    let smooth = match &opts.weight {
        Some(w) => logp.mul(&w.to_dtype(logp.dtype())?)?.sum(1, false)?.neg()?,
        None => logp.sum(1, false)?.neg()?,
    };
    let smooth = smooth.masked_fill(&rows.ignored, 0.0)?;
    let smooth = match opts.reduction {
        Reduction::None => smooth.reshape_to(target.shape())?,
        Reduction::Sum => smooth.sum_all(),
        Reduction::Mean => {
            let denom = match &opts.weight {
                Some(_) => rows.row_weight.sum_all(),
                None => rows.ignored.logical_not()?.to_dtype(logp.dtype())?.sum_all(),
            };
            smooth.sum_all().div(&denom)?
        }
        Reduction::BatchMean => return finish_class_loss(rows, input, target, opts),
    };
    let nll = finish_class_loss(rows, input, target, opts)?;
    nll.mul_scalar(1.0 - s)?.add(&smooth.mul_scalar(s / c as f64)?)
}

fn cross_entropy_probs(
    input: &Tensor,
    target: &Tensor,
    opts: &CrossEntropyOptions,
    class_dim: isize,
    c: usize,
) -> Result<Tensor> {
    const OP: &str = "cross_entropy";
    same_shape(OP, input, target)?;
    let logp = log_softmax(input, class_dim)?;
    let s = opts.label_smoothing;
    let target = if s > 0.0 {
        target.mul_scalar(1.0 - s)?.add_scalar(s / c as f64)?
    } else {
        target.clone()
    };
    let mut prod = logp.mul(&target)?;
    if let Some(w) = &opts.weight {
        let mut shape = vec![1usize; input.ndim()];
        shape[class_dim as usize] = c;
        prod = prod.mul(&w.to_dtype(prod.dtype())?.reshape_to(&shape)?)?;
    }
    let loss = prod.sum(class_dim, false)?.neg()?;
    match opts.reduction {
        Reduction::None => Ok(loss),
        Reduction::Sum => Ok(loss.sum_all()),
        Reduction::Mean => loss.sum_all().div_scalar((input.numel() / c.max(1)) as f64),
        Reduction::BatchMean => reduce(OP, loss, Reduction::BatchMean),
    }
}

/// Mean cross-entropy of `[N, C]` logits and class indices as one recorded op: the forward is
/// core's log-softmax and a gather, the backward `(softmax(x) - onehot(t)) * g / count` from
/// the saved log-probabilities (no recomputation).
fn cross_entropy_fused(x: &Tensor, t: &Tensor, ignore_index: i64) -> Result<Tensor> {
    let c = x.shape()[1];
    let (loss, logp, keep, safe_t, count) = {
        let _g = no_grad();
        let ignored = t.eq_scalar(ignore_index as f64)?;
        let keep = ignored.logical_not()?.to_dtype(x.dtype())?; // [N]
        let safe_t = t.masked_fill(&ignored, 0.0)?.to_dtype(DType::I64)?;
        check_range("cross_entropy", &safe_t, c)?;
        let logp = x.log_softmax(1)?;
        let picked = logp.gather(1, &safe_t.unsqueeze(1)?)?.squeeze(1)?;
        let count = keep.sum_all();
        let loss = picked.mul(&keep)?.sum_all().neg()?.div(&count)?;
        (loss, logp, keep, safe_t, count)
    };
    if !needs_grad(&[x]) {
        return Ok(loss);
    }
    let sx = SavedTensor::new(x);
    let slogp = SavedTensor::output(&logp);
    Ok(record("cross_entropy", loss, &[x], move |_| {
        Box::new(move |g| {
            // recorded backward (create_graph): recompute from x so it stays differentiable
            let p = if is_grad_enabled() {
                sx.get()?.softmax(1)?
            } else {
                slogp.get()?.exp()?
            };
            let onehot = class_mask("cross_entropy", &safe_t, c)?.to_dtype(p.dtype())?;
            let scale = g.div(&count)?;
            Ok(vec![Some(p.sub(&onehot)?.mul(&keep.unsqueeze(1)?)?.mul(&scale)?)])
        })
    }))
}

/// Binary cross-entropy of probabilities `input` in [0, 1]; the logs are clamped at -100 as in
/// PyTorch, so a probability of exactly 0 or 1 gives a finite loss.
pub fn binary_cross_entropy(
    input: &Tensor,
    target: &Tensor,
    weight: Option<&Tensor>,
    reduction: Reduction,
) -> Result<Tensor> {
    same_shape("binary_cross_entropy", input, target)?;
    let log_p = input.log()?.clamp(Some(-100.0), None)?;
    let log_q = input.rsub_scalar(1.0)?.log()?.clamp(Some(-100.0), None)?;
    let mut loss = target.mul(&log_p)?.add(&target.rsub_scalar(1.0)?.mul(&log_q)?)?.neg()?;
    if let Some(w) = weight {
        loss = loss.mul(w)?;
    }
    reduce("binary_cross_entropy", loss, reduction)
}

/// Binary cross-entropy of logits, computed stably; `pos_weight` (broadcast along the last
/// dim) weighs the positive term, as PyTorch's `pos_weight`.
pub fn binary_cross_entropy_with_logits(
    input: &Tensor,
    target: &Tensor,
    weight: Option<&Tensor>,
    pos_weight: Option<&Tensor>,
    reduction: Reduction,
) -> Result<Tensor> {
    same_shape("binary_cross_entropy_with_logits", input, target)?;
    // softplus(-x) = max(-x, 0) + log(exp(-max) + exp(-x - max))
    let max_val = input.neg()?.clamp(Some(0.0), None)?;
    let sp = max_val
        .neg()?
        .exp()?
        .add(&input.neg()?.sub(&max_val)?.exp()?)?
        .log()?
        .add(&max_val)?;
    let one_minus_t = target.rsub_scalar(1.0)?;
    let mut loss = match pos_weight {
        Some(pw) => {
            let log_weight = pw.sub_scalar(1.0)?.mul(target)?.add_scalar(1.0)?;
            one_minus_t.mul(input)?.add(&log_weight.mul(&sp)?)?
        }
        None => one_minus_t.mul(input)?.add(&sp)?,
    };
    if let Some(w) = weight {
        loss = loss.mul(w)?;
    }
    reduce("binary_cross_entropy_with_logits", loss, reduction)
}

/// Kullback-Leibler divergence with `input` given as log-probabilities (and `target` too when
/// `log_target`). Use `Reduction::BatchMean` for the true KL divergence per sample.
pub fn kl_div(input: &Tensor, target: &Tensor, reduction: Reduction, log_target: bool) -> Result<Tensor> {
    same_shape("kl_div", input, target)?;
    let loss = if log_target {
        target.exp()?.mul(&target.sub(input)?)?
    } else {
        // xlogy(t, t) - t * input, with 0 log 0 = 0
        let zero = target.eq_scalar(0.0)?;
        let safe = target.masked_fill(&zero, 1.0)?;
        let xlogy = target.mul(&safe.log()?)?;
        xlogy.sub(&target.mul(input)?)?
    };
    match reduction {
        Reduction::BatchMean => {
            let n = if input.ndim() == 0 { 1 } else { input.shape()[0] };
            loss.sum_all().div_scalar(n as f64)
        }
        r => reduce("kl_div", loss, r),
    }
}

/// `1 - cos(x1, x2)` where `y == 1`, `max(0, cos(x1, x2) - margin)` where `y == -1`.
pub fn cosine_embedding_loss(
    x1: &Tensor,
    x2: &Tensor,
    y: &Tensor,
    margin: f64,
    reduction: Reduction,
) -> Result<Tensor> {
    same_shape("cosine_embedding_loss", x1, x2)?;
    if x1.ndim() == 0 || x1.ndim() > 2 {
        return Err(Error::Shape {
            op: "cosine_embedding_loss",
            msg: format!("expected 1-D or 2-D inputs, got shape {:?}", x1.shape()),
        });
    }
    const EPSILON: f64 = 1e-12;
    let d: isize = if x1.ndim() == 2 { 1 } else { 0 };
    let prod = x1.mul(x2)?.sum(d, false)?;
    let m1 = x1.square()?.sum(d, false)?.add_scalar(EPSILON)?;
    let m2 = x2.square()?.sum(d, false)?.add_scalar(EPSILON)?;
    let cos = prod.div(&m1.mul(&m2)?.sqrt()?)?;
    let zeros = Tensor::zeros_like(&cos);
    let pos = Tensor::where_(&y.eq_scalar(1.0)?, &cos.rsub_scalar(1.0)?, &zeros)?;
    let neg = Tensor::where_(
        &y.eq_scalar(-1.0)?,
        &cos.sub_scalar(margin)?.clamp(Some(0.0), None)?,
        &zeros,
    )?;
    reduce("cosine_embedding_loss", pos.add(&neg)?, reduction)
}

/// `max(0, -y (x1 - x2) + margin)`.
pub fn margin_ranking_loss(x1: &Tensor, x2: &Tensor, y: &Tensor, margin: f64, reduction: Reduction) -> Result<Tensor> {
    let y = y.to_dtype(x1.dtype().to_float())?;
    let loss = y.neg()?.mul(&x1.sub(x2)?)?.add_scalar(margin)?.clamp(Some(0.0), None)?;
    reduce("margin_ranking_loss", loss, reduction)
}
