//! Readers for dataset file formats. Every reader validates what it reads and reports a bad
//! file as an error naming the file (never a panic).

pub mod cifar;
pub mod csv;
pub mod idx;
pub mod image_folder;
pub mod mnist;
pub mod text;

use crate::error::file_err;
use ember_core::Result;
use std::io::Read;
use std::path::Path;

/// The bytes of a file, decompressed when it is gzip (detected by its magic bytes, not its
/// name).
pub(crate) fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(|e| file_err(path, format!("cannot read: {e}")))?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::with_capacity(raw.len() * 4);
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| file_err(path, format!("corrupt or truncated gzip data: {e}")))?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// The first of `dir/name` for each name that exists, or an error listing what was tried.
pub(crate) fn find_file(dir: &Path, what: &str, names: &[String]) -> Result<std::path::PathBuf> {
    names
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
        .ok_or_else(|| file_err(dir, format!("no {what} file here (looked for {})", names.join(", "))))
}
