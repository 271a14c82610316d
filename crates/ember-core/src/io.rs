//! Saving and loading named tensors as safetensors files (memory-mapped on load).
//!
//! Writes are atomic: the file is written to a temporary name beside the target, synced, and
//! renamed over it, so a crash mid-write never leaves a truncated file.

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::storage::CpuStorage;
use crate::tensor::Tensor;
use safetensors::tensor::{Dtype as StDtype, SafeTensors, TensorView};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

fn io_err(path: &Path, msg: impl Into<String>) -> Error {
    Error::Io {
        path: path.display().to_string(),
        msg: msg.into(),
    }
}

fn to_st(d: DType) -> StDtype {
    match d {
        DType::Bool => StDtype::BOOL,
        DType::U8 => StDtype::U8,
        DType::I32 => StDtype::I32,
        DType::I64 => StDtype::I64,
        DType::F16 => StDtype::F16,
        DType::BF16 => StDtype::BF16,
        DType::F32 => StDtype::F32,
        DType::F64 => StDtype::F64,
    }
}

fn from_st(d: StDtype) -> Option<DType> {
    Some(match d {
        StDtype::BOOL => DType::Bool,
        StDtype::U8 => DType::U8,
        StDtype::I32 => DType::I32,
        StDtype::I64 => DType::I64,
        StDtype::F16 => DType::F16,
        StDtype::BF16 => DType::BF16,
        StDtype::F32 => DType::F32,
        StDtype::F64 => DType::F64,
        _ => return None,
    })
}

/// Serialize named tensors to safetensors bytes (with optional string metadata).
pub fn to_bytes(tensors: &[(String, Tensor)], metadata: Option<BTreeMap<String, String>>) -> Result<Vec<u8>> {
    // GPU tensors are copied to the host first (the file holds host bytes)
    let contiguous: Vec<(String, Tensor)> = tensors
        .iter()
        .map(|(n, t)| Ok((n.clone(), t.detach().to(crate::Device::Cpu)?.contiguous_data())))
        .collect::<Result<_>>()?;
    let guards: Vec<_> = contiguous.iter().map(|(_, t)| t.read()).collect();
    let mut views = Vec::with_capacity(contiguous.len());
    for ((name, t), g) in contiguous.iter().zip(&guards) {
        let bytes = g.as_bytes();
        let es = t.dtype().size_in_bytes();
        let data = &bytes[t.offset() * es..(t.offset() + t.numel()) * es];
        let view = TensorView::new(to_st(t.dtype()), t.shape().to_vec(), data).map_err(|e| Error::Arg {
            op: "save",
            msg: format!("tensor {name}: {e}"),
        })?;
        views.push((name.clone(), view));
    }
    let meta = metadata.map(|m| m.into_iter().collect());
    safetensors::tensor::serialize(views, &meta).map_err(|e| Error::Arg {
        op: "save",
        msg: e.to_string(),
    })
}

/// Write bytes to `path` atomically (temp file + fsync + rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| io_err(dir, format!("cannot create directory: {e}")))?;
    let file_name = path.file_name().ok_or_else(|| io_err(path, "not a file path"))?;
    let tmp = dir.join(format!(".{}.tmp{}", file_name.to_string_lossy(), std::process::id()));
    let mut f = std::fs::File::create(&tmp).map_err(|e| io_err(&tmp, format!("cannot create: {e}")))?;
    f.write_all(bytes)
        .map_err(|e| io_err(&tmp, format!("write failed: {e}")))?;
    f.sync_all().map_err(|e| io_err(&tmp, format!("fsync failed: {e}")))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| io_err(path, format!("rename failed: {e}")))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all(); // make the rename itself durable
    }
    Ok(())
}

/// Save named tensors to a safetensors file, atomically.
///
/// ```
/// use ember_core::{save, load, Tensor};
/// let dir = std::env::temp_dir().join("ember-doc-save");
/// let path = dir.join("t.safetensors");
/// save(&[("w".to_string(), Tensor::ones(&[2, 3]))], &path).unwrap();
/// let back = load(&path).unwrap();
/// assert_eq!(back["w"].shape(), &[2, 3]);
/// ```
pub fn save(tensors: &[(String, Tensor)], path: impl AsRef<Path>) -> Result<()> {
    save_with_metadata(tensors, None, path)
}

/// Save with string metadata in the safetensors header.
pub fn save_with_metadata(
    tensors: &[(String, Tensor)],
    metadata: Option<BTreeMap<String, String>>,
    path: impl AsRef<Path>,
) -> Result<()> {
    let bytes = to_bytes(tensors, metadata)?;
    write_atomic(path.as_ref(), &bytes)
}

/// Load every tensor of a safetensors file (memory-mapped while reading).
pub fn load(path: impl AsRef<Path>) -> Result<BTreeMap<String, Tensor>> {
    Ok(load_with_metadata(path)?.0)
}

/// Load tensors and the header's metadata.
pub fn load_with_metadata(path: impl AsRef<Path>) -> Result<(BTreeMap<String, Tensor>, BTreeMap<String, String>)> {
    let path = path.as_ref();
    let file = std::fs::File::open(path).map_err(|e| io_err(path, format!("cannot open: {e}")))?;
    // SAFETY: the map is read-only and dropped before returning; tensors copy their bytes out.
    let mmap = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| io_err(path, format!("cannot map: {e}")))?;
    from_bytes(&mmap).map_err(|e| match e {
        Error::Io { msg, .. } => io_err(path, msg),
        e => e,
    })
}

/// Parse safetensors bytes.
pub fn from_bytes(bytes: &[u8]) -> Result<(BTreeMap<String, Tensor>, BTreeMap<String, String>)> {
    let bad = |msg: String| Error::Io {
        path: "<bytes>".into(),
        msg,
    };
    let (_, header) =
        SafeTensors::read_metadata(bytes).map_err(|e| bad(format!("not a valid safetensors file: {e}")))?;
    let st = SafeTensors::deserialize(bytes).map_err(|e| bad(format!("not a valid safetensors file: {e}")))?;
    let mut out = BTreeMap::new();
    for (name, view) in st.tensors() {
        let dtype =
            from_st(view.dtype()).ok_or_else(|| bad(format!("tensor {name}: unsupported dtype {:?}", view.dtype())))?;
        let data = CpuStorage::from_bytes(dtype, view.data())
            .ok_or_else(|| bad(format!("tensor {name}: data length does not fit dtype {dtype}")))?;
        let shape = view.shape().to_vec();
        if data.len() != shape.iter().product::<usize>() {
            return Err(bad(format!("tensor {name}: shape {shape:?} does not match its data")));
        }
        out.insert(name, Tensor::from_storage(data, &shape));
    }
    let meta = header
        .metadata()
        .clone()
        .map(|m| m.into_iter().collect())
        .unwrap_or_default();
    Ok((out, meta))
}
