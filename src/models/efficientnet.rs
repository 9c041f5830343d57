//! torchvision's EfficientNet family: EfficientNet-B0…B7 (Tan & Le 2019, "EfficientNet:
//! Rethinking Model Scaling for Convolutional Neural Networks") and EfficientNetV2-S/M/L (Tan &
//! Le 2021, "EfficientNetV2: Smaller Models and Faster Training"), as
//! `torchvision/models/efficientnet.py` builds them.
//!
//! * The module tree is torchvision's: `features` (a Sequential of the stem
//!   `Conv2dNormActivation`, one Sequential per stage of [`MBConv`] / [`FusedMBConv`] blocks, and
//!   the 1×1 head `Conv2dNormActivation`), `avgpool`, `classifier` (`Dropout`, `Linear`); in
//!   each block `block` (a Sequential of `Conv2dNormActivation`s and, in MBConv, a
//!   `SqueezeExcitation`) and `stochastic_depth`. So the keys, their order and shapes are
//!   torchvision's and its checkpoints load as they are.
//! * Configurations are data ([`MBConvConfig`], [`EfficientNetConfig`] with one named
//!   constructor per torchvision builder): V1 scales Table 1 of the paper by width and depth
//!   multipliers with torchvision's `_make_divisible` rounding (multiples of 8, never more than
//!   10 % below) and `ceil` on depths; V2 is Table 4 of its paper. The stochastic-depth
//!   probability grows linearly with the block index (`p · i / total`), BatchNorm is torch's
//!   default for B0–B4, `eps=1e-3, momentum=0.01` for B5–B7 and `eps=1e-3` for V2.
//! * Initialisation is torchvision's loop: Conv2d kaiming_normal (fan_out), bias 0; BatchNorm
//!   weight 1, bias 0; Linear uniform(±1/√out_features), bias 0.
//!
//! ```no_run
//! use tch::{nn, Device, Kind, Tensor};
//! use tchvision::models::efficientnet::{EfficientNet, EfficientNetConfig};
//! use tchvision::nn::ModuleExt;
//! let vs = nn::VarStore::new(Device::Cpu);
//! let net = EfficientNet::new(&vs.root(), &EfficientNetConfig::efficientnet_b0().num_classes(10))?;
//! net.eval();
//! let logits = net.try_forward(&Tensor::zeros([1, 3, 224, 224], (Kind::Float, Device::Cpu)))?;
//! assert_eq!(logits.size(), [1, 10]);
//! # Ok::<(), tchvision::Error>(())
//! ```

use tch::{nn::Path, Tensor};

use crate::error::{Error, Result};
use crate::init::{self, FanMode, Nonlinearity};
use crate::models::api::{Model, ModelInfo, Options};
use crate::models::features::FeatureInfo;
use crate::models::weights::Weights;
use crate::nn::*;
use crate::ops::{
    conv_norm_act, make_divisible, Act, ConvNormAct, DepthMode, NormKind, SqueezeExcitation, StochasticDepth,
};

/// Which block a stage stacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockKind {
    /// [`MBConv`]: 1×1 expansion, depthwise k×k, squeeze-and-excitation, 1×1 projection.
    MBConv,
    /// [`FusedMBConv`]: k×k expansion (fused with the depthwise step), 1×1 projection.
    FusedMBConv,
}

/// One stage of torchvision's `inverted_residual_setting` (`MBConvConfig` /
/// `FusedMBConvConfig`, channels and depth already scaled).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MBConvConfig {
    /// Expansion of the inner width over the input channels.
    pub expand_ratio: f64,
    /// Kernel of the depthwise (MBConv) or fused (FusedMBConv) convolution.
    pub kernel: i64,
    /// Stride of the stage's first block.
    pub stride: i64,
    /// Input channels of the stage's first block.
    pub input_channels: i64,
    /// Output channels of every block of the stage.
    pub out_channels: i64,
    /// Blocks in the stage.
    pub num_layers: usize,
    /// The block.
    pub block: BlockKind,
}

