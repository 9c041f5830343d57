//! torchvision's SqueezeNet 1.0 and 1.1 (Iandola et al. 2016, "SqueezeNet: AlexNet-level
//! accuracy with 50x fewer parameters and <0.5MB model size"; 1.1 from the SqueezeNet
//! repository's v1.1), as `torchvision/models/squeezenet.py` builds them.
//!
//! * The module tree is torchvision's: `features` (a Sequential of the stem convolution, ReLU,
//!   3×3/2 max pools with `ceil_mode=True` and [`Fire`] modules) and `classifier` (Dropout, the
//!   final 1×1 convolution to the classes, ReLU, adaptive average pool to 1×1); the logits are
//!   the flattened pool.
//! * [`Fire`]: `squeeze` (1×1) → ReLU, then `expand1x1` and `expand3x3` (each with its ReLU)
//!   concatenated on the channels.
//! * Initialisation is torchvision's loop: every Conv2d kaiming_uniform (torch's defaults:
//!   fan_in, leaky_relu with slope 0), except the final convolution, N(0, 0.01²); biases 0.
//!   Same construction order, so the same seed gives the same weights.
//! * Builder options: torchvision's `dropout` (0.5).

use tch::{nn::Path, Tensor};

use crate::error::Result;
use crate::init::{self, FanMode, Nonlinearity};
use crate::models::api::{Model, ModelInfo, Options};
use crate::models::features::FeatureInfo;
use crate::models::weights::Weights;
use crate::nn::*;

/// torchvision's `Fire(inplanes, squeeze_planes, expand1x1_planes, expand3x3_planes)`.
#[derive(Debug)]
pub struct Fire {
    /// 1×1, `inplanes → squeeze_planes`.
    pub squeeze: Conv2d,
    /// ReLU after `squeeze`.
    pub squeeze_activation: ReLU,
    /// 1×1, `squeeze_planes → expand1x1_planes`.
    pub expand1x1: Conv2d,
    /// ReLU after `expand1x1`.
    pub expand1x1_activation: ReLU,
    /// 3×3 (padding 1), `squeeze_planes → expand3x3_planes`.
    pub expand3x3: Conv2d,
    /// ReLU after `expand3x3`.
    pub expand3x3_activation: ReLU,
}
crate::module!(Fire, [squeeze, squeeze_activation, expand1x1, expand1x1_activation, expand3x3, expand3x3_activation]);

impl Fire {
    /// `Fire(inplanes, squeeze_planes, expand1x1_planes, expand3x3_planes)` at `p`.
    pub fn new(p: &Path, inplanes: i64, squeeze: i64, e1: i64, e3: i64) -> Result<Self> {
        let conv = |name: &str, cin, cout, k, pad| {
            Conv2d::new(&(p / name), cin, cout, k, Conv2dConfig::default().padding(pad))
        };
        Ok(Fire {
            squeeze: conv("squeeze", inplanes, squeeze, 1, 0)?,
            squeeze_activation: ReLU::new(&(p / "squeeze_activation"))?,
            expand1x1: conv("expand1x1", squeeze, e1, 1, 0)?,
            expand1x1_activation: ReLU::new(&(p / "expand1x1_activation"))?,
            expand3x3: conv("expand3x3", squeeze, e3, 3, 1)?,
            expand3x3_activation: ReLU::new(&(p / "expand3x3_activation"))?,
        })
    }

    fn forward(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        let x = c.chain(&[&self.squeeze, &self.squeeze_activation], x)?;
        let a = c.chain(&[&self.expand1x1, &self.expand1x1_activation], &x)?;
        let b = c.chain(&[&self.expand3x3, &self.expand3x3_activation], &x)?;
        c.cat(&[a, b], 1)
    }
}

/// The SqueezeNet versions of torchvision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// `"1_0"`: 7×7/2 stem with 96 channels, pools after Fire 1, 4 (of 8) and 8.
    V1_0,
    /// `"1_1"`: 3×3/2 stem with 64 channels, pools earlier (2.4× less computation).
    V1_1,
}

/// One entry of `features`: a max pool or a Fire module `(inplanes, squeeze, expand1x1,
/// expand3x3)`.
#[derive(Clone, Copy)]
enum Layer {
    Pool,
    Fire(i64, i64, i64, i64),
}
use Layer::{Fire as F, Pool as P};

impl Version {
    /// The stem (output channels, kernel) and the layers after the stem's ReLU.
    fn layers(self) -> (i64, i64, &'static [Layer]) {
        match self {
            Version::V1_0 => (
                96,
                7,
                &[
                    P,
                    F(96, 16, 64, 64),
                    F(128, 16, 64, 64),
                    F(128, 32, 128, 128),
                    P,
                    F(256, 32, 128, 128),
                    F(256, 48, 192, 192),
                    F(384, 48, 192, 192),
                    F(384, 64, 256, 256),
                    P,
                    F(512, 64, 256, 256),
                ],
            ),
            Version::V1_1 => (
                64,
                3,
                &[
                    P,
                    F(64, 16, 64, 64),
                    F(128, 16, 64, 64),
                    P,
                    F(128, 32, 128, 128),
                    F(256, 32, 128, 128),
                    P,
                    F(256, 48, 192, 192),
                    F(384, 48, 192, 192),
                    F(384, 64, 256, 256),
                    F(512, 64, 256, 256),
                ],
            ),
        }
    }
}

