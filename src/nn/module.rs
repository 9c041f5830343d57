//! The module tree: PyTorch's `nn.Module` in Rust.
//!
//! A [`Module`] knows its type ([`ModuleKind`]), its own parameters and buffers (in registration
//! order, named as PyTorch names them), its children (named as PyTorch's attributes) and how to
//! run forward. [`ModuleExt`] derives from that everything PyTorch users reach for:
//! `named_modules`, `named_parameters`, `named_buffers`, `state_dict`, `apply`, `train`/`eval`,
//! `get_submodule`.
//!
//! Parameters live in a tch [`nn::VarStore`](tch::nn::VarStore) under the same dotted names, so
//! tch's optimisers work unchanged; modules hold handles that share storage with it.

use std::cell::Cell;
use tch::Tensor;

use super::Recorder;
use crate::error::{Error, Result};

/// The type of a module: the Rust form of `isinstance(m, nn.Conv2d)` and of
/// `m.__class__.__name__`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum ModuleKind {
    Conv2d,
    BatchNorm2d,
    Linear,
    Dropout,
    ReLU,
    ReLU6,
    LeakyReLU,
    PReLU,
    SiLU,
    Hardswish,
    Hardsigmoid,
    GELU,
    Sigmoid,
    MaxPool2d,
    AvgPool2d,
    AdaptiveAvgPool2d,
    LayerNorm,
    GroupNorm,
    Identity,
    Flatten,
    Sequential,
    /// A model or block defined elsewhere (`ResNet`, `Bottleneck`, `Yolo_v1`, …): its class name.
    Custom(&'static str),
}

impl ModuleKind {
    /// The class name PyTorch gives this module (`m.__class__.__name__`).
    pub fn name(&self) -> &'static str {
        use ModuleKind::*;
        match self {
            Conv2d => "Conv2d",
            BatchNorm2d => "BatchNorm2d",
            Linear => "Linear",
            Dropout => "Dropout",
            ReLU => "ReLU",
            ReLU6 => "ReLU6",
            LeakyReLU => "LeakyReLU",
            PReLU => "PReLU",
            SiLU => "SiLU",
            Hardswish => "Hardswish",
            Hardsigmoid => "Hardsigmoid",
            GELU => "GELU",
            Sigmoid => "Sigmoid",
            MaxPool2d => "MaxPool2d",
            AvgPool2d => "AvgPool2d",
            AdaptiveAvgPool2d => "AdaptiveAvgPool2d",
            LayerNorm => "LayerNorm",
            GroupNorm => "GroupNorm",
            Identity => "Identity",
            Flatten => "Flatten",
            Sequential => "Sequential",
            Custom(name) => name,
        }
    }
}

impl std::fmt::Display for ModuleKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A node of the module tree, as `torch.nn.Module`.
///
/// Implementors list their own parameters and buffers (not their children's) in PyTorch's
/// registration order, and their children in attribute order; [`ModuleExt`] does the rest.
pub trait Module: AsDynModule + std::fmt::Debug + Send {
    /// The module's type, for `isinstance`-style dispatch (a `Conv2dNormActivation` is a
    /// [`ModuleKind::Sequential`], a `LayerNorm2d` a [`ModuleKind::LayerNorm`]).
    fn kind(&self) -> ModuleKind;

    /// The class name torch reports (`m.__class__.__name__`): the kind's name unless the module
    /// is a subclass (`Conv2dNormActivation`, `LayerNorm2d`, `MLPBlock`).
    fn class_name(&self) -> &'static str {
        self.kind().name()
    }

    /// Forward pass. `train = false` forces evaluation behaviour everywhere (Dropout off,
    /// BatchNorm on running statistics); `train = true` lets each module follow its own
    /// training flag (see [`ModuleExt::train`] / [`ModuleExt::eval`]), as PyTorch's `forward`.
    fn try_forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor>;

    /// Direct children, named as PyTorch's attributes (`conv1`, `0`, `downsample`, …).
    fn named_children(&self) -> Vec<(String, &dyn Module)> {
        Vec::new()
    }

    /// This module's own parameters (not its children's), in registration order.
    fn own_parameters(&self) -> Vec<(&'static str, &Tensor)> {
        Vec::new()
    }

    /// This module's own buffers (not its children's), in registration order.
    fn own_buffers(&self) -> Vec<(&'static str, &Tensor)> {
        Vec::new()
    }

    /// The module's own training flag cell, for modules whose behaviour depends on it.
    fn training_flag(&self) -> Option<&Cell<bool>> {
        None
    }

    /// Forward pass that reports its graph nodes to `rec` ([`Recorder`]); `path` is this
    /// module's dotted path. The default treats the module as a leaf: it runs
    /// [`Module::try_forward_t`] and records the output under `path`. Containers override it
    /// to run each child with `try_forward_rec` at `path.child` (and to record their
    /// functional steps, such as a residual `add`), so that inner nodes can be asked for.
    fn try_forward_rec(&self, xs: &Tensor, train: bool, rec: &mut Recorder, path: &str) -> Result<Tensor> {
        let out = self.try_forward_t(xs, train)?;
        rec.record(path, &out);
        Ok(out)
    }
}