impl MBConvConfig {
    /// torchvision's `MBConvConfig(expand_ratio, kernel, stride, input_channels, out_channels,
    /// num_layers, width_mult, depth_mult)`: channels through `_make_divisible(c · width_mult,
    /// 8)`, depth `ceil(num_layers · depth_mult)`.
    #[allow(clippy::too_many_arguments)]
    pub fn mbconv(e: f64, k: i64, s: i64, cin: i64, cout: i64, n: usize, width_mult: f64, depth_mult: f64) -> Self {
        MBConvConfig {
            expand_ratio: e,
            kernel: k,
            stride: s,
            input_channels: Self::adjust_channels(cin, width_mult),
            out_channels: Self::adjust_channels(cout, width_mult),
            num_layers: (n as f64 * depth_mult).ceil() as usize,
            block: BlockKind::MBConv,
        }
    }
    /// torchvision's `FusedMBConvConfig(expand_ratio, kernel, stride, input_channels,
    /// out_channels, num_layers)` (no scaling).
    pub fn fused(e: f64, k: i64, s: i64, cin: i64, cout: i64, n: usize) -> Self {
        MBConvConfig {
            expand_ratio: e,
            kernel: k,
            stride: s,
            input_channels: cin,
            out_channels: cout,
            num_layers: n,
            block: BlockKind::FusedMBConv,
        }
    }
    /// `_MBConvConfig.adjust_channels`: `_make_divisible(channels · width_mult, 8)`.
    pub fn adjust_channels(channels: i64, width_mult: f64) -> i64 {
        make_divisible(channels as f64 * width_mult, 8)
    }
    /// The inner (expanded) width of a block.
    pub fn expanded_channels(&self) -> i64 {
        Self::adjust_channels(self.input_channels, self.expand_ratio)
    }
}

/// The arguments of torchvision's `EfficientNet(...)` for one builder.
#[derive(Clone, Debug, PartialEq)]
pub struct EfficientNetConfig {
    /// The stages.
    pub setting: Vec<MBConvConfig>,
    /// Dropout before the classifier.
    pub dropout: f64,
    /// Stochastic-depth probability of the last block (growing linearly from 0).
    pub stochastic_depth_prob: f64,
    /// Outputs of the classifier.
    pub num_classes: i64,
    /// The norm layer.
    pub norm: NormKind,
    /// Channels of the head conv; `None` is 4 × the last stage's.
    pub last_channel: Option<i64>,
}

impl EfficientNetConfig {
    fn v1(width_mult: f64, depth_mult: f64, dropout: f64, norm: NormKind) -> Self {
        let c = |e, k, s, i, o, n| MBConvConfig::mbconv(e, k, s, i, o, n, width_mult, depth_mult);
        EfficientNetConfig {
            setting: vec![
                c(1.0, 3, 1, 32, 16, 1),
                c(6.0, 3, 2, 16, 24, 2),
                c(6.0, 5, 2, 24, 40, 2),
                c(6.0, 3, 2, 40, 80, 3),
                c(6.0, 5, 1, 80, 112, 3),
                c(6.0, 5, 2, 112, 192, 4),
                c(6.0, 3, 1, 192, 320, 1),
            ],
            dropout,
            stochastic_depth_prob: 0.2,
            num_classes: 1000,
            norm,
            last_channel: None,
        }
    }
    fn v2(fused: &[(f64, i64, i64, i64, i64, usize)], mb: &[(f64, i64, i64, i64, i64, usize)], dropout: f64) -> Self {
        let f = fused.iter().map(|&(e, k, s, i, o, n)| MBConvConfig::fused(e, k, s, i, o, n));
        let m = mb.iter().map(|&(e, k, s, i, o, n)| MBConvConfig::mbconv(e, k, s, i, o, n, 1.0, 1.0));
        EfficientNetConfig {
            setting: f.chain(m).collect(),
            dropout,
            stochastic_depth_prob: 0.2,
            num_classes: 1000,
            norm: NormKind::BatchNorm2dWith { eps: 1e-3, momentum: 0.1 },
            last_channel: Some(1280),
        }
    }
    const BN_B5: NormKind = NormKind::BatchNorm2dWith { eps: 1e-3, momentum: 0.01 };

