//! PyTorch-shaped neural-network building blocks on tch.
//!
//! * [`Module`] / [`ModuleExt`]: the module tree (`named_modules`, `named_parameters`,
//!   `state_dict`, `apply`, `train`/`eval`), as `torch.nn.Module`.
//! * Layers with `torch.nn`'s names, shapes, buffers, defaults and behaviour: [`Conv2d`],
//!   [`BatchNorm2d`], [`Linear`], [`Dropout`], the activations, the pools, [`LayerNorm`],
//!   [`GroupNorm`], [`Identity`], [`Flatten`] and [`Sequential`]. Their default initialisation is
//!   PyTorch's `reset_parameters`, not tch's.
//!
//! Every layer is built on a tch [`nn::Path`](tch::nn::Path): its parameters are registered in
//! the [`VarStore`](tch::nn::VarStore) under PyTorch's dotted names, so optimisers and
//! `VarStore::variables()` see the same keys as `state_dict()`.
//!
//! ```
//! use tch::{nn, Device, Kind, Tensor};
//! use tchvision::nn::*;
//! let vs = nn::VarStore::new(Device::Cpu);
//! let net = Sequential::builder(vs.root())
//!     .add(|p| Conv2d::new(p, 3, 8, 3, Conv2dConfig::default().padding(1)))?
//!     .add(|p| BatchNorm2d::new(p, 8, Default::default()))?
//!     .add(ReLU::new)?
//!     .build();
//! let keys: Vec<String> = net.state_dict().into_iter().map(|(k, _)| k).collect();
//! assert_eq!(keys, ["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean",
//!                   "1.running_var", "1.num_batches_tracked"]);
//! net.eval();
//! let y = net.try_forward(&Tensor::zeros([1, 3, 16, 16], (Kind::Float, Device::Cpu)))?;
//! assert_eq!(y.size(), [1, 8, 16, 16]);
//! # Ok::<(), tchvision::Error>(())
//! ```

mod activation;
mod conv;
mod ctx;
mod linear;
mod module;
mod norm;
mod pool;
mod recorder;
mod sequential;

pub use activation::*;
pub use conv::*;
pub use ctx::*;
pub use linear::*;
pub use module::*;
pub use norm::*;
pub use pool::*;
pub use recorder::*;
pub use sequential::*;

use crate::error::{Error, Result};
use tch::{nn::Path, Tensor};

/// A pair of sizes, given as one number (`3`) or two (`[3, 5]`, `(3, 5)`), as torch accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pair(pub [i64; 2]);

impl From<i64> for Pair {
    fn from(v: i64) -> Self {
        Pair([v, v])
    }
}
impl From<[i64; 2]> for Pair {
    fn from(v: [i64; 2]) -> Self {
        Pair(v)
    }
}
impl From<(i64, i64)> for Pair {
    fn from(v: (i64, i64)) -> Self {
        Pair([v.0, v.1])
    }
}

/// The dotted path of a tch [`Path`] (`"layer1.0.conv1"`).
pub fn path_string(p: &Path) -> String {
    p.components().collect::<Vec<_>>().join(".")
}

/// Registers a tensor under `name` in `p`'s var store; refuses a key that already exists
/// (tch would silently rename it).
pub(crate) fn register(p: &Path, name: &str, t: Tensor, trainable: bool) -> Result<Tensor> {
    if p.get(name).is_some() {
        return Err(Error::DuplicateKey(p.path(name)));
    }
    Ok(p.add(name, t, trainable))
}

/// An uninitialised float tensor of `p`'s kind and device.
pub(crate) fn empty(p: &Path, dims: &[i64]) -> Result<Tensor> {
    Tensor::f_empty(dims, (p.kind(), p.device()))
        .map_err(|e| Error::torch(format!("{}: allocating {dims:?}", path_string(p)), e))
}

/// A tensor of `p`'s kind and device filled with `value` (norm weights, running statistics).
pub(crate) fn filled(p: &Path, dims: &[i64], value: f64) -> Result<Tensor> {
    Tensor::f_full(dims, value, (p.kind(), p.device()))
        .map_err(|e| Error::torch(format!("{}: allocating {dims:?}", path_string(p)), e))
}

/// Wraps a libtorch error raised during a module's forward pass.
pub(crate) fn forward_error<'a>(
    path: &'a str,
    kind: ModuleKind,
    xs: &'a Tensor,
) -> impl FnOnce(tch::TchError) -> Error + 'a {
    move |source| Error::Forward { path: path.to_string(), kind: kind.name(), input: xs.size(), source: source.into() }
}

/// An [`Error::InputShape`] for this module.
pub(crate) fn input_error(path: &str, kind: ModuleKind, expected: impl Into<String>, xs: &Tensor) -> Error {
    Error::InputShape { path: path.to_string(), kind: kind.name(), expected: expected.into(), actual: xs.size() }
}

/// Implements tch's [`ModuleT`](tch::nn::ModuleT) for modules of this crate, so they plug into
/// tch code (`forward_t` panics with the error's message where [`Module::try_forward_t`] would
/// return it).
#[macro_export]
macro_rules! impl_module_t {
    ($($t:ty),* $(,)?) => {$(
        impl tch::nn::ModuleT for $t {
            fn forward_t(&self, xs: &tch::Tensor, train: bool) -> tch::Tensor {
                match $crate::nn::Module::try_forward_t(self, xs, train) {
                    Ok(t) => t,
                    Err(e) => panic!("{e}"),
                }
            }
        }
    )*};
}
