//! Evaluation and prediction without an optimizer: loss, accuracy and confusion matrix of a
//! model over a loader, under `no_grad` and in eval mode.

use crate::metrics::{self, ConfusionMatrix, Mean};
use crate::source::BatchSource;
use ember_core::{DType, Device, Result, Tensor};
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

/// The device of the model's first parameter (the CPU for a model without parameters): where
/// the trainer and the evaluation helpers put each batch, so a loop written for the CPU runs
/// unchanged on a model moved to a GPU (`model.to_device(Device::cuda(0))`).
pub fn model_device(model: &dyn Module) -> Device {
    model.parameters().first().map_or(Device::Cpu, |p| p.device())
}

/// A batch `(x, y)` on `device` (no copy when it is there already).
pub fn batch_on(batch: (Tensor, Tensor), device: Device) -> Result<(Tensor, Tensor)> {
    let on = |t: Tensor| if t.device() == device { Ok(t) } else { t.to(device) };
    Ok((on(batch.0)?, on(batch.1)?))
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
        let device = model_device(model);
        for batch in source.batches(0, 0) {
            let (x, y) = batch_on(batch?, device)?;
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
        let device = model_device(model);
        for batch in source.batches(0, 0) {
            let (x, y) = batch_on(batch?, device)?;
            cm.update(&model.forward(&x)?, &y)?;
        }
        Ok(cm)
    })
}

/// The model's outputs for every batch of `source`, concatenated along the first dim.
pub fn predict(model: &dyn Module, source: &dyn BatchSource) -> Result<Tensor> {
    inference(model, || {
        let device = model_device(model);
        let outs = source
            .batches(0, 0)
            .map(|b| model.forward(&batch_on(b?, device)?.0))
            .collect::<Result<Vec<_>>>()?;
        Tensor::cat(&outs, 0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ember_nn::{Identity, Linear};

    #[test]
    fn batches_follow_the_model_device() {
        assert_eq!(model_device(&Linear::new(3, 2)), Device::Cpu);
        // no parameters: the CPU
        assert_eq!(model_device(&Identity), Device::Cpu);
        let (x, y) = (Tensor::ones(&[2, 3]), Tensor::zeros(&[2]));
        let (bx, by) = batch_on((x.clone(), y.clone()), Device::Cpu).unwrap();
        assert_eq!(bx.to_vec::<f32>().unwrap(), x.to_vec::<f32>().unwrap());
        assert_eq!(by.shape(), y.shape());
        match batch_on((x, y), Device::cuda(0)) {
            Ok((bx, _)) => assert_eq!(bx.device(), Device::cuda(0)),
            // no GPU here: an error naming the device, never a panic
            Err(e) => assert!(e.to_string().contains("cuda:0"), "{e}"),
        }
    }
}