    /// `efficientnet_b0`: width 1.0, depth 1.0, dropout 0.2.
    pub fn efficientnet_b0() -> Self {
        Self::v1(1.0, 1.0, 0.2, NormKind::BatchNorm2d)
    }
    /// `efficientnet_b1`: width 1.0, depth 1.1, dropout 0.2.
    pub fn efficientnet_b1() -> Self {
        Self::v1(1.0, 1.1, 0.2, NormKind::BatchNorm2d)
    }
    /// `efficientnet_b2`: width 1.1, depth 1.2, dropout 0.3.
    pub fn efficientnet_b2() -> Self {
        Self::v1(1.1, 1.2, 0.3, NormKind::BatchNorm2d)
    }
    /// `efficientnet_b3`: width 1.2, depth 1.4, dropout 0.3.
    pub fn efficientnet_b3() -> Self {
        Self::v1(1.2, 1.4, 0.3, NormKind::BatchNorm2d)
    }
    /// `efficientnet_b4`: width 1.4, depth 1.8, dropout 0.4.
    pub fn efficientnet_b4() -> Self {
        Self::v1(1.4, 1.8, 0.4, NormKind::BatchNorm2d)
    }
    /// `efficientnet_b5`: width 1.6, depth 2.2, dropout 0.4, BatchNorm eps 1e-3, momentum 0.01.
    pub fn efficientnet_b5() -> Self {
        Self::v1(1.6, 2.2, 0.4, Self::BN_B5)
    }
    /// `efficientnet_b6`: width 1.8, depth 2.6, dropout 0.5, BatchNorm eps 1e-3, momentum 0.01.
    pub fn efficientnet_b6() -> Self {
        Self::v1(1.8, 2.6, 0.5, Self::BN_B5)
    }
    /// `efficientnet_b7`: width 2.0, depth 3.1, dropout 0.5, BatchNorm eps 1e-3, momentum 0.01.
    pub fn efficientnet_b7() -> Self {
        Self::v1(2.0, 3.1, 0.5, Self::BN_B5)
    }
    /// `efficientnet_v2_s`: dropout 0.2, BatchNorm eps 1e-3, last channel 1280.
    pub fn efficientnet_v2_s() -> Self {
        Self::v2(
            &[(1.0, 3, 1, 24, 24, 2), (4.0, 3, 2, 24, 48, 4), (4.0, 3, 2, 48, 64, 4)],
            &[(4.0, 3, 2, 64, 128, 6), (6.0, 3, 1, 128, 160, 9), (6.0, 3, 2, 160, 256, 15)],
            0.2,
        )
    }
    /// `efficientnet_v2_m`: dropout 0.3, BatchNorm eps 1e-3, last channel 1280.
    pub fn efficientnet_v2_m() -> Self {
        Self::v2(
            &[(1.0, 3, 1, 24, 24, 3), (4.0, 3, 2, 24, 48, 5), (4.0, 3, 2, 48, 80, 5)],
            &[(4.0, 3, 2, 80, 160, 7), (6.0, 3, 1, 160, 176, 14), (6.0, 3, 2, 176, 304, 18), (6.0, 3, 1, 304, 512, 5)],
            0.3,
        )
    }
    /// `efficientnet_v2_l`: dropout 0.4, BatchNorm eps 1e-3, last channel 1280.
    pub fn efficientnet_v2_l() -> Self {
        Self::v2(
            &[(1.0, 3, 1, 32, 32, 4), (4.0, 3, 2, 32, 64, 7), (4.0, 3, 2, 64, 96, 7)],
            &[(4.0, 3, 2, 96, 192, 10), (6.0, 3, 1, 192, 224, 19), (6.0, 3, 2, 224, 384, 25), (6.0, 3, 1, 384, 640, 7)],
            0.4,
        )
    }

    /// Sets the number of classes.
    pub fn num_classes(mut self, n: i64) -> Self {
        self.num_classes = n;
        self
    }
    /// Sets the classifier's dropout.
    pub fn dropout(mut self, p: f64) -> Self {
        self.dropout = p;
        self
    }
    /// Sets the last block's stochastic-depth probability.
    pub fn stochastic_depth_prob(mut self, p: f64) -> Self {
        self.stochastic_depth_prob = p;
        self
    }

