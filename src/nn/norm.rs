//! Normalisation layers: `nn.BatchNorm2d` (`torch/nn/modules/batchnorm.py`, Ioffe & Szegedy
//! 2015), `nn.LayerNorm` and `nn.GroupNorm` (`torch/nn/modules/normalization.py`; Ba et al.
//! 2016, Wu & He 2018).

use std::cell::Cell;
use tch::{nn::Path, Kind, Tensor};

use super::{filled, forward_error, input_error, path_string, register, Module, ModuleKind};
use crate::error::{Error, Result};

/// Options of [`BatchNorm2d`], with torch's defaults.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchNormConfig {
    /// Added to the variance (default 1e-5).
    pub eps: f64,
    /// Running-average factor (default `Some(0.1)`); `None` is torch's cumulative moving
    /// average (factor `1/num_batches_tracked`).
    pub momentum: Option<f64>,
    /// Learnable `weight` and `bias` (default true).
    pub affine: bool,
    /// Keep `running_mean`, `running_var` and `num_batches_tracked` (default true).
    pub track_running_stats: bool,
}

impl Default for BatchNormConfig {
    fn default() -> Self {
        BatchNormConfig { eps: 1e-5, momentum: Some(0.1), affine: true, track_running_stats: true }
    }
}

/// `nn.BatchNorm2d`: parameters `weight` (1) and `bias` (0); buffers `running_mean` (0),
/// `running_var` (1) and `num_batches_tracked` (int64 0). Training normalises with the batch
/// statistics and updates the running ones (unbiased variance) exactly as torch does.
#[derive(Debug)]
pub struct BatchNorm2d {
    /// γ, `[num_features]`.
    pub weight: Option<Tensor>,
    /// β, `[num_features]`.
    pub bias: Option<Tensor>,
    /// Running mean, `[num_features]`.
    pub running_mean: Option<Tensor>,
    /// Running (unbiased) variance, `[num_features]`.
    pub running_var: Option<Tensor>,
    /// Batches seen in training mode, an int64 scalar.
    pub num_batches_tracked: Option<Tensor>,
    /// Channels.
    pub num_features: i64,
    /// Options.
    pub config: BatchNormConfig,
    training: Cell<bool>,
    path: String,
}

impl BatchNorm2d {
    /// A BatchNorm2d at `p` over `num_features` channels.
    pub fn new(p: &Path, num_features: i64, config: BatchNormConfig) -> Result<Self> {
        let path = path_string(p);
        if num_features <= 0 {
            return Err(Error::InvalidArgument(format!(
                "{path} (BatchNorm2d): num_features must be positive, got {num_features}"
            )));
        }
        let n = [num_features];
        let (weight, bias) = if config.affine {
            (
                Some(register(p, "weight", filled(p, &n, 1.0)?, true)?),
                Some(register(p, "bias", filled(p, &n, 0.0)?, true)?),
            )
        } else {
            (None, None)
        };
        let (running_mean, running_var, num_batches_tracked) = if config.track_running_stats {
            (
                Some(register(p, "running_mean", filled(p, &n, 0.0)?, false)?),
                Some(register(p, "running_var", filled(p, &n, 1.0)?, false)?),
                Some(register(
                    p,
                    "num_batches_tracked",
                    Tensor::f_zeros([], (Kind::Int64, p.device()))
                        .map_err(|e| Error::torch(format!("{path}: allocating num_batches_tracked"), e))?,
                    false,
                )?),
            )
        } else {
            (None, None, None)
        };
        Ok(BatchNorm2d {
            weight,
            bias,
            running_mean,
            running_var,
            num_batches_tracked,
            num_features,
            config,
            training: Cell::new(true),
            path,
        })
    }
}

impl Module for BatchNorm2d {
    fn kind(&self) -> ModuleKind {
        ModuleKind::BatchNorm2d
    }
    /// torch's `_NormBase._version` (2 since `num_batches_tracked`).
    fn version(&self) -> i64 {
        2
    }

