//! MobileNet V2 (Sandler et al. 2018, "MobileNetV2: Inverted Residuals and Linear
//! Bottlenecks"), as `torchvision/models/mobilenetv2.py` builds it: `features` (a Sequential of
//! a stem `Conv2dNormActivation`, the [`InvertedResidual`] blocks of the
//! `inverted_residual_setting` table and a last 1×1 `Conv2dNormActivation`, all with ReLU6), a
//! global average pool and `classifier` = `Sequential(Dropout, Linear)`. Channels are scaled by
//! `width_mult` and rounded by [`make_divisible`] as torchvision does; init is torchvision's
//! ([`mobile_init`]).
//!
//! ```no_run
//! use tchvision::registry::create_model;
//! use tchvision::models::api::Options;
//! let vs = tch::nn::VarStore::new(tch::Device::Cpu);
//! let net = create_model("mobilenet_v2", &vs.root(), &Options::default().set("width_mult", 0.75))?;
//! # Ok::<(), tchvision::Error>(())
//! ```

use tch::{nn::Path, Tensor};

use crate::error::{Error, Result};
use crate::init::{self, FanMode, Nonlinearity};
use crate::models::api::{Model, ModelInfo, Options};
use crate::models::features::FeatureInfo;
use crate::models::weights::Weights;
use crate::nn::*;
use crate::ops::{conv_norm_act, make_divisible, Act, ConvNormAct};

/// torchvision's `InvertedResidual` of MobileNet V2: (1×1 expand,) 3×3 depthwise, 1×1 project
/// (no activation), with `x + conv(x)` when the shape is kept.
#[derive(Debug)]
pub struct InvertedResidual {
    /// The layers, as torchvision's `self.conv`.
    pub conv: Sequential,
    /// Stride 1 and `inp == oup`.
    pub use_res_connect: bool,
    /// The depthwise stride.
    pub stride: i64,
}
crate::module!(InvertedResidual, [conv]);

impl InvertedResidual {
    /// `InvertedResidual(inp, oup, stride, expand_ratio)`.
    pub fn new(p: &Path, inp: i64, oup: i64, stride: i64, expand_ratio: i64) -> Result<Self> {
        if stride != 1 && stride != 2 {
            return Err(Error::InvalidArgument(format!(
                "{} (InvertedResidual): stride should be 1 or 2 instead of {stride}",
                path_string(p)
            )));
        }
        let hidden = inp * expand_ratio;
        let mut b = Sequential::builder(p / "conv");
        if expand_ratio != 1 {
            b = b.add(|p| conv_norm_act(p.clone(), ConvNormAct::new(inp, hidden, 1).act(Some(Act::ReLU6))))?;
        }
        let dw = ConvNormAct::new(hidden, hidden, 3).stride(stride).groups(hidden).act(Some(Act::ReLU6));
        let conv = b
            .add(|p| conv_norm_act(p.clone(), dw))?
            .add(|p| Conv2d::new(p, hidden, oup, 1, Conv2dConfig::default().bias(false)))?
            .add(|p| BatchNorm2d::new(p, oup, BatchNormConfig::default()))?
            .build();
        Ok(InvertedResidual { conv, use_res_connect: stride == 1 && inp == oup, stride })
    }

    fn forward(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        let y = c.call(&self.conv, x)?;
        if self.use_res_connect {
            c.add(x, &y)
        } else {
            Ok(y)
        }
    }
}

/// A MobileNet V2 configuration: the arguments of torchvision's `MobileNetV2(...)`.
#[derive(Clone, Debug, PartialEq)]
pub struct MobileNetV2Config {
    /// Outputs of the classifier.
    pub num_classes: i64,
    /// Channel multiplier.
    pub width_mult: f64,
    /// Rows `[t, c, n, s]`: expansion, channels, repeats, first stride.
    pub inverted_residual_setting: Vec<[i64; 4]>,
    /// Channels are rounded to multiples of this.
    pub round_nearest: i64,
    /// Dropout before the classifier.
    pub dropout: f64,
}

impl Default for MobileNetV2Config {
    fn default() -> Self {
        MobileNetV2Config {
            num_classes: 1000,
            width_mult: 1.0,
            inverted_residual_setting: vec![
                [1, 16, 1, 1],
                [6, 24, 2, 2],
                [6, 32, 3, 2],
                [6, 64, 4, 2],
                [6, 96, 3, 1],
                [6, 160, 3, 2],
                [6, 320, 1, 1],
            ],
            round_nearest: 8,
            dropout: 0.2,
        }
    }
}

/// torchvision's `MobileNetV2`.
#[derive(Debug)]
pub struct MobileNetV2 {
    /// Stem, blocks and the last 1×1 conv.
    pub features: Sequential,
    /// `Dropout`, `Linear`.
    pub classifier: Sequential,
    /// The configuration.
    pub config: MobileNetV2Config,
    feature_info: Vec<FeatureInfo>,
}
crate::module!(MobileNetV2, [features, classifier]);