    /// Checks what torchvision checks (and what it would fail on later).
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidArgument(format!("EfficientNet: {m}")));
        if self.setting.is_empty() {
            return bad("The inverted_residual_setting should not be empty".into());
        }
        if let Some(s) = self.setting.iter().find(|s| !(1..=2).contains(&s.stride)) {
            return bad(format!("illegal stride value {}", s.stride));
        }
        if self.num_classes < 0 {
            return bad(format!("num_classes must be non-negative, got {}", self.num_classes));
        }
        if !(0.0..=1.0).contains(&self.dropout) || !(0.0..=1.0).contains(&self.stochastic_depth_prob) {
            return bad(format!(
                "dropout ({}) and stochastic_depth_prob ({}) must lie in [0, 1]",
                self.dropout, self.stochastic_depth_prob
            ));
        }
        Ok(())
    }
}

/// `result = block(x)`; with the residual, `stochastic_depth(result) + x` (torchvision's
/// `result += input`, node `add`; in place when nothing is recorded).
fn residual(c: &mut Ctx, block: &Sequential, sd: &StochasticDepth, res: bool, x: &Tensor) -> Result<Tensor> {
    let out = c.call(block, x)?;
    if !res {
        return Ok(out);
    }
    let out = c.call(sd, &out)?;
    if c.is_recording() {
        return c.add(&out, x);
    }
    c.op("add", &out, || {
        let mut out = out.shallow_clone();
        out.f_add_(x)
    })
}

/// torchvision's `MBConv`: (1×1 expand) → depthwise k×k → SqueezeExcitation (SiLU, squeeze to
/// a quarter of the input channels) → 1×1 project, with SiLU activations; the residual (through
/// stochastic depth, per row) when the stride is 1 and the channels do not change.
#[derive(Debug)]
pub struct MBConv {
    /// The Sequential of the block's steps.
    pub block: Sequential,
    /// Drops the branch per sample in training.
    pub stochastic_depth: StochasticDepth,
    /// torchvision's `use_res_connect`.
    pub use_res_connect: bool,
}
crate::module!(MBConv, [block, stochastic_depth]);

impl MBConv {
    /// `MBConv(cnf, stochastic_depth_prob, norm_layer)` for one block's configuration.
    pub fn new(p: &Path, cnf: &MBConvConfig, sd_prob: f64, norm: NormKind) -> Result<Self> {
        let expanded = cnf.expanded_channels();
        let cna = |cin, cout, k| ConvNormAct::new(cin, cout, k).norm(Some(norm)).act(Some(Act::SiLU));
        let mut b = Sequential::builder(p / "block");
        if expanded != cnf.input_channels {
            b = b.add(|p| conv_norm_act(p.clone(), cna(cnf.input_channels, expanded, 1)))?;
        }
        let dw = cna(expanded, expanded, cnf.kernel).stride(cnf.stride).groups(expanded);
        let squeeze = (cnf.input_channels / 4).max(1);
        let block = b
            .add(|p| conv_norm_act(p.clone(), dw))?
            .add(|p| SqueezeExcitation::new(p, expanded, squeeze, Act::SiLU, Act::Sigmoid))?
            .add(|p| conv_norm_act(p.clone(), cna(expanded, cnf.out_channels, 1).act(None)))?
            .build();
        Ok(MBConv {
            block,
            stochastic_depth: StochasticDepth::new(&(p / "stochastic_depth"), sd_prob, DepthMode::Row)?,
            use_res_connect: cnf.stride == 1 && cnf.input_channels == cnf.out_channels,
        })
    }

    fn forward(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        residual(c, &self.block, &self.stochastic_depth, self.use_res_connect, x)
    }
}

/// torchvision's `FusedMBConv`: a k×k expansion (the depthwise step fused in) → 1×1 project,
/// or a single k×k conv when the expansion ratio is 1; SiLU; the residual as in [`MBConv`].
#[derive(Debug)]
pub struct FusedMBConv {
    /// The Sequential of the block's steps.
    pub block: Sequential,
    /// Drops the branch per sample in training.
    pub stochastic_depth: StochasticDepth,
    /// torchvision's `use_res_connect`.
    pub use_res_connect: bool,
}
crate::module!(FusedMBConv, [block, stochastic_depth]);

