//! torchvision's ShuffleNet V2 ×0.5, ×1.0, ×1.5 and ×2.0 (Ma et al. 2018, "ShuffleNet V2:
//! Practical Guidelines for Efficient CNN Architecture Design"), as
//! `torchvision/models/shufflenetv2.py` builds them.
//!
//! * The module tree is torchvision's: `conv1` (Sequential: 3×3/2 conv, BatchNorm2d, ReLU),
//!   `maxpool`, `stage2`…`stage4` (Sequentials of [`InvertedResidual`]), `conv5` (1×1 conv,
//!   BatchNorm2d, ReLU), then a global mean over H and W and `fc`.
//! * [`InvertedResidual`] has `branch1` (depthwise 3×3 with the stride, BN, 1×1, BN, ReLU; an
//!   empty Sequential when the stride is 1, as in torchvision, so it appears in the module tree
//!   without keys) and `branch2` (1×1, BN, ReLU, depthwise 3×3, BN, 1×1, BN, ReLU). With stride
//!   1 the input is split in two halves on the channels and only the second goes through
//!   `branch2`; the two parts are concatenated and the channels shuffled in two groups
//!   ([`channel_shuffle`]).
//! * Initialisation is torch's default of each layer (torchvision runs no init loop), drawn in
//!   construction order (`branch1` before `branch2`): the same seed gives the same weights.

use tch::{nn::Path, Tensor};

use crate::error::{Error, Result};
use crate::models::api::{Model, ModelInfo, Options};
use crate::models::features::FeatureInfo;
use crate::models::weights::Weights;
use crate::nn::*;

/// torchvision's `channel_shuffle(x, groups)`: view as `[N, groups, C/groups, H, W]`, swap the
/// two channel dimensions, view back as `[N, C, H, W]`.
pub fn channel_shuffle(x: &Tensor, groups: i64) -> std::result::Result<Tensor, tch::TchError> {
    let (n, ch, h, w) = x.size4()?;
    x.f_view([n, groups, ch / groups, h, w])?.f_transpose(1, 2)?.f_contiguous()?.f_view([n, ch, h, w])
}

/// A convolution without bias (torchvision's `depthwise_conv` when `groups = cin`).
fn conv(p: &Path, cin: i64, cout: i64, k: i64, stride: i64, groups: i64) -> Result<Conv2d> {
    let cfg = Conv2dConfig::default().stride(stride).padding(k / 2).groups(groups).bias(false);
    Conv2d::new(p, cin, cout, k, cfg)
}

fn bn(p: &Path, c: i64) -> Result<BatchNorm2d> {
    BatchNorm2d::new(p, c, BatchNormConfig::default())
}

/// torchvision's ShuffleNet V2 `InvertedResidual(inp, oup, stride)`.
#[derive(Debug)]
pub struct InvertedResidual {
    /// The branch of the whole input (stride > 1); empty when the stride is 1.
    pub branch1: Sequential,
    /// The branch of the second half of the input (stride 1) or of the whole input.
    pub branch2: Sequential,
    /// The stride (1 to 3).
    pub stride: i64,
}
crate::module!(InvertedResidual, [branch1, branch2]);

impl InvertedResidual {
    /// `InvertedResidual(inp, oup, stride)` at `p`; refuses what torchvision refuses.
    pub fn new(p: &Path, inp: i64, oup: i64, stride: i64) -> Result<Self> {
        let bad = |m: String| Err(Error::InvalidArgument(format!("{} (InvertedResidual): {m}", path_string(p))));
        if !(1..=3).contains(&stride) {
            return bad(format!("illegal stride value {stride}"));
        }
        let bf = oup / 2;
        if stride == 1 && inp != bf << 1 {
            return bad(format!(
                "Invalid combination of stride {stride}, inp {inp} and oup {oup} values. If stride == 1 then inp should be equal to oup // 2 << 1."
            ));
        }
        let mut b1 = Sequential::builder(p / "branch1");
        if stride > 1 {
            b1 = b1
                .add(|p| conv(p, inp, inp, 3, stride, inp))?
                .add(|p| bn(p, inp))?
                .add(|p| conv(p, inp, bf, 1, 1, 1))?
                .add(|p| bn(p, bf))?
                .add(ReLU::new)?;
        }
        let branch1 = b1.build();
        let branch2 = Sequential::builder(p / "branch2")
            .add(|p| conv(p, if stride > 1 { inp } else { bf }, bf, 1, 1, 1))?
            .add(|p| bn(p, bf))?
            .add(ReLU::new)?
            .add(|p| conv(p, bf, bf, 3, stride, bf))?
            .add(|p| bn(p, bf))?
            .add(|p| conv(p, bf, bf, 1, 1, 1))?
            .add(|p| bn(p, bf))?
            .add(ReLU::new)?
            .build();
        Ok(InvertedResidual { branch1, branch2, stride })
    }

