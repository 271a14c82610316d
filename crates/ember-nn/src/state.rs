//! Loading named tensors into a module (`load_state_dict`), with PyTorch's key checks.

use crate::module::{walk, Entry, Visitor};
use ember_core::{Error, Result, Tensor};
use std::collections::BTreeMap;
use std::fmt;

/// The keys that did not line up in a non-strict load (both empty after a strict load).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Keys the model has but the state did not provide (left unchanged).
    pub missing: Vec<String>,
    /// Keys the state provided that the model does not have (ignored).
    pub unexpected: Vec<String>,
}

impl LoadReport {
    pub fn is_clean(&self) -> bool {
        self.missing.is_empty() && self.unexpected.is_empty()
    }
}

impl fmt::Display for LoadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let q = |v: &[String]| v.iter().map(|k| format!("\"{k}\"")).collect::<Vec<_>>().join(", ");
        let mut parts = Vec::new();
        if !self.missing.is_empty() {
            parts.push(format!("Missing key(s) in state_dict: {}.", q(&self.missing)));
        }
        if !self.unexpected.is_empty() {
            parts.push(format!("Unexpected key(s) in state_dict: {}.", q(&self.unexpected)));
        }
        write!(f, "{}", parts.join(" "))
    }
}

/// Copy `state` into the module whose `visit` is `root`. Everything is checked before anything
/// is copied, so an error leaves the model unchanged. The error message lists every missing,
/// unexpected and mis-shaped key at once, in PyTorch's wording.
pub fn load_state_dict(
    root: &dyn Fn(&mut dyn Visitor),
    state: &BTreeMap<String, Tensor>,
    strict: bool,
) -> Result<LoadReport> {
    let mut targets: Vec<(String, Tensor)> = Vec::new();
    walk(root, &mut |e| match e {
        Entry::Param(n, p) => targets.push((n.to_string(), p.tensor())),
        Entry::Buffer(n, b) => targets.push((n.to_string(), b.tensor())),
        Entry::Module(..) => {}
    });
    let mut report = LoadReport::default();
    let mut mismatched = Vec::new();
    for (name, t) in &targets {
        match state.get(name) {
            None => report.missing.push(name.clone()),
            Some(src) if src.shape() != t.shape() => mismatched.push(format!(
                "size mismatch for {name}: copying a param with shape {:?} from checkpoint, the shape in current model is {:?}.",
                src.shape(),
                t.shape()
            )),
            Some(src) if src.dtype().is_float() != t.dtype().is_float() => mismatched.push(format!(
                "dtype mismatch for {name}: cannot copy a {} tensor from checkpoint into a {} tensor.",
                src.dtype(),
                t.dtype()
            )),
            Some(_) => {}
        }
    }
    for k in state.keys() {
        if !targets.iter().any(|(n, _)| n == k) {
            report.unexpected.push(k.clone());
        }
    }
    if !mismatched.is_empty() || (strict && !report.is_clean()) {
        let mut msg = String::from("Error(s) in loading state_dict:");
        if strict && !report.is_clean() {
            msg.push_str(&format!("\n\t{report}"));
        }
        for m in &mismatched {
            msg.push_str(&format!("\n\t{m}"));
        }
        return Err(Error::Arg {
            op: "load_state_dict",
            msg,
        });
    }
    let _ng = ember_core::no_grad();
    for (name, t) in &targets {
        if let Some(src) = state.get(name) {
            if !src.same_tensor(t) {
                t.copy_(src)?;
            }
        }
    }
    Ok(report)
}
