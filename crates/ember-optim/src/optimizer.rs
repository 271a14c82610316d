//! The `Optimizer` trait and the machinery every optimizer shares: parameter groups with their
//! own hyper-parameters, per-parameter state, and `state_dict` as named tensors and scalars.

use ember_core::{no_grad, Error, Result, Tensor};
use std::collections::BTreeMap;

/// What a trainer needs from an optimizer; object safe (`Box<dyn Optimizer>`).
pub trait Optimizer: Send {
    /// Update every parameter that has a gradient, in place (under `no_grad`).
    fn step(&mut self) -> Result<()>;

    /// Clear every parameter's gradient (PyTorch's default `set_to_none=True`).
    fn zero_grad(&mut self);

    fn num_groups(&self) -> usize;

    /// The learning rate of group `g`.
    fn group_lr(&self, g: usize) -> f64;

    fn set_group_lr(&mut self, g: usize, lr: f64);

    /// The momentum of group `g` (`momentum` for SGD/RMSprop, `beta1` for the Adam family),
    /// used by `OneCycleLR`'s momentum cycling; `None` for optimizers without one.
    fn group_momentum(&self, _g: usize) -> Option<f64> {
        None
    }

    fn set_group_momentum(&mut self, _g: usize, _m: f64) {}

    /// The learning rate of the first group.
    fn lr(&self) -> f64 {
        self.group_lr(0)
    }

    /// Set the learning rate of every group.
    fn set_lr(&mut self, lr: f64) {
        for g in 0..self.num_groups() {
            self.set_group_lr(g, lr);
        }
    }

    /// Every parameter, in group order.
    fn parameters(&self) -> Vec<Tensor>;

    /// The per-parameter state and the groups' hyper-parameters.
    fn state_dict(&self) -> OptimState;

    /// Restore a state saved by `state_dict` (for the same parameters in the same order).
    fn load_state_dict(&mut self, state: &OptimState) -> Result<()>;
}

/// An optimizer's state as named tensors and named scalars, ready for a checkpoint:
/// `state.{i}.{buffer}` tensors and `state.{i}.step` scalars for the `i`-th parameter, and
/// `param_groups.{g}.{name}` scalars for the hyper-parameters.
#[derive(Debug, Clone, Default)]
pub struct OptimState {
    pub tensors: BTreeMap<String, Tensor>,
    pub scalars: BTreeMap<String, f64>,
}

impl OptimState {
    /// Everything as named tensors (scalars become 0-dim f64 tensors under `scalars.`), so one
    /// safetensors file can hold it.
    pub fn to_named_tensors(&self) -> Vec<(String, Tensor)> {
        let mut v: Vec<(String, Tensor)> = self.tensors.iter().map(|(k, t)| (k.clone(), t.clone())).collect();
        v.extend(
            self.scalars
                .iter()
                .map(|(k, &s)| (format!("scalars.{k}"), Tensor::scalar(s))),
        );
        v
    }

    /// The inverse of [`to_named_tensors`](Self::to_named_tensors).
    pub fn from_named_tensors(named: &BTreeMap<String, Tensor>) -> Result<OptimState> {
        let mut s = OptimState::default();
        for (k, t) in named {
            match k.strip_prefix("scalars.") {
                Some(name) => {
                    s.scalars.insert(name.to_string(), t.item()?);
                }
                None => {
                    s.tensors.insert(k.clone(), t.clone());
                }
            }
        }
        Ok(s)
    }
}

/// The hyper-parameters of one group of one optimizer.
pub trait GroupConfig: Clone + Send + 'static {
    fn lr(&self) -> f64;
    fn set_lr(&mut self, lr: f64);
    fn momentum(&self) -> Option<f64> {
        None
    }
    fn set_momentum(&mut self, _m: f64) {}
    /// Every numeric hyper-parameter by name (bools as 0/1), for `state_dict`.
    fn scalars(&self) -> Vec<(&'static str, f64)>;
    /// Set one by name; false if the name is unknown.
    fn set_scalar(&mut self, name: &str, v: f64) -> bool;
    /// Check the values (PyTorch's constructor errors).
    fn validate(&self) -> Result<()>;
    /// One optimization step for one parameter with gradient `g` (called under `no_grad`).
    fn update(&self, p: &Tensor, g: &Tensor, state: &mut ParamState, fused: bool) -> Result<()>;
}

