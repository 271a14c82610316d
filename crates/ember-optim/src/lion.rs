//! Lion (Chen et al., 2023, "Symbolic Discovery of Optimization Algorithms"): the update is the
//! sign of an interpolation of the gradient and the momentum, with decoupled weight decay.

use crate::optimizer::{check, GroupConfig, Optim, ParamState};
use ember_core::{Result, Tensor};

/// Hyper-parameters of Lion (the paper's defaults: lr 1e-4, betas (0.9, 0.99)).
#[derive(Debug, Clone, Copy)]
pub struct LionConfig {
    pub lr: f64,
    pub betas: (f64, f64),
    pub weight_decay: f64,
    pub maximize: bool,
}

impl Default for LionConfig {
    fn default() -> Self {
        LionConfig {
            lr: 1e-4,
            betas: (0.9, 0.99),
            weight_decay: 0.0,
            maximize: false,
        }
    }
}

impl LionConfig {
    pub fn new(lr: f64) -> Self {
        LionConfig {
            lr,
            ..Default::default()
        }
    }
}

/// Lion: `p = p (1 - lr wd) - lr sign(b1 m + (1 - b1) g)`, then `m = b2 m + (1 - b2) g`.
pub type Lion = Optim<LionConfig>;

impl GroupConfig for LionConfig {
    fn lr(&self) -> f64 {
        self.lr
    }
    fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }
    fn momentum(&self) -> Option<f64> {
        Some(self.betas.0)
    }
    fn set_momentum(&mut self, m: f64) {
        self.betas.0 = m;
    }
    fn scalars(&self) -> Vec<(&'static str, f64)> {
        vec![
            ("lr", self.lr),
            ("beta1", self.betas.0),
            ("beta2", self.betas.1),
            ("weight_decay", self.weight_decay),
            ("maximize", self.maximize as u8 as f64),
        ]
    }
    fn set_scalar(&mut self, name: &str, v: f64) -> bool {
        match name {
            "lr" => self.lr = v,
            "beta1" => self.betas.0 = v,
            "beta2" => self.betas.1 = v,
            "weight_decay" => self.weight_decay = v,
            "maximize" => self.maximize = v != 0.0,
            _ => return false,
        }
        true
    }
    fn validate(&self) -> Result<()> {
        check("Lion", self.lr >= 0.0, || format!("Invalid learning rate: {}", self.lr))?;
        check(
            "Lion",
            (0.0..1.0).contains(&self.betas.0) && (0.0..1.0).contains(&self.betas.1),
            || format!("Invalid betas: {:?}", self.betas),
        )?;
        check("Lion", self.weight_decay >= 0.0, || {
            format!("Invalid weight_decay value: {}", self.weight_decay)
        })
    }
    fn update(&self, p: &Tensor, g: &Tensor, st: &mut ParamState, fused: bool) -> Result<()> {
        let c = *self;
        st.step += 1;
        let m = st.buffer("exp_avg", p);
        let (b1, b2) = c.betas;
        if fused {
            let (b1f, c1, b2f, c2) = (b1 as f32, (1.0 - b1) as f32, b2 as f32, (1.0 - b2) as f32);
            let (decay, neg_lr, max) = ((1.0 - c.lr * c.weight_decay) as f32, -c.lr as f32, c.maximize);
            if Tensor::fused_update_f32([p, &m], [g], |o, i| {
                let d = if max { -i[0] } else { i[0] };
                let u = o[1] * b1f + d * c1;
                let s = if u > 0.0 {
                    1.0
                } else if u < 0.0 {
                    -1.0
                } else {
                    0.0
                };
                o[0] = o[0] * decay + neg_lr * s;
                o[1] = o[1] * b2f + d * c2;
            })? {
                return Ok(());
            }
        }
        let d = if c.maximize { g.neg()? } else { g.clone() };
        let u = m.mul_scalar(b1)?.add(&d.mul_scalar(1.0 - b1)?)?.sign()?;
        p.mul_scalar_(1.0 - c.lr * c.weight_decay)?;
        p.add_scaled_(&u, -c.lr)?;
        m.mul_scalar_(b2)?;
        m.add_scaled_(&d, 1.0 - b2)
    }
}
