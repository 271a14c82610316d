//! The IDX format of MNIST and Fashion-MNIST: a 4-byte magic number (two zero bytes, an
//! element-type code, the number of dims), the dims as big-endian u32, then the data.

use super::read_bytes;
use crate::error::file_err;
use ember_core::Result;
use std::path::Path;

/// An IDX file of unsigned bytes (the only element type MNIST-style datasets use).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxArray {
    pub dims: Vec<usize>,
    pub data: Vec<u8>,
}

/// Read an IDX file, raw or gzip-compressed. Errors (naming the file) on a bad magic number,
/// an element type other than unsigned byte, a truncated file or trailing bytes.
///
/// ```
/// let dir = std::env::temp_dir().join("ember-doc-idx");
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("labels-idx1-ubyte");
/// std::fs::write(&path, [0, 0, 8, 1, 0, 0, 0, 3, 7, 2, 1]).unwrap();
/// let a = ember_data::read_idx(&path).unwrap();
/// assert_eq!((a.dims, a.data), (vec![3], vec![7, 2, 1]));
/// std::fs::write(&path, [0, 0, 8, 1, 0, 0, 0, 5, 7]).unwrap();
/// assert!(ember_data::read_idx(&path).unwrap_err().to_string().contains("truncated"));
/// ```
pub fn read_idx(path: impl AsRef<Path>) -> Result<IdxArray> {
    let path = path.as_ref();
    let bytes = read_bytes(path)?;
    parse_idx(&bytes).map_err(|msg| file_err(path, msg))
}

fn parse_idx(bytes: &[u8]) -> std::result::Result<IdxArray, String> {
    let Some(magic) = bytes.get(..4) else {
        return Err(format!(
            "not an IDX file: only {} bytes, too short for the 4-byte magic number",
            bytes.len()
        ));
    };
    if magic[0] != 0 || magic[1] != 0 {
        return Err(format!(
            "not an IDX file: bad magic number {:02x} {:02x} {:02x} {:02x} (expected 00 00 <type> <ndim>)",
            magic[0], magic[1], magic[2], magic[3]
        ));
    }
    if magic[2] != 0x08 {
        let kind = match magic[2] {
            0x09 => "signed byte",
            0x0B => "i16",
            0x0C => "i32",
            0x0D => "f32",
            0x0E => "f64",
            _ => "unknown",
        };
        return Err(format!(
            "unsupported IDX element type 0x{:02x} ({kind}); only unsigned bytes (0x08) are supported",
            magic[2]
        ));
    }
    let ndim = magic[3] as usize;
    if ndim == 0 {
        return Err("bad IDX header: zero dimensions".into());
    }
    let header = 4 + 4 * ndim;
    let Some(dim_bytes) = bytes.get(4..header) else {
        return Err(format!(
            "truncated: the header needs {header} bytes for {ndim} dimensions, the file has {}",
            bytes.len()
        ));
    };
    let dims: Vec<usize> = dim_bytes
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let expected = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or("bad IDX header: dims overflow")?;
    let have = bytes.len() - header;
    let shape = dims.iter().map(usize::to_string).collect::<Vec<_>>().join("x");
    if have < expected {
        return Err(format!(
            "truncated: the header promises {shape} = {expected} bytes of data, but only {have} are present"
        ));
    }
    if have > expected {
        return Err(format!(
            "{} unexpected trailing bytes after the {shape} = {expected} bytes of data",
            have - expected
        ));
    }
    Ok(IdxArray {
        dims,
        data: bytes[header..].to_vec(),
    })
}