    fn try_forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        let size = xs.size();
        if size.len() != 4 || size[1] != self.num_features {
            return Err(input_error(
                &self.path,
                self.kind(),
                format!("[N, {}, H, W] (a 4-D input)", self.num_features),
                xs,
            ));
        }
        let training = train && self.training.get();
        if training && size[0] * size[2] * size[3] == 1 {
            return Err(input_error(
                &self.path,
                self.kind(),
                format!("more than 1 value per channel when training (got input size {size:?})"),
                xs,
            ));
        }
        let mut factor = self.config.momentum.unwrap_or(0.0);
        if training && self.config.track_running_stats {
            if let Some(nbt) = &self.num_batches_tracked {
                let _g = tch::no_grad_guard();
                let mut nbt = nbt.shallow_clone();
                let _ = nbt.f_add_scalar_(1).map_err(forward_error(&self.path, self.kind(), xs))?;
                if self.config.momentum.is_none() {
                    factor = 1.0 / nbt.f_int64_value(&[]).map_err(forward_error(&self.path, self.kind(), xs))? as f64;
                }
            }
        }
        let bn_training = training || self.running_mean.is_none();
        let (rm, rv) = if !training || self.config.track_running_stats {
            (self.running_mean.as_ref(), self.running_var.as_ref())
        } else {
            (None, None)
        };
        xs.f_batch_norm(self.weight.as_ref(), self.bias.as_ref(), rm, rv, bn_training, factor, self.config.eps, true)
            .map_err(forward_error(&self.path, self.kind(), xs))
    }

    fn own_parameters(&self) -> Vec<(&'static str, &Tensor)> {
        let mut v = Vec::new();
        if let (Some(w), Some(b)) = (&self.weight, &self.bias) {
            v.push(("weight", w));
            v.push(("bias", b));
        }
        v
    }

    fn own_buffers(&self) -> Vec<(&'static str, &Tensor)> {
        let mut v = Vec::new();
        if let (Some(m), Some(r), Some(n)) = (&self.running_mean, &self.running_var, &self.num_batches_tracked) {
            v.push(("running_mean", m));
            v.push(("running_var", r));
            v.push(("num_batches_tracked", n));
        }
        v
    }

    fn training_flag(&self) -> Option<&Cell<bool>> {
        Some(&self.training)
    }
}

/// `nn.LayerNorm(normalized_shape, eps=1e-5, elementwise_affine=True, bias=True)`.
#[derive(Debug)]
pub struct LayerNorm {
    /// γ, `normalized_shape`.
    pub weight: Option<Tensor>,
    /// β, `normalized_shape`.
    pub bias: Option<Tensor>,
    /// The trailing shape normalised over.
    pub normalized_shape: Vec<i64>,
    /// Added to the variance.
    pub eps: f64,
    path: String,
}

impl LayerNorm {
    /// `nn.LayerNorm(normalized_shape)` with eps 1e-5 and affine weight and bias.
    pub fn new(p: &Path, normalized_shape: &[i64]) -> Result<Self> {
        Self::with_options(p, normalized_shape, 1e-5, true, true)
    }

    /// `nn.LayerNorm` with every option.
    pub fn with_options(
        p: &Path,
        normalized_shape: &[i64],
        eps: f64,
        elementwise_affine: bool,
        bias: bool,
    ) -> Result<Self> {
        let path = path_string(p);
        if normalized_shape.is_empty() || normalized_shape.iter().any(|&d| d <= 0) {
            return Err(Error::InvalidArgument(format!(
                "{path} (LayerNorm): bad normalized_shape {normalized_shape:?}"
            )));
        }
        let weight = if elementwise_affine {
            Some(register(p, "weight", filled(p, normalized_shape, 1.0)?, true)?)
        } else {
            None
        };
        let bias = if elementwise_affine && bias {
            Some(register(p, "bias", filled(p, normalized_shape, 0.0)?, true)?)
        } else {
            None
        };
        Ok(LayerNorm { weight, bias, normalized_shape: normalized_shape.to_vec(), eps, path })
    }
}

