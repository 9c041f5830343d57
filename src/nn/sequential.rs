//! `nn.Sequential` (`torch/nn/modules/container.py`): children named `0`, `1`, `2`, … or by
//! name (`nn.Sequential(OrderedDict(...))`), and the subclasses of it torchvision defines
//! (`Conv2dNormActivation`, `_Transition`, `AnyStage`, `MLP`), which differ only in their class
//! name.

use tch::{nn::Path, Tensor};

use super::{join_path, path_string, Module, ModuleKind, Recorder};
use crate::error::Result;

/// `nn.Sequential`: runs its children in order; they are named by their index, as in PyTorch's
/// state dict (`conv_layer1.0.weight`, `conv_layer1.1.running_mean`, …).
#[derive(Debug)]
pub struct Sequential {
    layers: Vec<Box<dyn Module>>,
    names: Vec<String>,
    path: String,
    class: &'static str,
}

impl Sequential {
    /// Starts a Sequential at `p`; each [`SequentialBuilder::add`] builds the next child at
    /// `p / index`.
    pub fn builder(p: Path<'_>) -> SequentialBuilder<'_> {
        SequentialBuilder {
            seq: Sequential { layers: Vec::new(), names: Vec::new(), path: path_string(&p), class: "Sequential" },
            p,
        }
    }

    /// Starts a subclass of Sequential reporting `class` as its class name
    /// (`Conv2dNormActivation`, `_Transition`, …); it is still a [`ModuleKind::Sequential`].
    pub fn subclass<'a>(p: Path<'a>, class: &'static str) -> SequentialBuilder<'a> {
        let mut b = Self::builder(p);
        b.seq.class = class;
        b
    }

    /// The number of children.
    pub fn len(&self) -> usize {
        self.layers.len()
    }

    /// Whether it has no children.
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// The child at `index`.
    pub fn get(&self, index: usize) -> Option<&dyn Module> {
        self.layers.get(index).map(|b| b.as_ref())
    }

    /// The children in order.
    pub fn iter(&self) -> impl Iterator<Item = &dyn Module> {
        self.layers.iter().map(|b| b.as_ref())
    }

    /// The dotted path this Sequential was built at.
    pub fn path(&self) -> &str {
        &self.path
    }
}

/// Builds a [`Sequential`] child by child.
pub struct SequentialBuilder<'a> {
    seq: Sequential,
    p: Path<'a>,
}

impl SequentialBuilder<'_> {
    /// Builds the next child with `f(&(p / index))` and appends it.
    #[allow(clippy::should_implement_trait)] // a builder step, as torch's `Sequential.append`
    pub fn add<M, F>(mut self, f: F) -> Result<Self>
    where
        M: Module + 'static,
        F: FnOnce(&Path) -> Result<M>,
    {
        let name = self.seq.layers.len().to_string();
        let m = f(&self.p.sub(&name))?;
        self.seq.layers.push(Box::new(m));
        self.seq.names.push(name);
        Ok(self)
    }

    /// Builds a child named `name` with `f(&(p / name))` and appends it
    /// (`nn.Sequential(OrderedDict(...))`, `self.add_module(name, ...)`).
    pub fn add_named<M, F>(mut self, name: &str, f: F) -> Result<Self>
    where
        M: Module + 'static,
        F: FnOnce(&Path) -> Result<M>,
    {
        let m = f(&self.p.sub(name))?;
        self.seq.layers.push(Box::new(m));
        self.seq.names.push(name.to_string());
        Ok(self)
    }

    /// Appends an already built module under the next index (it must have been built at
    /// `p / index`, see [`SequentialBuilder::next_path`]).
    pub fn push(mut self, m: Box<dyn Module>) -> Self {
        self.seq.names.push(self.seq.layers.len().to_string());
        self.seq.layers.push(m);
        self
    }

    /// The path the next numbered child is built at.
    pub fn next_path(&self) -> Path<'_> {
        self.p.sub(self.seq.layers.len().to_string())
    }

    /// The number of children so far.
    pub fn len(&self) -> usize {
        self.seq.layers.len()
    }

    /// Whether no child was added yet.
    pub fn is_empty(&self) -> bool {
        self.seq.layers.is_empty()
    }

    /// The finished Sequential.
    pub fn build(self) -> Sequential {
        self.seq
    }
}

impl Module for Sequential {
    fn kind(&self) -> ModuleKind {
        ModuleKind::Sequential
    }
    fn class_name(&self) -> &'static str {
        self.class
    }
    fn try_forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        let mut x = xs.shallow_clone();
        for l in &self.layers {
            x = l.try_forward_t(&x, train)?;
        }
        Ok(x)
    }
    fn named_children(&self) -> Vec<(String, &dyn Module)> {
        self.names.iter().cloned().zip(self.layers.iter().map(|b| b.as_ref())).collect()
    }
    fn try_forward_rec(&self, xs: &Tensor, train: bool, rec: &mut Recorder, path: &str) -> Result<Tensor> {
        let mut x = xs.shallow_clone();
        for (name, l) in self.names.iter().zip(&self.layers) {
            x = l.try_forward_rec(&x, train, rec, &join_path(path, name))?;
        }
        Ok(x)
    }
}

crate::impl_module_t!(Sequential);
