//! `torchvision/ops/misc.py`: `Conv2dNormActivation`, `SqueezeExcitation`, `MLP`, `Permute`;
//! the activation choice; ResNet's `conv3x3` / `conv1x1` (`torchvision/models/resnet.py`).

use tch::{nn::Path, Tensor};

use super::{Norm, NormKind};
use crate::error::{Error, Result};
use crate::nn::{forward_error, path_string, *};

/// torchvision's `activation_layer`: which activation a block uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Act {
    /// `nn.ReLU`.
    ReLU,
    /// `nn.ReLU6`.
    ReLU6,
    /// `nn.SiLU` (Swish).
    SiLU,
    /// `nn.Hardswish`.
    Hardswish,
    /// `nn.Hardsigmoid`.
    Hardsigmoid,
    /// `nn.Sigmoid`.
    Sigmoid,
    /// `nn.GELU` (exact).
    GELU,
}

impl Act {
    /// The activation module at `p`.
    pub fn build(self, p: &Path) -> Result<Box<dyn Module>> {
        Ok(match self {
            Act::ReLU => Box::new(ReLU::new(p)?),
            Act::ReLU6 => Box::new(ReLU6::new(p)?),
            Act::SiLU => Box::new(SiLU::new(p)?),
            Act::Hardswish => Box::new(Hardswish::new(p)?),
            Act::Hardsigmoid => Box::new(Hardsigmoid::new(p)?),
            Act::Sigmoid => Box::new(Sigmoid::new(p)?),
            Act::GELU => Box::new(GELU::new(p)?),
        })
    }
}

/// The arguments of torchvision's `Conv2dNormActivation(in_channels, out_channels,
/// kernel_size=3, stride=1, padding=None, groups=1, norm_layer=BatchNorm2d,
/// activation_layer=ReLU, dilation=1, inplace=True, bias=None)`, with its defaults.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ConvNormAct {
    /// Input channels.
    pub cin: i64,
    /// Output channels.
    pub cout: i64,
    /// Square kernel size.
    pub kernel: i64,
    /// Stride.
    pub stride: i64,
    /// Padding; `None` is torchvision's `(kernel - 1) / 2 * dilation`.
    pub padding: Option<i64>,
    /// Groups.
    pub groups: i64,
    /// Dilation.
    pub dilation: i64,
    /// The norm; `None` for `norm_layer=None`.
    pub norm: Option<NormKind>,
    /// The activation; `None` for `activation_layer=None`.
    pub act: Option<Act>,
    /// Conv bias; `None` is torchvision's default (a bias exactly when there is no norm).
    pub bias: Option<bool>,
}

impl ConvNormAct {
    /// `Conv2dNormActivation(cin, cout, kernel)` with every other argument at its default.
    pub fn new(cin: i64, cout: i64, kernel: i64) -> Self {
        ConvNormAct {
            cin,
            cout,
            kernel,
            stride: 1,
            padding: None,
            groups: 1,
            dilation: 1,
            norm: Some(NormKind::BatchNorm2d),
            act: Some(Act::ReLU),
            bias: None,
        }
    }
    /// Sets the stride.
    pub fn stride(mut self, s: i64) -> Self {
        self.stride = s;
        self
    }
    /// Sets the padding.
    pub fn padding(mut self, p: i64) -> Self {
        self.padding = Some(p);
        self
    }
    /// Sets the groups.
    pub fn groups(mut self, g: i64) -> Self {
        self.groups = g;
        self
    }
    /// Sets the dilation.
    pub fn dilation(mut self, d: i64) -> Self {
        self.dilation = d;
        self
    }
    /// Sets the norm (`None`: no norm layer).
    pub fn norm(mut self, n: Option<NormKind>) -> Self {
        self.norm = n;
        self
    }
    /// Sets the activation (`None`: no activation layer).
    pub fn act(mut self, a: Option<Act>) -> Self {
        self.act = a;
        self
    }
    /// Sets whether the conv has a bias.
    pub fn bias(mut self, b: bool) -> Self {
        self.bias = Some(b);
        self
    }
}

/// torchvision's `Conv2dNormActivation` at `p`: a Sequential (class `Conv2dNormActivation`) of
/// `0` the conv, `1` the norm and `2` the activation (absent ones are skipped, so the indices
/// stay as torchvision's).
pub fn conv_norm_act(p: Path<'_>, a: ConvNormAct) -> Result<Sequential> {
    let padding = a.padding.unwrap_or((a.kernel - 1) / 2 * a.dilation);
    let bias = a.bias.unwrap_or(a.norm.is_none());
    let cfg =
        Conv2dConfig::default().stride(a.stride).padding(padding).groups(a.groups).dilation(a.dilation).bias(bias);
    let mut b =
        Sequential::subclass(p, "Conv2dNormActivation").add(|p| Conv2d::new(p, a.cin, a.cout, a.kernel, cfg))?;
    if let Some(n) = a.norm {
        b = b.add(|p| Norm::new(p, n, a.cout))?;
    }
    if let Some(act) = a.act {
        b = b.add(|p| act.build(p))?;
    }
    Ok(b.build())
}

