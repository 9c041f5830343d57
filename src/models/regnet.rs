//! torchvision's RegNet family: RegNetX and RegNetY from 400MF to 32GF and RegNetY-128GF
//! (Radosavovic et al. 2020, "Designing Network Design Spaces"), as
//! `torchvision/models/regnet.py` builds them.
//!
//! * The per-stage widths, depths and group widths come from the four design parameters
//!   (`depth`, `w_0`, `w_a`, `w_m`) and the group width by torchvision's
//!   `BlockParams.from_init_params` ([`BlockParams::from_init_params`]): the linear width ramp,
//!   quantised in log space to multiples of 8 with the same float32 tensor operations torch runs,
//!   then each stage's width made compatible with its group width (`_make_divisible`).
//! * The module tree is torchvision's: `stem` (a `SimpleStemIN`: 3×3/2 conv, BN, ReLU),
//!   `trunk_output` (a Sequential of `block1`…`block4`, each an `AnyStage` of
//!   `block{stage}-{i}` [`ResBottleneckBlock`]s: `proj` when the shape changes, `f` a
//!   `BottleneckTransform` of `a`, `b`, `se` (RegNetY's Squeeze-and-Excitation, ratio 0.25 of the
//!   block's input width), `c`, then `activation`), `avgpool`, `fc`.
//! * Initialisation is torchvision's: Conv2d N(0, 2/(k·k·out_channels)), BatchNorm weight 1 and
//!   bias 0, Linear N(0, 0.01²) with bias 0, in `modules()` order.
//! * Every published weight is in the tables, including RegNetY's SWAG weights (Singh et al.
//!   2022) with their bicubic resize: end-to-end fine-tuned at 384×384, linear classifier at 224.

use tch::{nn::Path, Device, Kind, Tensor};

use crate::error::{Error, Result};
use crate::init;
use crate::models::api::{Model, ModelInfo, Options};
use crate::models::features::FeatureInfo;
use crate::models::weights::Weights;
use crate::nn::*;
use crate::ops::{conv_norm_act, Act, ConvNormAct, SqueezeExcitation};

/// The per-stage parameters of a RegNet (torchvision's `BlockParams`).
#[derive(Clone, Debug, PartialEq)]
pub struct BlockParams {
    /// Blocks per stage.
    pub depths: Vec<i64>,
    /// Output width per stage.
    pub widths: Vec<i64>,
    /// Group width of the 3×3 convolutions per stage.
    pub group_widths: Vec<i64>,
    /// Bottleneck multiplier per stage.
    pub bottleneck_multipliers: Vec<f64>,
    /// Stride of each stage's first block.
    pub strides: Vec<i64>,
    /// Squeeze-and-Excitation ratio (RegNetY), relative to each block's input width.
    pub se_ratio: Option<f64>,
}

/// torchvision's `_make_divisible(v, divisor)`: `v` rounded to a multiple of `divisor`, at least
/// `divisor`, and not below 90% of `v`.
pub fn make_divisible(v: f64, divisor: i64) -> i64 {
    let d = divisor as f64;
    let mut new_v = divisor.max(((v + d / 2.0) as i64) / divisor * divisor);
    if (new_v as f64) < 0.9 * v {
        new_v += divisor;
    }
    new_v
}

