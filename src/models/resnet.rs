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

use std::cell::Cell;
use tch::{nn::Path, Tensor};

use crate::error::{Error, Result};
use crate::init::{self, recipes};
use crate::models::features::FeatureInfo;
use crate::models::registry::Model;
use crate::nn::*;

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

/// The normalisation layer (torchvision's `norm_layer` argument).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum NormKind {
    /// `nn.BatchNorm2d` (torchvision's default).
    #[default]
    BatchNorm2d,
    /// `nn.GroupNorm(num_groups, channels)`, i.e. `norm_layer=partial(nn.GroupNorm, num_groups)`.
    GroupNorm {
        /// Groups of every GroupNorm.
        num_groups: i64,
    },
}

/// A ResNet configuration: the arguments of torchvision's `ResNet(...)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

/// A normalisation layer of a ResNet: [`BatchNorm2d`] or [`GroupNorm`] (see [`NormKind`]).
#[derive(Debug)]
pub enum Norm {
    /// `nn.BatchNorm2d`.
    BatchNorm2d(BatchNorm2d),
    /// `nn.GroupNorm`.
    GroupNorm(GroupNorm),
}

impl Norm {
    /// The norm layer of `kind` over `channels` at `p`.
    pub fn new(p: &Path, kind: NormKind, channels: i64) -> Result<Self> {
        Ok(match kind {
            NormKind::BatchNorm2d => Norm::BatchNorm2d(BatchNorm2d::new(p, channels, BatchNormConfig::default())?),
            NormKind::GroupNorm { num_groups } => Norm::GroupNorm(GroupNorm::new(p, num_groups, channels)?),
        })
    }

    fn inner(&self) -> &dyn Module {
        match self {
            Norm::BatchNorm2d(m) => m,
            Norm::GroupNorm(m) => m,
        }
    }

    /// γ, shared with the model.
    pub fn weight(&self) -> Option<&Tensor> {
        match self {
            Norm::BatchNorm2d(m) => m.weight.as_ref(),
            Norm::GroupNorm(m) => m.weight.as_ref(),
        }
    }
}

impl Module for Norm {
    fn kind(&self) -> ModuleKind {
        self.inner().kind()
    }
    fn try_forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        self.inner().try_forward_t(xs, train)
    }
    fn own_parameters(&self) -> Vec<(&'static str, &Tensor)> {
        self.inner().own_parameters()
    }
    fn own_buffers(&self) -> Vec<(&'static str, &Tensor)> {
        self.inner().own_buffers()
    }
    fn training_flag(&self) -> Option<&Cell<bool>> {
        self.inner().training_flag()
    }
}

/// torchvision's `conv3x3`: padding = dilation, no bias.
fn conv3x3(p: &Path, cin: i64, cout: i64, stride: i64, groups: i64, dilation: i64) -> Result<Conv2d> {
    let cfg = Conv2dConfig::default().stride(stride).padding(dilation).groups(groups).dilation(dilation).bias(false);
    Conv2d::new(p, cin, cout, 3, cfg)
}

/// torchvision's `conv1x1`: no bias.
fn conv1x1(p: &Path, cin: i64, cout: i64, stride: i64) -> Result<Conv2d> {
    Conv2d::new(p, cin, cout, 1, Conv2dConfig::default().stride(stride).bias(false))
}

/// The arguments torchvision passes to a block's constructor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

/// `relu(out + identity)` in place on `out`, as torchvision's `out += identity; relu(out)` with
/// `ReLU(inplace=True)`: for the fast path, where no recorder holds `out`.
fn residual_relu_(path: &str, mut out: Tensor, identity: &Tensor) -> Result<Tensor> {
    let err = |e: tch::TchError| Error::Forward {
        path: path.to_string(),
        kind: "add",
        input: identity.size(),
        source: e.into(),
    };
    let _ = out.f_add_(identity).map_err(err)?;
    let _ = out.f_relu_().map_err(err)?;
    Ok(out)
}

/// ReLU in place on a fresh intermediate (the fast path of the blocks).
fn relu_(path: &str, mut out: Tensor) -> Result<Tensor> {
    let _ = out.f_relu_().map_err(|e| Error::Forward {
        path: path.to_string(),
        kind: "ReLU",
        input: out.size(),
        source: e.into(),
    })?;
    Ok(out)
}

