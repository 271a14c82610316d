//! Adagrad and Adadelta, exactly as `torch.optim.Adagrad` / `Adadelta`.

use crate::optimizer::{adjusted_grad, check, GroupConfig, Optim, ParamState};
use ember_core::{Result, Tensor};

/// Hyper-parameters of Adagrad (PyTorch's defaults: lr 0.01, eps 1e-10).
#[derive(Debug, Clone, Copy)]
pub struct AdagradConfig {
    pub lr: f64,
    pub lr_decay: f64,
    pub weight_decay: f64,
    pub initial_accumulator_value: f64,
    pub eps: f64,
    pub maximize: bool,
}

impl Default for AdagradConfig {
    fn default() -> Self {
        AdagradConfig {
            lr: 1e-2,
            lr_decay: 0.0,
            weight_decay: 0.0,
            initial_accumulator_value: 0.0,
            eps: 1e-10,
            maximize: false,
        }
    }
}

impl AdagradConfig {
    pub fn new(lr: f64) -> Self {
        AdagradConfig {
            lr,
            ..Default::default()
        }
    }
}

/// `torch.optim.Adagrad`.
pub type Adagrad = Optim<AdagradConfig>;

impl GroupConfig for AdagradConfig {
    fn lr(&self) -> f64 {
        self.lr
    }
    fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }
    fn scalars(&self) -> Vec<(&'static str, f64)> {
        vec![
            ("lr", self.lr),
            ("lr_decay", self.lr_decay),
            ("weight_decay", self.weight_decay),
            ("initial_accumulator_value", self.initial_accumulator_value),
            ("eps", self.eps),
            ("maximize", self.maximize as u8 as f64),
        ]
    }
    fn set_scalar(&mut self, name: &str, v: f64) -> bool {
        match name {
            "lr" => self.lr = v,
            "lr_decay" => self.lr_decay = v,
            "weight_decay" => self.weight_decay = v,
            "initial_accumulator_value" => self.initial_accumulator_value = v,
            "eps" => self.eps = v,
            "maximize" => self.maximize = v != 0.0,
            _ => return false,
        }
        true
    }
    fn validate(&self) -> Result<()> {
        check("Adagrad", self.lr >= 0.0, || {
            format!("Invalid learning rate: {}", self.lr)
        })?;
        check("Adagrad", self.lr_decay >= 0.0, || {
            format!("Invalid lr_decay value: {}", self.lr_decay)
        })?;
        check("Adagrad", self.weight_decay >= 0.0, || {
            format!("Invalid weight_decay value: {}", self.weight_decay)
        })?;
        check("Adagrad", self.initial_accumulator_value >= 0.0, || {
            format!(
                "Invalid initial_accumulator_value value: {}",
                self.initial_accumulator_value
            )
        })?;
        check("Adagrad", self.eps >= 0.0, || {
            format!("Invalid epsilon value: {}", self.eps)
        })
    }
    fn update(&self, p: &Tensor, g: &Tensor, st: &mut ParamState, fused: bool) -> Result<()> {
        let c = *self;
        let sum = match st.get("sum") {
            Some(s) => s,
            None => {
                let s = Tensor::full_like(p, c.initial_accumulator_value);
                st.set("sum", s.clone());
                s
            }
        };
        st.step += 1;
        let clr = c.lr / (1.0 + (st.step as f64 - 1.0) * c.lr_decay);
        if fused {
            let (wd, eps, neg_clr, max) = (c.weight_decay as f32, c.eps as f32, -clr as f32, c.maximize);
            if Tensor::fused_update_f32([p, &sum], [g], |o, i| {
                let mut d = if max { -i[0] } else { i[0] };
                if wd != 0.0 {
                    d += wd * o[0];
                }
                o[1] += d * d;
                let std = o[1].sqrt() + eps;
                o[0] += neg_clr * d / std;
            })? {
                return Ok(());
            }
        }
        let d = adjusted_grad(p, g, c.maximize, c.weight_decay)?;
        sum.add_(&d.mul(&d)?)?;
        let std = sum.sqrt()?.add_scalar(c.eps)?;
        p.add_scaled_(&d.div(&std)?, -clr)
    }
}

