//! The `Module` trait: a layer or a model, its named parameters and buffers, train/eval mode,
//! and its state as named tensors.
//!
//! A module lists what it owns through [`Module::visit`]: its own parameters and buffers and
//! its child modules, each under the name PyTorch would give the attribute. Every hierarchical
//! feature (parameter names such as `layer1.0.conv1.weight`, `state_dict`, `train()`,
//! `to_dtype`, the summary) is derived from that one method, so a user module only writes
//! `forward` and `visit`:
//!
//! ```
//! use ember_core::{Result, Tensor};
//! use ember_nn::{Linear, Module, Visitor};
//!
//! struct Mlp {
//!     fc1: Linear,
//!     fc2: Linear,
//! }
//!
//! impl Module for Mlp {
//!     fn forward(&self, x: &Tensor) -> Result<Tensor> {
//!         self.fc2.call(&self.fc1.call(x)?.relu()?)
//!     }
//!     fn visit(&self, v: &mut dyn Visitor) {
//!         v.module("fc1", &self.fc1);
//!         v.module("fc2", &self.fc2);
//!     }
//! }
//!
//! let m = Mlp { fc1: Linear::new(4, 8), fc2: Linear::new(8, 2) };
//! let names: Vec<String> = m.named_parameters().into_iter().map(|(n, _)| n).collect();
//! assert_eq!(names, ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]);
//! assert_eq!(m.forward(&Tensor::ones(&[3, 4])).unwrap().shape(), &[3, 2]);
//! ```

use crate::parameter::{Buffer, Parameter};
use crate::state::{self, LoadReport};
use ember_core::{DType, Device, Error, Result, Tensor};
use std::collections::BTreeMap;
use std::path::Path;

/// Receives what a module owns, in registration order.
pub trait Visitor {
    fn param(&mut self, name: &str, p: &Parameter);
    fn buffer(&mut self, name: &str, b: &Buffer);
    fn module(&mut self, name: &str, m: &dyn Module);
}

/// One entry of a recursive walk, with its full dotted name.
pub enum Entry<'a> {
    Param(&'a str, &'a Parameter),
    Buffer(&'a str, &'a Buffer),
    /// A module and its depth below the root (direct children have depth 1).
    Module(&'a str, &'a dyn Module, usize),
}

/// Walk every parameter, buffer and descendant module of the module whose `visit` is `root`,
/// with full dotted names, in PyTorch's order: a module's own parameters, then its own
/// buffers, then each child (announced by an [`Entry::Module`] before its contents).
pub fn walk(root: &dyn Fn(&mut dyn Visitor), f: &mut dyn FnMut(Entry<'_>)) {
    walk_at(root, "", 0, f)
}

/// Replace every parameter and buffer for which `convert` returns a new tensor (computed without
/// recording); parameters keep their `requires_grad`. The first error is returned.
fn replace_tensors(root: &dyn Fn(&mut dyn Visitor), convert: &dyn Fn(&Tensor) -> Option<Result<Tensor>>) -> Result<()> {
    let mut res = Ok(());
    walk(root, &mut |e| {
        let r = match e {
            Entry::Param(_, p) => {
                let t = p.tensor();
                let rg = t.requires_grad();
                match ember_core::autograd::no_grad_scope(|| convert(&t)) {
                    Some(c) => c.and_then(|c| {
                        p.set(c)?;
                        p.tensor().set_requires_grad(rg)
                    }),
                    None => Ok(()),
                }
            }
            Entry::Buffer(_, b) => match ember_core::autograd::no_grad_scope(|| convert(&b.tensor())) {
                Some(c) => c.map(|c| b.set(c)),
                None => Ok(()),
            },
            Entry::Module(..) => Ok(()),
        };
        if res.is_ok() {
            res = r;
        }
    });
    res
}

#[derive(Clone, Copy, PartialEq)]
enum Pass {
    Params,
    Buffers,
    Modules,
}

fn walk_at(visit: &dyn Fn(&mut dyn Visitor), prefix: &str, depth: usize, f: &mut dyn FnMut(Entry<'_>)) {
    struct P<'x> {
        pass: Pass,
        prefix: &'x str,
        depth: usize,
        f: &'x mut dyn FnMut(Entry<'_>),
    }
    impl P<'_> {
        fn full(&self, name: &str) -> String {
            if self.prefix.is_empty() {
                name.to_string()
            } else {
                format!("{}.{name}", self.prefix)
            }
        }
    }
    impl Visitor for P<'_> {
        fn param(&mut self, name: &str, p: &Parameter) {
            if self.pass == Pass::Params {
                let n = self.full(name);
                (self.f)(Entry::Param(&n, p));
            }
        }
        fn buffer(&mut self, name: &str, b: &Buffer) {
            if self.pass == Pass::Buffers {
                let n = self.full(name);
                (self.f)(Entry::Buffer(&n, b));
            }
        }
        fn module(&mut self, name: &str, m: &dyn Module) {
            if self.pass == Pass::Modules {
                let n = self.full(name);
                (self.f)(Entry::Module(&n, m, self.depth + 1));
                walk_at(&|v| m.visit(v), &n, self.depth + 1, &mut *self.f);
            }
        }
    }
    for pass in [Pass::Params, Pass::Buffers, Pass::Modules] {
        visit(&mut P {
            pass,
            prefix,
            depth,
            f: &mut *f,
        });
    }
}