impl FusedMBConv {
    /// `FusedMBConv(cnf, stochastic_depth_prob, norm_layer)` for one block's configuration.
    pub fn new(p: &Path, cnf: &MBConvConfig, sd_prob: f64, norm: NormKind) -> Result<Self> {
        let expanded = cnf.expanded_channels();
        let cna = |cin, cout, k| ConvNormAct::new(cin, cout, k).norm(Some(norm)).act(Some(Act::SiLU));
        let b = Sequential::builder(p / "block");
        let block = if expanded != cnf.input_channels {
            b.add(|p| conv_norm_act(p.clone(), cna(cnf.input_channels, expanded, cnf.kernel).stride(cnf.stride)))?
                .add(|p| conv_norm_act(p.clone(), cna(expanded, cnf.out_channels, 1).act(None)))?
        } else {
            b.add(|p| {
                conv_norm_act(p.clone(), cna(cnf.input_channels, cnf.out_channels, cnf.kernel).stride(cnf.stride))
            })?
        };
        Ok(FusedMBConv {
            block: block.build(),
            stochastic_depth: StochasticDepth::new(&(p / "stochastic_depth"), sd_prob, DepthMode::Row)?,
            use_res_connect: cnf.stride == 1 && cnf.input_channels == cnf.out_channels,
        })
    }

    fn forward(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        residual(c, &self.block, &self.stochastic_depth, self.use_res_connect, x)
    }
}

/// torchvision's `EfficientNet` (V1 and V2).
#[derive(Debug)]
pub struct EfficientNet {
    /// Stem (3×3, stride 2, SiLU), the stages, and the 1×1 head conv (SiLU).
    pub features: Sequential,
    /// Global average pool to 1×1.
    pub avgpool: AdaptiveAvgPool2d,
    /// `Dropout`, `Linear`.
    pub classifier: Sequential,
    /// The configuration it was built from.
    pub config: EfficientNetConfig,
}
crate::module!(EfficientNet, [features, avgpool, classifier]);

