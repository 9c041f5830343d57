//! torchvision's ResNet family: ResNet-18/34/50/101/152 (He et al. 2016, "Deep Residual
//! Learning for Image Recognition"), ResNeXt (Xie et al. 2017, "Aggregated Residual
//! Transformations for Deep Neural Networks") and Wide ResNet (Zagoruyko & Komodakis 2016,
//! "Wide Residual Networks"), as `torchvision/models/resnet.py` builds them.
//!
//! * The module tree is torchvision's, attribute for attribute: `conv1`, `bn1`, `relu`,
//!   `maxpool`, `layer1`…`layer4` (Sequentials of blocks), `avgpool`, `fc`; in each block
//!   `conv1`, `bn1`, … and `downsample` (`Sequential(conv1x1, norm)`) when the shape changes.
//!   So the state-dict keys, their order and shapes equal torchvision's, and its checkpoints load
//!   as they are.
//! * [`Bottleneck`] is torchvision's "ResNet v1.5": the stride sits on the 3×3 convolution
//!   (`conv2`), not on the first 1×1 as in the paper.
//! * Initialisation is torchvision's: every Conv2d kaiming_normal (fan_out, relu), norm weight 1
//!   and bias 0, `fc` keeps `nn.Linear`'s default; with `zero_init_residual` the last norm of
//!   each residual branch (`bn3` / `bn2`) starts at weight 0 (Goyal et al. 2017). Modules are
//!   created and initialised in torchvision's order, so the same seed gives the same weights.
//! * Configurations are data ([`ResNetConfig`], one named constructor per torchvision builder);
//!   [`ResNet::new`] is the one builder. Options torchvision refuses are refused here with
//!   [`Error::InvalidArgument`].
//!
//! ```no_run
//! use tch::{nn, Device, Kind, Tensor};
//! use tchvision::models::resnet::{ResNet, ResNetConfig};
//! use tchvision::nn::ModuleExt;
//! let vs = nn::VarStore::new(Device::Cpu);
//! let net = ResNet::new(&vs.root(), &ResNetConfig::resnet50().num_classes(10))?;
//! net.eval();
//! let logits = net.try_forward(&Tensor::zeros([1, 3, 224, 224], (Kind::Float, Device::Cpu)))?;
//! assert_eq!(logits.size(), [1, 10]);
//! # Ok::<(), tchvision::Error>(())
//! ```

use tch::{nn::Path, Tensor};

use crate::error::{Error, Result};
use crate::init::{self, recipes};
use crate::models::api::{Model, ModelInfo, Options};
use crate::models::features::FeatureInfo;
use crate::models::weights::Weights;
use crate::nn::*;
pub use crate::ops::{conv1x1, conv3x3, Norm, NormKind};

/// Which residual block a ResNet stacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockKind {
    /// [`BasicBlock`]: two 3×3 convolutions (ResNet-18/34); expansion 1.
    Basic,
    /// [`Bottleneck`]: 1×1, 3×3, 1×1 (ResNet-50 and deeper, ResNeXt, Wide ResNet); expansion 4.
    Bottleneck,
}

impl BlockKind {
    /// torchvision's `block.expansion`: output channels over `planes`.
    pub fn expansion(&self) -> i64 {
        match self {
            BlockKind::Basic => 1,
            BlockKind::Bottleneck => 4,
        }
    }
}

/// A ResNet configuration: the arguments of torchvision's `ResNet(...)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ResNetConfig {
    /// The residual block.
    pub block: BlockKind,
    /// Blocks in `layer1`…`layer4`.
    pub layers: [usize; 4],
    /// Groups of the 3×3 convolutions (ResNeXt's cardinality).
    pub groups: i64,
    /// Width of each group (torchvision's `width_per_group`, the block's `base_width`).
    pub width_per_group: i64,
    /// Outputs of `fc`.
    pub num_classes: i64,
    /// Start each residual branch's last norm at weight 0.
    pub zero_init_residual: bool,
    /// Replace the stride 2 of `layer2`, `layer3`, `layer4` by dilation.
    pub replace_stride_with_dilation: [bool; 3],
    /// The normalisation layer.
    pub norm: NormKind,
}

