//! RMSprop (centered, momentum), exactly as `torch.optim.RMSprop`.

use crate::optimizer::{adjusted_grad, check, GroupConfig, Optim, ParamState};
use ember_core::{Result, Tensor};

/// Hyper-parameters of RMSprop (PyTorch's defaults: lr 0.01, alpha 0.99, eps 1e-8).
#[derive(Debug, Clone, Copy)]
pub struct RmspropConfig {
    pub lr: f64,
    pub alpha: f64,
    pub eps: f64,
    pub weight_decay: f64,
    pub momentum: f64,
    pub centered: bool,
    pub maximize: bool,
}

impl Default for RmspropConfig {
    fn default() -> Self {
        RmspropConfig {
            lr: 1e-2,
            alpha: 0.99,
            eps: 1e-8,
            weight_decay: 0.0,
            momentum: 0.0,
            centered: false,
            maximize: false,
        }
    }
}

impl RmspropConfig {
    pub fn new(lr: f64) -> Self {
        RmspropConfig {
            lr,
            ..Default::default()
        }
    }
}

/// `torch.optim.RMSprop`.
pub type Rmsprop = Optim<RmspropConfig>;

impl GroupConfig for RmspropConfig {
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
            ("alpha", self.alpha),
            ("eps", self.eps),
            ("weight_decay", self.weight_decay),
            ("momentum", self.momentum),
            ("centered", self.centered as u8 as f64),
            ("maximize", self.maximize as u8 as f64),
        ]
    }
    fn set_scalar(&mut self, name: &str, v: f64) -> bool {
        match name {
            "lr" => self.lr = v,
            "alpha" => self.alpha = v,
            "eps" => self.eps = v,
            "weight_decay" => self.weight_decay = v,
            "momentum" => self.momentum = v,
            "centered" => self.centered = v != 0.0,
            "maximize" => self.maximize = v != 0.0,
            _ => return false,
        }
        true
    }
    fn validate(&self) -> Result<()> {
        check("RMSprop", self.lr >= 0.0, || {
            format!("Invalid learning rate: {}", self.lr)
        })?;
        check("RMSprop", self.eps >= 0.0, || {
            format!("Invalid epsilon value: {}", self.eps)
        })?;
        check("RMSprop", self.momentum >= 0.0, || {
            format!("Invalid momentum value: {}", self.momentum)
        })?;
        check("RMSprop", self.alpha >= 0.0, || {
            format!("Invalid alpha value: {}", self.alpha)
        })?;
        check("RMSprop", self.weight_decay >= 0.0, || {
            format!("Invalid weight_decay value: {}", self.weight_decay)
        })
    }
    fn update(&self, p: &Tensor, g: &Tensor, st: &mut ParamState, fused: bool) -> Result<()> {
        let c = *self;
        st.step += 1;
        let sq = st.buffer("square_avg", p);
        let ga = c.centered.then(|| st.buffer("grad_avg", p));
        let buf = (c.momentum > 0.0).then(|| st.buffer("momentum_buffer", p));
        if fused {
            let (a, c1, eps, wd, max) = (
                c.alpha as f32,
                (1.0 - c.alpha) as f32,
                c.eps as f32,
                c.weight_decay as f32,
                c.maximize,
            );
            let (mom, neg_lr) = (c.momentum as f32, -c.lr as f32);
            // o = [p, square_avg, (grad_avg), (buf)] in that order
            let (has_ga, has_buf) = (ga.is_some(), buf.is_some());
            let body = |o: &mut [f32], gi: f32| {
                let mut d = if max { -gi } else { gi };
                if wd != 0.0 {
                    d += wd * o[0];
                }
                o[1] = o[1] * a + c1 * d * d;
                let mut k = 2;
                let avg = if has_ga {
                    o[2] += c1 * (d - o[2]);
                    k = 3;
                    (o[1] - o[2] * o[2]).sqrt()
                } else {
                    o[1].sqrt()
                } + eps;
                if has_buf {
                    o[k] = o[k] * mom + d / avg;
                    o[0] += neg_lr * o[k];
                } else {
                    o[0] += neg_lr * d / avg;
                }
            };
            let done = match (&ga, &buf) {
                (Some(x), Some(b)) => Tensor::fused_update_f32([p, &sq, x, b], [g], |o, i| body(o, i[0]))?,
                (Some(x), None) => Tensor::fused_update_f32([p, &sq, x], [g], |o, i| body(o, i[0]))?,
                (None, Some(b)) => Tensor::fused_update_f32([p, &sq, b], [g], |o, i| body(o, i[0]))?,
                (None, None) => Tensor::fused_update_f32([p, &sq], [g], |o, i| body(o, i[0]))?,
            };
            if done {
                return Ok(());
            }
        }
        let d = adjusted_grad(p, g, c.maximize, c.weight_decay)?;
        sq.mul_scalar_(c.alpha)?;
        sq.add_scaled_(&d.mul(&d)?, 1.0 - c.alpha)?;
        let avg = match &ga {
            Some(ga) => {
                ga.add_scaled_(&d.sub(ga)?, 1.0 - c.alpha)?;
                sq.sub(&ga.mul(ga)?)?.sqrt()?
            }
            None => sq.sqrt()?,
        }
        .add_scalar(c.eps)?;
        match &buf {
            Some(b) => {
                b.mul_scalar_(c.momentum)?;
                b.add_(&d.div(&avg)?)?;
                p.add_scaled_(b, -c.lr)
            }
            None => p.add_scaled_(&d.div(&avg)?, -c.lr),
        }
    }
}