    fn forward(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        let out = if self.stride == 1 {
            // x.chunk(2, dim=1): the input has an even number of channels (checked at build).
            let half = x.size().get(1).copied().unwrap_or(0) / 2;
            let x1 = c.op("getitem", x, || x.f_narrow(1, 0, half))?;
            let x2 = c.op("getitem_1", x, || x.f_narrow(1, half, half))?;
            let y2 = c.call(&self.branch2, &x2)?;
            c.cat(&[x1, y2], 1)?
        } else {
            let y1 = c.call(&self.branch1, x)?;
            let y2 = c.call(&self.branch2, x)?;
            c.cat(&[y1, y2], 1)?
        };
        c.op("view_1", &out, || channel_shuffle(&out, 2))
    }
}

/// torchvision's `ShuffleNetV2(stages_repeats, stages_out_channels, num_classes)`.
#[derive(Debug)]
pub struct ShuffleNetV2 {
    /// 3×3/2 conv, BatchNorm2d, ReLU.
    pub conv1: Sequential,
    /// 3×3/2 max pool, padding 1.
    pub maxpool: MaxPool2d,
    /// Stride 8.
    pub stage2: Sequential,
    /// Stride 16.
    pub stage3: Sequential,
    /// Stride 32.
    pub stage4: Sequential,
    /// 1×1 conv to the last width, BatchNorm2d, ReLU.
    pub conv5: Sequential,
    /// The classifier.
    pub fc: Linear,
    /// torchvision's `_stage_out_channels`.
    pub stage_out_channels: [i64; 5],
}
crate::module!(ShuffleNetV2, [conv1, maxpool, stage2, stage3, stage4, conv5, fc]);

impl ShuffleNetV2 {
    /// Builds the network at `p` with torch's default initialisation of every layer.
    pub fn new(p: &Path, repeats: [usize; 3], out: [i64; 5], num_classes: i64) -> Result<Self> {
        if repeats.contains(&0) || out.iter().any(|&c| c <= 0) {
            return Err(Error::InvalidArgument(format!(
                "ShuffleNetV2: stages_repeats {repeats:?} and stages_out_channels {out:?} must be positive"
            )));
        }
        let conv1 = Sequential::builder(p / "conv1")
            .add(|p| conv(p, 3, out[0], 3, 2, 1))?
            .add(|p| bn(p, out[0]))?
            .add(ReLU::new)?
            .build();
        let maxpool = MaxPool2d::new(&(p / "maxpool"), 3, PoolConfig::default().stride(2).padding(1))?;
        let mut cin = out[0];
        let mut stage = |name: &str, n: usize, cout: i64| -> Result<Sequential> {
            let mut b = Sequential::builder(p / name).add(|p| InvertedResidual::new(p, cin, cout, 2))?;
            for _ in 1..n {
                b = b.add(|p| InvertedResidual::new(p, cout, cout, 1))?;
            }
            cin = cout;
            Ok(b.build())
        };
        let stage2 = stage("stage2", repeats[0], out[1])?;
        let stage3 = stage("stage3", repeats[1], out[2])?;
        let stage4 = stage("stage4", repeats[2], out[3])?;
        let conv5 = Sequential::builder(p / "conv5")
            .add(|p| conv(p, out[3], out[4], 1, 1, 1))?
            .add(|p| bn(p, out[4]))?
            .add(ReLU::new)?
            .build();
        let fc = Linear::new(&(p / "fc"), out[4], num_classes)?;
        Ok(ShuffleNetV2 { conv1, maxpool, stage2, stage3, stage4, conv5, fc, stage_out_channels: out })
    }

    fn trunk(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        c.chain(&[&self.conv1, &self.maxpool, &self.stage2, &self.stage3, &self.stage4, &self.conv5], x)
    }