/// A layer or a model (PyTorch's `nn.Module`).
///
/// Implement [`forward`](Module::forward) and, for modules that own parameters, buffers or
/// children, [`visit`](Module::visit). Everything else is provided. Modules are `Send + Sync`
/// and every method takes `&self`, so a model can be shared as `&dyn Module` or
/// `Box<dyn Module>` with a trainer and an optimizer (which holds handles to the parameters).
pub trait Module: Send + Sync {
    /// Compute the output for one input.
    fn forward(&self, x: &Tensor) -> Result<Tensor>;

    /// List this module's own parameters, buffers and child modules (not grandchildren).
    fn visit(&self, _v: &mut dyn Visitor) {}

    /// Set this module's own training flag (modules whose behaviour depends on it override
    /// this and [`own_training`](Module::own_training)); use [`train`](Module::train) /
    /// [`eval`](Module::eval) to set a whole model.
    fn set_own_training(&self, _training: bool) {}

    /// This module's own training flag, if it has one.
    fn own_training(&self) -> Option<bool> {
        None
    }

    /// The layer's name in summaries and printouts (`"Linear"`).
    fn type_name(&self) -> String {
        let full = std::any::type_name::<Self>();
        let base = full.split('<').next().unwrap_or(full);
        base.rsplit("::").next().unwrap_or(base).to_string()
    }

