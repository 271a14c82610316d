//! `ImageClassDataset`: labelled 8-bit images held in memory (MNIST, CIFAR), with a batch
//! fast path that gathers and normalizes a whole batch in one pass.

use crate::collate::Collate;
use crate::dataset::{check_index, Dataset};
use crate::error::arg_err;
use ember_core::{Result, Tensor};
use std::sync::Arc;

/// Images stored as `u8` in `[N, C, H, W]` order with one class label each.
///
/// Samples are `(image, label)`: an f32 `[C, H, W]` tensor computed as
/// `(pixel / 255 - mean[c]) / std[c]` (mean 0, std 1 unless [`normalize`](Self::normalize)
/// says otherwise) and an i64 scalar. `get_batch` fills the whole `[B, C, H, W]` batch with one
/// table lookup per pixel instead of building and stacking `B` tensors.
///
/// ```
/// use ember_data::{Dataset, ImageClassDataset};
/// let pixels = vec![0u8, 255, 255, 0, /* image 1 */ 51, 51, 51, 51];
/// let ds = ImageClassDataset::new(pixels, vec![1, 0], [1, 2, 2], vec!["a".into(), "b".into()]).unwrap();
/// let (x, y) = ds.get_batch(&[1, 0]).unwrap();
/// assert_eq!(x.shape(), &[2, 1, 2, 2]);
/// assert_eq!(x.to_vec::<f32>().unwrap()[..5], [0.2, 0.2, 0.2, 0.2, 0.0]);
/// assert_eq!(y.to_vec::<i64>().unwrap(), vec![0, 1]);
/// ```
#[derive(Clone)]
pub struct ImageClassDataset {
    pixels: Arc<Vec<u8>>,
    labels: Arc<Vec<i64>>,
    chw: [usize; 3],
    classes: Arc<Vec<String>>,
    mean: Vec<f32>,
    std: Vec<f32>,
    /// Per channel, the normalized value of each of the 256 pixel values.
    lut: Arc<Vec<[f32; 256]>>,
}

impl ImageClassDataset {
    /// `pixels` holds `labels.len()` images of shape `chw`; labels must index `classes`.
    pub fn new(pixels: Vec<u8>, labels: Vec<i64>, chw: [usize; 3], classes: Vec<String>) -> Result<ImageClassDataset> {
        const OP: &str = "ImageClassDataset";
        let per = chw.iter().product::<usize>();
        if per == 0 || pixels.len() != labels.len() * per {
            return Err(arg_err(
                OP,
                format!(
                    "{} pixels do not make {} images of shape {chw:?} ({} pixels each)",
                    pixels.len(),
                    labels.len(),
                    per
                ),
            ));
        }
        if let Some((i, l)) = labels
            .iter()
            .enumerate()
            .find(|(_, &l)| l < 0 || l as usize >= classes.len())
        {
            return Err(arg_err(
                OP,
                format!("label {l} of image {i} is not one of the {} classes", classes.len()),
            ));
        }
        let c = chw[0];
        let mut ds = ImageClassDataset {
            pixels: Arc::new(pixels),
            labels: Arc::new(labels),
            chw,
            classes: Arc::new(classes),
            mean: vec![0.0; c],
            std: vec![1.0; c],
            lut: Arc::new(Vec::new()),
        };
        ds.rebuild_lut();
        Ok(ds)
    }

    /// Normalize each channel with its own mean and standard deviation (of `pixel / 255`),
    /// like `transforms.Normalize(mean, std)` after `ToTensor()`.
    pub fn normalize(mut self, mean: &[f32], std: &[f32]) -> Result<ImageClassDataset> {
        let c = self.chw[0];
        if mean.len() != c || std.len() != c {
            return Err(arg_err(
                "ImageClassDataset::normalize",
                format!(
                    "expected {c} means and stds (one per channel), got {} and {}",
                    mean.len(),
                    std.len()
                ),
            ));
        }
        if let Some(s) = std.iter().find(|s| s.is_nan() || **s <= 0.0 || s.is_infinite()) {
            return Err(arg_err(
                "ImageClassDataset::normalize",
                format!("standard deviations must be positive, got {s}"),
            ));
        }
        self.mean = mean.to_vec();
        self.std = std.to_vec();
        self.rebuild_lut();
        Ok(self)
    }

    fn rebuild_lut(&mut self) {
        let lut = self
            .mean
            .iter()
            .zip(&self.std)
            .map(|(&m, &s)| std::array::from_fn(|p| (p as f32 / 255.0 - m) / s))
            .collect();
        self.lut = Arc::new(lut);
    }

    /// `[C, H, W]` of each image.
    pub fn image_shape(&self) -> [usize; 3] {
        self.chw
    }

    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    pub fn num_classes(&self) -> usize {
        self.classes.len()
    }

    pub fn mean(&self) -> &[f32] {
        &self.mean
    }

    pub fn std(&self) -> &[f32] {
        &self.std
    }

    /// The raw pixels of image `i` (`C*H*W` bytes), or `None` out of range.
    pub fn raw_image(&self, i: usize) -> Option<&[u8]> {
        let per = self.chw.iter().product::<usize>();
        self.pixels.get(i * per..(i + 1) * per)
    }

    pub fn labels(&self) -> &[i64] {
        &self.labels
    }

    fn push_image(&self, i: usize, out: &mut Vec<f32>) {
        let plane = self.chw[1] * self.chw[2];
        let start = i * plane * self.chw[0];
        for (c, lut) in self.lut.iter().enumerate() {
            let src = &self.pixels[start + c * plane..start + (c + 1) * plane];
            out.extend(src.iter().map(|&p| lut[p as usize]));
        }
    }
}

impl Dataset for ImageClassDataset {
    type Item = (Tensor, Tensor);

    fn len(&self) -> usize {
        self.labels.len()
    }

    fn get(&self, index: usize) -> Result<(Tensor, Tensor)> {
        check_index("ImageClassDataset", index, self.len())?;
        let mut x = Vec::with_capacity(self.chw.iter().product());
        self.push_image(index, &mut x);
        Ok((Tensor::from_vec(x, &self.chw)?, Tensor::scalar(self.labels[index])))
    }

    fn get_batch(&self, indices: &[usize]) -> Result<(Tensor, Tensor)>
    where
        (Tensor, Tensor): Collate,
    {
        let per: usize = self.chw.iter().product();
        let mut x = Vec::with_capacity(indices.len() * per);
        let mut y = Vec::with_capacity(indices.len());
        for &i in indices {
            check_index("ImageClassDataset", i, self.len())?;
            self.push_image(i, &mut x);
            y.push(self.labels[i]);
        }
        let b = indices.len();
        Ok((
            Tensor::from_vec(x, &[b, self.chw[0], self.chw[1], self.chw[2]])?,
            Tensor::from_vec(y, &[b])?,
        ))
    }
}
