//! `torch.nn.Conv2d` (`torch/nn/modules/conv.py`).

use tch::{nn::Path, Tensor};

use super::{empty, forward_error, input_error, path_string, register, Module, ModuleKind, Pair};
use crate::error::{Error, Result};
use crate::init::{self, FanMode, Nonlinearity};

/// Conv2d padding: explicit sizes, or torch's `"same"` / `"valid"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Padding {
    /// Zero padding of `[h, w]` on each side.
    Explicit([i64; 2]),
    /// Output the input's size (stride 1 only), padding split as torch splits it.
    Same,
    /// No padding.
    Valid,
}

impl From<i64> for Padding {
    fn from(v: i64) -> Self {
        Padding::Explicit([v, v])
    }
}
impl From<[i64; 2]> for Padding {
    fn from(v: [i64; 2]) -> Self {
        Padding::Explicit(v)
    }
}

/// Options of [`Conv2d`] with torch's defaults: stride 1, padding 0, dilation 1, groups 1, bias.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Conv2dConfig {
    /// Stride.
    pub stride: Pair,
    /// Padding.
    pub padding: Padding,
    /// Dilation.
    pub dilation: Pair,
    /// Groups: in and out channels must both be divisible by it.
    pub groups: i64,
    /// Whether the layer has a bias.
    pub bias: bool,
}

impl Default for Conv2dConfig {
    fn default() -> Self {
        Conv2dConfig {
            stride: Pair([1, 1]),
            padding: Padding::Explicit([0, 0]),
            dilation: Pair([1, 1]),
            groups: 1,
            bias: true,
        }
    }
}

impl Conv2dConfig {
    /// Sets the stride.
    pub fn stride(mut self, s: impl Into<Pair>) -> Self {
        self.stride = s.into();
        self
    }
    /// Sets the padding (a number, a pair, [`Padding::Same`] or [`Padding::Valid`]).
    pub fn padding(mut self, p: impl Into<Padding>) -> Self {
        self.padding = p.into();
        self
    }
    /// Sets the dilation.
    pub fn dilation(mut self, d: impl Into<Pair>) -> Self {
        self.dilation = d.into();
        self
    }
    /// Sets the number of groups.
    pub fn groups(mut self, g: i64) -> Self {
        self.groups = g;
        self
    }
    /// With or without bias.
    pub fn bias(mut self, b: bool) -> Self {
        self.bias = b;
        self
    }
}

/// `nn.Conv2d`: parameters `weight` `[out, in/groups, kh, kw]` and, optionally, `bias` `[out]`,
/// initialised as torch's `reset_parameters` (kaiming_uniform with a = √5; bias U(±1/√fan_in)).
#[derive(Debug)]
pub struct Conv2d {
    /// The kernel, `[out_channels, in_channels / groups, kh, kw]`.
    pub weight: Tensor,
    /// The bias, `[out_channels]`.
    pub bias: Option<Tensor>,
    /// Input channels.
    pub in_channels: i64,
    /// Output channels.
    pub out_channels: i64,
    /// Kernel size.
    pub kernel_size: [i64; 2],
    /// The options.
    pub config: Conv2dConfig,
    path: String,
}

