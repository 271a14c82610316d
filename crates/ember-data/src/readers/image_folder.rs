//! Image folders: `root/<class name>/<image>.png|jpg|jpeg`, one folder per class (the layout
//! of torchvision's `ImageFolder`).

use crate::collate::Collate;
use crate::dataset::{check_index, Dataset};
use crate::error::file_err;
use ember_core::{Result, Tensor};
use std::path::{Path, PathBuf};

/// How images are decoded.
#[derive(Debug, Clone, Copy, Default)]
pub struct ImageFolderOptions {
    /// Decode to one grey channel instead of three RGB channels.
    pub grayscale: bool,
    /// Resize every image to `(width, height)` (bilinear); needed to batch images of mixed
    /// sizes.
    pub size: Option<(u32, u32)>,
}

/// Decode one PNG or JPEG file into an f32 `[C, H, W]` tensor with values in `[0, 1]`.
///
/// ```
/// use ember_data::readers::image_folder::load_image;
/// use ember_data::ImageFolderOptions;
/// let path = std::env::temp_dir().join("ember-doc-load-image.png");
/// image::GrayImage::from_pixel(3, 2, image::Luma([255])).save(&path).unwrap();
/// let opts = ImageFolderOptions { grayscale: true, size: None };
/// let x = load_image(&path, opts).unwrap();
/// assert_eq!(x.shape(), &[1, 2, 3]);
/// assert_eq!(x.to_vec::<f32>().unwrap(), vec![1.0; 6]);
/// ```
pub fn load_image(path: impl AsRef<Path>, options: ImageFolderOptions) -> Result<Tensor> {
    let path = path.as_ref();
    let (data, shape) = decode(path, options)?;
    Tensor::from_vec(data, &shape)
}

fn decode(path: &Path, options: ImageFolderOptions) -> Result<(Vec<f32>, [usize; 3])> {
    let reader = image::ImageReader::open(path)
        .map_err(|e| file_err(path, format!("cannot open image: {e}")))?
        .with_guessed_format()
        .map_err(|e| file_err(path, format!("cannot read image: {e}")))?;
    let mut img = reader
        .decode()
        .map_err(|e| file_err(path, format!("cannot decode image: {e}")))?;
    if let Some((w, h)) = options.size {
        if (img.width(), img.height()) != (w, h) {
            img = img.resize_exact(w, h, image::imageops::FilterType::Triangle);
        }
    }
    let (w, h) = (img.width() as usize, img.height() as usize);
    let (c, hwc) = if options.grayscale {
        (1, img.to_luma8().into_raw())
    } else {
        (3, img.to_rgb8().into_raw())
    };
    // HWC bytes -> CHW floats
    let mut out = vec![0f32; c * h * w];
    for (p, px) in hwc.chunks_exact(c).enumerate() {
        for (ch, &v) in px.iter().enumerate() {
            out[ch * h * w + p] = v as f32 / 255.0;
        }
    }
    Ok((out, [c, h, w]))
}

fn is_image(path: &Path) -> bool {
    path.is_file()
        && path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| ["png", "jpg", "jpeg"].contains(&e.to_ascii_lowercase().as_str()))
}

/// Labelled images found under one folder per class; images are decoded when a sample is
/// read. Classes are the sub-folder names in sorted order; samples are
/// `([C, H, W] f32 in [0, 1], i64 class index)`.
pub struct ImageFolder {
    root: PathBuf,
    classes: Vec<String>,
    samples: Vec<(PathBuf, i64)>,
    options: ImageFolderOptions,
}

impl ImageFolder {
    /// Scan `root`; errors when it is missing, has no class folder, or a class folder holds
    /// no PNG/JPEG file.
    pub fn new(root: impl AsRef<Path>, options: ImageFolderOptions) -> Result<ImageFolder> {
        let root = root.as_ref().to_path_buf();
        let list = |dir: &Path| -> Result<Vec<PathBuf>> {
            let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
                .map_err(|e| file_err(dir, format!("cannot list folder: {e}")))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect();
            v.sort();
            Ok(v)
        };
        let class_dirs: Vec<PathBuf> = list(&root)?.into_iter().filter(|p| p.is_dir()).collect();
        if class_dirs.is_empty() {
            return Err(file_err(
                &root,
                "no class folders found (expected root/<class>/<image>.png)",
            ));
        }
        let mut classes = Vec::new();
        let mut samples = Vec::new();
        for (label, dir) in class_dirs.iter().enumerate() {
            let images: Vec<PathBuf> = list(dir)?.into_iter().filter(|p| is_image(p)).collect();
            if images.is_empty() {
                return Err(file_err(dir, "class folder holds no .png, .jpg or .jpeg file"));
            }
            classes.push(
                dir.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            );
            samples.extend(images.into_iter().map(|p| (p, label as i64)));
        }
        Ok(ImageFolder {
            root,
            classes,
            samples,
            options,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// (file, class index) of every sample.
    pub fn samples(&self) -> &[(PathBuf, i64)] {
        &self.samples
    }
}

impl Dataset for ImageFolder {
    type Item = (Tensor, Tensor);

    fn len(&self) -> usize {
        self.samples.len()
    }

    fn get(&self, index: usize) -> Result<(Tensor, Tensor)> {
        check_index("ImageFolder", index, self.len())?;
        let (path, label) = &self.samples[index];
        Ok((load_image(path, self.options)?, Tensor::scalar(*label)))
    }

    /// Decodes straight into one batch buffer; images of different sizes are an error that
    /// names two of the files.
    fn get_batch(&self, indices: &[usize]) -> Result<(Tensor, Tensor)>
    where
        (Tensor, Tensor): Collate,
    {
        let mut data = Vec::new();
        let mut labels = Vec::with_capacity(indices.len());
        let mut first: Option<(&Path, [usize; 3])> = None;
        for &i in indices {
            check_index("ImageFolder", i, self.len())?;
            let (path, label) = &self.samples[i];
            let (x, shape) = decode(path, self.options)?;
            match first {
                None => first = Some((path, shape)),
                Some((p0, s0)) if s0 != shape => {
                    return Err(file_err(
                        path,
                        format!(
                            "image of shape {shape:?} cannot be batched with {} of shape {s0:?}; set ImageFolderOptions::size to resize",
                            p0.display()
                        ),
                    ))
                }
                Some(_) => {}
            }
            data.extend_from_slice(&x);
            labels.push(*label);
        }
        let [c, h, w] = first.map_or([0, 0, 0], |(_, s)| s);
        Ok((
            Tensor::from_vec(data, &[indices.len(), c, h, w])?,
            Tensor::from_vec(labels, &[indices.len()])?,
        ))
    }
}
