//! `torch.nn.Linear` (`torch/nn/modules/linear.py`), and the parameterless modules of
//! `flatten.py`, `dropout.py` and `linear.py`: [`Flatten`], [`Dropout`], [`Identity`].

use std::cell::Cell;
use tch::{nn::Path, Tensor};

use super::conv::reset_linear_like;
use super::{empty, forward_error, input_error, path_string, register, Module, ModuleKind};
use crate::error::{Error, Result};

/// `nn.Linear`: `y = x Wᵀ + b`, weight `[out, in]`, bias `[out]`, initialised as torch.
#[derive(Debug)]
pub struct Linear {
    /// `[out_features, in_features]`.
    pub weight: Tensor,
    /// `[out_features]`.
    pub bias: Option<Tensor>,
    /// Input features.
    pub in_features: i64,
    /// Output features.
    pub out_features: i64,
    path: String,
}

impl Linear {
    /// A Linear at `p` with bias and torch's default initialisation.
    pub fn new(p: &Path, in_features: i64, out_features: i64) -> Result<Self> {
        Self::with_bias(p, in_features, out_features, true)
    }

    /// A Linear with or without bias.
    pub fn with_bias(p: &Path, in_features: i64, out_features: i64, bias: bool) -> Result<Self> {
        let path = path_string(p);
        if in_features < 0 || out_features < 0 {
            return Err(Error::InvalidArgument(format!(
                "{path} (Linear): negative feature count ({in_features} -> {out_features})"
            )));
        }
        let mut weight = empty(p, &[out_features, in_features])?;
        let mut b = if bias { Some(empty(p, &[out_features])?) } else { None };
        reset_linear_like(&mut weight, b.as_mut())?;
        let weight = register(p, "weight", weight, true)?;
        let bias = b.map(|b| register(p, "bias", b, true)).transpose()?;
        Ok(Linear { weight, bias, in_features, out_features, path })
    }
}

impl Module for Linear {
    fn kind(&self) -> ModuleKind {
        ModuleKind::Linear
    }
    fn try_forward_t(&self, xs: &Tensor, _train: bool) -> Result<Tensor> {
        let size = xs.size();
        if size.last() != Some(&self.in_features) {
            return Err(input_error(
                &self.path,
                self.kind(),
                format!("[*, {}] (in_features = {})", self.in_features, self.in_features),
                xs,
            ));
        }
        xs.f_linear(&self.weight, self.bias.as_ref()).map_err(forward_error(&self.path, self.kind(), xs))
    }
    fn own_parameters(&self) -> Vec<(&'static str, &Tensor)> {
        let mut v = vec![("weight", &self.weight)];
        if let Some(b) = &self.bias {
            v.push(("bias", b));
        }
        v
    }
}

/// `nn.Flatten(start_dim, end_dim)`; the default (1, −1) is the seed's `x.view(x.size(0), -1)`
/// (but works on non-contiguous inputs too, as `torch.flatten` does).
#[derive(Debug)]
pub struct Flatten {
    /// First dimension to flatten.
    pub start_dim: i64,
    /// Last dimension to flatten (negative counts from the end).
    pub end_dim: i64,
    path: String,
}

impl Flatten {
    /// `nn.Flatten()`: dimensions 1 to −1.
    pub fn new(p: &Path) -> Result<Self> {
        Self::with_dims(p, 1, -1)
    }
    /// `nn.Flatten(start_dim, end_dim)`.
    pub fn with_dims(p: &Path, start_dim: i64, end_dim: i64) -> Result<Self> {
        Ok(Flatten { start_dim, end_dim, path: path_string(p) })
    }
}

impl Module for Flatten {
    fn kind(&self) -> ModuleKind {
        ModuleKind::Flatten
    }
    fn try_forward_t(&self, xs: &Tensor, _train: bool) -> Result<Tensor> {
        xs.f_flatten(self.start_dim, self.end_dim).map_err(forward_error(&self.path, self.kind(), xs))
    }
}

/// `nn.Dropout(p)`: zeroes elements with probability `p` and scales the rest by `1/(1−p)` in
/// training mode; the identity in eval mode.
#[derive(Debug)]
pub struct Dropout {
    /// Drop probability.
    pub p: f64,
    training: Cell<bool>,
    path: String,
}

impl Dropout {
    /// `nn.Dropout(p)`; `p` must lie in [0, 1].
    pub fn new(p: &Path, prob: f64) -> Result<Self> {
        if !(0.0..=1.0).contains(&prob) {
            return Err(Error::InvalidArgument(format!(
                "{} (Dropout): probability has to be between 0 and 1, but got {prob}",
                path_string(p)
            )));
        }
        Ok(Dropout { p: prob, training: Cell::new(true), path: path_string(p) })
    }
}

impl Module for Dropout {
    fn kind(&self) -> ModuleKind {
        ModuleKind::Dropout
    }
    fn try_forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        xs.f_dropout(self.p, train && self.training.get()).map_err(forward_error(&self.path, self.kind(), xs))
    }
    fn training_flag(&self) -> Option<&Cell<bool>> {
        Some(&self.training)
    }
}

/// `nn.Identity()`.
#[derive(Debug)]
pub struct Identity {
    path: String,
}

impl Identity {
    /// `nn.Identity()`.
    pub fn new(p: &Path) -> Result<Self> {
        Ok(Identity { path: path_string(p) })
    }
}

impl Module for Identity {
    fn kind(&self) -> ModuleKind {
        ModuleKind::Identity
    }
    fn try_forward_t(&self, xs: &Tensor, _train: bool) -> Result<Tensor> {
        let _ = &self.path;
        Ok(xs.shallow_clone())
    }
}

crate::impl_module_t!(Linear, Flatten, Dropout, Identity);
