//! torchvision's VGG-11/13/16/19, with and without batch normalisation (Simonyan & Zisserman
//! 2015, "Very Deep Convolutional Networks for Large-Scale Image Recognition"; BatchNorm: Ioffe
//! & Szegedy 2015), as `torchvision/models/vgg.py` builds them.
//!
//! * The module tree is torchvision's: `features` (its `make_layers`: per configuration entry a
//!   3×3 convolution, [BatchNorm2d,] in-place ReLU, or a 2×2/2 max pool), `avgpool` (adaptive,
//!   to 7×7, so any input of at least 32×32 works, such as 65×97) and `classifier` (Linear
//!   25088 → 4096, ReLU, Dropout, Linear, ReLU, Dropout, Linear).
//! * Configurations are data ([`VggConfig`]: torchvision's `cfgs` "A", "B", "D", "E", one named
//!   constructor per builder).
//! * Initialisation is torchvision's `init_weights` loop (on by default): Conv2d
//!   kaiming_normal (fan_out, relu) with bias 0, BatchNorm2d weight 1 and bias 0, Linear
//!   N(0, 0.01²) with bias 0, in `self.modules()` order after the same construction order, so the
//!   same seed gives the same weights. With `init_weights=false` the layers keep torch's
//!   defaults; torchvision's builder sets it when loading published weights, and so do the
//!   weights tables here.

use tch::{nn::Path, Tensor};

use crate::error::{Error, Result};
use crate::init::{self, FanMode, Nonlinearity};
use crate::models::api::{Model, ModelInfo, Options};
use crate::models::features::FeatureInfo;
use crate::models::weights::Weights;
use crate::nn::*;

/// One entry of a VGG configuration: a 3×3 convolution to this many channels, or a max pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layer {
    /// 3×3 convolution (padding 1) to `n` channels, [BatchNorm2d,] ReLU.
    Conv(i64),
    /// 2×2 max pool, stride 2 (torchvision's `"M"`).
    M,
}
use Layer::{Conv as C, M};

/// torchvision's `cfgs["A"]` (VGG-11).
pub const CFG_A: &[Layer] = &[C(64), M, C(128), M, C(256), C(256), M, C(512), C(512), M, C(512), C(512), M];
/// torchvision's `cfgs["B"]` (VGG-13).
pub const CFG_B: &[Layer] =
    &[C(64), C(64), M, C(128), C(128), M, C(256), C(256), M, C(512), C(512), M, C(512), C(512), M];
/// torchvision's `cfgs["D"]` (VGG-16).
pub const CFG_D: &[Layer] = &[
    C(64),
    C(64),
    M,
    C(128),
    C(128),
    M,
    C(256),
    C(256),
    C(256),
    M,
    C(512),
    C(512),
    C(512),
    M,
    C(512),
    C(512),
    C(512),
    M,
];
/// torchvision's `cfgs["E"]` (VGG-19).
pub const CFG_E: &[Layer] = &[
    C(64),
    C(64),
    M,
    C(128),
    C(128),
    M,
    C(256),
    C(256),
    C(256),
    C(256),
    M,
    C(512),
    C(512),
    C(512),
    C(512),
    M,
    C(512),
    C(512),
    C(512),
    C(512),
    M,
];

/// A VGG configuration: torchvision's `VGG(make_layers(cfg, batch_norm), num_classes,
/// init_weights, dropout)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VggConfig {
    /// The layers of `features`.
    pub layers: &'static [Layer],
    /// A BatchNorm2d after each convolution (the `_bn` models).
    pub batch_norm: bool,
    /// Outputs of the classifier.
    pub num_classes: i64,
    /// Run torchvision's initialisation loop.
    pub init_weights: bool,
    /// Dropout probability of the classifier.
    pub dropout: f64,
}

