//! torchvision's DenseNet family: DenseNet-121/161/169/201 (Huang et al. 2017, "Densely
//! Connected Convolutional Networks", the DenseNet-BC variant), as
//! `torchvision/models/densenet.py` builds them.
//!
//! * The module tree is torchvision's: `features` (a Sequential of `conv0`, `norm0`, `relu0`,
//!   `pool0`, then `denseblock1`, `transition1`, …, `denseblockN`, `norm5`) and `classifier`.
//!   A [`DenseBlock`] (class `_DenseBlock`, an `nn.ModuleDict` in torchvision) holds
//!   `denselayer1`… ([`DenseLayer`], class `_DenseLayer`: `norm1`, `relu1`, `conv1`, `norm2`,
//!   `relu2`, `conv2`); each layer sees the concatenation of the block's input and every earlier
//!   layer's output. A `_Transition` is a Sequential subclass of `norm`, `relu`, `conv`, `pool`.
//! * Initialisation is torchvision's: every Conv2d kaiming_normal (fan_in, gain √2), BatchNorm
//!   weight 1 and bias 0, the classifier's bias 0 (its weight keeps `nn.Linear`'s default).
//! * `drop_rate` is `F.dropout` after each layer in training mode, drawn as torch draws it.
//!   `memory_efficient` (gradient checkpointing in torchvision) is accepted and ignored: it
//!   changes memory use during backward, never the values.
//! * torchvision's published files use the old key names `denselayer1.norm.1.weight`; the
//!   weights table carries torchvision's own remap rule (`norm.1` → `norm1`), applied when such
//!   a file is loaded as published weights ([`crate::models::weights::Weights::load_options`]).
//! * The last stage of [`Model::feature_info`] is `features.norm5` (the features before the
//!   head's ReLU), as the head runs it out of place.

use tch::{nn::Path, Tensor};

use crate::error::{Error, Result};
use crate::init::{self, FanMode, Nonlinearity};
use crate::models::api::{Model, ModelInfo, Options};
use crate::models::features::FeatureInfo;
use crate::models::weights::Weights;
use crate::nn::*;

/// A DenseNet configuration: the arguments of torchvision's `DenseNet(...)`.
#[derive(Clone, Debug, PartialEq)]
pub struct DenseNetConfig {
    /// Channels each layer adds (`k` in the paper).
    pub growth_rate: i64,
    /// Layers in each dense block.
    pub block_config: Vec<i64>,
    /// Channels of the first convolution.
    pub num_init_features: i64,
    /// Bottleneck width factor: each layer's 1×1 conv outputs `bn_size · growth_rate`.
    pub bn_size: i64,
    /// Dropout after each dense layer (training only).
    pub drop_rate: f64,
    /// Outputs of the classifier.
    pub num_classes: i64,
}

impl DenseNetConfig {
    /// A configuration with torchvision's defaults for the rest (`bn_size` 4, no dropout, 1000
    /// classes).
    pub fn new(growth_rate: i64, block_config: &[i64], num_init_features: i64) -> Self {
        DenseNetConfig {
            growth_rate,
            block_config: block_config.to_vec(),
            num_init_features,
            bn_size: 4,
            drop_rate: 0.0,
            num_classes: 1000,
        }
    }
    /// `densenet121`: growth 32, blocks (6, 12, 24, 16), 64 initial features.
    pub fn densenet121() -> Self {
        Self::new(32, &[6, 12, 24, 16], 64)
    }
    /// `densenet161`: growth 48, blocks (6, 12, 36, 24), 96 initial features.
    pub fn densenet161() -> Self {
        Self::new(48, &[6, 12, 36, 24], 96)
    }
    /// `densenet169`: growth 32, blocks (6, 12, 32, 32), 64 initial features.
    pub fn densenet169() -> Self {
        Self::new(32, &[6, 12, 32, 32], 64)
    }
    /// `densenet201`: growth 32, blocks (6, 12, 48, 32), 64 initial features.
    pub fn densenet201() -> Self {
        Self::new(32, &[6, 12, 48, 32], 64)
    }

