//! The blocks torchvision's model families share, as `torchvision/ops/misc.py` and
//! `torchvision/ops/stochastic_depth.py` define them, with the same class names, attribute
//! names (so the same state-dict keys), defaults and behaviour:
//!
//! * [`conv_norm_act`]: `Conv2dNormActivation` (a Sequential of conv, norm, activation);
//! * [`SqueezeExcitation`] (Hu et al. 2018, "Squeeze-and-Excitation Networks");
//! * [`StochasticDepth`] (Huang et al. 2016, "Deep Networks with Stochastic Depth");
//! * [`mlp`]: `MLP`; [`Permute`]; [`LayerNorm2d`] (`torchvision/models/convnext.py`);
//! * the choice of norm ([`NormKind`], [`Norm`]) and activation ([`Act`]) that torchvision
//!   passes as `norm_layer` / `activation_layer`, and ResNet's `conv3x3` / `conv1x1`.
//!
//! A family file holds only what is its own.

mod misc;
mod norm;
mod stochastic_depth;

pub use misc::*;
pub use norm::*;
pub use stochastic_depth::*;
