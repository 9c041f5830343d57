//! torchvision's MNASNet-B1 with depth multipliers 0.5, 0.75, 1.0 and 1.3 (Tan et al. 2019,
//! "MnasNet: Platform-Aware Neural Architecture Search for Mobile"), as
//! `torchvision/models/mnasnet.py` builds it.
//!
//! * The module tree is torchvision's: `layers`, one Sequential of the stem (3×3/2 conv, BN,
//!   ReLU, depthwise 3×3, BN, ReLU, 1×1, BN), six stacks of [`InvertedResidual`]s
//!   (`layers.8`…`layers.13`) and the 1×1 conv to 1280 channels with BN and ReLU; a global
//!   mean over H and W; `classifier` (Dropout, Linear).
//! * Every BatchNorm2d has momentum `1 − 0.9997` (the paper's TensorFlow decay 0.9997).
//! * Depths are scaled by `alpha` and rounded to multiples of 8 as torchvision's
//!   `_round_to_multiple_of` does ([`depths`]), the stem included: that is torchvision's
//!   `_version = 2` layout. Version 1 (state dicts saved before torchvision 0.3.1) kept the stem
//!   at 32/16 channels for every alpha; torchvision converts such a file when it loads it (it
//!   swaps in a version-1 stem). Here a state dict whose `_metadata` says version 1 is refused
//!   for alpha ≠ 1 with an error naming the version, before anything is loaded (for alpha = 1
//!   both layouts are the same and it loads); a state dict without `_metadata` (safetensors, a
//!   plain dict) is taken as version 2, and a version-1 stem then fails the shape check. The
//!   version is written with the state dict by [`crate::checkpoint::save_module`], so
//!   torchvision loads tchvision's files.
//! * Initialisation is torchvision's loop: Conv2d kaiming_normal (fan_out, relu), BatchNorm2d
//!   weight 1 and bias 0, Linear kaiming_uniform (fan_out, sigmoid) with bias 0, in
//!   `self.modules()` order, so the same seed gives the same weights.
//! * Builder option: torchvision's `dropout` (0.2).

use tch::{nn::Path, Tensor};

use crate::error::{Error, Result};
use crate::init::{self, FanMode, Nonlinearity};
use crate::models::api::{Model, ModelInfo, Options};
use crate::models::features::FeatureInfo;
use crate::models::weights::Weights;
use crate::nn::*;

/// torchvision's `_BN_MOMENTUM`: TensorFlow's decay 0.9997 as a PyTorch momentum.
pub const BN_MOMENTUM: f64 = 1.0 - 0.9997;

/// The `_version` torchvision's MNASNet saves in a state dict's metadata.
pub const VERSION: i64 = 2;

/// torchvision's `_round_to_multiple_of(val, divisor, round_up_bias=0.9)`: round to a multiple
/// of `divisor`, up unless that is more than 10 % above `val`… as torchvision rounds.
pub fn round_to_multiple_of(val: f64, divisor: i64) -> i64 {
    let d = divisor as f64;
    let new_val = divisor.max(((val + d / 2.0).trunc() as i64).div_euclid(divisor) * divisor);
    if new_val as f64 >= 0.9 * val {
        new_val
    } else {
        new_val + divisor
    }
}

/// torchvision's `_get_depths(alpha)`: the eight depths scaled by `alpha`.
pub fn depths(alpha: f64) -> [i64; 8] {
    [32, 16, 24, 40, 80, 96, 192, 320].map(|d| round_to_multiple_of(d as f64 * alpha, 8))
}

fn bn(p: &Path, c: i64) -> Result<BatchNorm2d> {
    BatchNorm2d::new(p, c, BatchNormConfig { momentum: Some(BN_MOMENTUM), ..Default::default() })
}

fn conv(p: &Path, cin: i64, cout: i64, k: i64, stride: i64, groups: i64) -> Result<Conv2d> {
    Conv2d::new(p, cin, cout, k, Conv2dConfig::default().stride(stride).padding(k / 2).groups(groups).bias(false))
}

/// torchvision's MNASNet `_InvertedResidual(in_ch, out_ch, kernel_size, stride,
/// expansion_factor, bn_momentum)`: 1×1 expansion, BN, ReLU, depthwise k×k with the stride, BN,
/// ReLU, 1×1 projection, BN (all in `layers`); plus the input when the shape is kept.
#[derive(Debug)]
pub struct InvertedResidual {
    /// The eight layers.
    pub layers: Sequential,
    /// `in_ch == out_ch && stride == 1`.
    pub apply_residual: bool,
}
crate::module!(InvertedResidual as "_InvertedResidual", [layers]);