/// Hyper-parameters of Adadelta (PyTorch's defaults: lr 1, rho 0.9, eps 1e-6).
#[derive(Debug, Clone, Copy)]
pub struct AdadeltaConfig {
    pub lr: f64,
    pub rho: f64,
    pub eps: f64,
    pub weight_decay: f64,
    pub maximize: bool,
}

impl Default for AdadeltaConfig {
    fn default() -> Self {
        AdadeltaConfig {
            lr: 1.0,
            rho: 0.9,
            eps: 1e-6,
            weight_decay: 0.0,
            maximize: false,
        }
    }
}

impl AdadeltaConfig {
    pub fn new(lr: f64) -> Self {
        AdadeltaConfig {
            lr,
            ..Default::default()
        }
    }
}

/// `torch.optim.Adadelta`.
pub type Adadelta = Optim<AdadeltaConfig>;

impl GroupConfig for AdadeltaConfig {
    fn lr(&self) -> f64 {
        self.lr
    }
    fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }
    fn scalars(&self) -> Vec<(&'static str, f64)> {
        vec![
            ("lr", self.lr),
            ("rho", self.rho),
            ("eps", self.eps),
            ("weight_decay", self.weight_decay),
            ("maximize", self.maximize as u8 as f64),
        ]
    }
    fn set_scalar(&mut self, name: &str, v: f64) -> bool {
        match name {
            "lr" => self.lr = v,
            "rho" => self.rho = v,
            "eps" => self.eps = v,
            "weight_decay" => self.weight_decay = v,
            "maximize" => self.maximize = v != 0.0,
            _ => return false,
        }
        true
    }
    fn validate(&self) -> Result<()> {
        check("Adadelta", self.lr >= 0.0, || {
            format!("Invalid learning rate: {}", self.lr)
        })?;
        check("Adadelta", (0.0..=1.0).contains(&self.rho), || {
            format!("Invalid rho value: {}", self.rho)
        })?;
        check("Adadelta", self.eps >= 0.0, || {
            format!("Invalid epsilon value: {}", self.eps)
        })?;
        check("Adadelta", self.weight_decay >= 0.0, || {
            format!("Invalid weight_decay value: {}", self.weight_decay)
        })
    }
    fn update(&self, p: &Tensor, g: &Tensor, st: &mut ParamState, fused: bool) -> Result<()> {
        let c = *self;
        st.step += 1;
        let sq = st.buffer("square_avg", p);
        let acc = st.buffer("acc_delta", p);
        if fused {
            let (rho, c1, eps, wd, neg_lr, max) = (
                c.rho as f32,
                (1.0 - c.rho) as f32,
                c.eps as f32,
                c.weight_decay as f32,
                -c.lr as f32,
                c.maximize,
            );
            if Tensor::fused_update_f32([p, &sq, &acc], [g], |o, i| {
                let mut d = if max { -i[0] } else { i[0] };
                if wd != 0.0 {
                    d += wd * o[0];
                }
                o[1] = o[1] * rho + c1 * d * d;
                let std = (o[1] + eps).sqrt();
                let delta = (o[2] + eps).sqrt() / std * d;
                o[2] = o[2] * rho + c1 * delta * delta;
                o[0] += neg_lr * delta;
            })? {
                return Ok(());
            }
        }
        let d = adjusted_grad(p, g, c.maximize, c.weight_decay)?;
        sq.mul_scalar_(c.rho)?;
        sq.add_scaled_(&d.mul(&d)?, 1.0 - c.rho)?;
        let std = sq.add_scalar(c.eps)?.sqrt()?;
        let delta = acc.add_scalar(c.eps)?.sqrt()?.div(&std)?.mul(&d)?;
        acc.mul_scalar_(c.rho)?;
        acc.add_scaled_(&delta.mul(&delta)?, 1.0 - c.rho)?;
        p.add_scaled_(&delta, -c.lr)
    }
}