impl ResNetConfig {
    /// A configuration with torchvision's defaults (1000 classes, groups 1, width 64,
    /// BatchNorm2d, no dilation, no zero-init).
    pub fn new(block: BlockKind, layers: [usize; 4]) -> Self {
        ResNetConfig {
            block,
            layers,
            groups: 1,
            width_per_group: 64,
            num_classes: 1000,
            zero_init_residual: false,
            replace_stride_with_dilation: [false; 3],
            norm: NormKind::BatchNorm2d,
        }
    }
    /// `resnet18`: BasicBlock, [2, 2, 2, 2].
    pub fn resnet18() -> Self {
        Self::new(BlockKind::Basic, [2, 2, 2, 2])
    }
    /// `resnet34`: BasicBlock, [3, 4, 6, 3].
    pub fn resnet34() -> Self {
        Self::new(BlockKind::Basic, [3, 4, 6, 3])
    }
    /// `resnet50`: Bottleneck, [3, 4, 6, 3].
    pub fn resnet50() -> Self {
        Self::new(BlockKind::Bottleneck, [3, 4, 6, 3])
    }
    /// `resnet101`: Bottleneck, [3, 4, 23, 3].
    pub fn resnet101() -> Self {
        Self::new(BlockKind::Bottleneck, [3, 4, 23, 3])
    }
    /// `resnet152`: Bottleneck, [3, 8, 36, 3].
    pub fn resnet152() -> Self {
        Self::new(BlockKind::Bottleneck, [3, 8, 36, 3])
    }
    /// `resnext50_32x4d`: Bottleneck, [3, 4, 6, 3], groups 32, width 4.
    pub fn resnext50_32x4d() -> Self {
        Self::new(BlockKind::Bottleneck, [3, 4, 6, 3]).groups(32).width_per_group(4)
    }
    /// `resnext101_32x8d`: Bottleneck, [3, 4, 23, 3], groups 32, width 8.
    pub fn resnext101_32x8d() -> Self {
        Self::new(BlockKind::Bottleneck, [3, 4, 23, 3]).groups(32).width_per_group(8)
    }
    /// `resnext101_64x4d`: Bottleneck, [3, 4, 23, 3], groups 64, width 4.
    pub fn resnext101_64x4d() -> Self {
        Self::new(BlockKind::Bottleneck, [3, 4, 23, 3]).groups(64).width_per_group(4)
    }
    /// `wide_resnet50_2`: Bottleneck, [3, 4, 6, 3], width 128.
    pub fn wide_resnet50_2() -> Self {
        Self::new(BlockKind::Bottleneck, [3, 4, 6, 3]).width_per_group(128)
    }
    /// `wide_resnet101_2`: Bottleneck, [3, 4, 23, 3], width 128.
    pub fn wide_resnet101_2() -> Self {
        Self::new(BlockKind::Bottleneck, [3, 4, 23, 3]).width_per_group(128)
    }

    /// Sets the number of classes.
    pub fn num_classes(mut self, n: i64) -> Self {
        self.num_classes = n;
        self
    }
    /// Sets the groups of the 3×3 convolutions.
    pub fn groups(mut self, g: i64) -> Self {
        self.groups = g;
        self
    }
    /// Sets the width per group.
    pub fn width_per_group(mut self, w: i64) -> Self {
        self.width_per_group = w;
        self
    }
    /// Sets `zero_init_residual`.
    pub fn zero_init_residual(mut self, z: bool) -> Self {
        self.zero_init_residual = z;
        self
    }
    /// Sets `replace_stride_with_dilation`.
    pub fn replace_stride_with_dilation(mut self, d: [bool; 3]) -> Self {
        self.replace_stride_with_dilation = d;
        self
    }
    /// Sets the normalisation layer.
    pub fn norm(mut self, n: NormKind) -> Self {
        self.norm = n;
        self
    }

    /// Checks what torchvision checks (and what it would fail on later).
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidArgument(format!("ResNet: {m}")));
        if self.block == BlockKind::Basic && (self.groups != 1 || self.width_per_group != 64) {
            return bad(format!(
                "BasicBlock only supports groups=1 and base_width=64 (got groups={}, width_per_group={})",
                self.groups, self.width_per_group
            ));
        }
        if self.block == BlockKind::Basic && self.replace_stride_with_dilation.iter().any(|&d| d) {
            return bad(
                "Dilation > 1 not supported in BasicBlock (replace_stride_with_dilation must be all false)".into()
            );
        }
        if self.groups <= 0 || self.width_per_group <= 0 {
            return bad(format!(
                "groups ({}) and width_per_group ({}) must be positive",
                self.groups, self.width_per_group
            ));
        }
        if self.layers.contains(&0) {
            return bad(format!("every stage needs at least one block, got layers {:?}", self.layers));
        }
        if self.num_classes < 0 {
            return bad(format!("num_classes must be non-negative, got {}", self.num_classes));
        }
        if let NormKind::GroupNorm { num_groups } = self.norm {
            if num_groups <= 0 {
                return bad(format!("GroupNorm needs a positive number of groups, got {num_groups}"));
            }
        }
        Ok(())
    }
}