    /// Refuses what torchvision would fail on (or build nonsense from).
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidArgument(format!("DenseNet: {m}")));
        if self.growth_rate <= 0 || self.bn_size <= 0 || self.num_init_features <= 0 {
            return bad(format!(
                "growth_rate ({}), bn_size ({}) and num_init_features ({}) must be positive",
                self.growth_rate, self.bn_size, self.num_init_features
            ));
        }
        if self.block_config.is_empty() || self.block_config.iter().any(|&n| n < 0) {
            return bad(format!(
                "block_config must list at least one non-negative layer count, got {:?}",
                self.block_config
            ));
        }
        if !(0.0..1.0).contains(&self.drop_rate) {
            return bad(format!("drop_rate must lie in [0, 1), got {}", self.drop_rate));
        }
        if self.num_classes < 0 {
            return bad(format!("num_classes must be non-negative, got {}", self.num_classes));
        }
        Ok(())
    }

    /// Channels after each dense block (before its transition).
    pub fn block_channels(&self) -> Vec<i64> {
        let mut c = self.num_init_features;
        let mut out = Vec::new();
        for (i, &n) in self.block_config.iter().enumerate() {
            c += n * self.growth_rate;
            out.push(c);
            if i + 1 < self.block_config.len() {
                c /= 2;
            }
        }
        out
    }
}

/// torchvision's `_DenseLayer`: BN → ReLU → 1×1 conv (to `bn_size · growth_rate`) → BN → ReLU →
/// 3×3 conv (to `growth_rate`), then dropout in training when `drop_rate > 0`. Its input is the
/// concatenation of every earlier feature map of the block.
#[derive(Debug)]
pub struct DenseLayer {
    /// Norm of the concatenated input.
    pub norm1: BatchNorm2d,
    /// ReLU after `norm1`.
    pub relu1: ReLU,
    /// 1×1 bottleneck conv, no bias.
    pub conv1: Conv2d,
    /// Norm of the bottleneck.
    pub norm2: BatchNorm2d,
    /// ReLU after `norm2`.
    pub relu2: ReLU,
    /// 3×3 conv to `growth_rate` channels, no bias.
    pub conv2: Conv2d,
    /// `F.dropout` probability.
    pub drop_rate: f64,
}
crate::module!(DenseLayer as "_DenseLayer", [norm1, relu1, conv1, norm2, relu2, conv2]);

impl DenseLayer {
    /// `_DenseLayer(num_input_features, growth_rate, bn_size, drop_rate)`.
    pub fn new(p: &Path, num_input_features: i64, growth_rate: i64, bn_size: i64, drop_rate: f64) -> Result<Self> {
        let mid = bn_size * growth_rate;
        let no_bias = Conv2dConfig::default().bias(false);
        Ok(DenseLayer {
            norm1: BatchNorm2d::new(&(p / "norm1"), num_input_features, BatchNormConfig::default())?,
            relu1: ReLU::new(&(p / "relu1"))?,
            conv1: Conv2d::new(&(p / "conv1"), num_input_features, mid, 1, no_bias)?,
            norm2: BatchNorm2d::new(&(p / "norm2"), mid, BatchNormConfig::default())?,
            relu2: ReLU::new(&(p / "relu2"))?,
            conv2: Conv2d::new(&(p / "conv2"), mid, growth_rate, 3, no_bias.padding(1))?,
            drop_rate,
        })
    }

    fn forward(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        let y = c.chain(&[&self.norm1, &self.relu1, &self.conv1, &self.norm2, &self.relu2, &self.conv2], x)?;
        if self.drop_rate > 0.0 {
            // `F.dropout(x, p, training=self.training)`: the layer's mode is its norms' mode.
            let training = c.train && self.norm1.training_flag().is_some_and(|f| f.get());
            return c.op("dropout", &y, || y.f_dropout(self.drop_rate, training));
        }
        Ok(y)
    }
}

/// torchvision's `_DenseBlock` (an `nn.ModuleDict` of `denselayer1`…): each layer's output is
/// concatenated to its input; the block returns the concatenation of everything.
#[derive(Debug)]
pub struct DenseBlock {
    /// The layers, named `denselayer1`, `denselayer2`, ….
    pub layers: Sequential,
}

impl DenseBlock {
    /// `_DenseBlock(num_layers, num_input_features, bn_size, growth_rate, drop_rate)`.
    pub fn new(p: Path<'_>, num_layers: i64, cin: i64, bn_size: i64, growth_rate: i64, drop_rate: f64) -> Result<Self> {
        let mut b = Sequential::subclass(p, "_DenseBlock");
        for i in 0..num_layers {
            b = b.add_named(&format!("denselayer{}", i + 1), |p| {
                DenseLayer::new(p, cin + i * growth_rate, growth_rate, bn_size, drop_rate)
            })?;
        }
        Ok(DenseBlock { layers: b.build() })
    }

    fn forward(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        let mut features = vec![x.shallow_clone()];
        for layer in self.layers.iter() {
            let input = if features.len() == 1 { x.shallow_clone() } else { c.cat(&features, 1)? };
            features.push(c.call(layer, &input)?);
        }
        c.cat(&features, 1)
    }
}