impl InvertedResidual {
    /// `_InvertedResidual(in_ch, out_ch, kernel_size, stride, expansion_factor)` at `p`, with
    /// MNASNet's BN momentum; refuses what torchvision refuses.
    pub fn new(p: &Path, cin: i64, cout: i64, k: i64, stride: i64, expansion: i64) -> Result<Self> {
        let bad = |m: String| Err(Error::InvalidArgument(format!("{} (_InvertedResidual): {m}", path_string(p))));
        if stride != 1 && stride != 2 {
            return bad(format!("stride should be 1 or 2 instead of {stride}"));
        }
        if k != 3 && k != 5 {
            return bad(format!("kernel_size should be 3 or 5 instead of {k}"));
        }
        let mid = cin * expansion;
        let layers = Sequential::builder(p / "layers")
            .add(|p| conv(p, cin, mid, 1, 1, 1))?
            .add(|p| bn(p, mid))?
            .add(ReLU::new)?
            .add(|p| conv(p, mid, mid, k, stride, mid))?
            .add(|p| bn(p, mid))?
            .add(ReLU::new)?
            .add(|p| conv(p, mid, cout, 1, 1, 1))?
            .add(|p| bn(p, cout))?
            .build();
        Ok(InvertedResidual { layers, apply_residual: cin == cout && stride == 1 })
    }

    fn forward(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        let y = c.call(&self.layers, x)?;
        if self.apply_residual {
            c.add(&y, x)
        } else {
            Ok(y)
        }
    }
}

/// torchvision's `_stack`: `repeats` inverted residuals, the first with the stride and the
/// channel change.
fn stack(p: &Path, cin: i64, cout: i64, k: i64, stride: i64, exp: i64, repeats: usize) -> Result<Sequential> {
    let mut b = Sequential::builder(p.clone()).add(|p| InvertedResidual::new(p, cin, cout, k, stride, exp))?;
    for _ in 1..repeats {
        b = b.add(|p| InvertedResidual::new(p, cout, cout, k, 1, exp))?;
    }
    Ok(b.build())
}

/// torchvision's `MNASNet(alpha, num_classes=1000, dropout=0.2)`.
#[allow(clippy::upper_case_acronyms)]
#[derive(Debug)]
pub struct MNASNet {
    /// Stem, six stacks and the 1×1 conv to 1280 channels (with BN and ReLU).
    pub layers: Sequential,
    /// Dropout, Linear(1280, classes).
    pub classifier: Sequential,
    /// The depth multiplier.
    pub alpha: f64,
    /// Outputs of the classifier.
    pub num_classes: i64,
}
crate::module!(MNASNet, [layers, classifier], {
    /// torchvision's `MNASNet._version`.
    fn version(&self) -> i64 {
        VERSION
    }
    /// torchvision's `_load_from_state_dict` check: versions 1 and 2 (or none recorded) are
    /// accepted, except version 1 with alpha ≠ 1, whose stem differs (32/16 channels).
    fn check_version(&self, version: Option<i64>) -> Result<()> {
        match version {
            None | Some(2) => Ok(()),
            Some(1) if self.alpha == 1.0 => Ok(()),
            Some(1) => Err(Error::InvalidArgument(format!(
                "MNASNet (alpha {}): the state dict is MNASNet version 1 (saved before torchvision 0.3.1), whose \
                 stem has 32/16 channels for every alpha; this model is torchvision's version 2 layout, whose stem \
                 is scaled by alpha ({:?} channels). tchvision does not convert version-1 state dicts for alpha ≠ 1: \
                 load it in torchvision (which converts it) and save its state dict again",
                self.alpha,
                &depths(self.alpha)[..2]
            ))),
            Some(v) => Err(Error::InvalidArgument(format!(
                "MNASNet: the state dict records version {v}; version should be set to 1 or 2"
            ))),
        }
    }
});

impl MNASNet {
    /// Builds MNASNet with depth multiplier `alpha` at `p` and initialises it as torchvision
    /// does.
    pub fn new(p: &Path, alpha: f64, num_classes: i64, dropout: f64) -> Result<Self> {
        if alpha.is_nan() || alpha <= 0.0 {
            return Err(Error::InvalidArgument(format!(
                "MNASNet: alpha should be greater than 0.0 instead of {alpha}"
            )));
        }
        let d = depths(alpha);
        let layers = Sequential::builder(p / "layers")
            .add(|p| conv(p, 3, d[0], 3, 2, 1))?
            .add(|p| bn(p, d[0]))?
            .add(ReLU::new)?
            .add(|p| conv(p, d[0], d[0], 3, 1, d[0]))?
            .add(|p| bn(p, d[0]))?
            .add(ReLU::new)?
            .add(|p| conv(p, d[0], d[1], 1, 1, 1))?
            .add(|p| bn(p, d[1]))?
            .add(|p| stack(p, d[1], d[2], 3, 2, 3, 3))?
            .add(|p| stack(p, d[2], d[3], 5, 2, 3, 3))?
            .add(|p| stack(p, d[3], d[4], 5, 2, 6, 3))?
            .add(|p| stack(p, d[4], d[5], 3, 1, 6, 2))?
            .add(|p| stack(p, d[5], d[6], 5, 2, 6, 4))?
            .add(|p| stack(p, d[6], d[7], 3, 1, 6, 1))?
            .add(|p| conv(p, d[7], 1280, 1, 1, 1))?
            .add(|p| bn(p, 1280))?
            .add(ReLU::new)?
            .build();
        let classifier = Sequential::builder(p / "classifier")
            .add(|p| Dropout::new(p, dropout))?
            .add(|p| Linear::new(p, 1280, num_classes))?
            .build();
        let net = MNASNet { layers, classifier, alpha, num_classes };
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
                    init::kaiming_uniform_(&mut w, FanMode::FanOut, Nonlinearity::Sigmoid)?;
                    init::zeros_(&mut b)?;
                }
                _ => {}
            }
        }
        Ok(net)
    }

    fn head(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        let x = c.op("mean", x, || x.f_mean_dim([2, 3].as_slice(), false, None))?;
        c.call(&self.classifier, &x)
    }

    fn forward(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        let x = c.call(&self.layers, x)?;
        self.head(&x, c)
    }
}