/// The arguments torchvision passes to a block's constructor.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlockArgs {
    /// Input channels.
    pub inplanes: i64,
    /// The block's base width; it outputs `planes · expansion` channels.
    pub planes: i64,
    /// Stride (of `conv1` in BasicBlock, of `conv2` in Bottleneck).
    pub stride: i64,
    /// Groups of the 3×3 convolution.
    pub groups: i64,
    /// torchvision's `base_width` (the config's `width_per_group`).
    pub base_width: i64,
    /// Dilation of the 3×3 convolution.
    pub dilation: i64,
    /// The norm layer.
    pub norm: NormKind,
}

/// The ReLU between two conv/norm steps: in place when nothing records the intermediate, as
/// torchvision's `ReLU(inplace=True)`.
fn relu(c: &mut Ctx, relu: &ReLU, x: Tensor) -> Result<Tensor> {
    if c.is_recording() {
        return c.call(relu, &x);
    }
    c.op("relu", &x, || {
        let mut x = x.shallow_clone();
        x.f_relu_()
    })
}

/// `relu(out + identity)` with the identity `downsample(x)` or `x`: torchvision's node names
/// (`downsample`, `add`, `relu_N`) when recording, in place otherwise (`out += identity`).
fn residual(c: &mut Ctx, relu: &ReLU, out: Tensor, downsample: Option<&Sequential>, x: &Tensor) -> Result<Tensor> {
    let identity = match downsample {
        Some(d) => c.call(d, x)?,
        None => x.shallow_clone(),
    };
    if c.is_recording() {
        let out = c.add(&out, &identity)?;
        return c.call(relu, &out);
    }
    c.op("add", &out, || {
        let mut out = out.shallow_clone();
        let _ = out.f_add_(&identity)?;
        out.f_relu_()
    })
}

/// torchvision's `BasicBlock` (expansion 1): conv3×3 → bn → relu → conv3×3 → bn, plus the
/// identity (or `downsample(x)`), then relu.
#[derive(Debug)]
pub struct BasicBlock {
    /// 3×3, `inplanes → planes`, carries the stride.
    pub conv1: Conv2d,
    /// Norm after `conv1`.
    pub bn1: Norm,
    /// The ReLU (called twice, as in torchvision).
    pub relu: ReLU,
    /// 3×3, `planes → planes`.
    pub conv2: Conv2d,
    /// Norm after `conv2` (zeroed by `zero_init_residual`).
    pub bn2: Norm,
    /// `Sequential(conv1x1, norm)` when the shape changes.
    pub downsample: Option<Sequential>,
}
crate::module!(BasicBlock, [conv1, bn1, relu, conv2, bn2, downsample?]);

impl BasicBlock {
    /// torchvision's `BasicBlock(inplanes, planes, stride, downsample, groups, base_width,
    /// dilation, norm_layer)`.
    pub fn new(p: &Path, a: BlockArgs, downsample: Option<Sequential>) -> Result<Self> {
        let bad = |m: &str| Err(Error::InvalidArgument(format!("{} (BasicBlock): {m}", path_string(p))));
        if a.groups != 1 || a.base_width != 64 {
            return bad("BasicBlock only supports groups=1 and base_width=64");
        }
        if a.dilation > 1 {
            return bad("Dilation > 1 not supported in BasicBlock");
        }
        Ok(BasicBlock {
            conv1: conv3x3(&(p / "conv1"), a.inplanes, a.planes, a.stride, 1, 1)?,
            bn1: Norm::new(&(p / "bn1"), a.norm, a.planes)?,
            relu: ReLU::new(&(p / "relu"))?,
            conv2: conv3x3(&(p / "conv2"), a.planes, a.planes, 1, 1, 1)?,
            bn2: Norm::new(&(p / "bn2"), a.norm, a.planes)?,
            downsample,
        })
    }

