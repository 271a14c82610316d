//! Evaluation and prediction without an optimizer: loss, accuracy and confusion matrix of a
//! model over a loader, under `no_grad` and in eval mode.

use crate::metrics::{self, ConfusionMatrix, Mean};
use crate::source::BatchSource;
use ember_core::{DType, Result, Tensor};
use ember_nn::Module;

/// A loss function: `(model output, target) -> scalar loss`.
pub type LossFn<'a> = Box<dyn Fn(&Tensor, &Tensor) -> Result<Tensor> + 'a>;

/// Loss and accuracy over a whole loader.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EvalResult {
    pub loss: f64,
    /// Fraction of correct argmax predictions (None when targets are not class indices).
    pub accuracy: Option<f64>,
    pub samples: u64,
}

/// Whether `out` and `target` look like (logits, class indices), so accuracy makes sense.
pub(crate) fn is_classification(out: &Tensor, target: &Tensor) -> bool {
    matches!(target.dtype(), DType::I64 | DType::I32 | DType::U8)
        && out.ndim() == target.ndim() + 1
        && out.numel() == target.numel() * out.shape().last().copied().unwrap_or(0)
}

/// Runs `f` with the model in eval mode and gradients off, then restores the mode.
pub(crate) fn inference<T>(model: &dyn Module, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let was_training = model.is_training();
    model.eval();
    let out = {
        let _ng = ember_core::no_grad();
        f()
    };
    model.set_training(was_training);
    out
}

/// Mean loss (weighted by batch size) and accuracy of `model` over one pass of `source`.
pub fn evaluate(
    model: &dyn Module,
    loss_fn: &dyn Fn(&Tensor, &Tensor) -> Result<Tensor>,
    source: &dyn BatchSource,
) -> Result<EvalResult> {
    inference(model, || {
        let mut loss = Mean::default();
        let (mut correct, mut seen, mut classification) = (0u64, 0u64, true);
        for batch in source.batches(0, 0) {
            let (x, y) = batch?;
            let out = model.forward(&x)?;
            let n = y.shape().first().copied().unwrap_or(1);
            loss.add(loss_fn(&out, &y)?.item()?, n);
            classification &= is_classification(&out, &y);
            if classification {
                correct += metrics::correct(&out, &y)? as u64;
                seen += y.numel() as u64;
            }
        }
        let accuracy = (classification && seen > 0).then(|| correct as f64 / seen as f64);
        Ok(EvalResult {
            loss: loss.value(),
            accuracy,
            samples: loss.count,
        })
    })
}

/// The confusion matrix of `model`'s argmax predictions over `source`.
pub fn confusion_matrix(model: &dyn Module, source: &dyn BatchSource, classes: usize) -> Result<ConfusionMatrix> {
    inference(model, || {
        let mut cm = ConfusionMatrix::new(classes);
        for batch in source.batches(0, 0) {
            let (x, y) = batch?;
            cm.update(&model.forward(&x)?, &y)?;
        }
        Ok(cm)
    })
}

/// The model's outputs for every batch of `source`, concatenated along the first dim.
pub fn predict(model: &dyn Module, source: &dyn BatchSource) -> Result<Tensor> {
    inference(model, || {
        let outs = source
            .batches(0, 0)
            .map(|b| model.forward(&b?.0))
            .collect::<Result<Vec<_>>>()?;
        Tensor::cat(&outs, 0)
    })
}