    fn head(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        let x = c.op("mean", x, || x.f_mean_dim([2, 3].as_slice(), false, None))?;
        c.call(&self.fc, &x)
    }

    fn forward(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        let x = self.trunk(x, c)?;
        self.head(&x, c)
    }
}

impl Model for ShuffleNetV2 {
    fn forward_features(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        Ctx::run(self, train, |c| self.trunk(xs, c))
    }
    fn forward_head(&self, features: &Tensor, train: bool) -> Result<Tensor> {
        Ctx::run(self, train, |c| self.head(features, c))
    }
    fn feature_info(&self) -> Vec<FeatureInfo> {
        let o = self.stage_out_channels;
        vec![
            FeatureInfo::new(o[0], 2, "conv1"),
            FeatureInfo::new(o[0], 4, "maxpool"),
            FeatureInfo::new(o[1], 8, "stage2"),
            FeatureInfo::new(o[2], 16, "stage3"),
            FeatureInfo::new(o[4], 32, "conv5"),
        ]
    }
    fn num_classes(&self) -> i64 {
        self.fc.out_features
    }
}

fn build(p: &Path, o: &Options, out: [i64; 5]) -> Result<Box<dyn Model>> {
    Ok(Box::new(ShuffleNetV2::new(p, [4, 8, 4], out, o.num_classes.unwrap_or(1000))?))
}

/// The family's registry entries.
pub const MODELS: &[ModelInfo] = &[
    ModelInfo {
        weights: SHUFFLENET_V2_X0_5_WEIGHTS,
        ..ModelInfo::classifier("shufflenet_v2_x0_5", "shufflenetv2", 1366792, |p, o| {
            build(p, o, [24, 48, 96, 192, 1024])
        })
    },
    ModelInfo {
        weights: SHUFFLENET_V2_X1_0_WEIGHTS,
        ..ModelInfo::classifier("shufflenet_v2_x1_0", "shufflenetv2", 2278604, |p, o| {
            build(p, o, [24, 116, 232, 464, 1024])
        })
    },
    ModelInfo {
        weights: SHUFFLENET_V2_X1_5_WEIGHTS,
        ..ModelInfo::classifier("shufflenet_v2_x1_5", "shufflenetv2", 3503624, |p, o| {
            build(p, o, [24, 176, 352, 704, 1024])
        })
    },
    ModelInfo {
        weights: SHUFFLENET_V2_X2_0_WEIGHTS,
        ..ModelInfo::classifier("shufflenet_v2_x2_0", "shufflenetv2", 7393996, |p, o| {
            build(p, o, [24, 244, 488, 976, 2048])
        })
    },
];

/// torchvision's `ShuffleNet_V2_X0_5_Weights`.
const SHUFFLENET_V2_X0_5_WEIGHTS: &[Weights] = &[Weights::imagenet(
    "shufflenet_v2_x0_5",
    "IMAGENET1K_V1",
    "shufflenetv2_x0.5-f707e7126e.pth",
    1366792,
    [60.552, 81.746],
    0.04,
    5.282,
    [256, 224],
)
.default()];
/// torchvision's `ShuffleNet_V2_X1_0_Weights`.
const SHUFFLENET_V2_X1_0_WEIGHTS: &[Weights] = &[Weights::imagenet(
    "shufflenet_v2_x1_0",
    "IMAGENET1K_V1",
    "shufflenetv2_x1-5666bf0f80.pth",
    2278604,
    [69.362, 88.316],
    0.145,
    8.791,
    [256, 224],
)
.default()];
/// torchvision's `ShuffleNet_V2_X1_5_Weights`.
const SHUFFLENET_V2_X1_5_WEIGHTS: &[Weights] = &[Weights::imagenet(
    "shufflenet_v2_x1_5",
    "IMAGENET1K_V1",
    "shufflenetv2_x1_5-3c479a10.pth",
    3503624,
    [72.996, 91.086],
    0.296,
    13.557,
    [232, 224],
)
.default()];
/// torchvision's `ShuffleNet_V2_X2_0_Weights`.
const SHUFFLENET_V2_X2_0_WEIGHTS: &[Weights] = &[Weights::imagenet(
    "shufflenet_v2_x2_0",
    "IMAGENET1K_V1",
    "shufflenetv2_x2_0-8be3c8ee.pth",
    7393996,
    [76.23, 93.006],
    0.583,
    28.433,
    [232, 224],
)
.default()];
