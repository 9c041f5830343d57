//! torchvision's `StochasticDepth` (`torchvision/ops/stochastic_depth.py`; Huang et al. 2016,
//! "Deep Networks with Stochastic Depth"): drops whole residual branches, per sample (`row`) or
//! for the whole batch (`batch`), in training only.

use std::cell::Cell;
use tch::{nn::Path, Kind, Tensor};

use crate::error::{Error, Result};
use crate::nn::{forward_error, path_string, Module, ModuleKind};

/// Which elements share one drop decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DepthMode {
    /// One decision per sample (`"row"`).
    Row,
    /// One decision for the whole batch (`"batch"`).
    Batch,
}

/// `StochasticDepth(p, mode)`: in training, `x * noise / (1 - p)` with `noise ~ Bernoulli(1 -
/// p)` of shape `[N, 1, 1, …]` (row) or `[1, 1, …]` (batch), drawn as torch draws it
/// (`torch.empty(size).bernoulli_(1 - p)`), so the same seed gives the same masks; the identity
/// in eval mode or when `p == 0`.
#[derive(Debug)]
pub struct StochasticDepth {
    /// Drop probability.
    pub p: f64,
    /// Row or batch mode.
    pub mode: DepthMode,
    training: Cell<bool>,
    path: String,
}

impl StochasticDepth {
    /// `StochasticDepth(p, mode)` at `p`; the probability must lie in [0, 1].
    pub fn new(path: &Path, p: f64, mode: DepthMode) -> Result<Self> {
        if !(0.0..=1.0).contains(&p) {
            return Err(Error::InvalidArgument(format!(
                "{} (StochasticDepth): drop probability has to be between 0 and 1, but got {p}",
                path_string(path)
            )));
        }
        Ok(StochasticDepth { p, mode, training: Cell::new(true), path: path_string(path) })
    }
}

impl Module for StochasticDepth {
    fn kind(&self) -> ModuleKind {
        ModuleKind::Custom("StochasticDepth")
    }
    fn try_forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        if !(train && self.training.get()) || self.p == 0.0 {
            return Ok(xs.shallow_clone());
        }
        let survival = 1.0 - self.p;
        let mut size = vec![1i64; xs.dim()];
        if self.mode == DepthMode::Row {
            size[0] = xs.size()[0];
        }
        let f = || -> std::result::Result<Tensor, tch::TchError> {
            let mut noise = Tensor::f_empty(size.as_slice(), (xs.kind(), xs.device()))?;
            let _ = noise.f_bernoulli_float_(survival)?;
            if survival > 0.0 {
                let _ = noise.f_div_scalar_(survival)?;
            }
            xs.f_mul(&noise)
        };
        if xs.kind() == Kind::Int64 {
            return Err(Error::InvalidArgument(format!("{} (StochasticDepth): needs a float input", self.path)));
        }
        f().map_err(forward_error(&self.path, self.kind(), xs))
    }
    fn training_flag(&self) -> Option<&Cell<bool>> {
        Some(&self.training)
    }
}

crate::impl_module_t!(StochasticDepth);
