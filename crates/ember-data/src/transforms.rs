//! Sample transforms (to-tensor, normalize, random crop, horizontal flip, compose) and the
//! `Transformed` dataset that applies one to each input.
//!
//! Random transforms draw from a generator that `Transformed` seeds from (seed, epoch, sample
//! index): results do not depend on which worker thread builds a sample, a new epoch gives new
//! augmentations, and a resumed run sees exactly the augmentations an uninterrupted one would.

use crate::dataset::Dataset;
use crate::error::{arg_err, mix_seed};
use ember_core::{DType, Generator, Result, Tensor};
use std::sync::atomic::{AtomicU64, Ordering};

/// A function from one sample tensor to another, possibly random.
pub trait Transform: Send + Sync {
    fn apply(&self, x: Tensor, rng: &mut Generator) -> Result<Tensor>;
}

/// Any `Fn(Tensor, &mut Generator) -> Result<Tensor>` is a transform.
impl<F: Fn(Tensor, &mut Generator) -> Result<Tensor> + Send + Sync> Transform for F {
    fn apply(&self, x: Tensor, rng: &mut Generator) -> Result<Tensor> {
        self(x, rng)
    }
}

/// An 8-bit image `[H, W, C]` (or `[H, W]`) to an f32 `[C, H, W]` tensor in `[0, 1]`.
///
/// ```
/// use ember_core::{Generator, Tensor};
/// use ember_data::transforms::{ToTensor, Transform};
/// let img = Tensor::from_vec(vec![0u8, 255, 51, 102, 0, 0], &[1, 2, 3]).unwrap();
/// let x = ToTensor.apply(img, &mut Generator::new(0)).unwrap();
/// assert_eq!(x.shape(), &[3, 1, 2]);
/// assert_eq!(x.to_vec::<f32>().unwrap(), vec![0.0, 0.4, 1.0, 0.0, 0.2, 0.0]);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct ToTensor;

impl Transform for ToTensor {
    fn apply(&self, x: Tensor, _rng: &mut Generator) -> Result<Tensor> {
        let x = match x.ndim() {
            2 => x.unsqueeze(-1)?,
            3 => x,
            _ => {
                return Err(arg_err(
                    "ToTensor",
                    format!("expected an image of shape [H, W] or [H, W, C], got {:?}", x.shape()),
                ))
            }
        };
        let scale = if x.dtype() == DType::U8 { 255.0 } else { 1.0 };
        x.permute(&[2, 0, 1])?
            .contiguous()
            .to_dtype(DType::F32)?
            .div_scalar(scale)
    }
}

/// `(x - mean[c]) / std[c]` for each channel of a `[C, H, W]` tensor.
///
/// ```
/// use ember_core::{Generator, Tensor};
/// use ember_data::transforms::{Normalize, Transform};
/// let x = Tensor::ones(&[2, 1, 1]);
/// let y = Normalize::new(&[0.5, 1.0], &[0.5, 2.0]).unwrap().apply(x, &mut Generator::new(0)).unwrap();
/// assert_eq!(y.to_vec::<f32>().unwrap(), vec![1.0, 0.0]);
/// ```
#[derive(Debug, Clone)]
pub struct Normalize {
    mean: Tensor,
    std: Tensor,
}

impl Normalize {
    pub fn new(mean: &[f32], std: &[f32]) -> Result<Normalize> {
        if mean.len() != std.len() || mean.is_empty() {
            return Err(arg_err(
                "Normalize",
                format!(
                    "got {} means and {} stds; give one of each per channel",
                    mean.len(),
                    std.len()
                ),
            ));
        }
        if let Some(s) = std.iter().find(|s| s.is_nan() || **s <= 0.0) {
            return Err(arg_err(
                "Normalize",
                format!("standard deviations must be positive, got {s}"),
            ));
        }
        let c = mean.len();
        Ok(Normalize {
            mean: Tensor::from_vec(mean.to_vec(), &[c, 1, 1])?,
            std: Tensor::from_vec(std.to_vec(), &[c, 1, 1])?,
        })
    }
}

impl Transform for Normalize {
    fn apply(&self, x: Tensor, _rng: &mut Generator) -> Result<Tensor> {
        if x.ndim() != 3 || x.shape()[0] != self.mean.shape()[0] {
            return Err(arg_err(
                "Normalize",
                format!(
                    "expected a [C, H, W] tensor with C = {}, got shape {:?}",
                    self.mean.shape()[0],
                    x.shape()
                ),
            ));
        }
        x.sub(&self.mean)?.div(&self.std)
    }
}

/// Pad a `[C, H, W]` image with `padding` zeros on each side, then cut a random
/// `height x width` window (the classic CIFAR augmentation: `RandomCrop(32, padding=4)`).
///
/// ```
/// use ember_core::{Generator, Tensor};
/// use ember_data::transforms::{RandomCrop, Transform};
/// let x = Tensor::ones(&[3, 32, 32]);
/// let y = RandomCrop::new(32, 32, 4).apply(x, &mut Generator::new(1)).unwrap();
/// assert_eq!(y.shape(), &[3, 32, 32]);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct RandomCrop {
    height: usize,
    width: usize,
    padding: usize,
}

impl RandomCrop {
    pub fn new(height: usize, width: usize, padding: usize) -> RandomCrop {
        RandomCrop { height, width, padding }
    }
}

