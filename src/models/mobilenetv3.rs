//! MobileNet V3 (Howard et al. 2019, "Searching for MobileNetV3"), as
//! `torchvision/models/mobilenetv3.py` builds it: `features` (a Hardswish stem, the
//! [`InvertedResidual`] blocks of [`InvertedResidualConfig`] rows with optional
//! `SqueezeExcitation` (Hardsigmoid scale) and ReLU or Hardswish, and a last 1×1 conv to 6× the
//! channels), `avgpool` and `classifier` = `Sequential(Linear, Hardswish, Dropout, Linear)`.
//! Norms are `BatchNorm2d(eps=0.001, momentum=0.01)`; `width_mult`, `reduced_tail` (halves the
//! last stage) and `dilated` (dilation 2 instead of stride in the last stage) as torchvision's.

use tch::{nn::Path, Tensor};

use crate::error::{Error, Result};
use crate::models::api::{Model, ModelInfo, Options};
use crate::models::features::FeatureInfo;
use crate::models::mobilenetv2::{mobile_init, stage_info};
use crate::models::weights::Weights;
use crate::nn::*;
use crate::ops::{conv_norm_act, make_divisible, Act, ConvNormAct, NormKind, SqueezeExcitation};

const NORM: NormKind = NormKind::BatchNorm2dWith { eps: 0.001, momentum: 0.01 };

/// One row of torchvision's `inverted_residual_setting` (channels already scaled).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct InvertedResidualConfig {
    /// Input channels.
    pub input_channels: i64,
    /// Depthwise kernel.
    pub kernel: i64,
    /// Expanded channels.
    pub expanded_channels: i64,
    /// Output channels.
    pub out_channels: i64,
    /// With a SqueezeExcitation.
    pub use_se: bool,
    /// Hardswish ("HS") rather than ReLU ("RE").
    pub use_hs: bool,
    /// Stride.
    pub stride: i64,
    /// Dilation.
    pub dilation: i64,
}

impl InvertedResidualConfig {
    /// `InvertedResidualConfig(input, kernel, expanded, out, use_se, activation, stride,
    /// dilation, width_mult)`.
    #[allow(clippy::too_many_arguments)]
    fn new(i: i64, k: i64, e: i64, o: i64, se: bool, hs: bool, s: i64, d: i64, w: f64) -> Self {
        let adj = |c: i64| make_divisible(c as f64 * w, 8);
        InvertedResidualConfig {
            input_channels: adj(i),
            kernel: k,
            expanded_channels: adj(e),
            out_channels: adj(o),
            use_se: se,
            use_hs: hs,
            stride: s,
            dilation: d,
        }
    }
}

/// torchvision's `InvertedResidual` of MobileNet V3.
#[derive(Debug)]
pub struct InvertedResidual {
    /// The layers, as torchvision's `self.block`.
    pub block: Sequential,
    /// Stride 1 and equal channels.
    pub use_res_connect: bool,
}
crate::module!(InvertedResidual, [block]);

impl InvertedResidual {
    /// `InvertedResidual(cnf, norm_layer)` with torchvision's SE layer.
    pub fn new(p: &Path, cnf: &InvertedResidualConfig) -> Result<Self> {
        if !(1..=2).contains(&cnf.stride) {
            return Err(Error::InvalidArgument(format!("{} (InvertedResidual): illegal stride value", path_string(p))));
        }
        let act = Some(if cnf.use_hs { Act::Hardswish } else { Act::ReLU });
        let (cin, exp) = (cnf.input_channels, cnf.expanded_channels);
        let mut b = Sequential::builder(p / "block");
        if exp != cin {
            b = b.add(|p| conv_norm_act(p.clone(), ConvNormAct::new(cin, exp, 1).norm(Some(NORM)).act(act)))?;
        }
        let stride = if cnf.dilation > 1 { 1 } else { cnf.stride };
        let dw = ConvNormAct::new(exp, exp, cnf.kernel).stride(stride).dilation(cnf.dilation).groups(exp);
        b = b.add(|p| conv_norm_act(p.clone(), dw.norm(Some(NORM)).act(act)))?;
        if cnf.use_se {
            let squeeze = make_divisible((exp / 4) as f64, 8);
            b = b.add(|p| SqueezeExcitation::new(p, exp, squeeze, Act::ReLU, Act::Hardsigmoid))?;
        }
        let project = ConvNormAct::new(exp, cnf.out_channels, 1).norm(Some(NORM)).act(None);
        let block = b.add(|p| conv_norm_act(p.clone(), project))?.build();
        Ok(InvertedResidual { block, use_res_connect: cnf.stride == 1 && cin == cnf.out_channels })
    }