/// The forward of both blocks: `conv → norm` steps with a ReLU between them, the identity (or
/// `downsample(x)`), the residual add and a last ReLU, reporting torchvision's node names
/// (`conv1`, `bn1`, `relu`, …, `add`, `relu_N`). Without an active recorder nothing else holds
/// the intermediates, so ReLU and the add work in place, as torchvision's `ReLU(inplace=True)`
/// and `out += identity` do.
#[allow(clippy::too_many_arguments)]
fn block_forward(
    steps: &[(&str, &Conv2d, &str, &Norm)],
    relu: &ReLU,
    downsample: Option<&Sequential>,
    own_path: &str,
    xs: &Tensor,
    train: bool,
    rec: &mut Recorder,
    path: &str,
) -> Result<Tensor> {
    let at = |name: &str| join_path(path, name);
    let fast = !rec.is_active();
    let mut out = xs.shallow_clone();
    for (i, (conv_name, conv, norm_name, norm)) in steps.iter().enumerate() {
        if i > 0 {
            out = if fast {
                relu_(&join_path(own_path, "relu"), out)?
            } else {
                relu.try_forward_rec(&out, train, rec, &at("relu"))?
            };
        }
        out = conv.try_forward_rec(&out, train, rec, &at(conv_name))?;
        out = norm.try_forward_rec(&out, train, rec, &at(norm_name))?;
    }
    let identity = match downsample {
        Some(d) => d.try_forward_rec(xs, train, rec, &at("downsample"))?,
        None => xs.shallow_clone(),
    };
    if fast {
        return residual_relu_(&join_path(own_path, "add"), out, &identity);
    }
    let out = residual(&at("add"), &out, &identity)?;
    rec.record(&at("add"), &out);
    relu.try_forward_rec(&out, train, rec, &at("relu"))
}

