//! Adam (with AMSGrad) and AdamW, exactly as `torch.optim.Adam` / `AdamW` (the single-tensor
//! path, including the order of the bias corrections).

use crate::optimizer::{adjusted_grad, check, GroupConfig, Optim, ParamState};
use ember_core::ops::fused_adam::AdamStep;
use ember_core::{Result, Tensor};

/// Hyper-parameters of Adam / AdamW.
#[derive(Debug, Clone, Copy)]
pub struct AdamConfig {
    pub lr: f64,
    pub betas: (f64, f64),
    pub eps: f64,
    pub weight_decay: f64,
    pub amsgrad: bool,
    pub maximize: bool,
    /// AdamW: decay the weights directly (`p *= 1 - lr * wd`) instead of adding `wd * p` to
    /// the gradient.
    pub decoupled_weight_decay: bool,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            lr: 1e-3,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            amsgrad: false,
            maximize: false,
            decoupled_weight_decay: false,
        }
    }
}

impl AdamConfig {
    /// Adam with learning rate `lr` and PyTorch's other defaults.
    pub fn new(lr: f64) -> Self {
        AdamConfig {
            lr,
            ..Default::default()
        }
    }
    /// AdamW's defaults: `weight_decay = 0.01`, decoupled.
    pub fn adamw(lr: f64) -> Self {
        AdamConfig {
            lr,
            weight_decay: 0.01,
            decoupled_weight_decay: true,
            ..Default::default()
        }
    }
    pub fn betas(mut self, b1: f64, b2: f64) -> Self {
        self.betas = (b1, b2);
        self
    }
    pub fn eps(mut self, e: f64) -> Self {
        self.eps = e;
        self
    }
    pub fn weight_decay(mut self, w: f64) -> Self {
        self.weight_decay = w;
        self
    }
    pub fn amsgrad(mut self, a: bool) -> Self {
        self.amsgrad = a;
        self
    }
    pub fn maximize(mut self, m: bool) -> Self {
        self.maximize = m;
        self
    }
}

/// `torch.optim.Adam`.
///
/// ```
/// use ember_core::Tensor;
/// use ember_optim::{Adam, AdamConfig, Optimizer};
/// let w = Tensor::new(&[1.0f32]).requires_grad_(true);
/// let mut opt = Adam::new(vec![w.clone()], AdamConfig::new(0.1)).unwrap();
/// (&w * 3.0).sum_all().backward().unwrap();
/// opt.step().unwrap();
/// // the first Adam step moves by lr in the direction of -sign(grad)
/// assert!((w.to_vec::<f32>().unwrap()[0] - 0.9).abs() < 1e-6);
/// ```
pub type Adam = Optim<AdamConfig>;

/// `torch.optim.AdamW`: build with [`AdamConfig::adamw`].
pub type AdamW = Optim<AdamConfig>;

impl GroupConfig for AdamConfig {
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
            ("eps", self.eps),
            ("weight_decay", self.weight_decay),
            ("amsgrad", self.amsgrad as u8 as f64),
            ("maximize", self.maximize as u8 as f64),
            ("decoupled_weight_decay", self.decoupled_weight_decay as u8 as f64),
        ]
    }
    fn set_scalar(&mut self, name: &str, v: f64) -> bool {
        match name {
            "lr" => self.lr = v,
            "beta1" => self.betas.0 = v,
            "beta2" => self.betas.1 = v,
            "eps" => self.eps = v,
            "weight_decay" => self.weight_decay = v,
            "amsgrad" => self.amsgrad = v != 0.0,
            "maximize" => self.maximize = v != 0.0,
            "decoupled_weight_decay" => self.decoupled_weight_decay = v != 0.0,
            _ => return false,
        }
        true
    }
    fn validate(&self) -> Result<()> {
        check("Adam", self.lr >= 0.0, || format!("Invalid learning rate: {}", self.lr))?;
        check("Adam", self.eps >= 0.0, || {
            format!("Invalid epsilon value: {}", self.eps)
        })?;
        check("Adam", (0.0..1.0).contains(&self.betas.0), || {
            format!("Invalid beta parameter at index 0: {}", self.betas.0)
        })?;
        check("Adam", (0.0..1.0).contains(&self.betas.1), || {
            format!("Invalid beta parameter at index 1: {}", self.betas.1)
        })?;
        check("Adam", self.weight_decay >= 0.0, || {
            format!("Invalid weight_decay value: {}", self.weight_decay)
        })
    }
    fn update(&self, p: &Tensor, g: &Tensor, st: &mut ParamState, fused: bool) -> Result<()> {
        let c = *self;
        let (b1, b2) = c.betas;
        st.step += 1;
        let step = st.step as f64;
        let bc1 = 1.0 - b1.powf(step);
        let bc2 = 1.0 - b2.powf(step);
        let step_size = c.lr / bc1;
        let bc2_sqrt = bc2.sqrt();
        let m = st.buffer("exp_avg", p);
        let v = st.buffer("exp_avg_sq", p);
        let vmax = c.amsgrad.then(|| st.buffer("max_exp_avg_sq", p));
        let decay = c.weight_decay != 0.0 && c.decoupled_weight_decay;
        let coupled_wd = if c.decoupled_weight_decay { 0.0 } else { c.weight_decay };
        if fused {
            let step = AdamStep {
                decay_factor: decay.then_some((1.0 - c.lr * c.weight_decay) as f32),
                l2: coupled_wd as f32,
                maximize: c.maximize,
                one_minus_beta1: (1.0 - b1) as f32,
                beta2: b2 as f32,
                one_minus_beta2: (1.0 - b2) as f32,
                bias_correction2_sqrt: bc2_sqrt as f32,
                eps: c.eps as f32,
                step_size: step_size as f32,
            };
            if Tensor::adam_step_(p, g, &m, &v, vmax.as_ref(), &step)? {
                return Ok(());
            }
        }
        // composite reference, op for op as torch's _single_tensor_adam
        if decay {
            p.mul_scalar_(1.0 - c.lr * c.weight_decay)?;
        }
        let d = adjusted_grad(p, g, c.maximize, coupled_wd)?;
        m.add_scaled_(&d.sub(&m)?, 1.0 - b1)?;
        v.mul_scalar_(b2)?;
        v.add_scaled_(&d.mul(&d)?, 1.0 - b2)?;
        let second = match &vmax {
            Some(vm) => {
                vm.copy_(&vm.maximum(&v)?)?;
                vm.clone()
            }
            None => v,
        };
        let denom = second.sqrt()?.div_scalar(bc2_sqrt)?.add_scalar(c.eps)?;
        p.add_scaled_(&m.div(&denom)?, -step_size)
    }
}