impl BlockParams {
    /// torchvision's `BlockParams.from_init_params(depth, w_0, w_a, w_m, group_width,
    /// bottleneck_multiplier, se_ratio)`.
    pub fn from_init_params(
        depth: i64,
        w_0: i64,
        w_a: f64,
        w_m: f64,
        group_width: i64,
        bottleneck_multiplier: f64,
        se_ratio: Option<f64>,
    ) -> Result<Self> {
        if w_a < 0.0 || w_0 <= 0 || w_m <= 1.0 || w_0 % 8 != 0 || depth <= 0 || group_width <= 0 {
            return Err(Error::InvalidArgument(format!(
                "Invalid RegNet settings (depth {depth}, w_0 {w_0}, w_a {w_a}, w_m {w_m}, group_width {group_width})"
            )));
        }
        const QUANT: f64 = 8.0;
        let torch = |e| Error::torch("RegNet block widths", e);
        // The same float32 tensor operations as torchvision, so the roundings agree.
        let widths_cont = Tensor::f_arange(depth, (Kind::Int64, Device::Cpu))
            .and_then(|t| t.f_mul_scalar(w_a))
            .and_then(|t| t.f_add_scalar(w_0 as f64))
            .map_err(torch)?;
        let block_capacity = widths_cont
            .f_div_scalar(w_0 as f64)
            .and_then(|t| t.f_log())
            .and_then(|t| t.f_div_scalar(w_m.ln()))
            .and_then(|t| t.f_round())
            .map_err(torch)?;
        let block_widths: Vec<i64> = Tensor::f_pow_scalar(w_m, &block_capacity)
            .and_then(|t| t.f_mul_scalar(w_0 as f64))
            .and_then(|t| t.f_div_scalar(QUANT))
            .and_then(|t| t.f_round())
            .and_then(|t| t.f_mul_scalar(QUANT))
            .and_then(|t| t.f_to_kind(Kind::Int))
            .and_then(|t| Vec::<i64>::try_from(t.f_to_kind(Kind::Int64)?))
            .map_err(torch)?;
        // Stages: runs of equal widths.
        let (mut widths, mut depths) = (Vec::<i64>::new(), Vec::<i64>::new());
        for (i, &w) in block_widths.iter().enumerate() {
            if i == 0 || w != block_widths[i - 1] {
                widths.push(w);
                depths.push(0);
            }
            *depths.last_mut().expect("a stage was pushed") += 1;
        }
        let n = widths.len();
        // `_adjust_widths_groups_compatibilty`.
        let mut group_widths = vec![group_width; n];
        for (w, g) in widths.iter_mut().zip(group_widths.iter_mut()) {
            let w_bot = (*w as f64 * bottleneck_multiplier) as i64;
            *g = (*g).min(w_bot);
            let w_bot = make_divisible(w_bot as f64, *g);
            *w = (w_bot as f64 / bottleneck_multiplier) as i64;
        }
        Ok(BlockParams {
            depths,
            widths,
            group_widths,
            bottleneck_multipliers: vec![bottleneck_multiplier; n],
            strides: vec![2; n],
            se_ratio,
        })
    }
}

/// torchvision's `BottleneckTransform` (a Sequential subclass): `a` 1×1, `b` 3×3 grouped (with
/// the stride), `se` when RegNetY, `c` 1×1 without activation.
pub fn bottleneck_transform(
    p: Path<'_>,
    width_in: i64,
    width_out: i64,
    stride: i64,
    group_width: i64,
    bottleneck_multiplier: f64,
    se_ratio: Option<f64>,
) -> Result<Sequential> {
    let w_b = (width_out as f64 * bottleneck_multiplier).round_ties_even() as i64;
    let g = w_b / group_width;
    let mut b = Sequential::subclass(p, "BottleneckTransform")
        .add_named("a", |p| conv_norm_act(p.clone(), ConvNormAct::new(width_in, w_b, 1)))?
        .add_named("b", |p| conv_norm_act(p.clone(), ConvNormAct::new(w_b, w_b, 3).stride(stride).groups(g)))?;
    if let Some(r) = se_ratio.filter(|r| *r != 0.0) {
        let width_se_out = (r * width_in as f64).round_ties_even() as i64;
        b = b.add_named("se", |p| SqueezeExcitation::new(p, w_b, width_se_out, Act::ReLU, Act::Sigmoid))?;
    }
    Ok(b.add_named("c", |p| conv_norm_act(p.clone(), ConvNormAct::new(w_b, width_out, 1).act(None)))?.build())
}

/// torchvision's `ResBottleneckBlock`: `activation(proj(x) + f(x))`, or `activation(x + f(x))`
/// when the shape is kept.
#[derive(Debug)]
pub struct ResBottleneckBlock {
    /// 1×1 conv + BN (with the stride) when the width or the resolution changes.
    pub proj: Option<Sequential>,
    /// The bottleneck transform.
    pub f: Sequential,
    /// The final ReLU.
    pub activation: ReLU,
}
crate::module!(ResBottleneckBlock, [proj?, f, activation]);

