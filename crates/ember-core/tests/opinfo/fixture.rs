//! Reading the PyTorch reference fixtures written by `tools/gen_op_fixtures.py`.
//!
//! One safetensors file per op under `tests/fixtures/ops/`; the cases are listed in the
//! `__metadata__` entry `cases` (a JSON string), their tensors are named `<case>.in.<i>`,
//! `<case>.out[.<j>]`, `<case>.cot[.<j>]` and `<case>.grad.<i>`.

use ember_core::Tensor;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// One case of one op: inputs, kwargs, PyTorch's outputs and gradients.
pub struct Case {
    pub op: String,
    pub name: String,
    pub kwargs: Value,
    pub inputs: Vec<Tensor>,
    /// Which inputs PyTorch differentiated (float inputs of differentiable cases).
    pub diff: Vec<bool>,
    /// PyTorch's outputs (one for single-output ops).
    pub outputs: Vec<Tensor>,
    /// Cotangents of the outputs, present for the differentiable outputs when some input is
    /// differentiable (`sort`'s indices get none).
    pub cots: Vec<Option<Tensor>>,
    /// Gradient of `sum(out * cot)` per input (None for inputs not differentiated).
    pub grads: Vec<Option<Tensor>>,
    /// A bad input that PyTorch rejects: ember must return `Err`.
    pub error: bool,
    /// False when an input sits on a kink or jump of the op (finite differences do not apply).
    pub smooth: bool,
    /// True for ops that return several tensors (`split`, `chunk`).
    pub multi: bool,
}

impl Case {
    /// `op/case`, for messages.
    pub fn id(&self) -> String {
        format!("{}/{}", self.op, self.name)
    }
}

/// The fixture directory (`<repo>/tests/fixtures/ops`). Cargo sets `CARGO_MANIFEST_DIR` when it
/// runs a test too; the build-time path is the fallback, and setting the variable lets a test
/// binary built elsewhere (for the GPU machine) find the fixtures in another checkout.
pub fn dir() -> PathBuf {
    let crate_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    crate_dir.join("../../tests/fixtures/ops")
}

/// Every fixture file, keyed by op name. Panics on unreadable files: they are committed data.
pub fn load_all() -> BTreeMap<String, Vec<Case>> {
    let mut out = BTreeMap::new();
    let entries = std::fs::read_dir(dir()).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir().display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("safetensors") {
            continue;
        }
        let (op, cases) = load_file(&path);
        out.insert(op, cases);
    }
    out
}

fn load_file(path: &std::path::Path) -> (String, Vec<Case>) {
    let (mut tensors, meta) = ember_core::io::load_with_metadata(path).unwrap_or_else(|e| panic!("{e}"));
    let op = meta
        .get("op")
        .unwrap_or_else(|| panic!("{}: no `op` in metadata", path.display()))
        .clone();
    let listed: Value = serde_json::from_str(meta.get("cases").map(String::as_str).unwrap_or("[]"))
        .unwrap_or_else(|e| panic!("{}: bad `cases` metadata: {e}", path.display()));
    let mut take = |name: String| tensors.remove(&name);
    let cases = listed
        .as_array()
        .unwrap_or_else(|| panic!("{}: `cases` is not a list", path.display()))
        .iter()
        .map(|c| {
            let name = c["name"].as_str().expect("case name").to_string();
            let diff: Vec<bool> = c["diff"]
                .as_array()
                .expect("diff list")
                .iter()
                .map(|d| d.as_bool().unwrap())
                .collect();
            let n_in = diff.len();
            let n_out = c["n_out"].as_u64().map(|n| n as usize);
            let suffixes: Vec<String> = match n_out {
                Some(n) => (0..n).map(|j| format!(".{j}")).collect(),
                None => vec![String::new()],
            };
            let inputs = (0..n_in)
                .map(|i| take(format!("{name}.in.{i}")).unwrap_or_else(|| panic!("{op}/{name}: missing input {i}")))
                .collect();
            let error = c["error"].as_bool().unwrap_or(false);
            let outputs = if error {
                Vec::new()
            } else {
                suffixes
                    .iter()
                    .map(|s| take(format!("{name}.out{s}")).unwrap_or_else(|| panic!("{op}/{name}: missing out{s}")))
                    .collect()
            };
            let cots = suffixes.iter().map(|s| take(format!("{name}.cot{s}"))).collect();
            let grads = (0..n_in).map(|i| take(format!("{name}.grad.{i}"))).collect();
            Case {
                op: op.clone(),
                name,
                kwargs: c["kwargs"].clone(),
                inputs,
                diff,
                outputs,
                cots,
                grads,
                error,
                smooth: c["smooth"].as_bool().unwrap_or(true),
                multi: n_out.is_some(),
            }
        })
        .collect();
    assert!(
        tensors.is_empty(),
        "{}: tensors not listed in any case: {:?}",
        path.display(),
        tensors.keys().collect::<Vec<_>>()
    );
    (op, cases)
}