    fn forward(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        let out = c.chain(&[&self.conv1, &self.bn1], x)?;
        let out = relu(c, &self.relu, out)?;
        let out = c.chain(&[&self.conv2, &self.bn2], &out)?;
        residual(c, &self.relu, out, self.downsample.as_ref(), x)
    }
}

/// torchvision's `Bottleneck` (expansion 4, "ResNet v1.5"): conv1×1 → bn → relu → conv3×3
/// (stride, groups, dilation) → bn → relu → conv1×1 → bn, plus the identity (or
/// `downsample(x)`), then relu. Its inner width is `planes · base_width / 64 · groups`.
#[derive(Debug)]
pub struct Bottleneck {
    /// 1×1, `inplanes → width`.
    pub conv1: Conv2d,
    /// Norm after `conv1`.
    pub bn1: Norm,
    /// 3×3, `width → width`, with the stride, groups and dilation.
    pub conv2: Conv2d,
    /// Norm after `conv2`.
    pub bn2: Norm,
    /// 1×1, `width → planes · 4`.
    pub conv3: Conv2d,
    /// Norm after `conv3` (zeroed by `zero_init_residual`).
    pub bn3: Norm,
    /// The ReLU (called three times, as in torchvision).
    pub relu: ReLU,
    /// `Sequential(conv1x1, norm)` when the shape changes.
    pub downsample: Option<Sequential>,
}
crate::module!(Bottleneck, [conv1, bn1, conv2, bn2, conv3, bn3, relu, downsample?]);

impl Bottleneck {
    /// torchvision's `Bottleneck(inplanes, planes, stride, downsample, groups, base_width,
    /// dilation, norm_layer)`.
    pub fn new(p: &Path, a: BlockArgs, downsample: Option<Sequential>) -> Result<Self> {
        // torchvision: int(planes * (base_width / 64.0)) * groups
        let width = a.planes * a.base_width / 64 * a.groups;
        let out = a.planes * BlockKind::Bottleneck.expansion();
        Ok(Bottleneck {
            conv1: conv1x1(&(p / "conv1"), a.inplanes, width, 1)?,
            bn1: Norm::new(&(p / "bn1"), a.norm, width)?,
            conv2: conv3x3(&(p / "conv2"), width, width, a.stride, a.groups, a.dilation)?,
            bn2: Norm::new(&(p / "bn2"), a.norm, width)?,
            conv3: conv1x1(&(p / "conv3"), width, out, 1)?,
            bn3: Norm::new(&(p / "bn3"), a.norm, out)?,
            relu: ReLU::new(&(p / "relu"))?,
            downsample,
        })
    }

    fn forward(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        let out = c.chain(&[&self.conv1, &self.bn1], x)?;
        let out = relu(c, &self.relu, out)?;
        let out = c.chain(&[&self.conv2, &self.bn2], &out)?;
        let out = relu(c, &self.relu, out)?;
        let out = c.chain(&[&self.conv3, &self.bn3], &out)?;
        residual(c, &self.relu, out, self.downsample.as_ref(), x)
    }
}

/// The running state of torchvision's `_make_layer` (`self.inplanes`, `self.dilation`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerState {
    /// Channels entering the next stage.
    pub inplanes: i64,
    /// The current dilation.
    pub dilation: i64,
}

/// torchvision's `ResNet._make_layer`: a Sequential of `blocks` blocks at `p`, the first with
/// `stride` (or, with `dilate`, a dilation multiplied by `stride` from the second block on) and
/// a `downsample` (created before the first block, as torchvision does: this fixes the RNG
/// order) when the shape changes. Updates `state` as torchvision updates `self`.
pub fn make_layer(
    p: Path<'_>,
    state: &mut LayerState,
    cfg: &ResNetConfig,
    planes: i64,
    blocks: usize,
    stride: i64,
    dilate: bool,
) -> Result<Sequential> {
    let expansion = cfg.block.expansion();
    let previous_dilation = state.dilation;
    let mut stride = stride;
    if dilate {
        state.dilation *= stride;
        stride = 1;
    }
    let first = BlockArgs {
        inplanes: state.inplanes,
        planes,
        stride,
        groups: cfg.groups,
        base_width: cfg.width_per_group,
        dilation: previous_dilation,
        norm: cfg.norm,
    };
    let rest = BlockArgs { inplanes: planes * expansion, stride: 1, dilation: state.dilation, ..first };
    let block = |p: &Path, a: BlockArgs, ds: Option<Sequential>| -> Result<Box<dyn Module>> {
        Ok(match cfg.block {
            BlockKind::Basic => Box::new(BasicBlock::new(p, a, ds)?),
            BlockKind::Bottleneck => Box::new(Bottleneck::new(p, a, ds)?),
        })
    };
    let mut b = Sequential::builder(p).add(|p| {
        let ds = if stride != 1 || first.inplanes != planes * expansion {
            let seq = Sequential::builder(p / "downsample")
                .add(|p| conv1x1(p, first.inplanes, planes * expansion, stride))?
                .add(|p| Norm::new(p, cfg.norm, planes * expansion))?;
            Some(seq.build())
        } else {
            None
        };
        block(p, first, ds)
    })?;
    for _ in 1..blocks {
        b = b.add(|p| block(p, rest, None))?;
    }
    state.inplanes = planes * expansion;
    Ok(b.build())
}