impl MobileNetV2 {
    /// Builds the network of `cfg` at `p`, initialised as torchvision does.
    pub fn new(p: &Path, cfg: &MobileNetV2Config) -> Result<Self> {
        if cfg.inverted_residual_setting.is_empty() || cfg.width_mult <= 0.0 {
            return Err(Error::InvalidArgument(format!(
                "MobileNetV2: inverted_residual_setting must be non-empty and width_mult positive (got {} rows, width_mult {})",
                cfg.inverted_residual_setting.len(),
                cfg.width_mult
            )));
        }
        let mut input = make_divisible(32.0 * cfg.width_mult, cfg.round_nearest);
        let last = make_divisible(1280.0 * cfg.width_mult.max(1.0), cfg.round_nearest);
        let stem = ConvNormAct::new(3, input, 3).stride(2).act(Some(Act::ReLU6));
        let mut b = Sequential::builder(p / "features").add(|p| conv_norm_act(p.clone(), stem))?;
        let mut strides = vec![(2, input)];
        for &[t, ch, n, s] in &cfg.inverted_residual_setting {
            let out = make_divisible(ch as f64 * cfg.width_mult, cfg.round_nearest);
            for i in 0..n {
                let stride = if i == 0 { s } else { 1 };
                b = b.add(|p| InvertedResidual::new(p, input, out, stride, t))?;
                strides.push((stride, out));
                input = out;
            }
        }
        let features = b.add(|p| conv_norm_act(p.clone(), ConvNormAct::new(input, last, 1).act(Some(Act::ReLU6))))?;
        strides.push((1, last));
        let classifier = Sequential::builder(p / "classifier")
            .add(|p| Dropout::new(p, cfg.dropout))?
            .add(|p| Linear::new(p, last, cfg.num_classes))?
            .build();
        let net = MobileNetV2 {
            features: features.build(),
            classifier,
            config: cfg.clone(),
            feature_info: stage_info(&strides, "features"),
        };
        mobile_init(&net, 0.01)?;
        Ok(net)
    }

    fn head(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        let x = c.op("adaptive_avg_pool2d", x, || x.f_adaptive_avg_pool2d([1, 1]))?;
        let x = c.flatten(&x, 1)?;
        c.call(&self.classifier, &x)
    }

    fn forward(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        let x = c.call(&self.features, x)?;
        self.head(&x, c)
    }
}

/// The stages of a `features` Sequential from each child's `(stride, channels)`: a stage ends
/// at the last child before a stride-2 child, and at the last child.
pub fn stage_info(strides: &[(i64, i64)], features: &str) -> Vec<FeatureInfo> {
    let mut info = Vec::new();
    let mut reduction = 1;
    for (i, &(s, ch)) in strides.iter().enumerate() {
        reduction *= s;
        if strides.get(i + 1).is_none_or(|&(next, _)| next > 1) {
            info.push(FeatureInfo::new(ch, reduction, &format!("{features}.{i}")));
        }
    }
    info
}

/// torchvision's init of the mobile families (MobileNet V2/V3): every Conv2d
/// `kaiming_normal_(mode="fan_out")` with zero bias, norms weight 1 and bias 0, every Linear
/// `normal_(0, linear_std)` with zero bias, in `self.modules()` order.
pub fn mobile_init(model: &dyn Module, linear_std: f64) -> Result<()> {
    let _g = tch::no_grad_guard();
    for (_, m) in model.named_modules() {
        let (w, b) = (m.parameter("weight"), m.parameter("bias"));
        match m.kind() {
            ModuleKind::Conv2d => {
                if let Some(mut w) = w {
                    init::kaiming_normal_(&mut w, FanMode::FanOut, Nonlinearity::LeakyRelu(0.0))?;
                }
            }
            ModuleKind::BatchNorm2d | ModuleKind::GroupNorm => {
                if let Some(mut w) = w {
                    init::ones_(&mut w)?;
                }
            }
            ModuleKind::Linear => {
                if let Some(mut w) = w {
                    init::normal_(&mut w, 0.0, linear_std)?;
                }
            }
            _ => continue,
        }
        if let Some(mut b) = b {
            init::zeros_(&mut b)?;
        }
    }
    Ok(())
}

impl Model for MobileNetV2 {
    fn forward_features(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        Ctx::run(self, train, |c| c.call(&self.features, xs))
    }
    fn forward_head(&self, features: &Tensor, train: bool) -> Result<Tensor> {
        Ctx::run(self, train, |c| self.head(features, c))
    }
    fn feature_info(&self) -> Vec<FeatureInfo> {
        self.feature_info.clone()
    }
    fn num_classes(&self) -> i64 {
        self.config.num_classes
    }
}

fn build(p: &Path, o: &Options) -> Result<Box<dyn Model>> {
    let mut cfg = MobileNetV2Config::default();
    cfg.num_classes = o.num_classes.unwrap_or(cfg.num_classes);
    o.apply("width_mult", &mut cfg.width_mult)?;
    o.apply("round_nearest", &mut cfg.round_nearest)?;
    o.apply("dropout", &mut cfg.dropout)?;
    Ok(Box::new(MobileNetV2::new(p, &cfg)?))
}

/// The family's registry entries.
pub const MODELS: &[ModelInfo] = &[ModelInfo {
    options: &["width_mult", "round_nearest", "dropout"],
    weights: MOBILENET_V2_WEIGHTS,
    ..ModelInfo::classifier("mobilenet_v2", "mobilenetv2", 3504872, build)
}];

/// torchvision's `MobileNet_V2_Weights`.
const MOBILENET_V2_WEIGHTS: &[Weights] = &[
    Weights::imagenet(
        "mobilenet_v2",
        "IMAGENET1K_V1",
        "mobilenet_v2-b0353104.pth",
        3504872,
        [71.878, 90.286],
        0.301,
        13.555,
        [256, 224],
    ),
    Weights::imagenet(
        "mobilenet_v2",
        "IMAGENET1K_V2",
        "mobilenet_v2-7ebf99e0.pth",
        3504872,
        [72.154, 90.822],
        0.301,
        13.598,
        [232, 224],
    )
    .default(),
];
