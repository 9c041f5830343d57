//! torchvision's ConvNeXt family: ConvNeXt-T/S/B/L (Liu et al. 2022, "A ConvNet for the
//! 2020s"), as `torchvision/models/convnext.py` builds them.
//!
//! * The module tree is torchvision's: `features` (a Sequential of the 4×4 stride-4 stem
//!   `Conv2dNormActivation` with a `LayerNorm2d`, then per stage a Sequential of [`CNBlock`]s
//!   followed, except after the last, by a downsampling Sequential of `LayerNorm2d` and a 2×2
//!   stride-2 Conv2d), `avgpool`, `classifier` (`LayerNorm2d`, `Flatten`, `Linear`). Each
//!   CNBlock has its `layer_scale` parameter (`[dim, 1, 1]`, first in its state dict), `block`
//!   (depthwise 7×7 Conv2d, `Permute` to NHWC, `LayerNorm` eps 1e-6, `Linear` to 4·dim, `GELU`,
//!   `Linear` back, `Permute` to NCHW) and `stochastic_depth`. So the keys, their order and
//!   shapes are torchvision's and its checkpoints load as they are.
//! * Configurations are data ([`CNBlockConfig`] per stage, [`ConvNeXtConfig`] with one named
//!   constructor per torchvision builder); the stochastic-depth probability grows linearly from
//!   0 at the first block to `stochastic_depth_prob` at the last (`p · i / (total − 1)`).
//! * Initialisation is torchvision's loop: Conv2d and Linear weights trunc_normal(std 0.02),
//!   biases 0; the norms keep torch's defaults; `layer_scale` starts at 1e-6.
//!
//! ```no_run
//! use tch::{nn, Device, Kind, Tensor};
//! use tchvision::models::convnext::{ConvNeXt, ConvNeXtConfig};
//! use tchvision::nn::ModuleExt;
//! let vs = nn::VarStore::new(Device::Cpu);
//! let net = ConvNeXt::new(&vs.root(), &ConvNeXtConfig::convnext_tiny().num_classes(10))?;
//! net.eval();
//! let logits = net.try_forward(&Tensor::zeros([1, 3, 224, 224], (Kind::Float, Device::Cpu)))?;
//! assert_eq!(logits.size(), [1, 10]);
//! # Ok::<(), tchvision::Error>(())
//! ```

use tch::{nn::Path, Tensor};

use crate::error::{Error, Result};
use crate::init;
use crate::models::api::{Model, ModelInfo, Options};
use crate::models::features::FeatureInfo;
use crate::models::weights::Weights;
use crate::nn::*;
use crate::ops::{conv_norm_act, ConvNormAct, DepthMode, LayerNorm2d, NormKind, Permute, StochasticDepth};

/// torchvision's `CNBlockConfig(input_channels, out_channels, num_layers)`: one stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CNBlockConfig {
    /// Channels of the stage's blocks.
    pub input_channels: i64,
    /// Channels after the downsampling that follows the stage; `None` for the last stage.
    pub out_channels: Option<i64>,
    /// Blocks in the stage.
    pub num_layers: usize,
}

/// The arguments of torchvision's `ConvNeXt(...)` for one builder.
#[derive(Clone, Debug, PartialEq)]
pub struct ConvNeXtConfig {
    /// The stages.
    pub block_setting: Vec<CNBlockConfig>,
    /// Stochastic-depth probability of the last block (growing linearly from 0).
    pub stochastic_depth_prob: f64,
    /// Initial value of every block's `layer_scale`.
    pub layer_scale: f64,
    /// Outputs of the classifier.
    pub num_classes: i64,
}