/// torchvision's `ResNet`.
#[derive(Debug)]
pub struct ResNet {
    /// Stem: 7×7 conv, 3 → 64, stride 2, padding 3, no bias.
    pub conv1: Conv2d,
    /// Stem norm.
    pub bn1: Norm,
    /// Stem ReLU.
    pub relu: ReLU,
    /// 3×3 max pool, stride 2, padding 1.
    pub maxpool: MaxPool2d,
    /// Stage 1 (stride 4 overall), 64 · expansion channels.
    pub layer1: Sequential,
    /// Stage 2 (stride 8), 128 · expansion channels.
    pub layer2: Sequential,
    /// Stage 3 (stride 16), 256 · expansion channels.
    pub layer3: Sequential,
    /// Stage 4 (stride 32), 512 · expansion channels.
    pub layer4: Sequential,
    /// Global average pool to 1×1.
    pub avgpool: AdaptiveAvgPool2d,
    /// The classifier, 512 · expansion → num_classes.
    pub fc: Linear,
    /// The configuration it was built from.
    pub config: ResNetConfig,
}
crate::module!(ResNet, [conv1, bn1, relu, maxpool, layer1, layer2, layer3, layer4, avgpool, fc]);

impl ResNet {
    /// Builds the network of `cfg` at `p` and initialises it as torchvision does.
    pub fn new(p: &Path, cfg: &ResNetConfig) -> Result<Self> {
        cfg.validate()?;
        let mut st = LayerState { inplanes: 64, dilation: 1 };
        let d = cfg.replace_stride_with_dilation;
        let net = ResNet {
            conv1: Conv2d::new(&(p / "conv1"), 3, 64, 7, Conv2dConfig::default().stride(2).padding(3).bias(false))?,
            bn1: Norm::new(&(p / "bn1"), cfg.norm, 64)?,
            relu: ReLU::new(&(p / "relu"))?,
            maxpool: MaxPool2d::new(&(p / "maxpool"), 3, PoolConfig::default().stride(2).padding(1))?,
            layer1: make_layer(p / "layer1", &mut st, cfg, 64, cfg.layers[0], 1, false)?,
            layer2: make_layer(p / "layer2", &mut st, cfg, 128, cfg.layers[1], 2, d[0])?,
            layer3: make_layer(p / "layer3", &mut st, cfg, 256, cfg.layers[2], 2, d[1])?,
            layer4: make_layer(p / "layer4", &mut st, cfg, 512, cfg.layers[3], 2, d[2])?,
            avgpool: AdaptiveAvgPool2d::new(&(p / "avgpool"), 1)?,
            fc: Linear::new(&(p / "fc"), 512 * cfg.block.expansion(), cfg.num_classes)?,
            config: *cfg,
        };
        recipes::kaiming_fan_out(&net)?;
        if cfg.zero_init_residual {
            let _g = tch::no_grad_guard();
            for (_, m) in net.named_modules() {
                let last = match m.class_name() {
                    "Bottleneck" => "bn3",
                    "BasicBlock" => "bn2",
                    _ => continue,
                };
                if let Some(mut w) = m.get_submodule(last)?.parameter("weight") {
                    init::zeros_(&mut w)?;
                }
            }
        }
        Ok(net)
    }

    /// The stages in order.
    pub fn layers(&self) -> [&Sequential; 4] {
        [&self.layer1, &self.layer2, &self.layer3, &self.layer4]
    }