    fn forward(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        let y = c.call(&self.block, x)?;
        if self.use_res_connect {
            c.add(&y, x)
        } else {
            Ok(y)
        }
    }
}

/// A MobileNet V3 configuration: torchvision's `_mobilenet_v3_conf(arch, width_mult,
/// reduced_tail, dilated)` and `MobileNetV3(...)` arguments.
#[derive(Clone, Debug, PartialEq)]
pub struct MobileNetV3Config {
    /// `true` for `mobilenet_v3_large`, `false` for `mobilenet_v3_small`.
    pub large: bool,
    /// Channel multiplier.
    pub width_mult: f64,
    /// Halve the channels of the last stage.
    pub reduced_tail: bool,
    /// Dilation 2 in the last stage.
    pub dilated: bool,
    /// Outputs of the classifier.
    pub num_classes: i64,
    /// Dropout in the classifier.
    pub dropout: f64,
}

impl MobileNetV3Config {
    /// `mobilenet_v3_large`.
    pub fn large() -> Self {
        MobileNetV3Config {
            large: true,
            width_mult: 1.0,
            reduced_tail: false,
            dilated: false,
            num_classes: 1000,
            dropout: 0.2,
        }
    }
    /// `mobilenet_v3_small`.
    pub fn small() -> Self {
        MobileNetV3Config { large: false, ..Self::large() }
    }

    /// The rows and the last channel, as `_mobilenet_v3_conf`.
    pub fn setting(&self) -> (Vec<InvertedResidualConfig>, i64) {
        let r = if self.reduced_tail { 2 } else { 1 };
        let d = if self.dilated { 2 } else { 1 };
        let w = self.width_mult;
        let b = |i, k, e, o, se, hs, s, dil| InvertedResidualConfig::new(i, k, e, o, se, hs, s, dil, w);
        let (f, t) = (false, true);
        if self.large {
            let rows = vec![
                b(16, 3, 16, 16, f, f, 1, 1),
                b(16, 3, 64, 24, f, f, 2, 1),
                b(24, 3, 72, 24, f, f, 1, 1),
                b(24, 5, 72, 40, t, f, 2, 1),
                b(40, 5, 120, 40, t, f, 1, 1),
                b(40, 5, 120, 40, t, f, 1, 1),
                b(40, 3, 240, 80, f, t, 2, 1),
                b(80, 3, 200, 80, f, t, 1, 1),
                b(80, 3, 184, 80, f, t, 1, 1),
                b(80, 3, 184, 80, f, t, 1, 1),
                b(80, 3, 480, 112, t, t, 1, 1),
                b(112, 3, 672, 112, t, t, 1, 1),
                b(112, 5, 672, 160 / r, t, t, 2, d),
                b(160 / r, 5, 960 / r, 160 / r, t, t, 1, d),
                b(160 / r, 5, 960 / r, 160 / r, t, t, 1, d),
            ];
            (rows, make_divisible((1280 / r) as f64 * w, 8))
        } else {
            let rows = vec![
                b(16, 3, 16, 16, t, f, 2, 1),
                b(16, 3, 72, 24, f, f, 2, 1),
                b(24, 3, 88, 24, f, f, 1, 1),
                b(24, 5, 96, 40, t, t, 2, 1),
                b(40, 5, 240, 40, t, t, 1, 1),
                b(40, 5, 240, 40, t, t, 1, 1),
                b(40, 5, 120, 48, t, t, 1, 1),
                b(48, 5, 144, 48, t, t, 1, 1),
                b(48, 5, 288, 96 / r, t, t, 2, d),
                b(96 / r, 5, 576 / r, 96 / r, t, t, 1, d),
                b(96 / r, 5, 576 / r, 96 / r, t, t, 1, d),
            ];
            (rows, make_divisible((1024 / r) as f64 * w, 8))
        }
    }
}

/// torchvision's `MobileNetV3`.
#[derive(Debug)]
pub struct MobileNetV3 {
    /// Stem, blocks and the last 1×1 conv.
    pub features: Sequential,
    /// Global average pool.
    pub avgpool: AdaptiveAvgPool2d,
    /// `Linear`, `Hardswish`, `Dropout`, `Linear`.
    pub classifier: Sequential,
    /// The configuration.
    pub config: MobileNetV3Config,
    feature_info: Vec<FeatureInfo>,
}
crate::module!(MobileNetV3, [features, avgpool, classifier]);