impl ResBottleneckBlock {
    /// `ResBottleneckBlock(width_in, width_out, stride, …, group_width, bottleneck_multiplier,
    /// se_ratio)` with BatchNorm2d and ReLU.
    pub fn new(
        p: &Path,
        width_in: i64,
        width_out: i64,
        stride: i64,
        group_width: i64,
        bottleneck_multiplier: f64,
        se_ratio: Option<f64>,
    ) -> Result<Self> {
        let proj = (width_in != width_out || stride != 1)
            .then(|| conv_norm_act(p / "proj", ConvNormAct::new(width_in, width_out, 1).stride(stride).act(None)))
            .transpose()?;
        Ok(ResBottleneckBlock {
            proj,
            f: bottleneck_transform(
                p / "f",
                width_in,
                width_out,
                stride,
                group_width,
                bottleneck_multiplier,
                se_ratio,
            )?,
            activation: ReLU::new(&(p / "activation"))?,
        })
    }

    fn forward(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        let identity = match &self.proj {
            Some(proj) => c.call(proj, x)?,
            None => x.shallow_clone(),
        };
        let fx = c.call(&self.f, x)?;
        if c.is_recording() {
            let y = c.add(&identity, &fx)?;
            return c.call(&self.activation, &y);
        }
        // In place, as torchvision's `ReLU(inplace=True)` on the fresh sum.
        c.op("add", &fx, || {
            let mut y = identity.f_add(&fx)?;
            y.f_relu_()
        })
    }
}

/// A RegNet configuration: the block parameters and the arguments of torchvision's `RegNet(...)`.
#[derive(Clone, Debug, PartialEq)]
pub struct RegNetConfig {
    /// Per-stage parameters.
    pub block_params: BlockParams,
    /// Outputs of `fc`.
    pub num_classes: i64,
    /// Output channels of the stem.
    pub stem_width: i64,
}

impl RegNetConfig {
    fn new(depth: i64, w_0: i64, w_a: f64, w_m: f64, group_width: i64, se_ratio: Option<f64>) -> Self {
        let block_params = BlockParams::from_init_params(depth, w_0, w_a, w_m, group_width, 1.0, se_ratio)
            .expect("torchvision's RegNet settings are valid");
        RegNetConfig { block_params, num_classes: 1000, stem_width: 32 }
    }
    /// `regnet_y_400mf`.
    pub fn regnet_y_400mf() -> Self {
        Self::new(16, 48, 27.89, 2.09, 8, Some(0.25))
    }
    /// `regnet_y_800mf`.
    pub fn regnet_y_800mf() -> Self {
        Self::new(14, 56, 38.84, 2.4, 16, Some(0.25))
    }
    /// `regnet_y_1_6gf`.
    pub fn regnet_y_1_6gf() -> Self {
        Self::new(27, 48, 20.71, 2.65, 24, Some(0.25))
    }
    /// `regnet_y_3_2gf`.
    pub fn regnet_y_3_2gf() -> Self {
        Self::new(21, 80, 42.63, 2.66, 24, Some(0.25))
    }
    /// `regnet_y_8gf`.
    pub fn regnet_y_8gf() -> Self {
        Self::new(17, 192, 76.82, 2.19, 56, Some(0.25))
    }
    /// `regnet_y_16gf`.
    pub fn regnet_y_16gf() -> Self {
        Self::new(18, 200, 106.23, 2.48, 112, Some(0.25))
    }
    /// `regnet_y_32gf`.
    pub fn regnet_y_32gf() -> Self {
        Self::new(20, 232, 115.89, 2.53, 232, Some(0.25))
    }
    /// `regnet_y_128gf`.
    pub fn regnet_y_128gf() -> Self {
        Self::new(27, 456, 160.83, 2.52, 264, Some(0.25))
    }
    /// `regnet_x_400mf`.
    pub fn regnet_x_400mf() -> Self {
        Self::new(22, 24, 24.48, 2.54, 16, None)
    }
    /// `regnet_x_800mf`.
    pub fn regnet_x_800mf() -> Self {
        Self::new(16, 56, 35.73, 2.28, 16, None)
    }
    /// `regnet_x_1_6gf`.
    pub fn regnet_x_1_6gf() -> Self {
        Self::new(18, 80, 34.01, 2.25, 24, None)
    }
    /// `regnet_x_3_2gf`.
    pub fn regnet_x_3_2gf() -> Self {
        Self::new(25, 88, 26.31, 2.25, 48, None)
    }
    /// `regnet_x_8gf`.
    pub fn regnet_x_8gf() -> Self {
        Self::new(23, 80, 49.56, 2.88, 120, None)
    }
    /// `regnet_x_16gf`.
    pub fn regnet_x_16gf() -> Self {
        Self::new(22, 216, 55.59, 2.1, 128, None)
    }
    /// `regnet_x_32gf`.
    pub fn regnet_x_32gf() -> Self {
        Self::new(23, 320, 69.86, 2.0, 168, None)
    }
}

