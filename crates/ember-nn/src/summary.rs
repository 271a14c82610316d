//! `Module::summary`: run a sample through the model and tabulate every layer's output shape
//! and parameter count (like torchinfo's `summary`).
//!
//! While a summary runs, [`Module::call`](crate::Module::call) records each module's output
//! shape in a thread-local table keyed by the module's address and type. Several zero-sized
//! modules (a boxed `ReLU`) can share an address, so each key keeps its outputs in call order
//! and the table hands them out in the walk order, which for containers is the call order.

use crate::module::{walk, Entry, Visitor};
use ember_core::{Result, Tensor};
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};

type Key = (usize, &'static str);

thread_local! {
    static RECORDER: RefCell<Option<HashMap<Key, VecDeque<Vec<usize>>>>> = const { RefCell::new(None) };
}

/// Record a module's output (a no-op unless a summary is running on this thread).
pub(crate) fn record_output(addr: usize, type_name: &'static str, y: &Tensor) {
    RECORDER.with(|r| {
        if let Some(m) = r.borrow_mut().as_mut() {
            m.entry((addr, type_name)).or_default().push_back(y.shape().to_vec());
        }
    });
}

/// Restores the recorder when dropped (also when the forward pass errors or panics).
struct Recording;
impl Drop for Recording {
    fn drop(&mut self) {
        RECORDER.with(|r| *r.borrow_mut() = None);
    }
}

fn fmt_count(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub(crate) fn summary(
    root: &dyn Fn(&mut dyn Visitor),
    forward: &dyn Fn(&Tensor) -> Result<Tensor>,
    root_name: &str,
    sample: &Tensor,
) -> Result<String> {
    RECORDER.with(|r| *r.borrow_mut() = Some(HashMap::new()));
    let guard = Recording;
    let out = {
        let _ng = ember_core::no_grad();
        forward(sample)?
    };
    let mut table = RECORDER.with(|r| r.borrow_mut().take()).unwrap_or_default();
    drop(guard);

    let mut rows: Vec<(String, String, String)> = Vec::new();
    rows.push((root_name.to_string(), format!("{:?}", out.shape()), String::new()));
    let (mut total, mut trainable) = (0usize, 0usize);
    let mut seen: Vec<Tensor> = Vec::new();
    walk(root, &mut |e| match e {
        Entry::Module(name, m, depth) => {
            let key = m.address();
            let shape = table
                .get_mut(&(key, m.static_type_name()))
                .and_then(|q| if q.len() > 1 { q.pop_front() } else { q.front().cloned() })
                .map(|s| format!("{s:?}"))
                .unwrap_or_else(|| "--".into());
            let label = format!("{}{} ({})", "  ".repeat(depth), name, m.type_name());
            rows.push((label, shape, fmt_count(m.num_parameters())));
        }
        Entry::Param(_, p) => {
            let t = p.tensor();
            if !seen.iter().any(|u| u.same_tensor(&t)) {
                total += t.numel();
                if t.requires_grad() {
                    trainable += t.numel();
                }
                seen.push(t);
            }
        }
        Entry::Buffer(..) => {}
    });
    rows[0].2 = fmt_count(total);
    let w0 = rows.iter().map(|r| r.0.len()).max().unwrap_or(0).max(12) + 2;
    let w1 = rows.iter().map(|r| r.1.len()).max().unwrap_or(0).max(12) + 2;
    let w2 = rows.iter().map(|r| r.2.len()).max().unwrap_or(0).max(7);
    let width = w0 + w1 + w2;
    let mut s = format!(
        "{:<w0$}{:<w1$}{:>w2$}\n{}\n",
        "Layer (type)",
        "Output Shape",
        "Param #",
        "=".repeat(width)
    );
    for (a, b, c) in &rows {
        s.push_str(&format!("{a:<w0$}{b:<w1$}{c:>w2$}\n"));
    }
    s.push_str(&format!(
        "{}\nTotal params: {}\nTrainable params: {}\nNon-trainable params: {}\n",
        "=".repeat(width),
        fmt_count(total),
        fmt_count(trainable),
        fmt_count(total - trainable)
    ));
    Ok(s)
}