impl Conv2d {
    /// A Conv2d at `p` with torch's default initialisation.
    pub fn new(
        p: &Path,
        in_channels: i64,
        out_channels: i64,
        kernel_size: impl Into<Pair>,
        config: Conv2dConfig,
    ) -> Result<Self> {
        let kernel_size = kernel_size.into().0;
        let path = path_string(p);
        let g = config.groups;
        let bad = |what: String| Err(Error::InvalidArgument(format!("{path} (Conv2d): {what}")));
        if in_channels <= 0 || out_channels <= 0 {
            return bad(format!("channels must be positive, got in={in_channels}, out={out_channels}"));
        }
        if g <= 0 || in_channels % g != 0 || out_channels % g != 0 {
            return bad(format!(
                "in_channels ({in_channels}) and out_channels ({out_channels}) must be divisible by groups ({g})"
            ));
        }
        if kernel_size.iter().chain(&config.stride.0).chain(&config.dilation.0).any(|&v| v <= 0) {
            return bad("kernel size, stride and dilation must be positive".into());
        }
        if let Padding::Explicit(pd) = config.padding {
            if pd.iter().any(|&v| v < 0) {
                return bad(format!("padding must be non-negative, got {pd:?}"));
            }
        }
        if config.padding == Padding::Same && config.stride.0 != [1, 1] {
            return bad("padding='same' is not supported for strided convolutions".into());
        }
        let mut weight = empty(p, &[out_channels, in_channels / g, kernel_size[0], kernel_size[1]])?;
        let mut bias = if config.bias { Some(empty(p, &[out_channels])?) } else { None };
        reset_linear_like(&mut weight, bias.as_mut())?;
        let weight = register(p, "weight", weight, true)?;
        let bias = bias.map(|b| register(p, "bias", b, true)).transpose()?;
        Ok(Conv2d { weight, bias, in_channels, out_channels, kernel_size, config, path })
    }

    /// The layer's dotted path.
    pub fn path(&self) -> &str {
        &self.path
    }
}

/// torch's `reset_parameters` for Conv and Linear: weight kaiming_uniform(a=√5), bias
/// U(−1/√fan_in, 1/√fan_in).
pub(crate) fn reset_linear_like(weight: &mut Tensor, bias: Option<&mut Tensor>) -> Result<()> {
    init::kaiming_uniform_(weight, FanMode::FanIn, Nonlinearity::LeakyRelu(5f64.sqrt()))?;
    if let Some(b) = bias {
        let (fan_in, _) = init::fan_in_and_fan_out(weight)?;
        if fan_in != 0 {
            let bound = 1.0 / (fan_in as f64).sqrt();
            init::uniform_(b, -bound, bound)?;
        }
    }
    Ok(())
}

impl Module for Conv2d {
    fn kind(&self) -> ModuleKind {
        ModuleKind::Conv2d
    }

    fn try_forward_t(&self, xs: &Tensor, _train: bool) -> Result<Tensor> {
        let kind = self.kind();
        let size = xs.size();
        if !(size.len() == 3 || size.len() == 4) || size[size.len() - 3] != self.in_channels {
            return Err(input_error(
                &self.path,
                kind,
                format!("[N, {}, H, W] or [{}, H, W]", self.in_channels, self.in_channels),
                xs,
            ));
        }
        let c = &self.config;
        let pad = match c.padding {
            Padding::Explicit(p) => p,
            _ => [0, 0],
        };
        let (h, w) = (size[size.len() - 2], size[size.len() - 1]);
        let ek = [c.dilation.0[0] * (self.kernel_size[0] - 1) + 1, c.dilation.0[1] * (self.kernel_size[1] - 1) + 1];
        if c.padding != Padding::Same && (h + 2 * pad[0] < ek[0] || w + 2 * pad[1] < ek[1]) {
            return Err(input_error(
                &self.path,
                kind,
                format!(
                    "a spatial size of at least {}x{} after padding {:?} (the dilated kernel's size)",
                    ek[0], ek[1], pad
                ),
                xs,
            ));
        }
        let out = match c.padding {
            Padding::Explicit(p) => {
                xs.f_conv2d(&self.weight, self.bias.as_ref(), c.stride.0, p, c.dilation.0, c.groups)
            }
            Padding::Same => {
                xs.f_conv2d_padding(&self.weight, self.bias.as_ref(), c.stride.0, "same", c.dilation.0, c.groups)
            }
            Padding::Valid => {
                xs.f_conv2d_padding(&self.weight, self.bias.as_ref(), c.stride.0, "valid", c.dilation.0, c.groups)
            }
        };
        out.map_err(forward_error(&self.path, kind, xs))
    }

    fn own_parameters(&self) -> Vec<(&'static str, &Tensor)> {
        let mut v = vec![("weight", &self.weight)];
        if let Some(b) = &self.bias {
            v.push(("bias", b));
        }
        v
    }
}

crate::impl_module_t!(Conv2d);