impl Module for DenseBlock {
    fn kind(&self) -> ModuleKind {
        ModuleKind::Custom("_DenseBlock")
    }
    fn try_forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        Ctx::run(self, train, |c| self.forward(xs, c))
    }
    fn try_forward_rec(&self, xs: &Tensor, train: bool, rec: &mut Recorder, path: &str) -> Result<Tensor> {
        self.forward(xs, &mut Ctx::new(self, rec, path, train))
    }
    fn named_children(&self) -> Vec<(String, &dyn Module)> {
        self.layers.named_children()
    }
}
crate::impl_module_t!(DenseBlock);

/// torchvision's `_Transition` (a Sequential subclass): BN, ReLU, 1×1 conv halving the channels,
/// 2×2 average pool.
pub fn transition(p: Path<'_>, cin: i64, cout: i64) -> Result<Sequential> {
    Ok(Sequential::subclass(p, "_Transition")
        .add_named("norm", |p| BatchNorm2d::new(p, cin, BatchNormConfig::default()))?
        .add_named("relu", ReLU::new)?
        .add_named("conv", |p| Conv2d::new(p, cin, cout, 1, Conv2dConfig::default().bias(false)))?
        .add_named("pool", |p| AvgPool2d::new(p, 2, PoolConfig::default().stride(2)))?
        .build())
}

/// torchvision's `DenseNet`.
#[derive(Debug)]
pub struct DenseNet {
    /// Stem, dense blocks with their transitions, and the final `norm5`.
    pub features: Sequential,
    /// The classifier.
    pub classifier: Linear,
    /// The configuration it was built from.
    pub config: DenseNetConfig,
}
crate::module!(DenseNet, [features, classifier]);

impl DenseNet {
    /// Builds the network of `cfg` at `p` and initialises it as torchvision does.
    pub fn new(p: &Path, cfg: &DenseNetConfig) -> Result<Self> {
        cfg.validate()?;
        let k0 = cfg.num_init_features;
        let mut b = Sequential::builder(p / "features")
            .add_named("conv0", |p| Conv2d::new(p, 3, k0, 7, Conv2dConfig::default().stride(2).padding(3).bias(false)))?
            .add_named("norm0", |p| BatchNorm2d::new(p, k0, BatchNormConfig::default()))?
            .add_named("relu0", ReLU::new)?
            .add_named("pool0", |p| MaxPool2d::new(p, 3, PoolConfig::default().stride(2).padding(1)))?;
        let mut c = k0;
        let last = cfg.block_config.len() - 1;
        for (i, &n) in cfg.block_config.iter().enumerate() {
            b = b.add_named(&format!("denseblock{}", i + 1), |p| {
                DenseBlock::new(p.clone(), n, c, cfg.bn_size, cfg.growth_rate, cfg.drop_rate)
            })?;
            c += n * cfg.growth_rate;
            if i != last {
                b = b.add_named(&format!("transition{}", i + 1), |p| transition(p.clone(), c, c / 2))?;
                c /= 2;
            }
        }
        let features = b.add_named("norm5", |p| BatchNorm2d::new(p, c, BatchNormConfig::default()))?.build();
        let net = DenseNet {
            features,
            classifier: Linear::new(&(p / "classifier"), c, cfg.num_classes)?,
            config: cfg.clone(),
        };
        // "Official init from torch repo."
        let _g = tch::no_grad_guard();
        for (_, m) in net.named_modules() {
            let (w, b) = (m.parameter("weight"), m.parameter("bias"));
            match m.kind() {
                ModuleKind::Conv2d => {
                    if let Some(mut w) = w {
                        init::kaiming_normal_(&mut w, FanMode::FanIn, Nonlinearity::LeakyRelu(0.0))?;
                    }
                }
                ModuleKind::BatchNorm2d => {
                    if let (Some(mut w), Some(mut b)) = (w, b) {
                        init::ones_(&mut w)?;
                        init::zeros_(&mut b)?;
                    }
                }
                ModuleKind::Linear => {
                    if let Some(mut b) = b {
                        init::zeros_(&mut b)?;
                    }
                }
                _ => {}
            }
        }
        Ok(net)
    }

    fn head(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        // `F.relu(features, inplace=True)`, out of place here so the `features.norm5` node keeps
        // its value.
        let x = c.op("relu", x, || x.f_relu())?;
        let x = c.op("adaptive_avg_pool2d", &x, || x.f_adaptive_avg_pool2d([1, 1]))?;
        let x = c.flatten(&x, 1)?;
        c.call(&self.classifier, &x)
    }