/// One entry of a module walk: its dotted path (empty for the root) and the module.
pub type NamedModule<'a> = (String, &'a dyn Module);

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

fn walk<'a>(prefix: String, m: &'a dyn Module, out: &mut Vec<NamedModule<'a>>) {
    let children = m.named_children();
    out.push((prefix.clone(), m));
    for (name, child) in children {
        walk(join(&prefix, &name), child, out);
    }
}

/// The order of PyTorch's `Module.apply`: each child's subtree in attribute order, then the
/// module itself (post-order).
fn walk_post<'a>(prefix: String, m: &'a dyn Module, out: &mut Vec<NamedModule<'a>>) {
    for (name, child) in m.named_children() {
        walk_post(join(&prefix, &name), child, out);
    }
    out.push((prefix, m));
}

/// Everything PyTorch derives from the tree, for every [`Module`] (also `dyn Module`).
pub trait ModuleExt: Module {
    /// Forward in the mode the modules' training flags say, returning errors (PyTorch's
    /// `model(x)`).
    fn try_forward(&self, xs: &Tensor) -> Result<Tensor> {
        self.try_forward_t(xs, true)
    }

    /// Every module of the tree in PyTorch's order (pre-order, children in attribute order),
    /// the root first with the empty path: `named_modules()`.
    fn named_modules(&self) -> Vec<NamedModule<'_>> {
        modules_of(self)
    }

    /// `named_parameters()`: dotted names and the parameter tensors (handles sharing storage),
    /// in PyTorch's order.
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        for (path, m) in modules_of(self) {
            for (name, t) in m.own_parameters() {
                out.push((join(&path, name), t.shallow_clone()));
            }
        }
        out
    }

    /// `named_buffers()`: running statistics and other non-trainable state, in PyTorch's order.
    fn named_buffers(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        for (path, m) in modules_of(self) {
            for (name, t) in m.own_buffers() {
                out.push((join(&path, name), t.shallow_clone()));
            }
        }
        out
    }

    /// `state_dict()`: each module's parameters, then its buffers, module by module in
    /// pre-order; the tensors share storage with the model (`keep_vars` semantics).
    fn state_dict(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        for (path, m) in modules_of(self) {
            for (name, t) in m.own_parameters().into_iter().chain(m.own_buffers()) {
                out.push((join(&path, name), t.shallow_clone()));
            }
        }
        out
    }

    /// The number of scalar parameters (`sum(p.numel() for p in model.parameters())`).
    fn num_parameters(&self) -> i64 {
        self.named_parameters().iter().map(|(_, t)| t.numel() as i64).sum()
    }

    /// The submodule at a dotted path (`"layer1.0.conv1"`); `""` is the module itself.
    fn get_submodule(&self, target: &str) -> Result<&dyn Module> {
        find_submodule(self.as_dyn_module(), target)
    }

    /// Calls `f(path, module)` for every module of the tree in the order of PyTorch's
    /// `model.apply(fn)`: children before their parent (each child's subtree in attribute order,
    /// then the module itself; the root comes last), with gradients off. For the pre-order of
    /// `for m in model.modules()`, iterate [`ModuleExt::named_modules`]. Parameters reached
    /// through [`ModuleExt::parameter`] share storage with the model, so in-place changes (the
    /// [`crate::init`] functions) change the model. Stops at the first error.
    fn apply<F>(&self, mut f: F) -> Result<()>
    where
        F: FnMut(&str, &dyn Module) -> Result<()>,
    {
        let _guard = tch::no_grad_guard();
        let mut order = Vec::new();
        walk_post(String::new(), self.as_dyn_module(), &mut order);
        for (path, m) in order {
            f(&path, m)?;
        }
        Ok(())
    }

    /// This module's own parameter `name` (`"weight"`, `"bias"`, …) as a handle that shares
    /// storage with the model: write into it in place to change the model.
    fn parameter(&self, name: &str) -> Option<Tensor> {
        self.own_parameters().into_iter().find(|(n, _)| *n == name).map(|(_, t)| t.shallow_clone())
    }

    /// This module's own buffer `name` (`"running_mean"`, …), sharing storage with the model.
    fn buffer(&self, name: &str) -> Option<Tensor> {
        self.own_buffers().into_iter().find(|(n, _)| *n == name).map(|(_, t)| t.shallow_clone())
    }

    /// Sets the training flag of every module of the tree (`model.train(mode)`).
    fn set_training(&self, training: bool) {
        for (_, m) in modules_of(self) {
            if let Some(flag) = m.training_flag() {
                flag.set(training);
            }
        }
    }

    /// `model.train()`: Dropout drops, BatchNorm normalises with batch statistics and updates
    /// its running statistics.
    fn train(&self) {
        self.set_training(true)
    }

    /// `model.eval()`: Dropout is the identity, BatchNorm uses its running statistics.
    fn eval(&self) {
        self.set_training(false)
    }

    /// Whether this module is in training mode (`module.training`); modules without a flag
    /// report their first flagged descendant, and `true` when there is none, as PyTorch's
    /// default.
    fn is_training(&self) -> bool {
        modules_of(self).iter().find_map(|(_, m)| m.training_flag().map(Cell::get)).unwrap_or(true)
    }
}