fn residual(path: &str, out: &Tensor, identity: &Tensor) -> Result<Tensor> {
    out.f_add(identity).map_err(|e| Error::Forward {
        path: path.to_string(),
        kind: "add",
        input: out.size(),
        source: e.into(),
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
    /// The stride.
    pub stride: i64,
    path: String,
}

impl BasicBlock {
    /// torchvision's `BasicBlock(inplanes, planes, stride, downsample, groups, base_width,
    /// dilation, norm_layer)`.
    pub fn new(p: &Path, a: BlockArgs, downsample: Option<Sequential>) -> Result<Self> {
        let path = path_string(p);
        if a.groups != 1 || a.base_width != 64 {
            return Err(Error::InvalidArgument(format!(
                "{path} (BasicBlock): BasicBlock only supports groups=1 and base_width=64"
            )));
        }
        if a.dilation > 1 {
            return Err(Error::InvalidArgument(format!(
                "{path} (BasicBlock): Dilation > 1 not supported in BasicBlock"
            )));
        }
        let conv1 = conv3x3(&(p / "conv1"), a.inplanes, a.planes, a.stride, 1, 1)?;
        let bn1 = Norm::new(&(p / "bn1"), a.norm, a.planes)?;
        let relu = ReLU::new(&(p / "relu"))?;
        let conv2 = conv3x3(&(p / "conv2"), a.planes, a.planes, 1, 1, 1)?;
        let bn2 = Norm::new(&(p / "bn2"), a.norm, a.planes)?;
        Ok(BasicBlock { conv1, bn1, relu, conv2, bn2, downsample, stride: a.stride, path })
    }
}

impl Module for BasicBlock {
    fn kind(&self) -> ModuleKind {
        ModuleKind::Custom("BasicBlock")
    }
    fn try_forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        self.try_forward_rec(xs, train, &mut Recorder::disabled(), &self.path)
    }
    fn named_children(&self) -> Vec<(String, &dyn Module)> {
        let mut v: Vec<(String, &dyn Module)> = vec![
            ("conv1".into(), &self.conv1),
            ("bn1".into(), &self.bn1),
            ("relu".into(), &self.relu),
            ("conv2".into(), &self.conv2),
            ("bn2".into(), &self.bn2),
        ];
        if let Some(d) = &self.downsample {
            v.push(("downsample".into(), d));
        }
        v
    }
    fn try_forward_rec(&self, xs: &Tensor, train: bool, rec: &mut Recorder, path: &str) -> Result<Tensor> {
        let steps = [("conv1", &self.conv1, "bn1", &self.bn1), ("conv2", &self.conv2, "bn2", &self.bn2)];
        block_forward(&steps, &self.relu, self.downsample.as_ref(), &self.path, xs, train, rec, path)
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
    /// The stride.
    pub stride: i64,
    path: String,
}

impl Bottleneck {
    /// torchvision's `Bottleneck(inplanes, planes, stride, downsample, groups, base_width,
    /// dilation, norm_layer)`.
    pub fn new(p: &Path, a: BlockArgs, downsample: Option<Sequential>) -> Result<Self> {
        // torchvision: int(planes * (base_width / 64.0)) * groups
        let width = a.planes * a.base_width / 64 * a.groups;
        let out = a.planes * BlockKind::Bottleneck.expansion();
        let conv1 = conv1x1(&(p / "conv1"), a.inplanes, width, 1)?;
        let bn1 = Norm::new(&(p / "bn1"), a.norm, width)?;
        let conv2 = conv3x3(&(p / "conv2"), width, width, a.stride, a.groups, a.dilation)?;
        let bn2 = Norm::new(&(p / "bn2"), a.norm, width)?;
        let conv3 = conv1x1(&(p / "conv3"), width, out, 1)?;
        let bn3 = Norm::new(&(p / "bn3"), a.norm, out)?;
        let relu = ReLU::new(&(p / "relu"))?;
        Ok(Bottleneck { conv1, bn1, conv2, bn2, conv3, bn3, relu, downsample, stride: a.stride, path: path_string(p) })
    }
}

impl Module for Bottleneck {
    fn kind(&self) -> ModuleKind {
        ModuleKind::Custom("Bottleneck")
    }
    fn try_forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        self.try_forward_rec(xs, train, &mut Recorder::disabled(), &self.path)
    }
    fn named_children(&self) -> Vec<(String, &dyn Module)> {
        let mut v: Vec<(String, &dyn Module)> = vec![
            ("conv1".into(), &self.conv1),
            ("bn1".into(), &self.bn1),
            ("conv2".into(), &self.conv2),
            ("bn2".into(), &self.bn2),
            ("conv3".into(), &self.conv3),
            ("bn3".into(), &self.bn3),
            ("relu".into(), &self.relu),
        ];
        if let Some(d) = &self.downsample {
            v.push(("downsample".into(), d));
        }
        v
    }
    fn try_forward_rec(&self, xs: &Tensor, train: bool, rec: &mut Recorder, path: &str) -> Result<Tensor> {
        let steps = [
            ("conv1", &self.conv1, "bn1", &self.bn1),
            ("conv2", &self.conv2, "bn2", &self.bn2),
            ("conv3", &self.conv3, "bn3", &self.bn3),
        ];
        block_forward(&steps, &self.relu, self.downsample.as_ref(), &self.path, xs, train, rec, path)
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
/// a `downsample` when the shape changes. Updates `state` as torchvision updates `self`.
/// As torchvision, the downsample is created before the first block.
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
    let need_downsample = stride != 1 || state.inplanes != planes * expansion;
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
    let downsample = |p: &Path| -> Result<Option<Sequential>> {
        if !need_downsample {
            return Ok(None);
        }
        let seq = Sequential::builder(p / "downsample")
            .add(|p| conv1x1(p, first.inplanes, planes * expansion, stride))?
            .add(|p| Norm::new(p, cfg.norm, planes * expansion))?
            .build();
        Ok(Some(seq))
    };
    let seq = match cfg.block {
        BlockKind::Basic => stage(p, first, rest, blocks, downsample, BasicBlock::new)?,
        BlockKind::Bottleneck => stage(p, first, rest, blocks, downsample, Bottleneck::new)?,
    };
    state.inplanes = planes * expansion;
    Ok(seq)
}

type BlockFn<B> = fn(&Path, BlockArgs, Option<Sequential>) -> Result<B>;

fn stage<B: Module + 'static>(
    p: Path<'_>,
    first: BlockArgs,
    rest: BlockArgs,
    blocks: usize,
    downsample: impl FnOnce(&Path) -> Result<Option<Sequential>>,
    block: BlockFn<B>,
) -> Result<Sequential> {
    // torchvision creates the downsample before the first block (this fixes the RNG order).
    let mut builder = Sequential::builder(p).add(|p| {
        let ds = downsample(p)?;
        block(p, first, ds)
    })?;
    for _ in 1..blocks {
        builder = builder.add(|p| block(p, rest, None))?;
    }
    Ok(builder.build())
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
    feature_info: Vec<FeatureInfo>,
    path: String,
}

impl ResNet {
    /// Builds the network of `cfg` at `p` and initialises it as torchvision does.
    pub fn new(p: &Path, cfg: &ResNetConfig) -> Result<Self> {
        cfg.validate()?;
        let mut st = LayerState { inplanes: 64, dilation: 1 };
        let conv1 = Conv2d::new(&(p / "conv1"), 3, 64, 7, Conv2dConfig::default().stride(2).padding(3).bias(false))?;
        let bn1 = Norm::new(&(p / "bn1"), cfg.norm, 64)?;
        let relu = ReLU::new(&(p / "relu"))?;
        let maxpool = MaxPool2d::new(&(p / "maxpool"), 3, PoolConfig::default().stride(2).padding(1))?;
        let d = cfg.replace_stride_with_dilation;
        let layer1 = make_layer(p / "layer1", &mut st, cfg, 64, cfg.layers[0], 1, false)?;
        let layer2 = make_layer(p / "layer2", &mut st, cfg, 128, cfg.layers[1], 2, d[0])?;
        let layer3 = make_layer(p / "layer3", &mut st, cfg, 256, cfg.layers[2], 2, d[1])?;
        let layer4 = make_layer(p / "layer4", &mut st, cfg, 512, cfg.layers[3], 2, d[2])?;
        let avgpool = AdaptiveAvgPool2d::new(&(p / "avgpool"), 1)?;
        let fc = Linear::new(&(p / "fc"), 512 * cfg.block.expansion(), cfg.num_classes)?;

        let e = cfg.block.expansion();
        let mut feature_info = vec![FeatureInfo::new(64, 2, "relu")];
        let mut reduction = 4;
        for (i, planes) in [64, 128, 256, 512].into_iter().enumerate() {
            if i > 0 && !d[i - 1] {
                reduction *= 2;
            }
            feature_info.push(FeatureInfo::new(planes * e, reduction, &format!("layer{}", i + 1)));
        }

        let net = ResNet {
            conv1,
            bn1,
            relu,
            maxpool,
            layer1,
            layer2,
            layer3,
            layer4,
            avgpool,
            fc,
            config: *cfg,
            feature_info,
            path: path_string(p),
        };
        recipes::kaiming_fan_out(&net)?;
        if cfg.zero_init_residual {
            let _g = tch::no_grad_guard();
            for (_, m) in net.named_modules() {
                let last = match m.kind().name() {
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

    /// The stem and `layer1`…`layer4`: the last feature map, `[N, 512·expansion, H/32, W/32]`
    /// (less reduced with dilation).
    pub fn forward_features(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        self.features_rec(xs, train, &mut Recorder::disabled(), &self.path)
    }

    /// `avgpool`, flatten and `fc`: logits from the output of [`ResNet::forward_features`].
    pub fn forward_head(&self, features: &Tensor, train: bool) -> Result<Tensor> {
        self.head_rec(features, train, &mut Recorder::disabled(), &self.path)
    }

    fn features_rec(&self, xs: &Tensor, train: bool, rec: &mut Recorder, path: &str) -> Result<Tensor> {
        let at = |name: &str| join_path(path, name);
        let x = self.conv1.try_forward_rec(xs, train, rec, &at("conv1"))?;
        let x = self.bn1.try_forward_rec(&x, train, rec, &at("bn1"))?;
        let x = self.relu.try_forward_rec(&x, train, rec, &at("relu"))?;
        let mut x = self.maxpool.try_forward_rec(&x, train, rec, &at("maxpool"))?;
        for (i, layer) in self.layers().into_iter().enumerate() {
            x = layer.try_forward_rec(&x, train, rec, &at(&format!("layer{}", i + 1)))?;
        }
        Ok(x)
    }

    fn head_rec(&self, x: &Tensor, train: bool, rec: &mut Recorder, path: &str) -> Result<Tensor> {
        let at = |name: &str| join_path(path, name);
        let x = self.avgpool.try_forward_rec(x, train, rec, &at("avgpool"))?;
        let flat_path = at("flatten");
        let x = x.f_flatten(1, -1).map_err(|e| Error::Forward {
            path: flat_path.clone(),
            kind: "flatten",
            input: x.size(),
            source: e.into(),
        })?;
        rec.record(&flat_path, &x);
        self.fc.try_forward_rec(&x, train, rec, &at("fc"))
    }
}

impl Module for ResNet {
    fn kind(&self) -> ModuleKind {
        ModuleKind::Custom("ResNet")
    }
    fn try_forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        let x = self.forward_features(xs, train)?;
        self.forward_head(&x, train)
    }
    fn named_children(&self) -> Vec<(String, &dyn Module)> {
        vec![
            ("conv1".into(), &self.conv1 as &dyn Module),
            ("bn1".into(), &self.bn1),
            ("relu".into(), &self.relu),
            ("maxpool".into(), &self.maxpool),
            ("layer1".into(), &self.layer1),
            ("layer2".into(), &self.layer2),
            ("layer3".into(), &self.layer3),
            ("layer4".into(), &self.layer4),
            ("avgpool".into(), &self.avgpool),
            ("fc".into(), &self.fc),
        ]
    }
    fn try_forward_rec(&self, xs: &Tensor, train: bool, rec: &mut Recorder, path: &str) -> Result<Tensor> {
        let x = self.features_rec(xs, train, rec, path)?;
        self.head_rec(&x, train, rec, path)
    }
}

impl Model for ResNet {
    fn forward_features(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        ResNet::forward_features(self, xs, train)
    }
    fn forward_head(&self, features: &Tensor, train: bool) -> Result<Tensor> {
        ResNet::forward_head(self, features, train)
    }
    fn feature_info(&self) -> Vec<FeatureInfo> {
        self.feature_info.clone()
    }
    fn num_classes(&self) -> i64 {
        self.config.num_classes
    }
}

crate::impl_module_t!(BasicBlock, Bottleneck, ResNet, Norm);