impl Transform for RandomCrop {
    fn apply(&self, x: Tensor, rng: &mut Generator) -> Result<Tensor> {
        let &[c, h, w] = x.shape() else {
            return Err(arg_err(
                "RandomCrop",
                format!("expected a [C, H, W] image, got shape {:?}", x.shape()),
            ));
        };
        let (ph, pw) = (h + 2 * self.padding, w + 2 * self.padding);
        if self.height > ph || self.width > pw {
            return Err(arg_err(
                "RandomCrop",
                format!(
                    "crop {}x{} is larger than the padded image {ph}x{pw}",
                    self.height, self.width
                ),
            ));
        }
        let top = rng.int_range(0, (ph - self.height + 1) as i64) as usize;
        let left = rng.int_range(0, (pw - self.width + 1) as i64) as usize;
        let src = x.to_vec::<f32>()?;
        let mut out = vec![0f32; c * self.height * self.width];
        for ch in 0..c {
            for i in 0..self.height {
                // row in the original image (padding rows stay zero)
                let Some(r) = (top + i).checked_sub(self.padding).filter(|&r| r < h) else {
                    continue;
                };
                for j in 0..self.width {
                    if let Some(col) = (left + j).checked_sub(self.padding).filter(|&col| col < w) {
                        out[(ch * self.height + i) * self.width + j] = src[(ch * h + r) * w + col];
                    }
                }
            }
        }
        Tensor::from_vec(out, &[c, self.height, self.width])?.to_dtype(x.dtype())
    }
}

/// Mirror a `[..., W]` image left-right with probability `p`.
///
/// ```
/// use ember_core::{Generator, Tensor};
/// use ember_data::transforms::{RandomHorizontalFlip, Transform};
/// let x = Tensor::new(&[[1.0f32, 2.0, 3.0]]);
/// let y = RandomHorizontalFlip::new(1.0).apply(x, &mut Generator::new(0)).unwrap();
/// assert_eq!(y.to_vec::<f32>().unwrap(), vec![3.0, 2.0, 1.0]);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct RandomHorizontalFlip {
    p: f64,
}

impl RandomHorizontalFlip {
    pub fn new(p: f64) -> RandomHorizontalFlip {
        RandomHorizontalFlip { p }
    }
}

impl Transform for RandomHorizontalFlip {
    fn apply(&self, x: Tensor, rng: &mut Generator) -> Result<Tensor> {
        if x.ndim() == 0 {
            return Err(arg_err(
                "RandomHorizontalFlip",
                "expected an image with at least one dimension",
            ));
        }
        if rng.uniform() >= self.p {
            return Ok(x);
        }
        let w = x.shape()[x.ndim() - 1];
        let mut v = x.to_vec::<f32>()?;
        v.chunks_mut(w.max(1)).for_each(<[f32]>::reverse);
        Tensor::from_vec(v, x.shape())?.to_dtype(x.dtype())
    }
}

/// Several transforms applied in order.
///
/// ```
/// use ember_core::{Generator, Tensor};
/// use ember_data::transforms::{Compose, Normalize, ToTensor, Transform};
/// let t = Compose::new().then(ToTensor).then(Normalize::new(&[0.5], &[0.5]).unwrap());
/// let x = t.apply(Tensor::from_vec(vec![255u8; 4], &[2, 2]).unwrap(), &mut Generator::new(0)).unwrap();
/// assert_eq!(x.to_vec::<f32>().unwrap(), vec![1.0; 4]);
/// ```
#[derive(Default)]
pub struct Compose {
    steps: Vec<Box<dyn Transform>>,
}

impl Compose {
    pub fn new() -> Compose {
        Compose::default()
    }

    pub fn then(mut self, t: impl Transform + 'static) -> Compose {
        self.steps.push(Box::new(t));
        self
    }
}

impl Transform for Compose {
    fn apply(&self, mut x: Tensor, rng: &mut Generator) -> Result<Tensor> {
        for t in &self.steps {
            x = t.apply(x, rng)?;
        }
        Ok(x)
    }
}

/// A dataset of `(input, target)` samples whose inputs go through a transform.
///
/// ```
/// use ember_core::Tensor;
/// use ember_data::transforms::{RandomHorizontalFlip, Transformed};
/// use ember_data::{Dataset, TensorDataset};
/// let ds = TensorDataset::new(Tensor::new(&[[1.0f32, 2.0]]), Tensor::zeros(&[1])).unwrap();
/// let flipped = Transformed::new(ds, RandomHorizontalFlip::new(1.0), 0);
/// assert_eq!(flipped.get(0).unwrap().0.to_vec::<f32>().unwrap(), vec![2.0, 1.0]);
/// ```
pub struct Transformed<D> {
    dataset: D,
    transform: Box<dyn Transform>,
    seed: u64,
    epoch: AtomicU64,
}

impl<D> Transformed<D> {
    pub fn new(dataset: D, transform: impl Transform + 'static, seed: u64) -> Transformed<D> {
        Transformed {
            dataset,
            transform: Box::new(transform),
            seed,
            epoch: AtomicU64::new(0),
        }
    }
}

impl<D, T> Dataset for Transformed<D>
where
    D: Dataset<Item = (Tensor, T)>,
    T: Send + 'static,
{
    type Item = (Tensor, T);

    fn len(&self) -> usize {
        self.dataset.len()
    }

    fn get(&self, index: usize) -> Result<(Tensor, T)> {
        let (x, y) = self.dataset.get(index)?;
        let mut rng = Generator::new(mix_seed(self.seed, &[self.epoch.load(Ordering::Relaxed), index as u64]));
        Ok((self.transform.apply(x, &mut rng)?, y))
    }

    fn set_epoch(&self, epoch: u64) {
        self.epoch.store(epoch, Ordering::Relaxed);
        self.dataset.set_epoch(epoch);
    }
}
