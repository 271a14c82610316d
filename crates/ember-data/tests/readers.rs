//! Dataset readers on real (in-repo MNIST) and generated files, including corrupt ones: every
//! bad file must give an error that names it, never a panic.

use ember_core::Tensor;
use ember_data::readers::image_folder::load_image;
use ember_data::transforms::{Compose, Normalize, RandomCrop, RandomHorizontalFlip, Transformed};
use ember_data::{
    load_cifar10, load_cifar100, load_mnist, paths, read_idx, read_text, CharDataset, Cifar100Labels, CsvDataset,
    CsvOptions, DataLoader, Dataset, ImageFolder, ImageFolderOptions, Split,
};
use std::io::Write;
use std::path::{Path, PathBuf};

/// A fresh, empty scratch folder for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ember-data-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn idx_bytes(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        v.extend_from_slice(&d.to_be_bytes());
    }
    v.extend_from_slice(data);
    v
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// A tiny MNIST-layout folder with `n_img` images and `n_lab` labels.
fn fake_mnist(dir: &Path, n_img: u32, n_lab: u32) {
    let imgs = idx_bytes(&[n_img, 2, 2], &vec![128u8; (n_img * 4) as usize]);
    let labs = idx_bytes(&[n_lab], &vec![3u8; n_lab as usize]);
    for split in ["train", "t10k"] {
        std::fs::write(dir.join(format!("{split}-images-idx3-ubyte.gz")), gzip(&imgs)).unwrap();
        std::fs::write(dir.join(format!("{split}-labels-idx1-ubyte")), &labs).unwrap();
    }
}