/// torchvision's `RegNet`.
#[derive(Debug)]
pub struct RegNet {
    /// `SimpleStemIN`: 3×3/2 conv, BN, ReLU.
    pub stem: Sequential,
    /// `block1`…`blockN`, one `AnyStage` each.
    pub trunk_output: Sequential,
    /// Global average pool.
    pub avgpool: AdaptiveAvgPool2d,
    /// The classifier.
    pub fc: Linear,
    /// The configuration it was built from.
    pub config: RegNetConfig,
}
crate::module!(RegNet, [stem, trunk_output, avgpool, fc]);

impl RegNet {
    /// Builds the network of `cfg` at `p` and initialises it as torchvision does.
    pub fn new(p: &Path, cfg: &RegNetConfig) -> Result<Self> {
        if cfg.num_classes < 0 || cfg.stem_width <= 0 {
            return Err(Error::InvalidArgument(format!(
                "RegNet: num_classes ({}) must be non-negative and stem_width ({}) positive",
                cfg.num_classes, cfg.stem_width
            )));
        }
        let bp = &cfg.block_params;
        let stem_cfg = Conv2dConfig::default().stride(2).padding(1).bias(false);
        let stem = Sequential::subclass(p / "stem", "SimpleStemIN")
            .add(|p| Conv2d::new(p, 3, cfg.stem_width, 3, stem_cfg))?
            .add(|p| BatchNorm2d::new(p, cfg.stem_width, BatchNormConfig::default()))?
            .add(ReLU::new)?
            .build();
        let mut trunk = Sequential::builder(p / "trunk_output");
        let mut width_in = cfg.stem_width;
        for i in 0..bp.widths.len() {
            let s = i + 1;
            let (w, stride, g, b) = (bp.widths[i], bp.strides[i], bp.group_widths[i], bp.bottleneck_multipliers[i]);
            trunk = trunk.add_named(&format!("block{s}"), |p| {
                let mut stage = Sequential::subclass(p.clone(), "AnyStage");
                for j in 0..bp.depths[i] {
                    let (cin, st) = if j == 0 { (width_in, stride) } else { (w, 1) };
                    stage = stage.add_named(&format!("block{s}-{j}"), |p| {
                        ResBottleneckBlock::new(p, cin, w, st, g, b, bp.se_ratio)
                    })?;
                }
                Ok(stage.build())
            })?;
            width_in = w;
        }
        let net = RegNet {
            stem,
            trunk_output: trunk.build(),
            avgpool: AdaptiveAvgPool2d::new(&(p / "avgpool"), 1)?,
            fc: Linear::new(&(p / "fc"), width_in, cfg.num_classes)?,
            config: cfg.clone(),
        };
        // "ResNet-style weight initialization".
        let _g = tch::no_grad_guard();
        for (_, m) in net.named_modules() {
            let (w, bias) = (m.parameter("weight"), m.parameter("bias"));
            match m.kind() {
                ModuleKind::Conv2d => {
                    if let Some(mut w) = w {
                        let s = w.size();
                        init::normal_(&mut w, 0.0, (2.0 / (s[2] * s[3] * s[0]) as f64).sqrt())?;
                    }
                }
                ModuleKind::BatchNorm2d | ModuleKind::Linear => {
                    let linear = m.kind() == ModuleKind::Linear;
                    if let Some(mut w) = w {
                        if linear {
                            init::normal_(&mut w, 0.0, 0.01)?;
                        } else {
                            init::ones_(&mut w)?;
                        }
                    }
                    if let Some(mut b) = bias {
                        init::zeros_(&mut b)?;
                    }
                }
                _ => {}
            }
        }
        Ok(net)
    }

