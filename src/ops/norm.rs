//! The normalisation layer a block is built with (torchvision's `norm_layer` argument), and
//! `LayerNorm2d` (`torchvision/models/convnext.py`).

use std::cell::Cell;
use tch::{nn::Path, Tensor};

use crate::error::Result;
use crate::nn::{forward_error, input_error, path_string, *};

/// torchvision's `norm_layer`: which normalisation a block uses, with its options.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub enum NormKind {
    /// `nn.BatchNorm2d` with torch's defaults (eps 1e-5, momentum 0.1).
    #[default]
    BatchNorm2d,
    /// `partial(nn.BatchNorm2d, eps=…, momentum=…)`.
    BatchNorm2dWith {
        /// Added to the variance.
        eps: f64,
        /// Running-average factor.
        momentum: f64,
    },
    /// `partial(nn.GroupNorm, num_groups)`.
    GroupNorm {
        /// Groups.
        num_groups: i64,
    },
    /// `partial(LayerNorm2d, eps=…)`: LayerNorm over the channels of an NCHW map.
    LayerNorm2d {
        /// Added to the variance.
        eps: f64,
    },
}

/// A normalisation layer of one of the [`NormKind`]s.
#[derive(Debug)]
pub enum Norm {
    /// `nn.BatchNorm2d`.
    BatchNorm2d(BatchNorm2d),
    /// `nn.GroupNorm`.
    GroupNorm(GroupNorm),
    /// `LayerNorm2d`.
    LayerNorm2d(LayerNorm2d),
}

impl Norm {
    /// The norm layer of `kind` over `channels` at `p`.
    pub fn new(p: &Path, kind: NormKind, channels: i64) -> Result<Self> {
        Ok(match kind {
            NormKind::BatchNorm2d => Norm::BatchNorm2d(BatchNorm2d::new(p, channels, BatchNormConfig::default())?),
            NormKind::BatchNorm2dWith { eps, momentum } => Norm::BatchNorm2d(BatchNorm2d::new(
                p,
                channels,
                BatchNormConfig { eps, momentum: Some(momentum), ..Default::default() },
            )?),
            NormKind::GroupNorm { num_groups } => Norm::GroupNorm(GroupNorm::new(p, num_groups, channels)?),
            NormKind::LayerNorm2d { eps } => Norm::LayerNorm2d(LayerNorm2d::new(p, channels, eps)?),
        })
    }

    fn inner(&self) -> &dyn Module {
        match self {
            Norm::BatchNorm2d(m) => m,
            Norm::GroupNorm(m) => m,
            Norm::LayerNorm2d(m) => m,
        }
    }

    /// γ, shared with the model.
    pub fn weight(&self) -> Option<&Tensor> {
        match self {
            Norm::BatchNorm2d(m) => m.weight.as_ref(),
            Norm::GroupNorm(m) => m.weight.as_ref(),
            Norm::LayerNorm2d(m) => m.ln.weight.as_ref(),
        }
    }
}

impl Module for Norm {
    fn kind(&self) -> ModuleKind {
        self.inner().kind()
    }
    fn class_name(&self) -> &'static str {
        self.inner().class_name()
    }
    fn try_forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        self.inner().try_forward_t(xs, train)
    }
    fn own_parameters(&self) -> Vec<(&'static str, &Tensor)> {
        self.inner().own_parameters()
    }
    fn own_buffers(&self) -> Vec<(&'static str, &Tensor)> {
        self.inner().own_buffers()
    }
    fn training_flag(&self) -> Option<&Cell<bool>> {
        self.inner().training_flag()
    }
}

/// torchvision's `LayerNorm2d`: an `nn.LayerNorm` over the channels of an `[N, C, H, W]` map
/// (permute to NHWC, normalise the last dimension, permute back). Its kind is
/// [`ModuleKind::LayerNorm`] (it subclasses `nn.LayerNorm`), its class name `LayerNorm2d`.
#[derive(Debug)]
pub struct LayerNorm2d {
    /// The LayerNorm over the channels.
    pub ln: LayerNorm,
    path: String,
}

impl LayerNorm2d {
    /// `LayerNorm2d(channels, eps)` with affine weight and bias.
    pub fn new(p: &Path, channels: i64, eps: f64) -> Result<Self> {
        Ok(LayerNorm2d { ln: LayerNorm::with_options(p, &[channels], eps, true, true)?, path: path_string(p) })
    }
}

impl Module for LayerNorm2d {
    fn kind(&self) -> ModuleKind {
        ModuleKind::LayerNorm
    }
    fn class_name(&self) -> &'static str {
        "LayerNorm2d"
    }
    fn try_forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        if xs.dim() != 4 {
            return Err(input_error(&self.path, self.kind(), "[N, C, H, W]", xs));
        }
        let x = xs.f_permute([0, 2, 3, 1]).map_err(forward_error(&self.path, self.kind(), xs))?;
        let x = self.ln.try_forward_t(&x, train)?;
        x.f_permute([0, 3, 1, 2]).map_err(forward_error(&self.path, self.kind(), xs))
    }
    fn own_parameters(&self) -> Vec<(&'static str, &Tensor)> {
        self.ln.own_parameters()
    }
}

crate::impl_module_t!(Norm, LayerNorm2d);