    /// The stem and `layer1`…`layer4` (shared with the detectors built on a ResNet trunk).
    pub fn trunk(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        let [l1, l2, l3, l4] = self.layers();
        c.chain(&[&self.conv1, &self.bn1, &self.relu, &self.maxpool, l1, l2, l3, l4], x)
    }

    fn head(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        let x = c.call(&self.avgpool, x)?;
        let x = c.flatten(&x, 1)?;
        c.call(&self.fc, &x)
    }

    fn forward(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        let x = self.trunk(x, c)?;
        self.head(&x, c)
    }
}

impl Model for ResNet {
    fn forward_features(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        Ctx::run(self, train, |c| self.trunk(xs, c))
    }
    fn forward_head(&self, features: &Tensor, train: bool) -> Result<Tensor> {
        Ctx::run(self, train, |c| self.head(features, c))
    }
    fn feature_info(&self) -> Vec<FeatureInfo> {
        let (e, d) = (self.config.block.expansion(), self.config.replace_stride_with_dilation);
        let mut info = vec![FeatureInfo::new(64, 2, "relu")];
        let mut reduction = 4;
        for (i, planes) in [64, 128, 256, 512].into_iter().enumerate() {
            if i > 0 && !d[i - 1] {
                reduction *= 2;
            }
            info.push(FeatureInfo::new(planes * e, reduction, &format!("layer{}", i + 1)));
        }
        info
    }
    fn num_classes(&self) -> i64 {
        self.config.num_classes
    }
}

fn build(p: &Path, o: &Options, mut cfg: ResNetConfig) -> Result<Box<dyn Model>> {
    cfg.num_classes = o.num_classes.unwrap_or(cfg.num_classes);
    o.apply("zero_init_residual", &mut cfg.zero_init_residual)?;
    o.apply("replace_stride_with_dilation", &mut cfg.replace_stride_with_dilation)?;
    Ok(Box::new(ResNet::new(p, &cfg)?))
}

macro_rules! entry {
    ($name:ident, $params:literal, $weights:ident) => {
        ModelInfo {
            options: &["zero_init_residual", "replace_stride_with_dilation"],
            weights: $weights,
            ..ModelInfo::classifier(stringify!($name), "resnet", $params, |p, o| build(p, o, ResNetConfig::$name()))
        }
    };
}

/// The family's registry entries.
pub const MODELS: &[ModelInfo] = &[
    entry!(resnet18, 11689512, RESNET18_WEIGHTS),
    entry!(resnet34, 21797672, RESNET34_WEIGHTS),
    entry!(resnet50, 25557032, RESNET50_WEIGHTS),
    entry!(resnet101, 44549160, RESNET101_WEIGHTS),
    entry!(resnet152, 60192808, RESNET152_WEIGHTS),
    entry!(resnext50_32x4d, 25028904, RESNEXT50_32X4D_WEIGHTS),
    entry!(resnext101_32x8d, 88791336, RESNEXT101_32X8D_WEIGHTS),
    entry!(resnext101_64x4d, 83455272, RESNEXT101_64X4D_WEIGHTS),
    entry!(wide_resnet50_2, 68883240, WIDE_RESNET50_2_WEIGHTS),
    entry!(wide_resnet101_2, 126886696, WIDE_RESNET101_2_WEIGHTS),
];