    fn head(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        let x = c.call(&self.avgpool, x)?;
        let x = c.flatten(&x, 1)?;
        c.call(&self.fc, &x)
    }

    fn forward(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        let x = c.chain(&[&self.stem, &self.trunk_output], x)?;
        self.head(&x, c)
    }
}

impl Model for RegNet {
    fn forward_features(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        Ctx::run(self, train, |c| c.chain(&[&self.stem, &self.trunk_output], xs))
    }
    fn forward_head(&self, features: &Tensor, train: bool) -> Result<Tensor> {
        Ctx::run(self, train, |c| self.head(features, c))
    }
    fn feature_info(&self) -> Vec<FeatureInfo> {
        let mut info = vec![FeatureInfo::new(self.config.stem_width, 2, "stem")];
        let bp = &self.config.block_params;
        let mut reduction = 2;
        for (i, (&w, &s)) in bp.widths.iter().zip(&bp.strides).enumerate() {
            reduction *= s;
            info.push(FeatureInfo::new(w, reduction, &format!("trunk_output.block{}", i + 1)));
        }
        info
    }
    fn num_classes(&self) -> i64 {
        self.config.num_classes
    }
}

fn build(p: &Path, o: &Options, mut cfg: RegNetConfig) -> Result<Box<dyn Model>> {
    cfg.num_classes = o.num_classes.unwrap_or(cfg.num_classes);
    o.apply("stem_width", &mut cfg.stem_width)?;
    Ok(Box::new(RegNet::new(p, &cfg)?))
}

macro_rules! entry {
    ($name:ident, $params:literal, $weights:ident) => {
        ModelInfo {
            options: &["stem_width"],
            weights: $weights,
            ..ModelInfo::classifier(stringify!($name), "regnet", $params, |p, o| build(p, o, RegNetConfig::$name()))
        }
    };
}

/// The family's registry entries.
pub const MODELS: &[ModelInfo] = &[
    entry!(regnet_y_400mf, 4344144, REGNET_Y_400MF_WEIGHTS),
    entry!(regnet_y_800mf, 6432512, REGNET_Y_800MF_WEIGHTS),
    entry!(regnet_y_1_6gf, 11202430, REGNET_Y_1_6GF_WEIGHTS),
    entry!(regnet_y_3_2gf, 19436338, REGNET_Y_3_2GF_WEIGHTS),
    entry!(regnet_y_8gf, 39381472, REGNET_Y_8GF_WEIGHTS),
    entry!(regnet_y_16gf, 83590140, REGNET_Y_16GF_WEIGHTS),
    entry!(regnet_y_32gf, 145046770, REGNET_Y_32GF_WEIGHTS),
    entry!(regnet_y_128gf, 644812894, REGNET_Y_128GF_WEIGHTS),
    entry!(regnet_x_400mf, 5495976, REGNET_X_400MF_WEIGHTS),
    entry!(regnet_x_800mf, 7259656, REGNET_X_800MF_WEIGHTS),
    entry!(regnet_x_1_6gf, 9190136, REGNET_X_1_6GF_WEIGHTS),
    entry!(regnet_x_3_2gf, 15296552, REGNET_X_3_2GF_WEIGHTS),
    entry!(regnet_x_8gf, 39572648, REGNET_X_8GF_WEIGHTS),
    entry!(regnet_x_16gf, 54278536, REGNET_X_16GF_WEIGHTS),
    entry!(regnet_x_32gf, 107811560, REGNET_X_32GF_WEIGHTS),
];