impl Module for LayerNorm {
    fn kind(&self) -> ModuleKind {
        ModuleKind::LayerNorm
    }
    fn try_forward_t(&self, xs: &Tensor, _train: bool) -> Result<Tensor> {
        let size = xs.size();
        let k = self.normalized_shape.len();
        if size.len() < k || size[size.len() - k..] != self.normalized_shape[..] {
            return Err(input_error(
                &self.path,
                self.kind(),
                format!(
                    "[*, {}] (trailing dimensions = normalized_shape)",
                    self.normalized_shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")
                ),
                xs,
            ));
        }
        xs.f_layer_norm(self.normalized_shape.as_slice(), self.weight.as_ref(), self.bias.as_ref(), self.eps, true)
            .map_err(forward_error(&self.path, self.kind(), xs))
    }
    fn own_parameters(&self) -> Vec<(&'static str, &Tensor)> {
        let mut v = Vec::new();
        if let Some(w) = &self.weight {
            v.push(("weight", w));
        }
        if let Some(b) = &self.bias {
            v.push(("bias", b));
        }
        v
    }
}

/// `nn.GroupNorm(num_groups, num_channels, eps=1e-5, affine=True)`.
#[derive(Debug)]
pub struct GroupNorm {
    /// γ, `[num_channels]`.
    pub weight: Option<Tensor>,
    /// β, `[num_channels]`.
    pub bias: Option<Tensor>,
    /// Groups the channels are split into.
    pub num_groups: i64,
    /// Channels.
    pub num_channels: i64,
    /// Added to the variance.
    pub eps: f64,
    path: String,
}

impl GroupNorm {
    /// `nn.GroupNorm(num_groups, num_channels)` with eps 1e-5 and affine parameters.
    pub fn new(p: &Path, num_groups: i64, num_channels: i64) -> Result<Self> {
        Self::with_options(p, num_groups, num_channels, 1e-5, true)
    }

    /// `nn.GroupNorm` with every option.
    pub fn with_options(p: &Path, num_groups: i64, num_channels: i64, eps: f64, affine: bool) -> Result<Self> {
        let path = path_string(p);
        if num_groups <= 0 || num_channels <= 0 || num_channels % num_groups != 0 {
            return Err(Error::InvalidArgument(format!(
                "{path} (GroupNorm): num_channels ({num_channels}) must be divisible by num_groups ({num_groups})"
            )));
        }
        let (weight, bias) = if affine {
            (
                Some(register(p, "weight", filled(p, &[num_channels], 1.0)?, true)?),
                Some(register(p, "bias", filled(p, &[num_channels], 0.0)?, true)?),
            )
        } else {
            (None, None)
        };
        Ok(GroupNorm { weight, bias, num_groups, num_channels, eps, path })
    }
}

impl Module for GroupNorm {
    fn kind(&self) -> ModuleKind {
        ModuleKind::GroupNorm
    }
    fn try_forward_t(&self, xs: &Tensor, _train: bool) -> Result<Tensor> {
        let size = xs.size();
        if size.len() < 2 || size[1] != self.num_channels {
            return Err(input_error(&self.path, self.kind(), format!("[N, {}, *]", self.num_channels), xs));
        }
        xs.f_group_norm(self.num_groups, self.weight.as_ref(), self.bias.as_ref(), self.eps, true)
            .map_err(forward_error(&self.path, self.kind(), xs))
    }
    fn own_parameters(&self) -> Vec<(&'static str, &Tensor)> {
        let mut v = Vec::new();
        if let (Some(w), Some(b)) = (&self.weight, &self.bias) {
            v.push(("weight", w));
            v.push(("bias", b));
        }
        v
    }
}

crate::impl_module_t!(BatchNorm2d, LayerNorm, GroupNorm);