fn err_text<T>(r: ember_core::Result<T>) -> String {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn real_mnist_from_the_repo() {
    let dir = paths::mnist_dir(None).unwrap();
    let test = load_mnist(&dir, Split::Test).unwrap();
    assert_eq!(test.len(), 10_000);
    assert_eq!(test.image_shape(), [1, 28, 28]);
    assert_eq!(&test.labels()[..10], &[7, 2, 1, 0, 4, 1, 4, 9, 5, 9]);
    let (x, y) = DataLoader::new(test, 64).epoch(0).next().unwrap().unwrap();
    assert_eq!(x.shape(), &[64, 1, 28, 28]);
    assert_eq!(y.shape(), &[64]);
    // normalized: background pixels are (0 - 0.1307) / 0.3081
    let v = x.to_vec::<f32>().unwrap();
    assert!((v[0] + 0.1307 / 0.3081).abs() < 1e-6);
    let mean = v.iter().sum::<f32>() / v.len() as f32;
    assert!(mean.abs() < 0.2, "mean of a normalized batch {mean}");
}

#[test]
fn fake_mnist_loads_and_batches_match_samples() {
    let dir = scratch("mnist-ok");
    fake_mnist(&dir, 5, 5);
    let ds = load_mnist(&dir, Split::Train).unwrap();
    assert_eq!(ds.len(), 5);
    let (xb, yb) = ds.get_batch(&[4, 1]).unwrap();
    let (x1, y1) = ds.get(1).unwrap();
    assert_eq!(
        xb.select(0, 1).unwrap().to_vec::<f32>().unwrap(),
        x1.to_vec::<f32>().unwrap()
    );
    assert_eq!(yb.to_vec::<i64>().unwrap()[1], y1.item().unwrap() as i64);
    assert!(ds.get(5).is_err());
    assert!(ds.get_batch(&[0, 9]).is_err());
}

#[test]
fn idx_bad_magic_names_the_file() {
    let dir = scratch("idx-magic");
    let path = dir.join("train-images-idx3-ubyte");
    std::fs::write(&path, b"PK\x03\x04 this is a zip, not IDX").unwrap();
    let msg = err_text(read_idx(&path));
    assert!(
        msg.contains("train-images-idx3-ubyte") && msg.contains("magic"),
        "{msg}"
    );
    std::fs::write(&path, [0u8, 0, 0x0D, 1, 0, 0, 0, 1, 0, 0, 0, 0]).unwrap();
    assert!(err_text(read_idx(&path)).contains("unsupported IDX element type"));
    std::fs::write(&path, [0u8, 0]).unwrap();
    assert!(err_text(read_idx(&path)).contains("too short"));
}

#[test]
fn idx_truncated_raw_and_gzip() {
    let dir = scratch("idx-trunc");
    let full = idx_bytes(&[10, 28, 28], &[7u8; 7840]);
    let raw = dir.join("a-idx3-ubyte");
    std::fs::write(&raw, &full[..5000]).unwrap();
    let msg = err_text(read_idx(&raw));
    assert!(msg.contains("a-idx3-ubyte") && msg.contains("truncated"), "{msg}");
    std::fs::write(&raw, &full[..10]).unwrap(); // cut inside the header
    assert!(err_text(read_idx(&raw)).contains("truncated"));
    let gz = dir.join("b-idx3-ubyte.gz");
    let z = gzip(&full);
    std::fs::write(&gz, &z[..z.len() / 2]).unwrap();
    let msg = err_text(read_idx(&gz));
    assert!(msg.contains("b-idx3-ubyte.gz") && msg.contains("gzip"), "{msg}");
    let mut extra = full.clone();
    extra.push(1);
    std::fs::write(&raw, extra).unwrap();
    assert!(err_text(read_idx(&raw)).contains("trailing"));
}

#[test]
fn mnist_count_mismatch_and_missing_files() {
    let dir = scratch("mnist-mismatch");
    fake_mnist(&dir, 5, 4);
    let msg = err_text(load_mnist(&dir, Split::Test));
    assert!(
        msg.contains("t10k-labels-idx1-ubyte") && msg.contains("count mismatch"),
        "{msg}"
    );
    let empty = scratch("mnist-missing");
    let msg = err_text(load_mnist(&empty, Split::Train));
    assert!(msg.contains("train-images-idx3-ubyte"), "{msg}");
    assert!(err_text(paths::mnist_dir(Some(&empty))).contains("--data-dir"));
    let msg = err_text(paths::fashion_mnist_dir(Some(&empty)));
    assert!(
        msg.contains("apt-get install dataset-fashion-mnist") && msg.contains("--data-dir"),
        "{msg}"
    );
}

fn cifar_record(label_bytes: &[u8], fill: u8) -> Vec<u8> {
    let mut r = label_bytes.to_vec();
    r.extend(std::iter::repeat_n(fill, 3072));
    r
}

#[test]
fn cifar10_and_100_binary_batches() {
    let dir = scratch("cifar10");
    for i in 1..=5u8 {
        let recs: Vec<u8> = (0..3).flat_map(|k| cifar_record(&[(i + k) % 10], i)).collect();
        std::fs::write(dir.join(format!("data_batch_{i}.bin")), recs).unwrap();
    }
    std::fs::write(dir.join("test_batch.bin"), cifar_record(&[9], 255)).unwrap();
    let train = load_cifar10(&dir, Split::Train).unwrap();
    assert_eq!(train.len(), 15);
    assert_eq!(train.labels()[..3], [1, 2, 3]);
    assert_eq!(train.classes()[9], "truck");
    let test = load_cifar10(&dir, Split::Test).unwrap();
    let (x, y) = test.get(0).unwrap();
    assert_eq!(x.shape(), &[3, 32, 32]);
    assert_eq!(y.item().unwrap(), 9.0);
    // truncated batch and a bad label both name the file
    std::fs::write(dir.join("test_batch.bin"), &cifar_record(&[1], 0)[..3000]).unwrap();
    let msg = err_text(load_cifar10(&dir, Split::Test));
    assert!(msg.contains("test_batch.bin") && msg.contains("3073"), "{msg}");
    std::fs::write(dir.join("test_batch.bin"), cifar_record(&[10], 0)).unwrap();
    assert!(err_text(load_cifar10(&dir, Split::Test)).contains("label 10"));
    std::fs::remove_file(dir.join("data_batch_3.bin")).unwrap();
    assert!(err_text(load_cifar10(&dir, Split::Train)).contains("data_batch_3.bin"));

    let dir = scratch("cifar100");
    let recs: Vec<u8> = [cifar_record(&[4, 57], 1), cifar_record(&[19, 99], 2)].concat();
    std::fs::write(dir.join("train.bin"), recs).unwrap();
    let fine = load_cifar100(&dir, Split::Train, Cifar100Labels::Fine).unwrap();
    assert_eq!(fine.labels(), &[57, 99]);
    assert_eq!(fine.num_classes(), 100);
    let coarse = load_cifar100(&dir, Split::Train, Cifar100Labels::Coarse).unwrap();
    assert_eq!(coarse.labels(), &[4, 19]);
    assert!(load_cifar100(&dir, Split::Test, Cifar100Labels::Fine).is_err());
}

#[test]
fn csv_and_tsv_tables() {
    let dir = scratch("csv");
    let path = dir.join("iris.csv");
    std::fs::write(
        &path,
        "sepal,petal,\"name\",label\r\n5.1,1.4,setosa,0\r\n6.2,4.5,\"versi,color\",1\r\n\r\n",
    )
    .unwrap();
    let opts = CsvOptions {
        targets: vec!["label".into()],
        ignore: vec!["name".into()],
        ..Default::default()
    };
    let ds = CsvDataset::from_path(&path, &opts).unwrap();
    assert_eq!(ds.len(), 2);
    assert_eq!(ds.feature_names(), &["sepal", "petal"]);
    let (x, y) = ds.get_batch(&[1, 0]).unwrap();
    assert_eq!(x.to_vec::<f32>().unwrap(), vec![6.2, 4.5, 5.1, 1.4]);
    assert_eq!(y.to_vec::<f32>().unwrap(), vec![1.0, 0.0]);
    assert_eq!(ds.features().unwrap().shape(), &[2, 2]);

    let tsv = dir.join("t.tsv");
    std::fs::write(&tsv, "a\tb\tc\n1\t2\t3\n4\t5\t6\n").unwrap();
    let ds = CsvDataset::from_path(&tsv, &CsvOptions::targets(&["c", "a"])).unwrap();
    let (x, y) = ds.get(1).unwrap();
    assert_eq!(x.to_vec::<f32>().unwrap(), vec![5.0]);
    assert_eq!(y.to_vec::<f32>().unwrap(), vec![6.0, 4.0]);

    let bad = dir.join("bad.csv");
    std::fs::write(&bad, "a,b,c\n1,2,3\n4,x5,6\n").unwrap();
    let msg = err_text(CsvDataset::from_path(&bad, &CsvOptions::default()));
    assert!(
        msg.contains("bad.csv") && msg.contains("line 3") && msg.contains("column 2 (b)") && msg.contains("x5"),
        "{msg}"
    );
    std::fs::write(&bad, "a,b,c\n1,2\n").unwrap();
    let msg = err_text(CsvDataset::from_path(&bad, &CsvOptions::default()));
    assert!(msg.contains("line 2") && msg.contains("expected 3 fields"), "{msg}");
    std::fs::write(&bad, "a,b\n1,\n").unwrap();
    assert!(err_text(CsvDataset::from_path(&bad, &CsvOptions::default())).contains("empty value"));
    assert!(err_text(CsvDataset::from_path(&bad, &CsvOptions::targets(&["zzz"]))).contains("zzz"));
    std::fs::write(&bad, "").unwrap();
    assert!(err_text(CsvDataset::from_path(&bad, &CsvOptions::default())).contains("header"));
}

#[test]
fn image_folder_png_and_jpeg() {
    let root = scratch("imgfolder");
    for (class, shade) in [("cat", 10u8), ("dog", 200u8)] {
        std::fs::create_dir_all(root.join(class)).unwrap();
        for k in 0..2u8 {
            let img = image::RgbImage::from_pixel(4, 3, image::Rgb([shade, shade + k, 0]));
            img.save(root.join(class).join(format!("{k}.png"))).unwrap();
        }
    }
    image::RgbImage::from_pixel(4, 3, image::Rgb([200, 200, 200]))
        .save(root.join("dog").join("z.jpg"))
        .unwrap();
    std::fs::write(root.join("dog").join("notes.txt"), "not an image").unwrap();
    let ds = ImageFolder::new(&root, ImageFolderOptions::default()).unwrap();
    assert_eq!(ds.classes(), &["cat", "dog"]);
    assert_eq!(ds.len(), 5);
    let (x, y) = ds.get_batch(&[0, 4]).unwrap();
    assert_eq!(x.shape(), &[2, 3, 3, 4]);
    assert_eq!(y.to_vec::<i64>().unwrap(), vec![0, 1]);
    let px = x.to_vec::<f32>().unwrap();
    assert!((px[0] - 10.0 / 255.0).abs() < 1e-6);
    assert!((px[36] - 200.0 / 255.0).abs() < 0.03, "jpeg pixel {}", px[36]); // lossy

    // mixed sizes: a clear error, or resize
    image::RgbImage::new(8, 8)
        .save(root.join("cat").join("big.png"))
        .unwrap();
    let ds = ImageFolder::new(&root, ImageFolderOptions::default()).unwrap();
    let msg = err_text(ds.get_batch(&[0, 2]));
    assert!(msg.contains("big.png") && msg.contains("size"), "{msg}");
    let resized = ImageFolder::new(
        &root,
        ImageFolderOptions {
            grayscale: true,
            size: Some((5, 5)),
        },
    )
    .unwrap();
    assert_eq!(resized.get_batch(&[0, 1, 2]).unwrap().0.shape(), &[3, 1, 5, 5]);

    // a corrupt file names itself; an empty class folder is an error
    std::fs::write(root.join("cat").join("broken.png"), b"\x89PNG\r\n\x1a\nnope").unwrap();
    let ds = ImageFolder::new(&root, ImageFolderOptions::default()).unwrap();
    let broken = ds
        .samples()
        .iter()
        .position(|(p, _)| p.ends_with("broken.png"))
        .unwrap();
    assert!(err_text(ds.get(broken)).contains("broken.png"));
    assert!(load_image(root.join("nope.png"), ImageFolderOptions::default()).is_err());
    std::fs::create_dir_all(root.join("empty")).unwrap();
    assert!(err_text(ImageFolder::new(&root, ImageFolderOptions::default())).contains("empty"));
}

#[test]
fn shakespeare_char_dataset() {
    let text = read_text(paths::shakespeare_file(None).unwrap()).unwrap();
    assert_eq!(text.len(), 5_057_198);
    let ds = CharDataset::new(&text[..100_000], 64).unwrap();
    assert!(ds.vocab().len() > 50);
    let (x, y) = ds.get_batch(&[0, 10]).unwrap();
    assert_eq!(x.shape(), &[2, 64]);
    let (xs, ys) = (x.to_vec::<i64>().unwrap(), y.to_vec::<i64>().unwrap());
    assert_eq!(xs[1..64], ys[..63]);
    assert_eq!(ds.vocab().decode(&xs[..9]).unwrap(), "ALL'S WEL");
    assert!(ds.vocab().decode(&[1000]).is_err());
    assert!(CharDataset::new("ab", 2).is_err());
}

#[test]
fn transforms_are_reproducible_per_epoch() {
    let x = Tensor::arange(0.0, 144.0, 1.0)
        .unwrap()
        .to_dtype(ember_core::DType::F32)
        .unwrap()
        .reshape(&[2, 2, 6, 6])
        .unwrap();
    let base = ember_data::TensorDataset::new(x, Tensor::zeros(&[2])).unwrap();
    let aug = Compose::new()
        .then(RandomCrop::new(6, 6, 2))
        .then(RandomHorizontalFlip::new(0.5))
        .then(Normalize::new(&[1.0, 2.0], &[2.0, 2.0]).unwrap());
    let ds = Transformed::new(base, aug, 77);
    let draw = |epoch| {
        ds.set_epoch(epoch);
        ds.get(1).unwrap().0.to_vec::<f32>().unwrap()
    };
    let (a, b, a2) = (draw(0), draw(1), draw(0));
    assert_eq!(a, a2);
    assert_ne!(a, b);
    assert_eq!(a.len(), 72); // [2, 6, 6]
    let ds = std::sync::Arc::new(ds);
    let l1: Vec<Vec<f32>> = DataLoader::new(ds.clone(), 2)
        .num_workers(2)
        .epoch(3)
        .map(|b| b.unwrap().0.to_vec().unwrap())
        .collect();
    let l2: Vec<Vec<f32>> = DataLoader::new(ds, 2)
        .num_workers(0)
        .epoch(3)
        .map(|b| b.unwrap().0.to_vec().unwrap())
        .collect();
    assert_eq!(l1, l2);
}