impl VggConfig {
    /// `layers` with torchvision's defaults (1000 classes, init_weights, dropout 0.5).
    pub fn new(layers: &'static [Layer], batch_norm: bool) -> Self {
        VggConfig { layers, batch_norm, num_classes: 1000, init_weights: true, dropout: 0.5 }
    }
    /// `vgg11`: configuration A.
    pub fn vgg11() -> Self {
        Self::new(CFG_A, false)
    }
    /// `vgg11_bn`: configuration A with BatchNorm.
    pub fn vgg11_bn() -> Self {
        Self::new(CFG_A, true)
    }
    /// `vgg13`: configuration B.
    pub fn vgg13() -> Self {
        Self::new(CFG_B, false)
    }
    /// `vgg13_bn`: configuration B with BatchNorm.
    pub fn vgg13_bn() -> Self {
        Self::new(CFG_B, true)
    }
    /// `vgg16`: configuration D.
    pub fn vgg16() -> Self {
        Self::new(CFG_D, false)
    }
    /// `vgg16_bn`: configuration D with BatchNorm.
    pub fn vgg16_bn() -> Self {
        Self::new(CFG_D, true)
    }
    /// `vgg19`: configuration E.
    pub fn vgg19() -> Self {
        Self::new(CFG_E, false)
    }
    /// `vgg19_bn`: configuration E with BatchNorm.
    pub fn vgg19_bn() -> Self {
        Self::new(CFG_E, true)
    }

    /// The channels `features` outputs (torchvision's classifier assumes 512).
    fn out_channels(&self) -> i64 {
        self.layers.iter().rev().find_map(|l| if let C(n) = l { Some(*n) } else { None }).unwrap_or(3)
    }
}

/// torchvision's `make_layers(cfg, batch_norm)` at `p`.
pub fn make_layers(p: Path<'_>, layers: &[Layer], batch_norm: bool) -> Result<Sequential> {
    let mut b = Sequential::builder(p);
    let mut cin = 3;
    for &l in layers {
        match l {
            M => b = b.add(|p| MaxPool2d::new(p, 2, PoolConfig::default().stride(2)))?,
            C(v) => {
                b = b.add(|p| Conv2d::new(p, cin, v, 3, Conv2dConfig::default().padding(1)))?;
                if batch_norm {
                    b = b.add(|p| BatchNorm2d::new(p, v, BatchNormConfig::default()))?;
                }
                b = b.add(ReLU::new)?;
                cin = v;
            }
        }
    }
    Ok(b.build())
}

/// torchvision's `VGG`.
#[derive(Debug)]
pub struct Vgg {
    /// The convolutional layers ([`make_layers`]).
    pub features: Sequential,
    /// Adaptive average pool to 7×7.
    pub avgpool: AdaptiveAvgPool2d,
    /// Linear(25088, 4096), ReLU, Dropout, Linear(4096, 4096), ReLU, Dropout, Linear(4096, classes).
    pub classifier: Sequential,
    /// The configuration it was built from.
    pub config: VggConfig,
}
crate::module!(Vgg as "VGG", [features, avgpool, classifier]);