impl EfficientNet {
    /// Builds the network of `cfg` at `p` and initialises it as torchvision does.
    pub fn new(p: &Path, cfg: &EfficientNetConfig) -> Result<Self> {
        cfg.validate()?;
        let norm = Some(cfg.norm);
        let silu = Some(Act::SiLU);
        let first = cfg.setting[0].input_channels;
        let mut f = Sequential::builder(p / "features")
            .add(|p| conv_norm_act(p.clone(), ConvNormAct::new(3, first, 3).stride(2).norm(norm).act(silu)))?;
        let total: usize = cfg.setting.iter().map(|s| s.num_layers).sum();
        let mut id = 0;
        for s in &cfg.setting {
            f = f.add(|p| {
                let mut stage = Sequential::builder(p.clone());
                for i in 0..s.num_layers {
                    let cnf =
                        if i == 0 { *s } else { MBConvConfig { input_channels: s.out_channels, stride: 1, ..*s } };
                    let sd = cfg.stochastic_depth_prob * id as f64 / total as f64;
                    stage = match s.block {
                        BlockKind::MBConv => stage.add(|p| MBConv::new(p, &cnf, sd, cfg.norm))?,
                        BlockKind::FusedMBConv => stage.add(|p| FusedMBConv::new(p, &cnf, sd, cfg.norm))?,
                    };
                    id += 1;
                }
                Ok(stage.build())
            })?;
        }
        let last_in = cfg.setting[cfg.setting.len() - 1].out_channels;
        let last_out = cfg.last_channel.unwrap_or(4 * last_in);
        let features =
            f.add(|p| conv_norm_act(p.clone(), ConvNormAct::new(last_in, last_out, 1).norm(norm).act(silu)))?;
        let net = EfficientNet {
            features: features.build(),
            avgpool: AdaptiveAvgPool2d::new(&(p / "avgpool"), 1)?,
            classifier: Sequential::builder(p / "classifier")
                .add(|p| Dropout::new(p, cfg.dropout))?
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
                        let r = 1.0 / (w.size()[0] as f64).sqrt();
                        init::uniform_(&mut w, -r, r)?;
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

impl Model for EfficientNet {
    fn forward_features(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        Ctx::run(self, train, |c| c.call(&self.features, xs))
    }
    fn forward_head(&self, features: &Tensor, train: bool) -> Result<Tensor> {
        Ctx::run(self, train, |c| self.head(features, c))
    }
    /// The last stage at each stride (2, 4, 8, 16, 32), as timm's `features_only`:
    /// `features.1`, `.2`, `.3`, `.5`, `.7` for V1.
    fn feature_info(&self) -> Vec<FeatureInfo> {
        let mut info: Vec<FeatureInfo> = Vec::new();
        let mut reduction = 2;
        for (i, s) in self.config.setting.iter().enumerate() {
            reduction *= s.stride;
            let this = FeatureInfo::new(s.out_channels, reduction, &format!("features.{}", i + 1));
            match info.last_mut() {
                Some(last) if last.reduction == reduction => *last = this,
                _ => info.push(this),
            }
        }
        info
    }
    fn num_classes(&self) -> i64 {
        self.config.num_classes
    }
}

fn build(p: &Path, o: &Options, mut cfg: EfficientNetConfig) -> Result<Box<dyn Model>> {
    cfg.num_classes = o.num_classes.unwrap_or(cfg.num_classes);
    o.apply("dropout", &mut cfg.dropout)?;
    o.apply("stochastic_depth_prob", &mut cfg.stochastic_depth_prob)?;
    Ok(Box::new(EfficientNet::new(p, &cfg)?))
}

macro_rules! entry {
    ($name:ident, $params:literal, $weights:ident) => {
        ModelInfo {
            options: &["dropout", "stochastic_depth_prob"],
            weights: $weights,
            ..ModelInfo::classifier(stringify!($name), "efficientnet", $params, |p, o| {
                build(p, o, EfficientNetConfig::$name())
            })
        }
    };
}

/// The family's registry entries.
pub const MODELS: &[ModelInfo] = &[
    entry!(efficientnet_b0, 5288548, EFFICIENTNET_B0_WEIGHTS),
    entry!(efficientnet_b1, 7794184, EFFICIENTNET_B1_WEIGHTS),
    entry!(efficientnet_b2, 9109994, EFFICIENTNET_B2_WEIGHTS),
    entry!(efficientnet_b3, 12233232, EFFICIENTNET_B3_WEIGHTS),
    entry!(efficientnet_b4, 19341616, EFFICIENTNET_B4_WEIGHTS),
    entry!(efficientnet_b5, 30389784, EFFICIENTNET_B5_WEIGHTS),
    entry!(efficientnet_b6, 43040704, EFFICIENTNET_B6_WEIGHTS),
    entry!(efficientnet_b7, 66347960, EFFICIENTNET_B7_WEIGHTS),
    entry!(efficientnet_v2_s, 21458488, EFFICIENTNET_V2_S_WEIGHTS),
    entry!(efficientnet_v2_m, 54139356, EFFICIENTNET_V2_M_WEIGHTS),
    entry!(efficientnet_v2_l, 118515272, EFFICIENTNET_V2_L_WEIGHTS),
];

/// torchvision's `EfficientNet_B0_Weights`.
#[rustfmt::skip]
const EFFICIENTNET_B0_WEIGHTS: &[Weights] = &[
    Weights::imagenet("efficientnet_b0", "IMAGENET1K_V1", "efficientnet_b0_rwightman-7f5810bc.pth", 5288548, [77.692, 93.532], 0.386, 20.451, [256, 224]).bicubic().default(),
];
/// torchvision's `EfficientNet_B1_Weights`.
#[rustfmt::skip]
const EFFICIENTNET_B1_WEIGHTS: &[Weights] = &[
    Weights::imagenet("efficientnet_b1", "IMAGENET1K_V1", "efficientnet_b1_rwightman-bac287d4.pth", 7794184, [78.642, 94.186], 0.687, 30.134, [256, 240]).bicubic(),
    Weights::imagenet("efficientnet_b1", "IMAGENET1K_V2", "efficientnet_b1-c27df63c.pth", 7794184, [79.838, 94.934], 0.687, 30.136, [255, 240]).default(),
];
/// torchvision's `EfficientNet_B2_Weights`.
#[rustfmt::skip]
const EFFICIENTNET_B2_WEIGHTS: &[Weights] = &[
    Weights::imagenet("efficientnet_b2", "IMAGENET1K_V1", "efficientnet_b2_rwightman-c35c1473.pth", 9109994, [80.608, 95.31], 1.088, 35.174, [288, 288]).bicubic().default(),
];
/// torchvision's `EfficientNet_B3_Weights`.
#[rustfmt::skip]
const EFFICIENTNET_B3_WEIGHTS: &[Weights] = &[
    Weights::imagenet("efficientnet_b3", "IMAGENET1K_V1", "efficientnet_b3_rwightman-b3899882.pth", 12233232, [82.008, 96.054], 1.827, 47.184, [320, 300]).bicubic().default(),
];
/// torchvision's `EfficientNet_B4_Weights`.
#[rustfmt::skip]
const EFFICIENTNET_B4_WEIGHTS: &[Weights] = &[
    Weights::imagenet("efficientnet_b4", "IMAGENET1K_V1", "efficientnet_b4_rwightman-23ab8bcd.pth", 19341616, [83.384, 96.594], 4.394, 74.489, [384, 380]).bicubic().default(),
];
/// torchvision's `EfficientNet_B5_Weights`.
#[rustfmt::skip]
const EFFICIENTNET_B5_WEIGHTS: &[Weights] = &[
    Weights::imagenet("efficientnet_b5", "IMAGENET1K_V1", "efficientnet_b5_lukemelas-1a07897c.pth", 30389784, [83.444, 96.628], 10.266, 116.864, [456, 456]).bicubic().default(),
];
/// torchvision's `EfficientNet_B6_Weights`.
#[rustfmt::skip]
const EFFICIENTNET_B6_WEIGHTS: &[Weights] = &[
    Weights::imagenet("efficientnet_b6", "IMAGENET1K_V1", "efficientnet_b6_lukemelas-24a108a5.pth", 43040704, [84.008, 96.916], 19.068, 165.362, [528, 528]).bicubic().default(),
];
/// torchvision's `EfficientNet_B7_Weights`.
#[rustfmt::skip]
const EFFICIENTNET_B7_WEIGHTS: &[Weights] = &[
    Weights::imagenet("efficientnet_b7", "IMAGENET1K_V1", "efficientnet_b7_lukemelas-c5b4e57e.pth", 66347960, [84.122, 96.908], 37.746, 254.675, [600, 600]).bicubic().default(),
];
/// torchvision's `EfficientNet_V2_S_Weights`.
#[rustfmt::skip]
const EFFICIENTNET_V2_S_WEIGHTS: &[Weights] = &[
    Weights::imagenet("efficientnet_v2_s", "IMAGENET1K_V1", "efficientnet_v2_s-dd5fe13b.pth", 21458488, [84.228, 96.878], 8.366, 82.704, [384, 384]).default(),
];
/// torchvision's `EfficientNet_V2_M_Weights`.
#[rustfmt::skip]
const EFFICIENTNET_V2_M_WEIGHTS: &[Weights] = &[
    Weights::imagenet("efficientnet_v2_m", "IMAGENET1K_V1", "efficientnet_v2_m-dc08266a.pth", 54139356, [85.112, 97.156], 24.582, 208.01, [480, 480]).default(),
];
/// torchvision's `EfficientNet_V2_L_Weights`.
#[rustfmt::skip]
const EFFICIENTNET_V2_L_WEIGHTS: &[Weights] = &[
    Weights::imagenet("efficientnet_v2_l", "IMAGENET1K_V1", "efficientnet_v2_l-59c71312.pth", 118515272, [85.808, 97.788], 56.08, 454.573, [480, 480]).bicubic().normalize([0.5, 0.5, 0.5], [0.5, 0.5, 0.5]).default(),
];
