//! Writing a container block once: the forward context [`Ctx`] and the [`module!`] macro.
//!
//! A container (a block, a model) is a struct whose fields are its children, named as
//! torchvision's attributes. [`module!`] lists the fields once and derives from them
//! `named_children` (in that order), the class name, both forwards of [`Module`] and tch's
//! `ModuleT`; the block itself only writes `fn forward(&self, x, c: &mut Ctx)`. In it,
//! `c.call(&self.conv1, &x)` runs a child: the context finds the child's name among the
//! children (so the name is never written again), records its output when node outputs were
//! asked for ([`NodeOutputs`](crate::models::features::NodeOutputs)), and the functional steps
//! (`c.add`, `c.mul`, `c.flatten`, `c.op`) wrap libtorch's errors with the block's path and
//! record torchvision's FX node names (`add`, `add_1`, `flatten`, …).
//!
//! ```
//! use tch::{nn::Path, Tensor};
//! use tchvision::nn::*;
//! use tchvision::Result;
//!
//! #[derive(Debug)]
//! pub struct Residual {
//!     conv: Conv2d,
//!     relu: ReLU,
//! }
//! tchvision::module!(Residual, [conv, relu]);
//!
//! impl Residual {
//!     pub fn new(p: &Path, c: i64) -> Result<Self> {
//!         Ok(Residual {
//!             conv: Conv2d::new(&(p / "conv"), c, c, 3, Conv2dConfig::default().padding(1))?,
//!             relu: ReLU::new(&(p / "relu"))?,
//!         })
//!     }
//!     fn forward(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
//!         let y = c.call(&self.conv, x)?;
//!         let y = c.add(&y, x)?;
//!         c.call(&self.relu, &y)
//!     }
//! }
//!
//! let vs = tch::nn::VarStore::new(tch::Device::Cpu);
//! let block = Residual::new(&vs.root(), 4)?;
//! assert_eq!(block.class_name(), "Residual");
//! let names: Vec<String> = block.named_children().into_iter().map(|(n, _)| n).collect();
//! assert_eq!(names, ["conv", "relu"]);
//! # Ok::<(), tchvision::Error>(())
//! ```

use tch::{TchError, Tensor};

use super::{join_path, Module, Recorder};
use crate::error::{Error, Result};

/// The context of one container's forward pass: the mode, the recorder and the container's node
/// path. Made by [`module!`]; blocks receive it in their `forward`.
pub struct Ctx<'a> {
    owner: &'a dyn Module,
    rec: &'a mut Recorder,
    path: &'a str,
    /// `false` forces evaluation behaviour (see [`Module::try_forward_t`]).
    pub train: bool,
}

impl<'a> Ctx<'a> {
    /// The context of `owner` running at node path `path`.
    pub fn new(owner: &'a dyn Module, rec: &'a mut Recorder, path: &'a str, train: bool) -> Self {
        Ctx { owner, rec, path, train }
    }

    /// Runs `f` with the context of `owner` at the root of a plain forward pass (nothing
    /// recorded): for the entry points of a model other than its forward
    /// (`forward_features`, `forward_head`).
    pub fn run<R>(owner: &dyn Module, train: bool, f: impl FnOnce(&mut Ctx) -> Result<R>) -> Result<R> {
        let mut rec = Recorder::disabled();
        f(&mut Ctx::new(owner, &mut rec, "", train))
    }

    /// Whether node outputs are being recorded. Blocks may work in place when they are not
    /// (nothing else holds the intermediates), as torchvision's `inplace=True` layers do.
    pub fn is_recording(&self) -> bool {
        self.rec.is_active()
    }

    /// This container's node path.
    pub fn path(&self) -> &str {
        self.path
    }

    /// Runs `f` in the context of the child `child` (for a parent that drives a child's parts
    /// itself, such as a detector running only its backbone's trunk): nodes are recorded under
    /// the child's name.
    pub fn nested<R>(&mut self, child: &dyn Module, f: impl FnOnce(&mut Ctx) -> Result<R>) -> Result<R> {
        let at = self.at(&self.name_of(child));
        f(&mut Ctx::new(child, self.rec, &at, self.train))
    }

    /// The path of node `name` of this container.
    pub fn at(&self, name: &str) -> String {
        join_path(self.path, name)
    }

    /// The name of `child` among the owner's children (by identity).
    fn name_of(&self, child: &dyn Module) -> String {
        self.owner
            .named_children()
            .into_iter()
            .find(|(_, c)| std::ptr::addr_eq(*c as *const dyn Module, child as *const dyn Module))
            .map(|(n, _)| n)
            .unwrap_or_else(|| child.class_name().to_ascii_lowercase())
    }