/// torchvision's `ResNet18_Weights`.
const RESNET18_WEIGHTS: &[Weights] = &[Weights::imagenet(
    "resnet18",
    "IMAGENET1K_V1",
    "resnet18-f37072fd.pth",
    11689512,
    [69.758, 89.078],
    1.814,
    44.661,
    [256, 224],
)
.default()];
/// torchvision's `ResNet34_Weights`.
const RESNET34_WEIGHTS: &[Weights] = &[Weights::imagenet(
    "resnet34",
    "IMAGENET1K_V1",
    "resnet34-b627a593.pth",
    21797672,
    [73.314, 91.42],
    3.664,
    83.275,
    [256, 224],
)
.default()];
/// torchvision's `ResNet50_Weights`.
const RESNET50_WEIGHTS: &[Weights] = &[
    Weights::imagenet(
        "resnet50",
        "IMAGENET1K_V1",
        "resnet50-0676ba61.pth",
        25557032,
        [76.13, 92.862],
        4.089,
        97.781,
        [256, 224],
    ),
    Weights::imagenet(
        "resnet50",
        "IMAGENET1K_V2",
        "resnet50-11ad3fa6.pth",
        25557032,
        [80.858, 95.434],
        4.089,
        97.79,
        [232, 224],
    )
    .default(),
];
/// torchvision's `ResNet101_Weights`.
const RESNET101_WEIGHTS: &[Weights] = &[
    Weights::imagenet(
        "resnet101",
        "IMAGENET1K_V1",
        "resnet101-63fe2227.pth",
        44549160,
        [77.374, 93.546],
        7.801,
        170.511,
        [256, 224],
    ),
    Weights::imagenet(
        "resnet101",
        "IMAGENET1K_V2",
        "resnet101-cd907fc2.pth",
        44549160,
        [81.886, 95.78],
        7.801,
        170.53,
        [232, 224],
    )
    .default(),
];
/// torchvision's `ResNet152_Weights`.
const RESNET152_WEIGHTS: &[Weights] = &[
    Weights::imagenet(
        "resnet152",
        "IMAGENET1K_V1",
        "resnet152-394f9c45.pth",
        60192808,
        [78.312, 94.046],
        11.514,
        230.434,
        [256, 224],
    ),
    Weights::imagenet(
        "resnet152",
        "IMAGENET1K_V2",
        "resnet152-f82ba261.pth",
        60192808,
        [82.284, 96.002],
        11.514,
        230.474,
        [232, 224],
    )
    .default(),
];
/// torchvision's `ResNeXt50_32X4D_Weights`.
const RESNEXT50_32X4D_WEIGHTS: &[Weights] = &[
    Weights::imagenet(
        "resnext50_32x4d",
        "IMAGENET1K_V1",
        "resnext50_32x4d-7cdf4587.pth",
        25028904,
        [77.618, 93.698],
        4.23,
        95.789,
        [256, 224],
    ),
    Weights::imagenet(
        "resnext50_32x4d",
        "IMAGENET1K_V2",
        "resnext50_32x4d-1a0047aa.pth",
        25028904,
        [81.198, 95.34],
        4.23,
        95.833,
        [232, 224],
    )
    .default(),
];
/// torchvision's `ResNeXt101_32X8D_Weights`.
const RESNEXT101_32X8D_WEIGHTS: &[Weights] = &[
    Weights::imagenet(
        "resnext101_32x8d",
        "IMAGENET1K_V1",
        "resnext101_32x8d-8ba56ff5.pth",
        88791336,
        [79.312, 94.526],
        16.414,
        339.586,
        [256, 224],
    ),
    Weights::imagenet(
        "resnext101_32x8d",
        "IMAGENET1K_V2",
        "resnext101_32x8d-110c445d.pth",
        88791336,
        [82.834, 96.228],
        16.414,
        339.673,
        [232, 224],
    )
    .default(),
];
/// torchvision's `ResNeXt101_64X4D_Weights`.
const RESNEXT101_64X4D_WEIGHTS: &[Weights] = &[Weights::imagenet(
    "resnext101_64x4d",
    "IMAGENET1K_V1",
    "resnext101_64x4d-173b62eb.pth",
    83455272,
    [83.246, 96.454],
    15.46,
    319.318,
    [232, 224],
)
.default()];
/// torchvision's `Wide_ResNet50_2_Weights`.
const WIDE_RESNET50_2_WEIGHTS: &[Weights] = &[
    Weights::imagenet(
        "wide_resnet50_2",
        "IMAGENET1K_V1",
        "wide_resnet50_2-95faca4d.pth",
        68883240,
        [78.468, 94.086],
        11.398,
        131.82,
        [256, 224],
    ),
    Weights::imagenet(
        "wide_resnet50_2",
        "IMAGENET1K_V2",
        "wide_resnet50_2-9ba9bcbe.pth",
        68883240,
        [81.602, 95.758],
        11.398,
        263.124,
        [232, 224],
    )
    .default(),
];
/// torchvision's `Wide_ResNet101_2_Weights`.
const WIDE_RESNET101_2_WEIGHTS: &[Weights] = &[
    Weights::imagenet(
        "wide_resnet101_2",
        "IMAGENET1K_V1",
        "wide_resnet101_2-32ee1156.pth",
        126886696,
        [78.848, 94.284],
        22.753,
        242.896,
        [256, 224],
    ),
    Weights::imagenet(
        "wide_resnet101_2",
        "IMAGENET1K_V2",
        "wide_resnet101_2-d733dc28.pth",
        126886696,
        [82.51, 96.02],
        22.753,
        484.747,
        [232, 224],
    )
    .default(),
];