impl ConvNeXtConfig {
    fn new(dims: [i64; 4], depths: [usize; 4], stochastic_depth_prob: f64) -> Self {
        let block_setting = (0..4)
            .map(|i| CNBlockConfig {
                input_channels: dims[i],
                out_channels: dims.get(i + 1).copied(),
                num_layers: depths[i],
            })
            .collect();
        ConvNeXtConfig { block_setting, stochastic_depth_prob, layer_scale: 1e-6, num_classes: 1000 }
    }
    /// `convnext_tiny`: dims 96…768, depths [3, 3, 9, 3], stochastic depth 0.1.
    pub fn convnext_tiny() -> Self {
        Self::new([96, 192, 384, 768], [3, 3, 9, 3], 0.1)
    }
    /// `convnext_small`: dims 96…768, depths [3, 3, 27, 3], stochastic depth 0.4.
    pub fn convnext_small() -> Self {
        Self::new([96, 192, 384, 768], [3, 3, 27, 3], 0.4)
    }
    /// `convnext_base`: dims 128…1024, depths [3, 3, 27, 3], stochastic depth 0.5.
    pub fn convnext_base() -> Self {
        Self::new([128, 256, 512, 1024], [3, 3, 27, 3], 0.5)
    }
    /// `convnext_large`: dims 192…1536, depths [3, 3, 27, 3], stochastic depth 0.5.
    pub fn convnext_large() -> Self {
        Self::new([192, 384, 768, 1536], [3, 3, 27, 3], 0.5)
    }
    /// Sets the number of classes.
    pub fn num_classes(mut self, n: i64) -> Self {
        self.num_classes = n;
        self
    }
    /// Sets the last block's stochastic-depth probability.
    pub fn stochastic_depth_prob(mut self, p: f64) -> Self {
        self.stochastic_depth_prob = p;
        self
    }
    /// Sets the initial layer scale.
    pub fn layer_scale(mut self, s: f64) -> Self {
        self.layer_scale = s;
        self
    }

    /// Checks what torchvision checks (and what it would fail on later).
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidArgument(format!("ConvNeXt: {m}")));
        if self.block_setting.is_empty() {
            return bad("The block_setting should not be empty".into());
        }
        if self.block_setting.iter().map(|s| s.num_layers).sum::<usize>() < 2 {
            return bad("needs at least two blocks (the stochastic-depth schedule divides by blocks - 1)".into());
        }
        if !(0.0..=1.0).contains(&self.stochastic_depth_prob) {
            return bad(format!("stochastic_depth_prob must lie in [0, 1], got {}", self.stochastic_depth_prob));
        }
        if self.num_classes < 0 {
            return bad(format!("num_classes must be non-negative, got {}", self.num_classes));
        }
        Ok(())
    }
}

/// torchvision's `CNBlock`: `x + stochastic_depth(layer_scale · block(x))` with `block` the
/// depthwise 7×7 conv, NHWC LayerNorm, inverted-bottleneck MLP (GELU) and back to NCHW.
#[derive(Debug)]
pub struct CNBlock {
    /// The branch.
    pub block: Sequential,
    /// Per-channel scale of the branch, `[dim, 1, 1]`.
    pub layer_scale: Tensor,
    /// Drops the branch per sample in training.
    pub stochastic_depth: StochasticDepth,
}

impl CNBlock {
    /// `CNBlock(dim, layer_scale, stochastic_depth_prob)`.
    pub fn new(p: &Path, dim: i64, layer_scale: f64, sd_prob: f64) -> Result<Self> {
        let dw = Conv2dConfig::default().padding(3).groups(dim);
        let block = Sequential::builder(p / "block")
            .add(|p| Conv2d::new(p, dim, dim, 7, dw))?
            .add(|p| Permute::new(p, &[0, 2, 3, 1]))?
            .add(|p| LayerNorm::with_options(p, &[dim], 1e-6, true, true))?
            .add(|p| Linear::new(p, dim, 4 * dim))?
            .add(GELU::new)?
            .add(|p| Linear::new(p, 4 * dim, dim))?
            .add(|p| Permute::new(p, &[0, 3, 1, 2]))?
            .build();
        Ok(CNBlock {
            block,
            layer_scale: register(p, "layer_scale", filled(p, &[dim, 1, 1], layer_scale)?, true)?,
            stochastic_depth: StochasticDepth::new(&(p / "stochastic_depth"), sd_prob, DepthMode::Row)?,
        })
    }

    fn forward(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        let y = c.call(&self.block, x)?;
        let y = c.op("mul", &y, || self.layer_scale.f_mul(&y))?;
        let y = c.call(&self.stochastic_depth, &y)?;
        if c.is_recording() {
            return c.add(&y, x);
        }
        c.op("add", &y, || {
            let mut y = y.shallow_clone();
            y.f_add_(x)
        })
    }
}