/// torchvision's `RegNet_X_400MF_Weights`.
const REGNET_X_400MF_WEIGHTS: &[Weights] = &[
    Weights::imagenet(
        "regnet_x_400mf",
        "IMAGENET1K_V1",
        "regnet_x_400mf-adf1edd5.pth",
        5495976,
        [72.834, 90.95],
        0.414,
        21.258,
        [256, 224],
    ),
    Weights::imagenet(
        "regnet_x_400mf",
        "IMAGENET1K_V2",
        "regnet_x_400mf-62229a5f.pth",
        5495976,
        [74.864, 92.322],
        0.414,
        21.257,
        [232, 224],
    )
    .default(),
];
/// torchvision's `RegNet_X_800MF_Weights`.
const REGNET_X_800MF_WEIGHTS: &[Weights] = &[
    Weights::imagenet(
        "regnet_x_800mf",
        "IMAGENET1K_V1",
        "regnet_x_800mf-ad17e45c.pth",
        7259656,
        [75.212, 92.348],
        0.8,
        27.945,
        [256, 224],
    ),
    Weights::imagenet(
        "regnet_x_800mf",
        "IMAGENET1K_V2",
        "regnet_x_800mf-94a99ebd.pth",
        7259656,
        [77.522, 93.826],
        0.8,
        27.945,
        [232, 224],
    )
    .default(),
];
/// torchvision's `RegNet_X_1_6GF_Weights`.
const REGNET_X_1_6GF_WEIGHTS: &[Weights] = &[
    Weights::imagenet(
        "regnet_x_1_6gf",
        "IMAGENET1K_V1",
        "regnet_x_1_6gf-e3633e7f.pth",
        9190136,
        [77.04, 93.44],
        1.603,
        35.339,
        [256, 224],
    ),
    Weights::imagenet(
        "regnet_x_1_6gf",
        "IMAGENET1K_V2",
        "regnet_x_1_6gf-a12f2b72.pth",
        9190136,
        [79.668, 94.922],
        1.603,
        35.339,
        [232, 224],
    )
    .default(),
];
/// torchvision's `RegNet_X_3_2GF_Weights`.
const REGNET_X_3_2GF_WEIGHTS: &[Weights] = &[
    Weights::imagenet(
        "regnet_x_3_2gf",
        "IMAGENET1K_V1",
        "regnet_x_3_2gf-f342aeae.pth",
        15296552,
        [78.364, 93.992],
        3.177,
        58.756,
        [256, 224],
    ),
    Weights::imagenet(
        "regnet_x_3_2gf",
        "IMAGENET1K_V2",
        "regnet_x_3_2gf-7071aa85.pth",
        15296552,
        [81.196, 95.43],
        3.177,
        58.756,
        [232, 224],
    )
    .default(),
];
/// torchvision's `RegNet_X_8GF_Weights`.
const REGNET_X_8GF_WEIGHTS: &[Weights] = &[
    Weights::imagenet(
        "regnet_x_8gf",
        "IMAGENET1K_V1",
        "regnet_x_8gf-03ceed89.pth",
        39572648,
        [79.344, 94.686],
        7.995,
        151.456,
        [256, 224],
    ),
    Weights::imagenet(
        "regnet_x_8gf",
        "IMAGENET1K_V2",
        "regnet_x_8gf-2b70d774.pth",
        39572648,
        [81.682, 95.678],
        7.995,
        151.456,
        [232, 224],
    )
    .default(),
];
/// torchvision's `RegNet_X_16GF_Weights`.
const REGNET_X_16GF_WEIGHTS: &[Weights] = &[
    Weights::imagenet(
        "regnet_x_16gf",
        "IMAGENET1K_V1",
        "regnet_x_16gf-2007eb11.pth",
        54278536,
        [80.058, 94.944],
        15.941,
        207.627,
        [256, 224],
    ),
    Weights::imagenet(
        "regnet_x_16gf",
        "IMAGENET1K_V2",
        "regnet_x_16gf-ba3796d7.pth",
        54278536,
        [82.716, 96.196],
        15.941,
        207.627,
        [232, 224],
    )
    .default(),
];
/// torchvision's `RegNet_X_32GF_Weights`.
const REGNET_X_32GF_WEIGHTS: &[Weights] = &[
    Weights::imagenet(
        "regnet_x_32gf",
        "IMAGENET1K_V1",
        "regnet_x_32gf-9d47f8d0.pth",
        107811560,
        [80.622, 95.248],
        31.736,
        412.039,
        [256, 224],
    ),
    Weights::imagenet(
        "regnet_x_32gf",
        "IMAGENET1K_V2",
        "regnet_x_32gf-6eb8fdc6.pth",
        107811560,
        [83.014, 96.288],
        31.736,
        412.039,
        [232, 224],
    )
    .default(),
];
/// torchvision's `RegNet_Y_400MF_Weights`.
const REGNET_Y_400MF_WEIGHTS: &[Weights] = &[
    Weights::imagenet(
        "regnet_y_400mf",
        "IMAGENET1K_V1",
        "regnet_y_400mf-c65dace8.pth",
        4344144,
        [74.046, 91.716],
        0.402,
        16.806,
        [256, 224],
    ),
    Weights::imagenet(
        "regnet_y_400mf",
        "IMAGENET1K_V2",
        "regnet_y_400mf-e6988f5f.pth",
        4344144,
        [75.804, 92.742],
        0.402,
        16.806,
        [232, 224],
    )
    .default(),
];
/// torchvision's `RegNet_Y_800MF_Weights`.
const REGNET_Y_800MF_WEIGHTS: &[Weights] = &[
    Weights::imagenet(
        "regnet_y_800mf",
        "IMAGENET1K_V1",
        "regnet_y_800mf-1b27b58c.pth",
        6432512,
        [76.42, 93.136],
        0.834,
        24.774,
        [256, 224],
    ),
    Weights::imagenet(
        "regnet_y_800mf",
        "IMAGENET1K_V2",
        "regnet_y_800mf-58fc7688.pth",
        6432512,
        [78.828, 94.502],
        0.834,
        24.774,
        [232, 224],
    )
    .default(),
];
/// torchvision's `RegNet_Y_1_6GF_Weights`.
const REGNET_Y_1_6GF_WEIGHTS: &[Weights] = &[
    Weights::imagenet(
        "regnet_y_1_6gf",
        "IMAGENET1K_V1",
        "regnet_y_1_6gf-b11a554e.pth",
        11202430,
        [77.95, 93.966],
        1.612,
        43.152,
        [256, 224],
    ),
    Weights::imagenet(
        "regnet_y_1_6gf",
        "IMAGENET1K_V2",
        "regnet_y_1_6gf-0d7bc02a.pth",
        11202430,
        [80.876, 95.444],
        1.612,
        43.152,
        [232, 224],
    )
    .default(),
];
/// torchvision's `RegNet_Y_3_2GF_Weights`.
const REGNET_Y_3_2GF_WEIGHTS: &[Weights] = &[
    Weights::imagenet(
        "regnet_y_3_2gf",
        "IMAGENET1K_V1",
        "regnet_y_3_2gf-b5a9779c.pth",
        19436338,
        [78.948, 94.576],
        3.176,
        74.567,
        [256, 224],
    ),
    Weights::imagenet(
        "regnet_y_3_2gf",
        "IMAGENET1K_V2",
        "regnet_y_3_2gf-9180c971.pth",
        19436338,
        [81.982, 95.972],
        3.176,
        74.567,
        [232, 224],
    )
    .default(),
];
/// torchvision's `RegNet_Y_8GF_Weights`.
const REGNET_Y_8GF_WEIGHTS: &[Weights] = &[
    Weights::imagenet(
        "regnet_y_8gf",
        "IMAGENET1K_V1",
        "regnet_y_8gf-d0d0e4a8.pth",
        39381472,
        [80.032, 95.048],
        8.473,
        150.701,
        [256, 224],
    ),
    Weights::imagenet(
        "regnet_y_8gf",
        "IMAGENET1K_V2",
        "regnet_y_8gf-dc2b1b54.pth",
        39381472,
        [82.828, 96.33],
        8.473,
        150.701,
        [232, 224],
    )
    .default(),
];
/// torchvision's `RegNet_Y_16GF_Weights`.
const REGNET_Y_16GF_WEIGHTS: &[Weights] = &[
    Weights::imagenet(
        "regnet_y_16gf",
        "IMAGENET1K_V1",
        "regnet_y_16gf-9e6ed7dd.pth",
        83590140,
        [80.424, 95.24],
        15.912,
        319.49,
        [256, 224],
    ),
    Weights::imagenet(
        "regnet_y_16gf",
        "IMAGENET1K_V2",
        "regnet_y_16gf-3e4a00f9.pth",
        83590140,
        [82.886, 96.328],
        15.912,
        319.49,
        [232, 224],
    )
    .default(),
    Weights::imagenet(
        "regnet_y_16gf",
        "IMAGENET1K_SWAG_E2E_V1",
        "regnet_y_16gf_swag-43afe44d.pth",
        83590140,
        [86.012, 98.054],
        46.735,
        319.49,
        [384, 384],
    )
    .bicubic(),
    Weights::imagenet(
        "regnet_y_16gf",
        "IMAGENET1K_SWAG_LINEAR_V1",
        "regnet_y_16gf_lc_swag-f3ec0043.pth",
        83590140,
        [83.976, 97.244],
        15.912,
        319.49,
        [224, 224],
    )
    .bicubic(),
];
/// torchvision's `RegNet_Y_32GF_Weights`.
const REGNET_Y_32GF_WEIGHTS: &[Weights] = &[
    Weights::imagenet(
        "regnet_y_32gf",
        "IMAGENET1K_V1",
        "regnet_y_32gf-4dee3f7a.pth",
        145046770,
        [80.878, 95.34],
        32.28,
        554.076,
        [256, 224],
    ),
    Weights::imagenet(
        "regnet_y_32gf",
        "IMAGENET1K_V2",
        "regnet_y_32gf-8db6d4b5.pth",
        145046770,
        [83.368, 96.498],
        32.28,
        554.076,
        [232, 224],
    )
    .default(),
    Weights::imagenet(
        "regnet_y_32gf",
        "IMAGENET1K_SWAG_E2E_V1",
        "regnet_y_32gf_swag-04fdfa75.pth",
        145046770,
        [86.838, 98.362],
        94.826,
        554.076,
        [384, 384],
    )
    .bicubic(),
    Weights::imagenet(
        "regnet_y_32gf",
        "IMAGENET1K_SWAG_LINEAR_V1",
        "regnet_y_32gf_lc_swag-e1583746.pth",
        145046770,
        [84.622, 97.48],
        32.28,
        554.076,
        [224, 224],
    )
    .bicubic(),
];
/// torchvision's `RegNet_Y_128GF_Weights`.
const REGNET_Y_128GF_WEIGHTS: &[Weights] = &[
    Weights::imagenet(
        "regnet_y_128gf",
        "IMAGENET1K_SWAG_E2E_V1",
        "regnet_y_128gf_swag-c8ce3e52.pth",
        644812894,
        [88.228, 98.682],
        374.57,
        2461.564,
        [384, 384],
    )
    .bicubic()
    .default(),
    Weights::imagenet(
        "regnet_y_128gf",
        "IMAGENET1K_SWAG_LINEAR_V1",
        "regnet_y_128gf_lc_swag-cbe8ce12.pth",
        644812894,
        [86.068, 97.844],
        127.518,
        2461.564,
        [224, 224],
    )
    .bicubic(),
];
