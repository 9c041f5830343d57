//! Activation modules of `torch/nn/modules/activation.py`.

use tch::{nn::Path, Tensor};

use super::{filled, forward_error, path_string, register, Module, ModuleKind};
use crate::error::{Error, Result};

macro_rules! elementwise {
    ($(#[$doc:meta] $name:ident => |$x:ident| $body:expr;)*) => {$(
        #[$doc]
        #[derive(Debug)]
        pub struct $name {
            path: String,
        }

        impl $name {
            /// The module at `p` (which it uses only to name itself in errors).
            pub fn new(p: &Path) -> Result<Self> {
                Ok($name { path: path_string(p) })
            }
        }

        impl Module for $name {
            fn kind(&self) -> ModuleKind {
                ModuleKind::$name
            }
            fn try_forward_t(&self, xs: &Tensor, _train: bool) -> Result<Tensor> {
                let $x = xs;
                let out: std::result::Result<Tensor, tch::TchError> = $body;
                out.map_err(forward_error(&self.path, self.kind(), xs))
            }
        }

        crate::impl_module_t!($name);
    )*};
}

elementwise! {
    /// `nn.ReLU()`: max(0, x).
    ReLU => |x| x.f_relu();
    /// `nn.ReLU6()`: min(max(0, x), 6).
    ReLU6 => |x| x.f_relu6();
    /// `nn.SiLU()`: x·σ(x).
    SiLU => |x| x.f_silu();
    /// `nn.Hardswish()`: x·ReLU6(x+3)/6.
    Hardswish => |x| x.f_hardswish();
    /// `nn.Hardsigmoid()`: ReLU6(x+3)/6.
    Hardsigmoid => |x| x.f_hardsigmoid();
    /// `nn.Sigmoid()`.
    Sigmoid => |x| x.f_sigmoid();
    /// `nn.Tanh()`.
    Tanh => |x| x.f_tanh();
}

/// `nn.LeakyReLU(negative_slope=0.01)`: x if x > 0 else slope·x.
#[derive(Debug)]
pub struct LeakyReLU {
    /// The slope for negative inputs.
    pub negative_slope: f64,
    path: String,
}

impl LeakyReLU {
    /// `nn.LeakyReLU(negative_slope)`.
    pub fn new(p: &Path, negative_slope: f64) -> Result<Self> {
        Ok(LeakyReLU { negative_slope, path: path_string(p) })
    }
}

impl Module for LeakyReLU {
    fn kind(&self) -> ModuleKind {
        ModuleKind::LeakyReLU
    }
    fn try_forward_t(&self, xs: &Tensor, _train: bool) -> Result<Tensor> {
        // ATen's kernel: `x > 0 ? x : x * slope`.
        let f = || -> std::result::Result<Tensor, tch::TchError> {
            let pos = xs.f_gt(0.0)?;
            let neg = xs.f_mul_scalar(self.negative_slope)?;
            xs.f_where_self(&pos, &neg)
        };
        f().map_err(forward_error(&self.path, self.kind(), xs))
    }
}

/// `nn.PReLU(num_parameters=1, init=0.25)`: a learnable slope, one or one per channel.
#[derive(Debug)]
pub struct PReLU {
    /// The slopes, `[num_parameters]`.
    pub weight: Tensor,
    path: String,
}

impl PReLU {
    /// `nn.PReLU(num_parameters, init)`.
    pub fn new(p: &Path, num_parameters: i64, init: f64) -> Result<Self> {
        if num_parameters <= 0 {
            return Err(Error::InvalidArgument(format!("{} (PReLU): num_parameters must be positive", path_string(p))));
        }
        let w = filled(p, &[num_parameters], init)?;
        Ok(PReLU { weight: register(p, "weight", w, true)?, path: path_string(p) })
    }
}

impl Module for PReLU {
    fn kind(&self) -> ModuleKind {
        ModuleKind::PReLU
    }
    fn try_forward_t(&self, xs: &Tensor, _train: bool) -> Result<Tensor> {
        xs.f_prelu(&self.weight).map_err(forward_error(&self.path, self.kind(), xs))
    }
    fn own_parameters(&self) -> Vec<(&'static str, &Tensor)> {
        vec![("weight", &self.weight)]
    }
}

/// `nn.GELU(approximate='none' | 'tanh')`.
#[derive(Debug)]
pub struct GELU {
    /// `"none"` (exact, erf) or `"tanh"`.
    pub approximate: &'static str,
    path: String,
}

impl GELU {
    /// `nn.GELU()`: the exact form.
    pub fn new(p: &Path) -> Result<Self> {
        Self::with_approximate(p, "none")
    }
    /// `nn.GELU(approximate)`, `"none"` or `"tanh"`.
    pub fn with_approximate(p: &Path, approximate: &str) -> Result<Self> {
        let approximate = match approximate {
            "none" => "none",
            "tanh" => "tanh",
            other => return Err(Error::unknown("GELU approximation", other, &["none", "tanh"])),
        };
        Ok(GELU { approximate, path: path_string(p) })
    }
}

impl Module for GELU {
    fn kind(&self) -> ModuleKind {
        ModuleKind::GELU
    }
    fn try_forward_t(&self, xs: &Tensor, _train: bool) -> Result<Tensor> {
        xs.f_gelu(self.approximate).map_err(forward_error(&self.path, self.kind(), xs))
    }
}

crate::impl_module_t!(LeakyReLU, PReLU, GELU);