impl<T: Module + ?Sized> ModuleExt for T {}

/// `named_modules()` for any module, including `dyn Module`.
pub fn modules_of<M: Module + ?Sized>(m: &M) -> Vec<NamedModule<'_>> {
    let mut out = Vec::new();
    walk(String::new(), m.as_dyn_module(), &mut out);
    out
}

fn find_submodule<'a>(root: &'a dyn Module, target: &str) -> Result<&'a dyn Module> {
    let mut cur = root;
    if target.is_empty() {
        return Ok(cur);
    }
    let mut walked = String::new();
    for part in target.split('.') {
        let children = cur.named_children();
        match children.iter().find(|(n, _)| n == part) {
            Some((_, c)) => cur = *c,
            None => {
                let names: Vec<String> = children.iter().map(|(n, _)| join(&walked, n)).collect();
                return Err(Error::unknown("submodule", target, &names));
            }
        }
        walked = join(&walked, part);
    }
    Ok(cur)
}

/// Views any module, sized or `dyn`, as `&dyn Module` (a supertrait of [`Module`], implemented
/// for every sized module).
pub trait AsDynModule {
    /// `self` as a trait object.
    fn as_dyn_module(&self) -> &dyn Module;
}

impl<T: Module> AsDynModule for T {
    fn as_dyn_module(&self) -> &dyn Module {
        self
    }
}

/// A boxed module is the module (for children whose type is chosen at run time, such as an
/// activation).
impl Module for Box<dyn Module> {
    fn kind(&self) -> ModuleKind {
        (**self).kind()
    }
    fn class_name(&self) -> &'static str {
        (**self).class_name()
    }
    fn try_forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        (**self).try_forward_t(xs, train)
    }
    fn named_children(&self) -> Vec<(String, &dyn Module)> {
        (**self).named_children()
    }
    fn own_parameters(&self) -> Vec<(&'static str, &Tensor)> {
        (**self).own_parameters()
    }
    fn own_buffers(&self) -> Vec<(&'static str, &Tensor)> {
        (**self).own_buffers()
    }
    fn training_flag(&self) -> Option<&Cell<bool>> {
        (**self).training_flag()
    }
    fn try_forward_rec(&self, xs: &Tensor, train: bool, rec: &mut Recorder, path: &str) -> Result<Tensor> {
        (**self).try_forward_rec(xs, train, rec, path)
    }
}