    /// The Rust type's full name (a key that tells modules at the same address apart).
    fn static_type_name(&self) -> &'static str {
        std::any::type_name::<Self>()
    }

    /// The address that identifies this module in a summary (a box forwards its content's).
    #[doc(hidden)]
    fn address(&self) -> usize {
        (self as *const Self).cast::<()>() as usize
    }

    /// The constructor arguments, for printouts (`"in_features=4, out_features=2, bias=true"`).
    fn extra_repr(&self) -> String {
        String::new()
    }

    /// Run `forward` the way `module(x)` does in PyTorch: modules call their children through
    /// `call`, so a summary can see each layer's output.
    fn call(&self, x: &Tensor) -> Result<Tensor> {
        let y = self.forward(x)?;
        crate::summary::record_output(self.address(), self.static_type_name(), &y);
        Ok(y)
    }

    // ------------------------------------------------------------------ provided: naming

    /// Every parameter with its dotted name (`"layer1.0.conv1.weight"`), in PyTorch's order.
    /// A parameter shared by two layers is listed once, under its first name.
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        let mut out: Vec<(String, Tensor)> = Vec::new();
        walk(&|v| self.visit(v), &mut |e| {
            if let Entry::Param(n, p) = e {
                let t = p.tensor();
                if !out.iter().any(|(_, u)| u.same_tensor(&t)) {
                    out.push((n.to_string(), t));
                }
            }
        });
        out
    }

    /// Every parameter (the handles an optimizer updates in place).
    fn parameters(&self) -> Vec<Tensor> {
        self.named_parameters().into_iter().map(|(_, t)| t).collect()
    }

    /// Every buffer with its dotted name.
    fn named_buffers(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        walk(&|v| self.visit(v), &mut |e| {
            if let Entry::Buffer(n, b) = e {
                out.push((n.to_string(), b.tensor()));
            }
        });
        out
    }

    /// Every descendant module with its dotted name (depth first; the root is not included).
    fn named_modules(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        walk(&|v| self.visit(v), &mut |e| {
            if let Entry::Module(n, m, _) = e {
                out.push((n.to_string(), m.type_name()));
            }
        });
        out
    }

    /// Total number of parameter elements.
    fn num_parameters(&self) -> usize {
        self.parameters().iter().map(|t| t.numel()).sum()
    }

    /// Number of parameter elements that require grad (PyTorch's trainable count).
    fn num_trainable_parameters(&self) -> usize {
        self.parameters()
            .iter()
            .filter(|t| t.requires_grad())
            .map(|t| t.numel())
            .sum()
    }

    // ------------------------------------------------------------------ provided: mode

    /// Set training mode on this module and every descendant (Dropout drops, BatchNorm uses
    /// batch statistics and updates its running ones).
    fn set_training(&self, training: bool) {
        self.set_own_training(training);
        walk(&|v| self.visit(v), &mut |e| {
            if let Entry::Module(_, m, _) = e {
                m.set_own_training(training);
            }
        });
    }

    /// `set_training(true)`.
    fn train(&self) {
        self.set_training(true);
    }

    /// `set_training(false)`: inference behaviour for Dropout and BatchNorm.
    fn eval(&self) {
        self.set_training(false);
    }

    /// Whether the model is in training mode (the flag of the first module that has one;
    /// `true` for models without any, as PyTorch's default).
    fn is_training(&self) -> bool {
        if let Some(t) = self.own_training() {
            return t;
        }
        let mut found = None;
        walk(&|v| self.visit(v), &mut |e| {
            if let (None, Entry::Module(_, m, _)) = (found, e) {
                found = m.own_training();
            }
        });
        found.unwrap_or(true)
    }

    /// Clear the gradients of every parameter (`zero_grad(set_to_none=True)`).
    fn zero_grad(&self) {
        for p in self.parameters() {
            p.zero_grad();
        }
    }

    /// Freeze or unfreeze every parameter.
    fn requires_grad_(&self, requires_grad: bool) -> Result<()> {
        for p in self.parameters() {
            p.set_requires_grad(requires_grad)?;
        }
        Ok(())
    }

    // ------------------------------------------------------------------ provided: state

    /// Parameters and buffers by name, detached (sharing storage with the model), in the same
    /// order and with the same keys as PyTorch's `state_dict()`.
    fn state_dict(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        walk_state(&|v| self.visit(v), &mut |n, t| out.push((n.to_string(), t.detach())));
        out
    }

    /// Copy tensors into the parameters and buffers of the same names (casting dtypes).
    ///
    /// `strict` requires the keys to match exactly; otherwise missing and unexpected keys are
    /// reported in the returned [`LoadReport`] and skipped. A shape mismatch is always an
    /// error. Nothing is changed when an error is returned. See [`state::load_state_dict`].
    fn load_state_dict(&self, state: &BTreeMap<String, Tensor>, strict: bool) -> Result<LoadReport> {
        state::load_state_dict(&|v| self.visit(v), state, strict)
    }

    /// Convert floating point parameters and buffers to `dtype` (integer buffers such as
    /// `num_batches_tracked` keep theirs). Parameters get new tensors: build the optimizer
    /// after converting, as in PyTorch.
    fn to_dtype(&self, dtype: DType) -> Result<()> {
        if !dtype.is_float() {
            return Err(Error::Arg {
                op: "Module::to_dtype",
                msg: format!("nn.Module can only be cast to a floating point dtype, got {dtype}"),
            });
        }
        let needs_cast = |t: &Tensor| t.dtype().is_float() && t.dtype() != dtype;
        replace_tensors(&|v| self.visit(v), &|t| needs_cast(t).then(|| t.to_dtype(dtype)))
    }

    /// Move the model's parameters and buffers to `device` (`model.to(device)` in PyTorch).
    /// A GPU that cannot be used (no `cuda` feature, no driver) is an error and nothing moves.
    /// Parameters get new tensors: build the optimizer after moving, as in PyTorch.
    fn to_device(&self, device: Device) -> Result<()> {
        device.check_available("Module::to_device")?;
        replace_tensors(&|v| self.visit(v), &|t| (t.device() != device).then(|| t.to(device)))
    }

    /// Save the `state_dict` as a safetensors file (atomically), loadable by
    /// `safetensors.torch.load_file` + `model.load_state_dict` in PyTorch.
    fn save(&self, path: &Path) -> Result<()> {
        ember_core::save(&self.state_dict(), path)
    }

    /// Load a safetensors file written by [`save`](Module::save) or by PyTorch
    /// (`safetensors.torch.save_file(model.state_dict(), path)`).
    fn load(&self, path: &Path, strict: bool) -> Result<LoadReport> {
        self.load_state_dict(&ember_core::load(path)?, strict)
    }

    /// A table of every layer (name, type, output shape for `sample`, parameter count), from
    /// running `sample` through the model under `no_grad`.
    fn summary(&self, sample: &Tensor) -> Result<String> {
        crate::summary::summary(&|v| self.visit(v), &|x| self.call(x), &self.type_name(), sample)
    }
}

/// Every (name, tensor) of the state dict, parameters and buffers in registration order.
pub(crate) fn walk_state(root: &dyn Fn(&mut dyn Visitor), f: &mut dyn FnMut(&str, Tensor)) {
    walk(root, &mut |e| match e {
        Entry::Param(n, p) => f(n, p.tensor()),
        Entry::Buffer(n, b) => f(n, b.tensor()),
        Entry::Module(..) => {}
    });
}

/// A boxed module is a module (so `Sequential` and `ModuleList` can hold any layer).
impl<M: Module + ?Sized> Module for Box<M> {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        (**self).forward(x)
    }
    fn visit(&self, v: &mut dyn Visitor) {
        (**self).visit(v)
    }
    fn set_own_training(&self, training: bool) {
        (**self).set_own_training(training)
    }
    fn own_training(&self) -> Option<bool> {
        (**self).own_training()
    }
    fn type_name(&self) -> String {
        (**self).type_name()
    }
    fn static_type_name(&self) -> &'static str {
        (**self).static_type_name()
    }
    fn address(&self) -> usize {
        (**self).address()
    }
    fn extra_repr(&self) -> String {
        (**self).extra_repr()
    }
    fn call(&self, x: &Tensor) -> Result<Tensor> {
        (**self).call(x)
    }
}