/// torchvision's `_make_divisible(v, divisor)` (`torchvision/models/_utils.py`): `v` rounded to
/// the nearest multiple of `divisor` (at least `divisor`), one step up when rounding lost more
/// than 10 %.
pub fn make_divisible(v: f64, divisor: i64) -> i64 {
    let d = divisor as f64;
    let mut new_v = divisor.max(((v + d / 2.0) as i64) / divisor * divisor);
    if (new_v as f64) < 0.9 * v {
        new_v += divisor;
    }
    new_v
}

/// torchvision's `conv3x3`: padding = dilation, no bias.
pub fn conv3x3(p: &Path, cin: i64, cout: i64, stride: i64, groups: i64, dilation: i64) -> Result<Conv2d> {
    let cfg = Conv2dConfig::default().stride(stride).padding(dilation).groups(groups).dilation(dilation).bias(false);
    Conv2d::new(p, cin, cout, 3, cfg)
}

/// torchvision's `conv1x1`: no bias.
pub fn conv1x1(p: &Path, cin: i64, cout: i64, stride: i64) -> Result<Conv2d> {
    Conv2d::new(p, cin, cout, 1, Conv2dConfig::default().stride(stride).bias(false))
}

/// torchvision's `SqueezeExcitation(input_channels, squeeze_channels, activation=ReLU,
/// scale_activation=Sigmoid)`: `x * scale_activation(fc2(activation(fc1(avgpool(x)))))`, with
/// `fc1` and `fc2` 1×1 convolutions with bias.
#[derive(Debug)]
pub struct SqueezeExcitation {
    /// Global average pool.
    pub avgpool: AdaptiveAvgPool2d,
    /// 1×1 conv, `input_channels → squeeze_channels`.
    pub fc1: Conv2d,
    /// 1×1 conv, `squeeze_channels → input_channels`.
    pub fc2: Conv2d,
    /// Between `fc1` and `fc2`.
    pub activation: Box<dyn Module>,
    /// On the scale.
    pub scale_activation: Box<dyn Module>,
}
crate::module!(SqueezeExcitation, [avgpool, fc1, fc2, activation, scale_activation]);

impl SqueezeExcitation {
    /// `SqueezeExcitation(input_channels, squeeze_channels, activation, scale_activation)`.
    pub fn new(p: &Path, input_channels: i64, squeeze_channels: i64, activation: Act, scale: Act) -> Result<Self> {
        Ok(SqueezeExcitation {
            avgpool: AdaptiveAvgPool2d::new(&(p / "avgpool"), 1)?,
            fc1: Conv2d::new(&(p / "fc1"), input_channels, squeeze_channels, 1, Conv2dConfig::default())?,
            fc2: Conv2d::new(&(p / "fc2"), squeeze_channels, input_channels, 1, Conv2dConfig::default())?,
            activation: activation.build(&(p / "activation"))?,
            scale_activation: scale.build(&(p / "scale_activation"))?,
        })
    }

    fn forward(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        let scale = c.chain(&[&self.avgpool, &self.fc1, &self.activation, &self.fc2, &self.scale_activation], x)?;
        c.mul(&scale, x)
    }
}

/// torchvision's `MLP(in_channels, hidden_channels, norm_layer=None, activation_layer=ReLU,
/// bias=True, dropout=0.0)`: for each hidden size but the last `Linear`, (norm), activation,
/// `Dropout`; then the last `Linear` and a `Dropout`. A Sequential of class `class` (`MLP`, or a
/// subclass such as ViT's `MLPBlock`). Norms are not supported (no torchvision classifier uses
/// them).
pub fn mlp(p: Path<'_>, class: &'static str, cin: i64, hidden: &[i64], act: Act, dropout: f64) -> Result<Sequential> {
    let Some((&last, rest)) = hidden.split_last() else {
        return Err(Error::InvalidArgument(format!("{} (MLP): hidden_channels must not be empty", path_string(&p))));
    };
    let mut b = Sequential::subclass(p, class);
    let mut cin = cin;
    for &h in rest {
        b = b.add(|p| Linear::new(p, cin, h))?.add(|p| act.build(p))?.add(|p| Dropout::new(p, dropout))?;
        cin = h;
    }
    Ok(b.add(|p| Linear::new(p, cin, last))?.add(|p| Dropout::new(p, dropout))?.build())
}

/// torchvision's `Permute(dims)`: `torch.permute(x, dims)`.
#[derive(Debug)]
pub struct Permute {
    /// The permutation.
    pub dims: Vec<i64>,
    path: String,
}

impl Permute {
    /// `Permute(dims)` at `p`.
    pub fn new(p: &Path, dims: &[i64]) -> Result<Self> {
        Ok(Permute { dims: dims.to_vec(), path: path_string(p) })
    }
}

impl Module for Permute {
    fn kind(&self) -> ModuleKind {
        ModuleKind::Custom("Permute")
    }
    fn try_forward_t(&self, xs: &Tensor, _train: bool) -> Result<Tensor> {
        xs.f_permute(self.dims.as_slice()).map_err(forward_error(&self.path, self.kind(), xs))
    }
}

crate::impl_module_t!(Permute);