impl Module for CNBlock {
    fn kind(&self) -> ModuleKind {
        ModuleKind::Custom("CNBlock")
    }
    fn try_forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        let mut rec = Recorder::disabled();
        self.forward(xs, &mut Ctx::new(self, &mut rec, "", train))
    }
    fn try_forward_rec(&self, xs: &Tensor, train: bool, rec: &mut Recorder, path: &str) -> Result<Tensor> {
        self.forward(xs, &mut Ctx::new(self, rec, path, train))
    }
    fn named_children(&self) -> Vec<(String, &dyn Module)> {
        vec![("block".into(), &self.block), ("stochastic_depth".into(), &self.stochastic_depth)]
    }
    fn own_parameters(&self) -> Vec<(&'static str, &Tensor)> {
        vec![("layer_scale", &self.layer_scale)]
    }
}
crate::impl_module_t!(CNBlock);

/// torchvision's `ConvNeXt`.
#[derive(Debug)]
pub struct ConvNeXt {
    /// Stem, stages and downsamplings.
    pub features: Sequential,
    /// Global average pool to 1×1.
    pub avgpool: AdaptiveAvgPool2d,
    /// `LayerNorm2d`, `Flatten`, `Linear`.
    pub classifier: Sequential,
    /// The configuration it was built from.
    pub config: ConvNeXtConfig,
}
crate::module!(ConvNeXt, [features, avgpool, classifier]);

impl ConvNeXt {
    /// Builds the network of `cfg` at `p` and initialises it as torchvision does.
    pub fn new(p: &Path, cfg: &ConvNeXtConfig) -> Result<Self> {
        cfg.validate()?;
        let ln = |p: &Path, c| LayerNorm2d::new(p, c, 1e-6);
        let first = cfg.block_setting[0].input_channels;
        let stem = ConvNormAct::new(3, first, 4)
            .stride(4)
            .padding(0)
            .norm(Some(NormKind::LayerNorm2d { eps: 1e-6 }))
            .act(None)
            .bias(true);
        let mut f = Sequential::builder(p / "features").add(|p| conv_norm_act(p.clone(), stem))?;
        let total: usize = cfg.block_setting.iter().map(|s| s.num_layers).sum();
        let mut id = 0;
        for s in &cfg.block_setting {
            f = f.add(|p| {
                let mut stage = Sequential::builder(p.clone());
                for _ in 0..s.num_layers {
                    let sd = cfg.stochastic_depth_prob * id as f64 / (total as f64 - 1.0);
                    stage = stage.add(|p| CNBlock::new(p, s.input_channels, cfg.layer_scale, sd))?;
                    id += 1;
                }
                Ok(stage.build())
            })?;
            if let Some(out) = s.out_channels {
                let k2 = Conv2dConfig::default().stride(2);
                f = f.add(|p| {
                    let b = Sequential::builder(p.clone())
                        .add(|p| ln(p, s.input_channels))?
                        .add(|p| Conv2d::new(p, s.input_channels, out, 2, k2))?;
                    Ok(b.build())
                })?;
            }
        }
        let last = cfg.block_setting[cfg.block_setting.len() - 1];
        let last_out = last.out_channels.unwrap_or(last.input_channels);
        let net = ConvNeXt {
            features: f.build(),
            avgpool: AdaptiveAvgPool2d::new(&(p / "avgpool"), 1)?,
            classifier: Sequential::builder(p / "classifier")
                .add(|p| ln(p, last_out))?
                .add(Flatten::new)?
                .add(|p| Linear::new(p, last_out, cfg.num_classes))?
                .build(),
            config: cfg.clone(),
        };
        net.init()?;
        Ok(net)
    }

    /// torchvision's init loop over `self.modules()`.
    fn init(&self) -> Result<()> {
        let _g = tch::no_grad_guard();
        for (_, m) in self.named_modules() {
            if matches!(m.kind(), ModuleKind::Conv2d | ModuleKind::Linear) {
                if let Some(mut w) = m.parameter("weight") {
                    init::trunc_normal_(&mut w, 0.0, 0.02, -2.0, 2.0)?;
                }
                if let Some(mut b) = m.parameter("bias") {
                    init::zeros_(&mut b)?;
                }
            }
        }
        Ok(())
    }