    fn forward(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        let f = c.call(&self.features, x)?;
        self.head(&f, c)
    }
}

impl Model for DenseNet {
    fn forward_features(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        Ctx::run(self, train, |c| c.call(&self.features, xs))
    }
    fn forward_head(&self, features: &Tensor, train: bool) -> Result<Tensor> {
        Ctx::run(self, train, |c| self.head(features, c))
    }
    fn feature_info(&self) -> Vec<FeatureInfo> {
        let cfg = &self.config;
        let mut info = vec![FeatureInfo::new(cfg.num_init_features, 2, "features.relu0")];
        let channels = cfg.block_channels();
        let n = channels.len();
        for (i, ch) in channels.into_iter().enumerate() {
            let node = if i + 1 == n { "features.norm5".to_string() } else { format!("features.denseblock{}", i + 1) };
            info.push(FeatureInfo::new(ch, 4 << i, &node));
        }
        info
    }
    fn num_classes(&self) -> i64 {
        self.config.num_classes
    }
}

fn build(p: &Path, o: &Options, mut cfg: DenseNetConfig) -> Result<Box<dyn Model>> {
    cfg.num_classes = o.num_classes.unwrap_or(cfg.num_classes);
    o.apply("growth_rate", &mut cfg.growth_rate)?;
    o.apply("block_config", &mut cfg.block_config)?;
    o.apply("num_init_features", &mut cfg.num_init_features)?;
    o.apply("bn_size", &mut cfg.bn_size)?;
    o.apply("drop_rate", &mut cfg.drop_rate)?;
    // Gradient checkpointing only: parsed (a wrong value is an error) and ignored.
    o.get::<bool>("memory_efficient")?;
    Ok(Box::new(DenseNet::new(p, &cfg)?))
}

macro_rules! entry {
    ($name:ident, $params:literal, $weights:ident) => {
        ModelInfo {
            options: &["growth_rate", "block_config", "num_init_features", "bn_size", "drop_rate", "memory_efficient"],
            weights: $weights,
            ..ModelInfo::classifier(stringify!($name), "densenet", $params, |p, o| build(p, o, DenseNetConfig::$name()))
        }
    };
}

/// The family's registry entries.
pub const MODELS: &[ModelInfo] = &[
    entry!(densenet121, 7978856, DENSENET121_WEIGHTS),
    entry!(densenet161, 28681000, DENSENET161_WEIGHTS),
    entry!(densenet169, 14149480, DENSENET169_WEIGHTS),
    entry!(densenet201, 20013928, DENSENET201_WEIGHTS),
];

/// torchvision's `_load_state_dict` rename: the published files' `denselayerN.norm.1.weight`
/// (from before `.` was banned in module names) become `denselayerN.norm1.weight`.
pub const OLD_KEYS: &[(&str, &str)] =
    &[(r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$", "$1$2")];

/// torchvision's `DenseNet121_Weights`.
const DENSENET121_WEIGHTS: &[Weights] = &[Weights::imagenet(
    "densenet121",
    "IMAGENET1K_V1",
    "densenet121-a639ec97.pth",
    7978856,
    [74.434, 91.972],
    2.834,
    30.845,
    [256, 224],
)
.default()
.remap(OLD_KEYS)];
/// torchvision's `DenseNet161_Weights`.
const DENSENET161_WEIGHTS: &[Weights] = &[Weights::imagenet(
    "densenet161",
    "IMAGENET1K_V1",
    "densenet161-8d451a50.pth",
    28681000,
    [77.138, 93.56],
    7.728,
    110.369,
    [256, 224],
)
.default()
.remap(OLD_KEYS)];
/// torchvision's `DenseNet169_Weights`.
const DENSENET169_WEIGHTS: &[Weights] = &[Weights::imagenet(
    "densenet169",
    "IMAGENET1K_V1",
    "densenet169-b2777c0a.pth",
    14149480,
    [75.6, 92.806],
    3.36,
    54.708,
    [256, 224],
)
.default()
.remap(OLD_KEYS)];
/// torchvision's `DenseNet201_Weights`.
const DENSENET201_WEIGHTS: &[Weights] = &[Weights::imagenet(
    "densenet201",
    "IMAGENET1K_V1",
    "densenet201-c1103571.pth",
    20013928,
    [76.896, 93.37],
    4.291,
    77.373,
    [256, 224],
)
.default()
.remap(OLD_KEYS)];