impl Vgg {
    /// Builds the network of `cfg` at `p` and, with `init_weights`, initialises it as
    /// torchvision does.
    pub fn new(p: &Path, cfg: &VggConfig) -> Result<Self> {
        if cfg.out_channels() != 512 {
            return Err(Error::InvalidArgument(format!(
                "VGG: the classifier takes 512·7·7 features, but the configuration ends with {} channels",
                cfg.out_channels()
            )));
        }
        let features = make_layers(p / "features", cfg.layers, cfg.batch_norm)?;
        let avgpool = AdaptiveAvgPool2d::new(&(p / "avgpool"), 7)?;
        let classifier = Sequential::builder(p / "classifier")
            .add(|p| Linear::new(p, 512 * 7 * 7, 4096))?
            .add(ReLU::new)?
            .add(|p| Dropout::new(p, cfg.dropout))?
            .add(|p| Linear::new(p, 4096, 4096))?
            .add(ReLU::new)?
            .add(|p| Dropout::new(p, cfg.dropout))?
            .add(|p| Linear::new(p, 4096, cfg.num_classes))?
            .build();
        let net = Vgg { features, avgpool, classifier, config: *cfg };
        if cfg.init_weights {
            let _g = tch::no_grad_guard();
            for (_, m) in net.named_modules() {
                let (w, b) = (m.parameter("weight"), m.parameter("bias"));
                match (m.kind(), w, b) {
                    (ModuleKind::Conv2d, Some(mut w), b) => {
                        init::kaiming_normal_(&mut w, FanMode::FanOut, Nonlinearity::Relu)?;
                        b.map(|mut b| init::zeros_(&mut b)).transpose()?;
                    }
                    (ModuleKind::BatchNorm2d, Some(mut w), Some(mut b)) => {
                        init::ones_(&mut w)?;
                        init::zeros_(&mut b)?;
                    }
                    (ModuleKind::Linear, Some(mut w), Some(mut b)) => {
                        init::normal_(&mut w, 0.0, 0.01)?;
                        init::zeros_(&mut b)?;
                    }
                    _ => {}
                }
            }
        }
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

impl Model for Vgg {
    fn forward_features(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        Ctx::run(self, train, |c| c.call(&self.features, xs))
    }
    fn forward_head(&self, features: &Tensor, train: bool) -> Result<Tensor> {
        Ctx::run(self, train, |c| self.head(features, c))
    }
    /// The ReLU before each max pool (strides 1 to 16), then the last max pool (stride 32).
    fn feature_info(&self) -> Vec<FeatureInfo> {
        let (mut info, mut index, mut reduction, mut chs) = (Vec::new(), 0, 1, 3);
        for &l in self.config.layers {
            match l {
                M => {
                    info.push(FeatureInfo::new(chs, reduction, &(index - 1).to_string()));
                    reduction *= 2;
                    index += 1;
                }
                C(v) => {
                    chs = v;
                    index += if self.config.batch_norm { 3 } else { 2 };
                }
            }
        }
        info.push(FeatureInfo::new(chs, reduction, &(index - 1).to_string()));
        info.into_iter().map(|f| FeatureInfo { module: format!("features.{}", f.module), ..f }).collect()
    }
    fn num_classes(&self) -> i64 {
        self.config.num_classes
    }
}

fn build(p: &Path, o: &Options, mut cfg: VggConfig) -> Result<Box<dyn Model>> {
    cfg.num_classes = o.num_classes.unwrap_or(cfg.num_classes);
    o.apply("init_weights", &mut cfg.init_weights)?;
    o.apply("dropout", &mut cfg.dropout)?;
    Ok(Box::new(Vgg::new(p, &cfg)?))
}

macro_rules! entry {
    ($name:ident, $params:literal, $weights:ident) => {
        ModelInfo {
            options: &["init_weights", "dropout"],
            weights: $weights,
            ..ModelInfo::classifier(stringify!($name), "vgg", $params, |p, o| build(p, o, VggConfig::$name()))
        }
    };
}

/// The family's registry entries.
pub const MODELS: &[ModelInfo] = &[
    entry!(vgg11, 132863336, VGG11_WEIGHTS),
    entry!(vgg11_bn, 132868840, VGG11_BN_WEIGHTS),
    entry!(vgg13, 133047848, VGG13_WEIGHTS),
    entry!(vgg13_bn, 133053736, VGG13_BN_WEIGHTS),
    entry!(vgg16, 138357544, VGG16_WEIGHTS),
    entry!(vgg16_bn, 138365992, VGG16_BN_WEIGHTS),
    entry!(vgg19, 143667240, VGG19_WEIGHTS),
    entry!(vgg19_bn, 143678248, VGG19_BN_WEIGHTS),
];

/// torchvision's builder skips the initialisation loop when it loads published weights.
const NO_INIT: &[(&str, &str)] = &[("init_weights", "false")];

/// torchvision's `VGG11_Weights`.
const VGG11_WEIGHTS: &[Weights] = &[Weights::imagenet(
    "vgg11",
    "IMAGENET1K_V1",
    "vgg11-8a719046.pth",
    132863336,
    [69.02, 88.628],
    7.609,
    506.84,
    [256, 224],
)
.default()
.overrides(NO_INIT)];
/// torchvision's `VGG11_BN_Weights`.
const VGG11_BN_WEIGHTS: &[Weights] = &[Weights::imagenet(
    "vgg11_bn",
    "IMAGENET1K_V1",
    "vgg11_bn-6002323d.pth",
    132868840,
    [70.37, 89.81],
    7.609,
    506.881,
    [256, 224],
)
.default()
.overrides(NO_INIT)];
/// torchvision's `VGG13_Weights`.
const VGG13_WEIGHTS: &[Weights] = &[Weights::imagenet(
    "vgg13",
    "IMAGENET1K_V1",
    "vgg13-19584684.pth",
    133047848,
    [69.928, 89.246],
    11.308,
    507.545,
    [256, 224],
)
.default()
.overrides(NO_INIT)];
/// torchvision's `VGG13_BN_Weights`.
const VGG13_BN_WEIGHTS: &[Weights] = &[Weights::imagenet(
    "vgg13_bn",
    "IMAGENET1K_V1",
    "vgg13_bn-abd245e5.pth",
    133053736,
    [71.586, 90.374],
    11.308,
    507.59,
    [256, 224],
)
.default()
.overrides(NO_INIT)];
/// torchvision's `VGG16_Weights`. `IMAGENET1K_FEATURES` (ported from SSD) has no categories:
/// only `features` holds trained values, and its inputs are normalised with mean
/// (0.48235, 0.45882, 0.40784) and std 1/255.
const VGG16_WEIGHTS: &[Weights] = &[
    Weights::imagenet(
        "vgg16",
        "IMAGENET1K_V1",
        "vgg16-397923af.pth",
        138357544,
        [71.592, 90.382],
        15.47,
        527.796,
        [256, 224],
    )
    .default()
    .overrides(NO_INIT),
    Weights::imagenet(
        "vgg16",
        "IMAGENET1K_FEATURES",
        "vgg16_features-amdegroot-88682ab5.pth",
        138357544,
        [f64::NAN, f64::NAN],
        15.47,
        527.802,
        [256, 224],
    )
    .overrides(NO_INIT)
    .normalize([0.48235, 0.45882, 0.40784], [1.0 / 255.0, 1.0 / 255.0, 1.0 / 255.0])
    .no_categories(),
];
/// torchvision's `VGG16_BN_Weights`.
const VGG16_BN_WEIGHTS: &[Weights] = &[Weights::imagenet(
    "vgg16_bn",
    "IMAGENET1K_V1",
    "vgg16_bn-6c64b313.pth",
    138365992,
    [73.36, 91.516],
    15.47,
    527.866,
    [256, 224],
)
.default()
.overrides(NO_INIT)];
/// torchvision's `VGG19_Weights`.
const VGG19_WEIGHTS: &[Weights] = &[Weights::imagenet(
    "vgg19",
    "IMAGENET1K_V1",
    "vgg19-dcbb9e9d.pth",
    143667240,
    [72.376, 90.876],
    19.632,
    548.051,
    [256, 224],
)
.default()
.overrides(NO_INIT)];
/// torchvision's `VGG19_BN_Weights`.
const VGG19_BN_WEIGHTS: &[Weights] = &[Weights::imagenet(
    "vgg19_bn",
    "IMAGENET1K_V1",
    "vgg19_bn-c79401a0.pth",
    143678248,
    [74.218, 91.842],
    19.632,
    548.143,
    [256, 224],
)
.default()
.overrides(NO_INIT)];