    fn head(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        let x = c.call(&self.avgpool, x)?;
        c.call(&self.classifier, &x)
    }

    fn forward(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        let x = c.call(&self.features, x)?;
        self.head(&x, c)
    }
}

impl Model for ConvNeXt {
    fn forward_features(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        Ctx::run(self, train, |c| c.call(&self.features, xs))
    }
    fn forward_head(&self, features: &Tensor, train: bool) -> Result<Tensor> {
        Ctx::run(self, train, |c| self.head(features, c))
    }
    /// Each stage's blocks (`features.1`, `.3`, `.5`, `.7`) at strides 4, 8, 16, 32.
    fn feature_info(&self) -> Vec<FeatureInfo> {
        let (mut index, mut reduction) = (1, 4);
        let mut info = Vec::new();
        for s in &self.config.block_setting {
            info.push(FeatureInfo::new(s.input_channels, reduction, &format!("features.{index}")));
            index += 1;
            if s.out_channels.is_some() {
                index += 1;
                reduction *= 2;
            }
        }
        info
    }
    fn num_classes(&self) -> i64 {
        self.config.num_classes
    }
}

fn build(p: &Path, o: &Options, mut cfg: ConvNeXtConfig) -> Result<Box<dyn Model>> {
    cfg.num_classes = o.num_classes.unwrap_or(cfg.num_classes);
    o.apply("stochastic_depth_prob", &mut cfg.stochastic_depth_prob)?;
    o.apply("layer_scale", &mut cfg.layer_scale)?;
    Ok(Box::new(ConvNeXt::new(p, &cfg)?))
}

macro_rules! entry {
    ($name:ident, $params:literal, $weights:ident) => {
        ModelInfo {
            options: &["stochastic_depth_prob", "layer_scale"],
            weights: $weights,
            ..ModelInfo::classifier(stringify!($name), "convnext", $params, |p, o| build(p, o, ConvNeXtConfig::$name()))
        }
    };
}

/// The family's registry entries.
pub const MODELS: &[ModelInfo] = &[
    entry!(convnext_tiny, 28589128, CONVNEXT_TINY_WEIGHTS),
    entry!(convnext_small, 50223688, CONVNEXT_SMALL_WEIGHTS),
    entry!(convnext_base, 88591464, CONVNEXT_BASE_WEIGHTS),
    entry!(convnext_large, 197767336, CONVNEXT_LARGE_WEIGHTS),
];

/// torchvision's `ConvNeXt_Tiny_Weights`.
#[rustfmt::skip]
const CONVNEXT_TINY_WEIGHTS: &[Weights] = &[
    Weights::imagenet("convnext_tiny", "IMAGENET1K_V1", "convnext_tiny-983f1562.pth", 28589128, [82.52, 96.146], 4.456, 109.119, [236, 224]).default(),
];
/// torchvision's `ConvNeXt_Small_Weights`.
#[rustfmt::skip]
const CONVNEXT_SMALL_WEIGHTS: &[Weights] = &[
    Weights::imagenet("convnext_small", "IMAGENET1K_V1", "convnext_small-0c510722.pth", 50223688, [83.616, 96.65], 8.684, 191.703, [230, 224]).default(),
];
/// torchvision's `ConvNeXt_Base_Weights`.
#[rustfmt::skip]
const CONVNEXT_BASE_WEIGHTS: &[Weights] = &[
    Weights::imagenet("convnext_base", "IMAGENET1K_V1", "convnext_base-6075fbad.pth", 88591464, [84.062, 96.87], 15.355, 338.064, [232, 224]).default(),
];
/// torchvision's `ConvNeXt_Large_Weights`.
#[rustfmt::skip]
const CONVNEXT_LARGE_WEIGHTS: &[Weights] = &[
    Weights::imagenet("convnext_large", "IMAGENET1K_V1", "convnext_large-ea097f82.pth", 197767336, [84.414, 96.976], 34.361, 754.537, [232, 224]).default(),
];