impl MobileNetV3 {
    /// Builds the network of `cfg` at `p`, initialised as torchvision does.
    pub fn new(p: &Path, cfg: &MobileNetV3Config) -> Result<Self> {
        if cfg.width_mult <= 0.0 {
            return Err(Error::InvalidArgument(format!(
                "MobileNetV3: width_mult must be positive, got {}",
                cfg.width_mult
            )));
        }
        let (rows, last_channel) = cfg.setting();
        let first = rows[0].input_channels;
        let stem = ConvNormAct::new(3, first, 3).stride(2).norm(Some(NORM)).act(Some(Act::Hardswish));
        let mut b = Sequential::builder(p / "features").add(|p| conv_norm_act(p.clone(), stem))?;
        let mut strides = vec![(2, first)];
        for row in &rows {
            b = b.add(|p| InvertedResidual::new(p, row))?;
            strides.push((if row.dilation > 1 { 1 } else { row.stride }, row.out_channels));
        }
        let lin = rows[rows.len() - 1].out_channels;
        let lout = 6 * lin;
        let last = ConvNormAct::new(lin, lout, 1).norm(Some(NORM)).act(Some(Act::Hardswish));
        let features = b.add(|p| conv_norm_act(p.clone(), last))?.build();
        strides.push((1, lout));
        let avgpool = AdaptiveAvgPool2d::new(&(p / "avgpool"), 1)?;
        let classifier = Sequential::builder(p / "classifier")
            .add(|p| Linear::new(p, lout, last_channel))?
            .add(Hardswish::new)?
            .add(|p| Dropout::new(p, cfg.dropout))?
            .add(|p| Linear::new(p, last_channel, cfg.num_classes))?
            .build();
        let net = MobileNetV3 {
            features,
            avgpool,
            classifier,
            config: cfg.clone(),
            feature_info: stage_info(&strides, "features"),
        };
        mobile_init(&net, 0.01)?;
        Ok(net)
    }

    fn head(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        let x = c.call(&self.avgpool, x)?;
        let x = c.flatten(&x, 1)?;
        c.call(&self.classifier, &x)
    }

    fn forward(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        let x = c.call(&self.features, x)?;
        self.head(&x, c)
    }
}

impl Model for MobileNetV3 {
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

fn build(p: &Path, o: &Options, mut cfg: MobileNetV3Config) -> Result<Box<dyn Model>> {
    cfg.num_classes = o.num_classes.unwrap_or(cfg.num_classes);
    o.apply("width_mult", &mut cfg.width_mult)?;
    o.apply("reduced_tail", &mut cfg.reduced_tail)?;
    o.apply("dilated", &mut cfg.dilated)?;
    o.apply("dropout", &mut cfg.dropout)?;
    Ok(Box::new(MobileNetV3::new(p, &cfg)?))
}

const OPTIONS: &[&str] = &["width_mult", "reduced_tail", "dilated", "dropout"];

/// The family's registry entries.
pub const MODELS: &[ModelInfo] = &[
    ModelInfo {
        options: OPTIONS,
        weights: MOBILENET_V3_LARGE_WEIGHTS,
        ..ModelInfo::classifier("mobilenet_v3_large", "mobilenetv3", 5483032, |p, o| {
            build(p, o, MobileNetV3Config::large())
        })
    },
    ModelInfo {
        options: OPTIONS,
        weights: MOBILENET_V3_SMALL_WEIGHTS,
        ..ModelInfo::classifier("mobilenet_v3_small", "mobilenetv3", 2542856, |p, o| {
            build(p, o, MobileNetV3Config::small())
        })
    },
];

/// torchvision's `MobileNet_V3_Large_Weights`.
const MOBILENET_V3_LARGE_WEIGHTS: &[Weights] = &[
    Weights::imagenet(
        "mobilenet_v3_large",
        "IMAGENET1K_V1",
        "mobilenet_v3_large-8738ca79.pth",
        5483032,
        [74.042, 91.34],
        0.217,
        21.114,
        [256, 224],
    ),
    Weights::imagenet(
        "mobilenet_v3_large",
        "IMAGENET1K_V2",
        "mobilenet_v3_large-5c1a4163.pth",
        5483032,
        [75.274, 92.566],
        0.217,
        21.107,
        [232, 224],
    )
    .default(),
];
/// torchvision's `MobileNet_V3_Small_Weights`.
const MOBILENET_V3_SMALL_WEIGHTS: &[Weights] = &[Weights::imagenet(
    "mobilenet_v3_small",
    "IMAGENET1K_V1",
    "mobilenet_v3_small-047dcff4.pth",
    2542856,
    [67.668, 87.402],
    0.057,
    9.829,
    [256, 224],
)
.default()];
