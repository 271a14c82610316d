//! Checkpoint files: named tensors (model, optimizer, ...) plus JSON metadata (epoch, step,
//! RNG state, configuration) in one safetensors file, written atomically.
//!
//! Tensors are grouped by prefix (`model.fc1.weight`, `optim.state.0.exp_avg`), and the
//! metadata is one JSON object stored under the `ember.checkpoint` key of the safetensors
//! header, so `safetensors` tools in other languages can still read the weights.

use crate::history::io_err;
use ember_core::{Error, Result, Tensor};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Header key holding the JSON metadata.
pub const META_KEY: &str = "ember.checkpoint";

/// Version of the metadata layout this build writes and reads.
pub const FORMAT_VERSION: u64 = 1;

/// Named tensors and JSON metadata.
///
/// ```
/// use ember_core::Tensor;
/// use ember_train::Checkpoint;
/// let mut ck = Checkpoint::new();
/// ck.insert_tensors("model", vec![("w".to_string(), Tensor::ones(&[2]))]);
/// ck.set_meta("epoch", 3);
/// let path = std::env::temp_dir().join("ember-doc-ckpt.safetensors");
/// ck.save(&path).unwrap();
/// let back = Checkpoint::load(&path).unwrap();
/// assert_eq!(back.meta::<u64>("epoch").unwrap(), 3);
/// assert_eq!(back.tensors("model")["w"].shape(), &[2]);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Checkpoint {
    tensors: BTreeMap<String, Tensor>,
    meta: Map<String, Value>,
    /// Where it was loaded from (for error messages).
    source: Option<PathBuf>,
}

impl Checkpoint {
    pub fn new() -> Checkpoint {
        Checkpoint::default()
    }

    /// Add tensors under `prefix.` (an empty prefix adds them as named).
    pub fn insert_tensors(&mut self, prefix: &str, tensors: impl IntoIterator<Item = (String, Tensor)>) {
        for (name, t) in tensors {
            let key = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}.{name}")
            };
            self.tensors.insert(key, t.detach());
        }
    }

    /// The tensors stored under `prefix.`, with the prefix removed.
    pub fn tensors(&self, prefix: &str) -> BTreeMap<String, Tensor> {
        let p = format!("{prefix}.");
        self.tensors
            .iter()
            .filter_map(|(k, t)| k.strip_prefix(&p).map(|n| (n.to_string(), t.clone())))
            .collect()
    }

    /// Every tensor with its full name.
    pub fn all_tensors(&self) -> &BTreeMap<String, Tensor> {
        &self.tensors
    }

    pub fn set_meta(&mut self, key: &str, value: impl Serialize) {
        let v = serde_json::to_value(value).expect("checkpoint metadata serializes to JSON");
        self.meta.insert(key.to_string(), v);
    }

    pub fn meta_value(&self, key: &str) -> Option<&Value> {
        self.meta.get(key)
    }

    /// A metadata entry, decoded; errors (naming the file) when missing or of the wrong type.
    pub fn meta<T: DeserializeOwned>(&self, key: &str) -> Result<T> {
        let v = self
            .meta
            .get(key)
            .ok_or_else(|| self.err(format!("checkpoint has no {key:?} entry")))?;
        serde_json::from_value(v.clone()).map_err(|e| self.err(format!("checkpoint entry {key:?} is invalid: {e}")))
    }

    fn err(&self, msg: String) -> Error {
        match &self.source {
            Some(p) => io_err(p, msg),
            None => Error::Arg { op: "Checkpoint", msg },
        }
    }

    /// Write to `path` atomically (temp file, fsync, rename): an interrupted save leaves the
    /// previous checkpoint intact.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let mut meta = self.meta.clone();
        meta.insert("format_version".into(), Value::from(FORMAT_VERSION));
        let header = BTreeMap::from([(META_KEY.to_string(), Value::Object(meta).to_string())]);
        let tensors: Vec<(String, Tensor)> = self.tensors.iter().map(|(k, t)| (k.clone(), t.clone())).collect();
        ember_core::io::save_with_metadata(&tensors, Some(header), path)
    }

    /// Read a checkpoint; a missing, truncated or foreign file is an error naming it.
    pub fn load(path: impl AsRef<Path>) -> Result<Checkpoint> {
        let path = path.as_ref();
        if !path.is_file() {
            return Err(io_err(path, "no such checkpoint file"));
        }
        let (tensors, header) = ember_core::io::load_with_metadata(path).map_err(|e| match e {
            Error::Io { msg, .. } => io_err(path, format!("not a readable checkpoint ({msg})")),
            e => e,
        })?;
        let raw = header.get(META_KEY).ok_or_else(|| {
            io_err(path, "a safetensors file, but not an ember checkpoint (no ember.checkpoint metadata); for plain weights use Module::load")
        })?;
        let meta = match serde_json::from_str::<Value>(raw) {
            Ok(Value::Object(m)) => m,
            _ => return Err(io_err(path, "corrupt checkpoint metadata (not a JSON object)")),
        };
        let version = meta.get("format_version").and_then(Value::as_u64);
        if version != Some(FORMAT_VERSION) {
            return Err(io_err(
                path,
                format!("checkpoint format version {version:?} is not supported (this build reads version {FORMAT_VERSION})"),
            ));
        }
        Ok(Checkpoint {
            tensors,
            meta,
            source: Some(path.to_path_buf()),
        })
    }

    /// The file this checkpoint was loaded from.
    pub fn source(&self) -> Option<&Path> {
        self.source.as_deref()
    }
}
