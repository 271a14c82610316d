//! Stochastic gradient descent with momentum, dampening, Nesterov, weight decay and maximize,
//! exactly as `torch.optim.SGD`.

use crate::optimizer::{adjusted_grad, check, GroupConfig, Optim, ParamState};
use ember_core::{Result, Tensor};

/// Hyper-parameters of SGD (PyTorch's defaults except `lr`, which PyTorch also requires).
#[derive(Debug, Clone, Copy)]
pub struct SgdConfig {
    pub lr: f64,
    pub momentum: f64,
    pub dampening: f64,
    pub weight_decay: f64,
    pub nesterov: bool,
    pub maximize: bool,
}

impl Default for SgdConfig {
    fn default() -> Self {
        SgdConfig {
            lr: 1e-3,
            momentum: 0.0,
            dampening: 0.0,
            weight_decay: 0.0,
            nesterov: false,
            maximize: false,
        }
    }
}

impl SgdConfig {
    pub fn new(lr: f64) -> Self {
        SgdConfig {
            lr,
            ..Default::default()
        }
    }
    pub fn momentum(mut self, m: f64) -> Self {
        self.momentum = m;
        self
    }
    pub fn dampening(mut self, d: f64) -> Self {
        self.dampening = d;
        self
    }
    pub fn weight_decay(mut self, w: f64) -> Self {
        self.weight_decay = w;
        self
    }
    pub fn nesterov(mut self, n: bool) -> Self {
        self.nesterov = n;
        self
    }
    pub fn maximize(mut self, m: bool) -> Self {
        self.maximize = m;
        self
    }
}

/// `torch.optim.SGD`.
///
/// ```
/// use ember_core::Tensor;
/// use ember_optim::{Optimizer, Sgd, SgdConfig};
/// let w = Tensor::new(&[1.0f32, -2.0]).requires_grad_(true);
/// let mut opt = Sgd::new(vec![w.clone()], SgdConfig::new(0.1)).unwrap();
/// w.square().unwrap().sum_all().backward().unwrap(); // grad = 2w
/// opt.step().unwrap();
/// assert_eq!(w.to_vec::<f32>().unwrap(), vec![0.8, -1.6]);
/// ```
pub type Sgd = Optim<SgdConfig>;

impl GroupConfig for SgdConfig {
    fn lr(&self) -> f64 {
        self.lr
    }
    fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }
    fn momentum(&self) -> Option<f64> {
        Some(self.momentum)
    }
    fn set_momentum(&mut self, m: f64) {
        self.momentum = m;
    }
    fn scalars(&self) -> Vec<(&'static str, f64)> {
        vec![
            ("lr", self.lr),
            ("momentum", self.momentum),
            ("dampening", self.dampening),
            ("weight_decay", self.weight_decay),
            ("nesterov", self.nesterov as u8 as f64),
            ("maximize", self.maximize as u8 as f64),
        ]
    }
    fn set_scalar(&mut self, name: &str, v: f64) -> bool {
        match name {
            "lr" => self.lr = v,
            "momentum" => self.momentum = v,
            "dampening" => self.dampening = v,
            "weight_decay" => self.weight_decay = v,
            "nesterov" => self.nesterov = v != 0.0,
            "maximize" => self.maximize = v != 0.0,
            _ => return false,
        }
        true
    }
    fn validate(&self) -> Result<()> {
        check("SGD", self.lr >= 0.0, || format!("Invalid learning rate: {}", self.lr))?;
        check("SGD", self.momentum >= 0.0, || {
            format!("Invalid momentum value: {}", self.momentum)
        })?;
        check("SGD", self.weight_decay >= 0.0, || {
            format!("Invalid weight_decay value: {}", self.weight_decay)
        })?;
        check(
            "SGD",
            !self.nesterov || (self.momentum > 0.0 && self.dampening == 0.0),
            || "Nesterov momentum requires a momentum and zero dampening".into(),
        )
    }
    fn update(&self, p: &Tensor, g: &Tensor, st: &mut ParamState, fused: bool) -> Result<()> {
        let c = *self;
        st.step += 1;
        let first = st.get("momentum_buffer").is_none();
        if fused && c.momentum == 0.0 {
            let (wd, neg_lr, max) = (c.weight_decay as f32, -c.lr as f32, c.maximize);
            if Tensor::fused_update_f32([p], [g], |o, i| {
                let mut d = if max { -i[0] } else { i[0] };
                if wd != 0.0 {
                    d += wd * o[0];
                }
                o[0] += neg_lr * d;
            })? {
                return Ok(());
            }
        } else if fused {
            let buf = st.buffer("momentum_buffer", p);
            let (wd, neg_lr, max) = (c.weight_decay as f32, -c.lr as f32, c.maximize);
            let (mom, damp1, nest) = (c.momentum as f32, (1.0 - c.dampening) as f32, c.nesterov);
            if Tensor::fused_update_f32([p, &buf], [g], |o, i| {
                let mut d = if max { -i[0] } else { i[0] };
                if wd != 0.0 {
                    d += wd * o[0];
                }
                o[1] = if first { d } else { o[1] * mom + damp1 * d };
                let step = if nest { d + mom * o[1] } else { o[1] };
                o[0] += neg_lr * step;
            })? {
                return Ok(());
            }
            if first {
                st.buffers.remove("momentum_buffer");
            }
        }
        // composite reference
        let mut d = adjusted_grad(p, g, c.maximize, c.weight_decay)?;
        if c.momentum != 0.0 {
            let buf = match st.get("momentum_buffer") {
                None => {
                    let b = d.copy();
                    st.set("momentum_buffer", b.clone());
                    b
                }
                Some(b) => {
                    b.mul_scalar_(c.momentum)?;
                    b.add_scaled_(&d, 1.0 - c.dampening)?;
                    b
                }
            };
            d = if c.nesterov {
                d.add(&buf.mul_scalar(c.momentum)?)?
            } else {
                buf
            };
        }
        p.add_scaled_(&d, -c.lr)
    }
}