    /// Runs the child `child` on `x` (recording its nodes under its attribute name).
    pub fn call(&mut self, child: &dyn Module, x: &Tensor) -> Result<Tensor> {
        let at = self.at(&self.name_of(child));
        child.try_forward_rec(x, self.train, self.rec, &at)
    }

    /// Runs the children `children` one after the other (a Sequential written inline).
    pub fn chain(&mut self, children: &[&dyn Module], x: &Tensor) -> Result<Tensor> {
        let mut x = x.shallow_clone();
        for c in children {
            x = self.call(*c, &x)?;
        }
        Ok(x)
    }

    /// A functional step named `name` (`add`, `cat`, `flatten`, …): runs `f`, wraps its error
    /// with this container's path and `input`'s shape, and records the output as node `name`.
    pub fn op(
        &mut self,
        name: &'static str,
        input: &Tensor,
        f: impl FnOnce() -> std::result::Result<Tensor, TchError>,
    ) -> Result<Tensor> {
        let out =
            f().map_err(|e| Error::Forward { path: self.at(name), kind: name, input: input.size(), source: e.into() })?;
        if self.rec.is_active() {
            self.rec.record(&self.at(name), &out);
        }
        Ok(out)
    }

    /// `a + b` (node `add`).
    pub fn add(&mut self, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        self.op("add", a, || a.f_add(b))
    }

    /// `a * b` (node `mul`).
    pub fn mul(&mut self, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        self.op("mul", a, || a.f_mul(b))
    }

    /// `torch.flatten(x, start_dim)` (node `flatten`).
    pub fn flatten(&mut self, x: &Tensor, start_dim: i64) -> Result<Tensor> {
        self.op("flatten", x, || x.f_flatten(start_dim, -1))
    }

    /// `torch.cat(xs, dim)` (node `cat`).
    pub fn cat(&mut self, xs: &[Tensor], dim: i64) -> Result<Tensor> {
        let first = xs.first().map(Tensor::shallow_clone).unwrap_or_else(|| Tensor::from(0f32));
        self.op("cat", &first, || Tensor::f_cat(xs, dim))
    }
}

/// Implements [`Module`] (and tch's `ModuleT`) for a container struct from the list of its child
/// fields, in attribute order: `module!(BasicBlock, [conv1, bn1, relu, conv2, bn2,
/// downsample?])`. A field marked `?` is an `Option` (absent children are skipped, as torch's
/// `None` attributes); `Vec` fields are not children (use a [`Sequential`](super::Sequential)).
/// The class name is the type's name, or the string after `as`
/// (`module!(DenseLayer as "_DenseLayer", [...])`). The type must have an inherent
/// `fn forward(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor>`.
#[macro_export]
macro_rules! module {
    ($ty:ident, [$($children:tt)*]) => {
        $crate::module!($ty as stringify!($ty), [$($children)*]);
    };
    ($ty:ident as $class:expr, [$($children:tt)*]) => {
        impl $crate::nn::Module for $ty {
            fn kind(&self) -> $crate::nn::ModuleKind {
                $crate::nn::ModuleKind::Custom($class)
            }
            fn try_forward_t(&self, xs: &tch::Tensor, train: bool) -> $crate::Result<tch::Tensor> {
                let mut rec = $crate::nn::Recorder::disabled();
                self.forward(xs, &mut $crate::nn::Ctx::new(self, &mut rec, "", train))
            }
            fn try_forward_rec(
                &self,
                xs: &tch::Tensor,
                train: bool,
                rec: &mut $crate::nn::Recorder,
                path: &str,
            ) -> $crate::Result<tch::Tensor> {
                self.forward(xs, &mut $crate::nn::Ctx::new(self, rec, path, train))
            }
            #[allow(unused_mut)]
            fn named_children(&self) -> Vec<(String, &dyn $crate::nn::Module)> {
                let mut v: Vec<(String, &dyn $crate::nn::Module)> = Vec::new();
                $crate::module!(@push v, self, [$($children)*]);
                v
            }
        }
        $crate::impl_module_t!($ty);
    };
    (@push $v:ident, $s:ident, []) => {};
    (@push $v:ident, $s:ident, [$child:ident ? $(, $($rest:tt)*)?]) => {
        if let Some(m) = &$s.$child {
            $v.push((stringify!($child).to_string(), m as &dyn $crate::nn::Module));
        }
        $crate::module!(@push $v, $s, [$($($rest)*)?]);
    };
    (@push $v:ident, $s:ident, [$child:ident $(, $($rest:tt)*)?]) => {
        $v.push((stringify!($child).to_string(), &$s.$child as &dyn $crate::nn::Module));
        $crate::module!(@push $v, $s, [$($($rest)*)?]);
    };
}