/// Parameters optimized with one set of hyper-parameters.
#[derive(Clone)]
pub struct ParamGroup<C> {
    pub params: Vec<Tensor>,
    pub config: C,
}

impl<C> ParamGroup<C> {
    pub fn new(params: Vec<Tensor>, config: C) -> ParamGroup<C> {
        ParamGroup { params, config }
    }
}

/// The state of one parameter: its step count and named buffers (`exp_avg`, ...).
#[derive(Debug, Clone, Default)]
pub struct ParamState {
    pub step: u64,
    pub buffers: BTreeMap<String, Tensor>,
}

impl ParamState {
    /// The buffer `name`, created as zeros like `p` on first use.
    pub fn buffer(&mut self, name: &str, p: &Tensor) -> Tensor {
        self.buffers
            .entry(name.to_string())
            .or_insert_with(|| Tensor::zeros_like(p))
            .clone()
    }

    pub fn get(&self, name: &str) -> Option<Tensor> {
        self.buffers.get(name).cloned()
    }

    pub fn set(&mut self, name: &str, t: Tensor) {
        self.buffers.insert(name.to_string(), t);
    }
}

/// An optimizer: parameter groups of config `C`, one state per parameter, and whether to use
/// the fused f32 update (the composite Tensor-op update is the reference it is tested against).
pub struct Optim<C: GroupConfig> {
    pub groups: Vec<ParamGroup<C>>,
    state: Vec<ParamState>,
    /// Use the one-pass fused update for contiguous f32 parameters (default true).
    pub fused: bool,
}

impl<C: GroupConfig> Optim<C> {
    /// One group of `params` with `config`.
    pub fn new(params: Vec<Tensor>, config: C) -> Result<Optim<C>> {
        Optim::with_groups(vec![ParamGroup::new(params, config)])
    }

    /// Several groups, each with its own hyper-parameters.
    pub fn with_groups(groups: Vec<ParamGroup<C>>) -> Result<Optim<C>> {
        let mut o = Optim {
            groups: Vec::new(),
            state: Vec::new(),
            fused: true,
        };
        for g in groups {
            o.add_param_group(g)?;
        }
        Ok(o)
    }

    /// Add a group (PyTorch's `add_param_group`); a parameter may be in one group only.
    pub fn add_param_group(&mut self, group: ParamGroup<C>) -> Result<()> {
        group.config.validate()?;
        let mut seen: Vec<&Tensor> = self.groups.iter().flat_map(|g| g.params.iter()).collect();
        for p in &group.params {
            if !p.dtype().is_float() {
                return Err(Error::Arg {
                    op: "optimizer",
                    msg: format!("can only optimize floating point tensors, got {}", p.dtype()),
                });
            }
            if !p.is_leaf() {
                return Err(Error::Arg {
                    op: "optimizer",
                    msg: "can't optimize a non-leaf Tensor".into(),
                });
            }
            if seen.iter().any(|q| q.same_tensor(p)) {
                return Err(Error::Arg {
                    op: "optimizer",
                    msg: "some parameters appear in more than one parameter group".into(),
                });
            }
            seen.push(p);
        }
        self.state.extend(group.params.iter().map(|_| ParamState::default()));
        self.groups.push(group);
        Ok(())
    }

    /// The state of the `i`-th parameter (in group order).
    pub fn param_state(&self, i: usize) -> Option<&ParamState> {
        self.state.get(i)
    }
}

impl<C: GroupConfig> Optimizer for Optim<C> {
    fn step(&mut self) -> Result<()> {
        let _g = no_grad();
        let mut i = 0;
        for group in &self.groups {
            for p in &group.params {
                if let Some(g) = p.grad() {
                    let g = if g.dtype() != p.dtype() {
                        g.to_dtype(p.dtype())?
                    } else {
                        g
                    };
                    group
                        .config
                        .update(p, &g.contiguous(), &mut self.state[i], self.fused)?;
                }
                i += 1;
            }
        }
        Ok(())
    }

    fn zero_grad(&mut self) {
        for g in &self.groups {
            for p in &g.params {
                p.zero_grad();
            }
        }
    }

    fn num_groups(&self) -> usize {
        self.groups.len()
    }

    fn group_lr(&self, g: usize) -> f64 {
        self.groups[g].config.lr()
    }

    fn set_group_lr(&mut self, g: usize, lr: f64) {
        self.groups[g].config.set_lr(lr)
    }

    fn group_momentum(&self, g: usize) -> Option<f64> {
        self.groups[g].config.momentum()
    }