/// torchvision's `SqueezeNet(version, num_classes=1000, dropout=0.5)`.
#[derive(Debug)]
pub struct SqueezeNet {
    /// Stem, max pools and Fire modules (512 channels at stride 16).
    pub features: Sequential,
    /// Dropout, final 1×1 conv to the classes, ReLU, adaptive average pool to 1×1.
    pub classifier: Sequential,
    /// Which SqueezeNet.
    pub version: Version,
    /// Outputs of the classifier.
    pub num_classes: i64,
}
crate::module!(SqueezeNet, [features, classifier]);

impl SqueezeNet {
    /// Builds SqueezeNet `version` at `p` and initialises it as torchvision does.
    pub fn new(p: &Path, version: Version, num_classes: i64, dropout: f64) -> Result<Self> {
        let (stem, k, layers) = version.layers();
        let mut b = Sequential::builder(p / "features")
            .add(|p| Conv2d::new(p, 3, stem, k, Conv2dConfig::default().stride(2)))?
            .add(ReLU::new)?;
        for &l in layers {
            b = match l {
                P => b.add(|p| MaxPool2d::new(p, 3, PoolConfig::default().stride(2).ceil_mode(true)))?,
                F(i, s, e1, e3) => b.add(|p| Fire::new(p, i, s, e1, e3))?,
            };
        }
        let features = b.build();
        let classifier = Sequential::builder(p / "classifier")
            .add(|p| Dropout::new(p, dropout))?
            .add(|p| Conv2d::new(p, 512, num_classes, 1, Conv2dConfig::default()))?
            .add(ReLU::new)?
            .add(|p| AdaptiveAvgPool2d::new(p, 1))?
            .build();
        let net = SqueezeNet { features, classifier, version, num_classes };
        let _g = tch::no_grad_guard();
        for (path, m) in net.named_modules() {
            if m.kind() != ModuleKind::Conv2d {
                continue;
            }
            if let Some(mut w) = m.parameter("weight") {
                if path == "classifier.1" {
                    init::normal_(&mut w, 0.0, 0.01)?;
                } else {
                    init::kaiming_uniform_(&mut w, FanMode::FanIn, Nonlinearity::LeakyRelu(0.0))?;
                }
            }
            if let Some(mut b) = m.parameter("bias") {
                init::zeros_(&mut b)?;
            }
        }
        Ok(net)
    }

    fn head(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        let x = c.call(&self.classifier, x)?;
        c.flatten(&x, 1)
    }

    fn forward(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        let x = c.call(&self.features, x)?;
        self.head(&x, c)
    }
}

impl Model for SqueezeNet {
    fn forward_features(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        Ctx::run(self, train, |c| c.call(&self.features, xs))
    }
    fn forward_head(&self, features: &Tensor, train: bool) -> Result<Tensor> {
        Ctx::run(self, train, |c| self.head(features, c))
    }
    /// The stem's ReLU (stride 2), then the last module before each later pool and the last.
    fn feature_info(&self) -> Vec<FeatureInfo> {
        let (stem, _, layers) = self.version.layers();
        let mut info = vec![FeatureInfo::new(stem, 2, "features.1")];
        let (mut chs, mut reduction) = (stem, 2);
        for (i, l) in layers.iter().enumerate() {
            match *l {
                P => {
                    if i > 0 {
                        info.push(FeatureInfo::new(chs, reduction, &format!("features.{}", i + 1)));
                    }
                    reduction *= 2;
                }
                F(_, _, e1, e3) => chs = e1 + e3,
            }
        }
        info.push(FeatureInfo::new(chs, reduction, &format!("features.{}", layers.len() + 1)));
        info
    }
    fn num_classes(&self) -> i64 {
        self.num_classes
    }
}

fn build(p: &Path, o: &Options, version: Version) -> Result<Box<dyn Model>> {
    let mut dropout = 0.5;
    o.apply("dropout", &mut dropout)?;
    Ok(Box::new(SqueezeNet::new(p, version, o.num_classes.unwrap_or(1000), dropout)?))
}

/// The family's registry entries.
pub const MODELS: &[ModelInfo] = &[
    ModelInfo {
        options: &["dropout"],
        weights: SQUEEZENET1_0_WEIGHTS,
        ..ModelInfo::classifier("squeezenet1_0", "squeezenet", 1248424, |p, o| build(p, o, Version::V1_0))
    },
    ModelInfo {
        options: &["dropout"],
        weights: SQUEEZENET1_1_WEIGHTS,
        ..ModelInfo::classifier("squeezenet1_1", "squeezenet", 1235496, |p, o| build(p, o, Version::V1_1))
    },
];

/// torchvision's `SqueezeNet1_0_Weights`.
const SQUEEZENET1_0_WEIGHTS: &[Weights] = &[Weights::imagenet(
    "squeezenet1_0",
    "IMAGENET1K_V1",
    "squeezenet1_0-b66bff10.pth",
    1248424,
    [58.092, 80.42],
    0.819,
    4.778,
    [256, 224],
)
.default()];
/// torchvision's `SqueezeNet1_1_Weights`.
const SQUEEZENET1_1_WEIGHTS: &[Weights] = &[Weights::imagenet(
    "squeezenet1_1",
    "IMAGENET1K_V1",
    "squeezenet1_1-b8a52dc0.pth",
    1235496,
    [58.178, 80.624],
    0.349,
    4.729,
    [256, 224],
)
.default()];
