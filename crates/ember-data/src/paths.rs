//! Where datasets live: a `--data-dir` flag, else the `EMBER_DATA` environment variable, else
//! the copy shipped in the repository's `data/` folder (found relative to this crate at compile
//! time), else `./data`.

use crate::error::file_err;
use ember_core::Result;
use std::path::{Path, PathBuf};

/// Environment variable naming the data root.
pub const ENV_VAR: &str = "EMBER_DATA";

/// Where Debian's `dataset-fashion-mnist` package installs Fashion-MNIST.
pub const FASHION_MNIST_SYSTEM_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// The repository's `data/` folder as seen when this crate was compiled.
const IN_REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data");

/// The in-repo `data/` folder when it exists (a build from a clone), else `./data`.
pub fn default_data_root() -> PathBuf {
    let repo = Path::new(IN_REPO);
    if repo.is_dir() {
        // tidy the `crates/ember-data/../../` in messages
        repo.canonicalize().unwrap_or_else(|_| repo.to_path_buf())
    } else {
        PathBuf::from("data")
    }
}

/// The data root: `flag`, else `$EMBER_DATA`, else [`default_data_root`].
pub fn data_root(flag: Option<&Path>) -> PathBuf {
    if let Some(f) = flag {
        return f.to_path_buf();
    }
    match std::env::var_os(ENV_VAR) {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => default_data_root(),
    }
}

/// `root/sub` when that folder exists, else `root` itself (so a flag may name either the data
/// root or the dataset's own folder).
fn dataset_dir(root: &Path, sub: &str) -> PathBuf {
    let inner = root.join(sub);
    if inner.is_dir() {
        inner
    } else {
        root.to_path_buf()
    }
}

fn has_mnist_files(dir: &Path) -> bool {
    [
        "train-images-idx3-ubyte.gz",
        "train-images-idx3-ubyte",
        "train-images.idx3-ubyte",
    ]
    .iter()
    .any(|f| dir.join(f).is_file())
}

/// The MNIST folder under the data root (or the root itself), checked to hold the files.
pub fn mnist_dir(flag: Option<&Path>) -> Result<PathBuf> {
    let dir = dataset_dir(&data_root(flag), "mnist");
    if !has_mnist_files(&dir) {
        return Err(file_err(
            &dir,
            format!(
                "MNIST not found here (no train-images-idx3-ubyte[.gz]); pass --data-dir DIR with the four MNIST IDX files, \
                 or set {ENV_VAR}"
            ),
        ));
    }
    Ok(dir)
}

/// The Fashion-MNIST folder: `flag` (or its `fashion-mnist/` sub-folder), else
/// `$EMBER_DATA/fashion-mnist` when it exists, else [`FASHION_MNIST_SYSTEM_DIR`].
pub fn fashion_mnist_dir(flag: Option<&Path>) -> Result<PathBuf> {
    let dir = match flag {
        Some(f) => dataset_dir(f, "fashion-mnist"),
        None => match std::env::var_os(ENV_VAR).map(|v| PathBuf::from(v).join("fashion-mnist")) {
            Some(d) if d.is_dir() => d,
            _ => PathBuf::from(FASHION_MNIST_SYSTEM_DIR),
        },
    };
    if !has_mnist_files(&dir) {
        return Err(file_err(
            &dir,
            "Fashion-MNIST not found here; install it with `apt-get install dataset-fashion-mnist` \
             (it goes to /usr/share/datasets/fashion-mnist) or pass --data-dir DIR with the four Fashion-MNIST IDX files",
        ));
    }
    Ok(dir)
}

/// The Shakespeare corpus file under the data root.
pub fn shakespeare_file(flag: Option<&Path>) -> Result<PathBuf> {
    let root = data_root(flag);
    let dir = dataset_dir(&root, "shakespeare");
    let path = dir.join("shakespeare-42-plays.txt.gz");
    if path.is_file() {
        return Ok(path);
    }
    let plain = dir.join("shakespeare-42-plays.txt");
    if plain.is_file() {
        return Ok(plain);
    }
    Err(file_err(
        &dir,
        format!(
            "the Shakespeare corpus (shakespeare-42-plays.txt[.gz]) is not here; pass --data-dir DIR or set {ENV_VAR}"
        ),
    ))
}