    fn set_group_momentum(&mut self, g: usize, m: f64) {
        self.groups[g].config.set_momentum(m)
    }

    fn parameters(&self) -> Vec<Tensor> {
        self.groups.iter().flat_map(|g| g.params.iter().cloned()).collect()
    }

    fn state_dict(&self) -> OptimState {
        let mut s = OptimState::default();
        for (i, st) in self.state.iter().enumerate() {
            if st.step == 0 && st.buffers.is_empty() {
                continue;
            }
            s.scalars.insert(format!("state.{i}.step"), st.step as f64);
            for (k, t) in &st.buffers {
                s.tensors.insert(format!("state.{i}.{k}"), t.copy());
            }
        }
        for (g, group) in self.groups.iter().enumerate() {
            for (k, v) in group.config.scalars() {
                s.scalars.insert(format!("param_groups.{g}.{k}"), v);
            }
        }
        s
    }

    fn load_state_dict(&mut self, s: &OptimState) -> Result<()> {
        let n = self.state.len();
        let params = self.parameters();
        let mut new_state = vec![ParamState::default(); n];
        for (k, t) in &s.tensors {
            let (i, name) = parse_state_key(k, n)?;
            if t.shape() != params[i].shape() {
                return Err(Error::Arg {
                    op: "Optimizer::load_state_dict",
                    msg: format!(
                        "state {k} has shape {:?} but parameter {i} has shape {:?}",
                        t.shape(),
                        params[i].shape()
                    ),
                });
            }
            // the parameter's dtype and device (a checkpoint loads on the CPU; the model may
            // be on a GPU), as PyTorch casts optimizer state to its parameter's
            let t = t.to_dtype(params[i].dtype())?;
            let t = if t.device() == params[i].device() {
                t.copy()
            } else {
                t.to(params[i].device())?
            };
            new_state[i].buffers.insert(name.to_string(), t);
        }
        let mut groups: Vec<C> = self.groups.iter().map(|g| g.config.clone()).collect();
        for (k, &v) in &s.scalars {
            if let Some(rest) = k.strip_prefix("param_groups.") {
                let (g, name) = rest.split_once('.').ok_or_else(|| bad_key(k))?;
                let g: usize = g.parse().map_err(|_| bad_key(k))?;
                let cfg = groups.get_mut(g).ok_or_else(|| Error::Arg {
                    op: "Optimizer::load_state_dict",
                    msg: format!(
                        "loaded state has a group {g} but this optimizer has {} groups",
                        self.groups.len()
                    ),
                })?;
                if !cfg.set_scalar(name, v) {
                    return Err(bad_key(k));
                }
            } else {
                let (i, name) = parse_state_key(k, n)?;
                if name != "step" {
                    return Err(bad_key(k));
                }
                new_state[i].step = v as u64;
            }
        }
        for (group, cfg) in self.groups.iter_mut().zip(groups) {
            group.config = cfg;
        }
        self.state = new_state;
        Ok(())
    }
}

fn bad_key(k: &str) -> Error {
    Error::Arg {
        op: "Optimizer::load_state_dict",
        msg: format!("unexpected key {k:?} in optimizer state"),
    }
}

fn parse_state_key(k: &str, n: usize) -> Result<(usize, &str)> {
    let rest = k.strip_prefix("state.").ok_or_else(|| bad_key(k))?;
    let (i, name) = rest.split_once('.').ok_or_else(|| bad_key(k))?;
    let i: usize = i.parse().map_err(|_| bad_key(k))?;
    if i >= n {
        return Err(Error::Arg {
            op: "Optimizer::load_state_dict",
            msg: format!("state for parameter {i}, but the optimizer has {n} parameters"),
        });
    }
    Ok((i, name))
}

/// `grad` negated when maximizing, plus `weight_decay * p` (the coupled L2 penalty), as new
/// tensors (the composite path).
pub(crate) fn adjusted_grad(p: &Tensor, g: &Tensor, maximize: bool, weight_decay: f64) -> Result<Tensor> {
    let g = if maximize { g.neg()? } else { g.clone() };
    if weight_decay != 0.0 {
        g.add(&p.mul_scalar(weight_decay)?)
    } else {
        Ok(g)
    }
}

pub(crate) fn check(op: &'static str, ok: bool, msg: impl FnOnce() -> String) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(Error::Arg { op, msg: msg() })
    }
}