impl Model for MNASNet {
    fn forward_features(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        Ctx::run(self, train, |c| c.call(&self.layers, xs))
    }
    fn forward_head(&self, features: &Tensor, train: bool) -> Result<Tensor> {
        Ctx::run(self, train, |c| self.head(features, c))
    }
    /// The last node at each stride: the stem's last BN, the stacks `layers.8`, `layers.9`,
    /// `layers.11` and the final ReLU.
    fn feature_info(&self) -> Vec<FeatureInfo> {
        let d = depths(self.alpha);
        vec![
            FeatureInfo::new(d[1], 2, "layers.7"),
            FeatureInfo::new(d[2], 4, "layers.8"),
            FeatureInfo::new(d[3], 8, "layers.9"),
            FeatureInfo::new(d[5], 16, "layers.11"),
            FeatureInfo::new(1280, 32, "layers.16"),
        ]
    }
    fn num_classes(&self) -> i64 {
        self.num_classes
    }
}

fn build(p: &Path, o: &Options, alpha: f64) -> Result<Box<dyn Model>> {
    let mut dropout = 0.2;
    o.apply("dropout", &mut dropout)?;
    Ok(Box::new(MNASNet::new(p, alpha, o.num_classes.unwrap_or(1000), dropout)?))
}

macro_rules! entry {
    ($name:literal, $alpha:literal, $params:literal, $weights:ident) => {
        ModelInfo {
            options: &["dropout"],
            weights: $weights,
            ..ModelInfo::classifier($name, "mnasnet", $params, |p, o| build(p, o, $alpha))
        }
    };
}

/// The family's registry entries.
pub const MODELS: &[ModelInfo] = &[
    entry!("mnasnet0_5", 0.5, 2218512, MNASNET0_5_WEIGHTS),
    entry!("mnasnet0_75", 0.75, 3170208, MNASNET0_75_WEIGHTS),
    entry!("mnasnet1_0", 1.0, 4383312, MNASNET1_0_WEIGHTS),
    entry!("mnasnet1_3", 1.3, 6282256, MNASNET1_3_WEIGHTS),
];

/// torchvision's `MNASNet0_5_Weights`.
const MNASNET0_5_WEIGHTS: &[Weights] = &[Weights::imagenet(
    "mnasnet0_5",
    "IMAGENET1K_V1",
    "mnasnet0.5_top1_67.823-3ffadce67e.pth",
    2218512,
    [67.734, 87.49],
    0.104,
    8.591,
    [256, 224],
)
.default()];
/// torchvision's `MNASNet0_75_Weights`.
const MNASNET0_75_WEIGHTS: &[Weights] = &[Weights::imagenet(
    "mnasnet0_75",
    "IMAGENET1K_V1",
    "mnasnet0_75-7090bc5f.pth",
    3170208,
    [71.18, 90.496],
    0.215,
    12.303,
    [232, 224],
)
.default()];
/// torchvision's `MNASNet1_0_Weights`.
const MNASNET1_0_WEIGHTS: &[Weights] = &[Weights::imagenet(
    "mnasnet1_0",
    "IMAGENET1K_V1",
    "mnasnet1.0_top1_73.512-f206786ef8.pth",
    4383312,
    [73.456, 91.51],
    0.314,
    16.915,
    [256, 224],
)
.default()];
/// torchvision's `MNASNet1_3_Weights`.
const MNASNET1_3_WEIGHTS: &[Weights] = &[Weights::imagenet(
    "mnasnet1_3",
    "IMAGENET1K_V1",
    "mnasnet1_3-a4c69d6f.pth",
    6282256,
    [76.506, 93.522],
    0.526,
    24.246,
    [232, 224],
)
.default()];
