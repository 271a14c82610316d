//! `Sequential` and `ModuleList`: children named `"0"`, `"1"`, ... as in PyTorch.

use crate::module::{Module, Visitor};
use ember_core::{Error, Result, Tensor};

/// Children applied in order (`torch.nn.Sequential`).
///
/// ```
/// use ember_core::Tensor;
/// use ember_nn::{Linear, Module, ReLU, Sequential};
/// let net = Sequential::new().add(Linear::new(4, 8)).add(ReLU).add(Linear::new(8, 2));
/// assert_eq!(net.forward(&Tensor::ones(&[3, 4])).unwrap().shape(), &[3, 2]);
/// let names: Vec<String> = net.state_dict().into_iter().map(|(n, _)| n).collect();
/// assert_eq!(names, ["0.weight", "0.bias", "2.weight", "2.bias"]);
/// ```
#[derive(Default)]
pub struct Sequential {
    layers: Vec<Box<dyn Module>>,
}

impl Sequential {
    pub fn new() -> Sequential {
        Sequential { layers: Vec::new() }
    }

    /// Append a layer (builder style).
    #[allow(clippy::should_implement_trait)]
    pub fn add<M: Module + 'static>(mut self, m: M) -> Sequential {
        self.layers.push(Box::new(m));
        self
    }

    /// Append an already boxed layer.
    pub fn push(&mut self, m: Box<dyn Module>) {
        self.layers.push(m);
    }

    pub fn len(&self) -> usize {
        self.layers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    pub fn get(&self, i: usize) -> Option<&dyn Module> {
        self.layers.get(i).map(|b| b.as_ref())
    }

    pub fn iter(&self) -> impl Iterator<Item = &dyn Module> {
        self.layers.iter().map(|b| b.as_ref())
    }
}

impl From<Vec<Box<dyn Module>>> for Sequential {
    fn from(layers: Vec<Box<dyn Module>>) -> Sequential {
        Sequential { layers }
    }
}

impl Module for Sequential {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut y = x.clone();
        for l in &self.layers {
            y = l.call(&y)?;
        }
        Ok(y)
    }
    fn visit(&self, v: &mut dyn Visitor) {
        for (i, l) in self.layers.iter().enumerate() {
            v.module(&i.to_string(), l.as_ref());
        }
    }
}

/// A list of modules, registered for naming but with no forward of its own
/// (`torch.nn.ModuleList`). `M` defaults to boxed modules of any type.
pub struct ModuleList<M: Module = Box<dyn Module>> {
    items: Vec<M>,
}

impl<M: Module> Default for ModuleList<M> {
    fn default() -> Self {
        ModuleList { items: Vec::new() }
    }
}

impl<M: Module> ModuleList<M> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, m: M) {
        self.items.push(m);
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn get(&self, i: usize) -> Option<&M> {
        self.items.get(i)
    }

    pub fn iter(&self) -> std::slice::Iter<'_, M> {
        self.items.iter()
    }
}

impl<M: Module> From<Vec<M>> for ModuleList<M> {
    fn from(items: Vec<M>) -> Self {
        ModuleList { items }
    }
}

impl<M: Module> std::ops::Index<usize> for ModuleList<M> {
    type Output = M;
    fn index(&self, i: usize) -> &M {
        &self.items[i]
    }
}

impl<M: Module> Module for ModuleList<M> {
    /// A ModuleList has no forward: iterate over its modules instead.
    fn forward(&self, _x: &Tensor) -> Result<Tensor> {
        Err(Error::Arg {
            op: "ModuleList::forward",
            msg: "ModuleList has no forward; call its modules in your own forward".into(),
        })
    }
    fn visit(&self, v: &mut dyn Visitor) {
        for (i, m) in self.items.iter().enumerate() {
            v.module(&i.to_string(), m);
        }
    }
}
