//! torchvision's MaxViT (Tu et al. 2022, "MaxViT: Multi-Axis Vision Transformer"), as
//! `torchvision/models/maxvit.py` builds it: `maxvit_t`.
//!
//! * The module tree is torchvision's, attribute for attribute: `stem` (two
//!   `Conv2dNormActivation`s), `blocks` (a ModuleList of [`MaxVitBlock`]s, each a ModuleList
//!   `layers` of [`MaxVitLayer`]s: `MBconv`, `window_attention`, `grid_attention`) and
//!   `classifier` (`AdaptiveAvgPool2d`, `Flatten`, `LayerNorm`, `Linear`, `Tanh`, `Linear`).
//!   [`MBConv`] is the inverted bottleneck with squeeze-and-excitation (`proj` shortcut,
//!   `stochastic_depth`, `layers`: `pre_norm`, `conv_a`, `conv_b`, `squeeze_excitation`,
//!   `conv_c`); [`PartitionAttentionLayer`] partitions the map into windows ("block"
//!   attention) or, with the axes swapped, into a dilated grid ("grid" attention), and runs
//!   [`RelativePositionalMultiHeadAttention`] (its `relative_position_bias_table` and
//!   `relative_position_index` buffer) and an MLP on each partition, each branch residual with
//!   stochastic depth. State-dict keys, order and shapes are torchvision's.
//! * The partition sizes are fixed when the model is built, from `input_size` (224×224 by
//!   default, the size of the published weights): as torchvision, the model runs only at that
//!   size, and a different input is refused with an error naming the size it was built for
//!   (build with the `input_size` option for another). Every block's input must divide into
//!   the partition size (7), as torchvision checks.
//! * Initialisation is torchvision's: modules are created in its order (the bias tables
//!   `trunc_normal_(std=0.02)`), then every Conv2d and Linear `normal_(std=0.02)` with zero
//!   bias and every BatchNorm2d weight 1 and bias 0; the same seed gives the same weights.
//!   BatchNorm2d has eps 1e-3 and momentum 0.01; the stochastic depth of the layers rises
//!   linearly (`np.linspace`) from 0 to 0.2.
//! * `feature_info`: `stem` (stride 2) and `blocks.0`…`blocks.3` (strides 4…32), NCHW.

use tch::{nn::Path, TchError, Tensor};

use crate::error::{Error, Result, TorchResultExt};
use crate::init;
use crate::models::api::{Model, ModelInfo, Options};
use crate::models::features::FeatureInfo;
use crate::models::swin_transformer::relative_position_index;
use crate::models::weights::Weights;
use crate::nn::*;
use crate::ops::{conv_norm_act, Act, ConvNormAct, DepthMode, NormKind, SqueezeExcitation, StochasticDepth};

/// The arguments of torchvision's `MaxVit(...)` (its `norm_layer` is BatchNorm2d with eps 1e-3
/// and momentum 0.01, its `activation_layer` GELU).
#[derive(Clone, Debug, PartialEq)]
pub struct MaxVitConfig {
    /// The input size `[H, W]` the partitions are computed for.
    pub input_size: [i64; 2],
    /// Channels of the stem.
    pub stem_channels: i64,
    /// Side of the attention windows / of the grid.
    pub partition_size: i64,
    /// Output channels of each block.
    pub block_channels: Vec<i64>,
    /// Layers of each block.
    pub block_layers: Vec<usize>,
    /// Channels per attention head.
    pub head_dim: i64,
    /// Stochastic depth of the last layer (linear from 0 over the layers).
    pub stochastic_depth_prob: f64,
    /// Squeeze-and-excitation width over the output channels.
    pub squeeze_ratio: f64,
    /// MBConv expansion.
    pub expansion_ratio: f64,
    /// Hidden width of the attention layers' MLP over the channels.
    pub mlp_ratio: i64,
    /// Dropout at the end of the MLP.
    pub mlp_dropout: f64,
    /// Dropout after the attention.
    pub attention_dropout: f64,
    /// Outputs of the classifier.
    pub num_classes: i64,
}

impl MaxVitConfig {
    /// `maxvit_t`: stem 64, blocks [64, 128, 256, 512] × [2, 2, 5, 2] layers, head_dim 32,
    /// stochastic depth 0.2, partition 7, input 224×224.
    pub fn maxvit_t() -> Self {
        MaxVitConfig {
            input_size: [224, 224],
            stem_channels: 64,
            partition_size: 7,
            block_channels: vec![64, 128, 256, 512],
            block_layers: vec![2, 2, 5, 2],
            head_dim: 32,
            stochastic_depth_prob: 0.2,
            squeeze_ratio: 0.25,
            expansion_ratio: 4.0,
            mlp_ratio: 4,
            mlp_dropout: 0.0,
            attention_dropout: 0.0,
            num_classes: 1000,
        }
    }
    /// Sets the number of classes.
    pub fn num_classes(mut self, n: i64) -> Self {
        self.num_classes = n;
        self
    }

    /// Refuses what torchvision refuses (with its message), or would fail on later.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidArgument(format!("MaxVit: {m}")));
        if self.input_size.iter().any(|&s| s <= 0) || self.partition_size <= 0 || self.stem_channels <= 0 {
            return bad(format!(
                "input_size {:?}, partition_size {} and stem_channels {} must be positive",
                self.input_size, self.partition_size, self.stem_channels
            ));
        }
        if self.block_channels.is_empty() || self.block_channels.len() != self.block_layers.len() {
            return bad(format!(
                "block_channels {:?} and block_layers {:?} need one entry per block",
                self.block_channels, self.block_layers
            ));
        }
        let sizes = block_input_sizes(self.input_size, self.block_channels.len());
        let tuple = |s: &[i64; 2]| format!("({}, {})", s[0], s[1]);
        for (idx, s) in sizes.iter().enumerate() {
            if s[0] % self.partition_size != 0 || s[1] % self.partition_size != 0 {
                let all: Vec<String> = sizes.iter().map(tuple).collect();
                return Err(Error::InvalidArgument(format!(
                    "MaxVit: Input size {} of block {idx} is not divisible by partition size {}. Consider changing \
                     the partition size or the input size.\nCurrent configuration yields the following block input \
                     sizes: [{}].",
                    tuple(s),
                    self.partition_size,
                    all.join(", ")
                )));
            }
            // The grid attention partitions with P = H / partition_size on both axes.
            let p = s[0] / self.partition_size;
            if s[1] % p != 0 {
                return bad(format!(
                    "Grid size must be divisible by partition size. Got grid size of {s:?} and partition size of {p}"
                ));
            }
        }
        for &c in &self.block_channels {
            if self.head_dim <= 0 || c % self.head_dim != 0 {
                return bad(format!("feat_dim: {c} must be divisible by head_dim: {}", self.head_dim));
            }
            if (c as f64 * self.expansion_ratio) < 1.0 || (c as f64 * self.squeeze_ratio) < 1.0 {
                return bad(format!(
                    "expansion_ratio {} / squeeze_ratio {} leave no channels",
                    self.expansion_ratio, self.squeeze_ratio
                ));
            }
        }
        if self.block_layers.contains(&0) || self.mlp_ratio <= 0 {
            return bad(format!("every block needs a layer (block_layers {:?}) and mlp_ratio > 0", self.block_layers));
        }
        for (name, p) in [
            ("stochastic_depth_prob", self.stochastic_depth_prob),
            ("mlp_dropout", self.mlp_dropout),
            ("attention_dropout", self.attention_dropout),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return bad(format!("{name} must lie in [0, 1], got {p}"));
            }
        }
        if self.num_classes < 0 {
            return bad(format!("num_classes must be non-negative, got {}", self.num_classes));
        }
        Ok(())
    }
}

/// torchvision's `_get_conv_output_shape` for a 3×3, stride 2, padding 1 convolution.
fn conv_out(s: [i64; 2]) -> [i64; 2] {
    [(s[0] - 3 + 2) / 2 + 1, (s[1] - 3 + 2) / 2 + 1]
}

/// torchvision's `_make_block_input_shapes`: the map size entering each block's first layer
/// (after its stride).
fn block_input_sizes(input: [i64; 2], n: usize) -> Vec<[i64; 2]> {
    let mut s = conv_out(input);
    (0..n)
        .map(|_| {
            s = conv_out(s);
            s
        })
        .collect()
}

/// `np.linspace(start, stop, num).tolist()`, with numpy's arithmetic (`i·step + start`, the
/// last value exactly `stop`).
fn linspace(start: f64, stop: f64, num: usize) -> Vec<f64> {
    if num == 1 {
        return vec![start];
    }
    let step = (stop - start) / (num - 1) as f64;
    let mut v: Vec<f64> = (0..num).map(|i| i as f64 * step + start).collect();
    if let Some(last) = v.last_mut() {
        *last = stop;
    }
    v
}

fn norm() -> NormKind {
    NormKind::BatchNorm2dWith { eps: 1e-3, momentum: 0.01 }
}

/// torchvision's `MBConv`: `proj(x) + stochastic_depth(layers(x))`, with `layers` =
/// BatchNorm, 1×1 expansion (conv-norm-GELU), depthwise 3×3 with the stride (conv-norm-GELU),
/// squeeze-and-excitation (SiLU), 1×1 projection; `proj` is AvgPool(3, 2, 1) + 1×1 conv when the
/// shape changes, else Identity.
#[derive(Debug)]
pub struct MBConv {
    /// The shortcut.
    pub proj: Box<dyn Module>,
    /// StochasticDepth (row), or Identity when its probability is 0.
    pub stochastic_depth: Box<dyn Module>,
    /// `pre_norm`, `conv_a`, `conv_b`, `squeeze_excitation`, `conv_c`.
    pub layers: Sequential,
}
crate::module!(MBConv, [proj, stochastic_depth, layers]);

impl MBConv {
    /// `MBConv(in_channels, out_channels, expansion_ratio, squeeze_ratio, stride, GELU,
    /// BatchNorm2d(eps=1e-3, momentum=0.01), p_stochastic_dropout)`.
    pub fn new(p: &Path, cin: i64, cout: i64, cfg: &MaxVitConfig, stride: i64, p_sd: f64) -> Result<Self> {
        let proj: Box<dyn Module> = if stride != 1 || cin != cout {
            let mut b = Sequential::builder(p / "proj");
            if stride == 2 {
                b = b.add(|p| AvgPool2d::new(p, 3, PoolConfig::default().stride(stride).padding(1)))?;
            }
            Box::new(b.add(|p| Conv2d::new(p, cin, cout, 1, Conv2dConfig::default()))?.build())
        } else {
            Box::new(Identity::new(&(p / "proj"))?)
        };
        let mid = (cout as f64 * cfg.expansion_ratio) as i64;
        let sqz = (cout as f64 * cfg.squeeze_ratio) as i64;
        let stochastic_depth: Box<dyn Module> = if p_sd != 0.0 {
            Box::new(StochasticDepth::new(&(p / "stochastic_depth"), p_sd, DepthMode::Row)?)
        } else {
            Box::new(Identity::new(&(p / "stochastic_depth"))?)
        };
        let cna = |cin, cout, k| ConvNormAct::new(cin, cout, k).norm(Some(norm())).act(Some(Act::GELU));
        let layers = Sequential::builder(p / "layers")
            .add_named("pre_norm", |p| {
                BatchNorm2d::new(p, cin, BatchNormConfig { eps: 1e-3, momentum: Some(0.01), ..Default::default() })
            })?
            .add_named("conv_a", |p| conv_norm_act(p.clone(), cna(cin, mid, 1).padding(0)))?
            .add_named("conv_b", |p| conv_norm_act(p.clone(), cna(mid, mid, 3).stride(stride).padding(1).groups(mid)))?
            .add_named("squeeze_excitation", |p| SqueezeExcitation::new(p, mid, sqz, Act::SiLU, Act::Sigmoid))?
            .add_named("conv_c", |p| Conv2d::new(p, mid, cout, 1, Conv2dConfig::default()))?
            .build();
        Ok(MBConv { proj, stochastic_depth, layers })
    }

    fn forward(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        let res = c.call(&self.proj, x)?;
        let y = c.chain(&[&self.layers, &self.stochastic_depth], x)?;
        c.add(&res, &y)
    }
}

/// torchvision's `RelativePositionalMultiHeadAttention`: multi-head self-attention over the `P`
/// tokens of each partition of a `[B, G, P, D]` input, keys scaled by `D^-0.5`, with a
/// learned relative position bias gathered by `relative_position_index`.
#[derive(Debug)]
pub struct RelativePositionalMultiHeadAttention {
    /// `D → 3·D`, with bias.
    pub to_qkv: Linear,
    /// `D → D`, with bias.
    pub merge: Linear,
    /// `[(2s−1)², heads]` (s = √max_seq_len).
    pub relative_position_bias_table: Tensor,
    /// The int64 buffer `[s², s²]`.
    pub relative_position_index: Tensor,
    /// Heads.
    pub n_heads: i64,
    /// Channels per head.
    pub head_dim: i64,
    /// Tokens per partition (`partition_size²`).
    pub max_seq_len: i64,
    path: String,
}

impl RelativePositionalMultiHeadAttention {
    /// `RelativePositionalMultiHeadAttention(feat_dim, head_dim, max_seq_len)`.
    pub fn new(p: &Path, feat_dim: i64, head_dim: i64, max_seq_len: i64) -> Result<Self> {
        let path = path_string(p);
        if head_dim <= 0 || feat_dim % head_dim != 0 {
            return Err(Error::InvalidArgument(format!(
                "{path}: feat_dim: {feat_dim} must be divisible by head_dim: {head_dim}"
            )));
        }
        let n_heads = feat_dim / head_dim;
        let size = (max_seq_len as f64).sqrt() as i64;
        let to_qkv = Linear::new(&(p / "to_qkv"), feat_dim, n_heads * head_dim * 3)?;
        let merge = Linear::new(&(p / "merge"), head_dim * n_heads, feat_dim)?;
        let mut table = empty(p, &[(2 * size - 1) * (2 * size - 1), n_heads])?;
        let index = Tensor::from_slice(&relative_position_index(size, size)).f_view([size * size, size * size]);
        let index = index.ctx(format!("{path}: relative_position_index"))?.to_device(p.device());
        init::trunc_normal_(&mut table, 0.0, 0.02, -2.0, 2.0)?;
        Ok(RelativePositionalMultiHeadAttention {
            to_qkv,
            merge,
            relative_position_bias_table: register(p, "relative_position_bias_table", table, true)?,
            relative_position_index: register(p, "relative_position_index", index, false)?,
            n_heads,
            head_dim,
            max_seq_len,
            path,
        })
    }

    /// The bias `[1, heads, P, P]`.
    pub fn get_relative_positional_bias(&self) -> std::result::Result<Tensor, TchError> {
        let index = self.relative_position_index.f_view([-1])?;
        let bias = self.relative_position_bias_table.f_index_select(0, &index)?;
        let bias = bias.f_view([self.max_seq_len, self.max_seq_len, -1])?.f_permute([2, 0, 1])?.f_contiguous()?;
        bias.f_unsqueeze(0)
    }

    fn forward(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        let s = x.size();
        let d = self.n_heads * self.head_dim;
        if s.len() != 4 || s[2] != self.max_seq_len || s[3] != d {
            return Err(Error::InputShape {
                path: self.path.clone(),
                kind: "RelativePositionalMultiHeadAttention",
                expected: format!("[B, G, {}, {d}]", self.max_seq_len),
                actual: s,
            });
        }
        let (b, g, p) = (s[0], s[1], s[2]);
        let (h, dh) = (self.n_heads, self.head_dim);
        let qkv = c.call(&self.to_qkv, x)?;
        let out = c.op("einsum", &qkv, || {
            let qkv = qkv.f_chunk(3, -1)?;
            let heads = |t: &Tensor| t.f_reshape([b, g, p, h, dh])?.f_permute([0, 1, 3, 2, 4]);
            let (q, k, v) = (heads(&qkv[0])?, heads(&qkv[1])?, heads(&qkv[2])?);
            let k = k.f_mul_scalar((d as f64).powf(-0.5))?;
            let dot = Tensor::f_einsum("B G H I D, B G H J D -> B G H I J", &[q, k], None::<&[i64]>)?;
            let dot = dot.f_add(&self.get_relative_positional_bias()?)?.f_softmax(-1, None::<tch::Kind>)?;
            let out = Tensor::f_einsum("B G H I J, B G H J D -> B G H I D", &[dot, v], None::<&[i64]>)?;
            out.f_permute([0, 1, 3, 2, 4])?.f_reshape([b, g, p, d])
        })?;
        c.call(&self.merge, &out)
    }
}

impl Module for RelativePositionalMultiHeadAttention {
    fn kind(&self) -> ModuleKind {
        ModuleKind::Custom("RelativePositionalMultiHeadAttention")
    }
    fn try_forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        let mut rec = Recorder::disabled();
        self.forward(xs, &mut Ctx::new(self, &mut rec, "", train))
    }
    fn try_forward_rec(&self, xs: &Tensor, train: bool, rec: &mut Recorder, path: &str) -> Result<Tensor> {
        self.forward(xs, &mut Ctx::new(self, rec, path, train))
    }
    fn named_children(&self) -> Vec<(String, &dyn Module)> {
        vec![("to_qkv".into(), &self.to_qkv), ("merge".into(), &self.merge)]
    }
    fn own_parameters(&self) -> Vec<(&'static str, &Tensor)> {
        vec![("relative_position_bias_table", &self.relative_position_bias_table)]
    }
    fn own_buffers(&self) -> Vec<(&'static str, &Tensor)> {
        vec![("relative_position_index", &self.relative_position_index)]
    }
}

/// torchvision's `WindowPartition` (with its partition count `p`, which torchvision passes at
/// call time): `[B, C, H, W]` → `[B, H/p · W/p, p², C]`.
#[derive(Debug)]
pub struct WindowPartition {
    /// Side of a partition.
    pub p: i64,
}
crate::module!(WindowPartition, []);

impl WindowPartition {
    fn forward(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        let s = x.size();
        if s.len() != 4 || s[2] % self.p != 0 || s[3] % self.p != 0 {
            return Err(Error::InputShape {
                path: c.path().to_string(),
                kind: "WindowPartition",
                expected: format!("[B, C, H, W] with H and W divisible by {}", self.p),
                actual: s,
            });
        }
        let (b, ch, h, w, p) = (s[0], s[1], s[2], s[3], self.p);
        c.op("reshape", x, || {
            let x = x.f_reshape([b, ch, h / p, p, w / p, p])?.f_permute([0, 2, 4, 3, 5, 1])?;
            x.f_reshape([b, (h / p) * (w / p), p * p, ch])
        })
    }
}

/// torchvision's `WindowDepartition` (with the partition side and counts it receives at call
/// time): `[B, hp · wp, p², C]` → `[B, C, hp · p, wp · p]`.
#[derive(Debug)]
pub struct WindowDepartition {
    /// Side of a partition.
    pub p: i64,
    /// Partitions along H.
    pub h_partitions: i64,
    /// Partitions along W.
    pub w_partitions: i64,
}
crate::module!(WindowDepartition, []);

impl WindowDepartition {
    fn forward(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        let s = x.size();
        let (p, hp, wp) = (self.p, self.h_partitions, self.w_partitions);
        if s.len() != 4 || s[1] != hp * wp || s[2] != p * p {
            return Err(Error::InputShape {
                path: c.path().to_string(),
                kind: "WindowDepartition",
                expected: format!("[B, {}, {}, C]", hp * wp, p * p),
                actual: s,
            });
        }
        let (b, ch) = (s[0], s[3]);
        c.op("reshape", x, || {
            let x = x.f_reshape([b, hp, wp, p, p, ch])?.f_permute([0, 5, 1, 3, 2, 4])?;
            x.f_reshape([b, ch, hp * p, wp * p])
        })
    }
}

/// torchvision's `SwapAxes(a, b)`: `torch.swapaxes(x, a, b)`.
#[derive(Debug)]
pub struct SwapAxes {
    /// First axis.
    pub a: i64,
    /// Second axis.
    pub b: i64,
}
crate::module!(SwapAxes, []);

impl SwapAxes {
    fn forward(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        c.op("swapaxes", x, || x.f_swapaxes(self.a, self.b))
    }
}

/// Which partitioning a [`PartitionAttentionLayer`] does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartitionType {
    /// Local windows of `partition_size²` neighbouring pixels ("block" attention).
    Window,
    /// A `partition_size²` grid of pixels spread over the whole map ("grid" attention).
    Grid,
}

/// torchvision's `PartitionAttentionLayer`: partition (and, for the grid, swap the axes),
/// `x + sd(attn_layer(x))`, `x + sd(mlp_layer(x))`, swap back and departition.
#[derive(Debug)]
pub struct PartitionAttentionLayer {
    /// `[B, C, H, W]` → `[B, G, P, C]`.
    pub partition_op: WindowPartition,
    /// Back to `[B, C, H, W]`.
    pub departition_op: WindowDepartition,
    /// SwapAxes(−2, −3) for the grid, Identity for windows.
    pub partition_swap: Box<dyn Module>,
    /// SwapAxes(−2, −3) for the grid, Identity for windows.
    pub departition_swap: Box<dyn Module>,
    /// `Sequential(LayerNorm, RelativePositionalMultiHeadAttention, Dropout)`.
    pub attn_layer: Sequential,
    /// `Sequential(LayerNorm, Linear, GELU, Linear, Dropout)`.
    pub mlp_layer: Sequential,
    /// Row-mode stochastic depth on both branches.
    pub stochastic_dropout: StochasticDepth,
}
crate::module!(
    PartitionAttentionLayer,
    [partition_op, departition_op, partition_swap, departition_swap, attn_layer, mlp_layer, stochastic_dropout]
);

impl PartitionAttentionLayer {
    /// `PartitionAttentionLayer(in_channels, head_dim, partition_size, partition_type,
    /// grid_size, mlp_ratio, GELU, LayerNorm, attention_dropout, mlp_dropout,
    /// p_stochastic_dropout)`.
    pub fn new(p: &Path, c: i64, cfg: &MaxVitConfig, kind: PartitionType, grid: [i64; 2], p_sd: f64) -> Result<Self> {
        let n_partitions = grid[0] / cfg.partition_size;
        let (pp, _g) = match kind {
            PartitionType::Window => (cfg.partition_size, n_partitions),
            PartitionType::Grid => (n_partitions, cfg.partition_size),
        };
        if pp <= 0 || grid[0] % pp != 0 || grid[1] % pp != 0 {
            return Err(Error::InvalidArgument(format!(
                "{}: Grid size must be divisible by partition size. Got grid size of {grid:?} and partition size of {pp}",
                path_string(p)
            )));
        }
        let swap = |p: &Path| -> Result<Box<dyn Module>> {
            Ok(match kind {
                PartitionType::Grid => Box::new(SwapAxes { a: -2, b: -3 }),
                PartitionType::Window => Box::new(Identity::new(p)?),
            })
        };
        let attn_layer = Sequential::builder(p / "attn_layer")
            .add(|p| LayerNorm::new(p, &[c]))?
            .add(|p| {
                RelativePositionalMultiHeadAttention::new(p, c, cfg.head_dim, cfg.partition_size * cfg.partition_size)
            })?
            .add(|p| Dropout::new(p, cfg.attention_dropout))?
            .build();
        let hidden = c * cfg.mlp_ratio;
        let mlp_layer = Sequential::builder(p / "mlp_layer")
            .add(|p| LayerNorm::new(p, &[c]))?
            .add(|p| Linear::new(p, c, hidden))?
            .add(GELU::new)?
            .add(|p| Linear::new(p, hidden, c))?
            .add(|p| Dropout::new(p, cfg.mlp_dropout))?
            .build();
        Ok(PartitionAttentionLayer {
            partition_op: WindowPartition { p: pp },
            departition_op: WindowDepartition { p: pp, h_partitions: grid[0] / pp, w_partitions: grid[1] / pp },
            partition_swap: swap(&(p / "partition_swap"))?,
            departition_swap: swap(&(p / "departition_swap"))?,
            attn_layer,
            mlp_layer,
            stochastic_dropout: StochasticDepth::new(&(p / "stochastic_dropout"), p_sd, DepthMode::Row)?,
        })
    }

    fn forward(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        let x = c.chain(&[&self.partition_op, &self.partition_swap], x)?;
        let y = c.chain(&[&self.attn_layer, &self.stochastic_dropout], &x)?;
        let x = c.add(&x, &y)?;
        let y = c.chain(&[&self.mlp_layer, &self.stochastic_dropout], &x)?;
        let x = c.add(&x, &y)?;
        c.chain(&[&self.departition_swap, &self.departition_op], &x)
    }
}

/// torchvision's `MaxVitLayer`: `layers` = `MBconv`, `window_attention`, `grid_attention`.
#[derive(Debug)]
pub struct MaxVitLayer {
    /// The three steps, by name.
    pub layers: Sequential,
}
crate::module!(MaxVitLayer, [layers]);

impl MaxVitLayer {
    /// One layer: `cin → cout` with `stride`, attention on the `grid` (the map size after the
    /// stride).
    pub fn new(
        p: &Path,
        cin: i64,
        cout: i64,
        cfg: &MaxVitConfig,
        stride: i64,
        grid: [i64; 2],
        p_sd: f64,
    ) -> Result<Self> {
        let layers = Sequential::builder(p / "layers")
            .add_named("MBconv", |p| MBConv::new(p, cin, cout, cfg, stride, p_sd))?
            .add_named("window_attention", |p| {
                PartitionAttentionLayer::new(p, cout, cfg, PartitionType::Window, grid, p_sd)
            })?
            .add_named("grid_attention", |p| {
                PartitionAttentionLayer::new(p, cout, cfg, PartitionType::Grid, grid, p_sd)
            })?
            .build();
        Ok(MaxVitLayer { layers })
    }
    fn forward(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        c.call(&self.layers, x)
    }
}

/// torchvision's `MaxVitBlock`: a ModuleList `layers` of [`MaxVitLayer`]s, the first with
/// stride 2.
#[derive(Debug)]
pub struct MaxVitBlock {
    /// The layers (class `ModuleList`).
    pub layers: Sequential,
    /// The map size inside the block.
    pub grid_size: [i64; 2],
}
crate::module!(MaxVitBlock, [layers]);

impl MaxVitBlock {
    /// A block of `p_stochastic.len()` layers on an input map of `input_grid`.
    pub fn new(
        p: &Path,
        cin: i64,
        cout: i64,
        cfg: &MaxVitConfig,
        input_grid: [i64; 2],
        p_stochastic: &[f64],
    ) -> Result<Self> {
        let grid_size = conv_out(input_grid);
        let mut layers = Sequential::subclass(p / "layers", "ModuleList");
        for (idx, &p_sd) in p_stochastic.iter().enumerate() {
            let (cin, stride) = if idx == 0 { (cin, 2) } else { (cout, 1) };
            layers = layers.add(|p| MaxVitLayer::new(p, cin, cout, cfg, stride, grid_size, p_sd))?;
        }
        Ok(MaxVitBlock { layers: layers.build(), grid_size })
    }
    fn forward(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        c.call(&self.layers, x)
    }
}

/// torchvision's `MaxVit`.
#[derive(Debug)]
pub struct MaxVit {
    /// 3×3 stride-2 conv-norm-GELU, then a 3×3 conv with bias.
    pub stem: Sequential,
    /// The blocks (class `ModuleList`).
    pub blocks: Sequential,
    /// Pool, flatten, LayerNorm, Linear, Tanh, Linear (no bias).
    pub classifier: Sequential,
    /// The configuration it was built from.
    pub config: MaxVitConfig,
}
crate::module!(MaxVit, [stem, blocks, classifier]);

impl MaxVit {
    /// Builds the network of `cfg` at `p` and initialises it as torchvision does.
    pub fn new(p: &Path, cfg: &MaxVitConfig) -> Result<Self> {
        cfg.validate()?;
        let s = cfg.stem_channels;
        let stem = Sequential::builder(p / "stem")
            .add(|p| {
                let a = ConvNormAct::new(3, s, 3).stride(2).norm(Some(norm())).act(Some(Act::GELU)).bias(false);
                conv_norm_act(p.clone(), a)
            })?
            .add(|p| conv_norm_act(p.clone(), ConvNormAct::new(s, s, 3).norm(None).act(None).bias(true)))?
            .build();
        let mut grid = conv_out(cfg.input_size);
        let p_stochastic = linspace(0.0, cfg.stochastic_depth_prob, cfg.block_layers.iter().sum());
        let mut blocks = Sequential::subclass(p / "blocks", "ModuleList");
        let (mut cin, mut p_idx) = (s, 0);
        for (&cout, &n) in cfg.block_channels.iter().zip(&cfg.block_layers) {
            let block = MaxVitBlock::new(&blocks.next_path(), cin, cout, cfg, grid, &p_stochastic[p_idx..p_idx + n])?;
            grid = block.grid_size;
            blocks = blocks.push(Box::new(block));
            (cin, p_idx) = (cout, p_idx + n);
        }
        let last = *cfg.block_channels.last().unwrap_or(&s);
        let classifier = Sequential::builder(p / "classifier")
            .add(|p| AdaptiveAvgPool2d::new(p, 1))?
            .add(Flatten::new)?
            .add(|p| LayerNorm::new(p, &[last]))?
            .add(|p| Linear::new(p, last, last))?
            .add(Tanh::new)?
            .add(|p| Linear::with_bias(p, last, cfg.num_classes, false))?
            .build();
        let net = MaxVit { stem, blocks: blocks.build(), classifier, config: cfg.clone() };
        let _g = tch::no_grad_guard();
        for (_, m) in net.named_modules() {
            match m.kind() {
                ModuleKind::Conv2d | ModuleKind::Linear => {
                    if let Some(mut w) = m.parameter("weight") {
                        init::normal_(&mut w, 0.0, 0.02)?;
                    }
                    if let Some(mut b) = m.parameter("bias") {
                        init::zeros_(&mut b)?;
                    }
                }
                ModuleKind::BatchNorm2d => {
                    if let Some(mut w) = m.parameter("weight") {
                        init::constant_(&mut w, 1.0)?;
                    }
                    if let Some(mut b) = m.parameter("bias") {
                        init::constant_(&mut b, 0.0)?;
                    }
                }
                _ => {}
            }
        }
        Ok(net)
    }

    fn trunk(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        let s = x.size();
        let [h, w] = self.config.input_size;
        if s.len() != 4 || s[1] != 3 || s[2] != h || s[3] != w {
            return Err(Error::InputShape {
                path: c.path().to_string(),
                kind: "MaxVit",
                expected: format!(
                    "[N, 3, {h}, {w}] (the partitions are fixed for the input_size it was built with; build with \
                     input_size=H,W for another size)"
                ),
                actual: s,
            });
        }
        c.chain(&[&self.stem, &self.blocks], x)
    }

    fn forward(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        let x = self.trunk(x, c)?;
        c.call(&self.classifier, &x)
    }
}

impl Model for MaxVit {
    fn forward_features(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        Ctx::run(self, train, |c| self.trunk(xs, c))
    }
    fn forward_head(&self, features: &Tensor, train: bool) -> Result<Tensor> {
        Ctx::run(self, train, |c| c.call(&self.classifier, features))
    }
    fn feature_info(&self) -> Vec<FeatureInfo> {
        let c = &self.config;
        let mut v = vec![FeatureInfo::new(c.stem_channels, 2, "stem")];
        for (i, &ch) in c.block_channels.iter().enumerate() {
            v.push(FeatureInfo::new(ch, 4 << i, &format!("blocks.{i}")));
        }
        v
    }
    fn num_classes(&self) -> i64 {
        self.config.num_classes
    }
}

fn build(p: &Path, o: &Options) -> Result<Box<dyn Model>> {
    let mut cfg = MaxVitConfig::maxvit_t();
    cfg.num_classes = o.num_classes.unwrap_or(cfg.num_classes);
    o.apply("input_size", &mut cfg.input_size)?;
    o.apply("squeeze_ratio", &mut cfg.squeeze_ratio)?;
    o.apply("expansion_ratio", &mut cfg.expansion_ratio)?;
    o.apply("mlp_ratio", &mut cfg.mlp_ratio)?;
    o.apply("mlp_dropout", &mut cfg.mlp_dropout)?;
    o.apply("attention_dropout", &mut cfg.attention_dropout)?;
    Ok(Box::new(MaxVit::new(p, &cfg)?))
}

/// The family's registry entries.
pub const MODELS: &[ModelInfo] = &[ModelInfo {
    options: &["input_size", "squeeze_ratio", "expansion_ratio", "mlp_ratio", "mlp_dropout", "attention_dropout"],
    weights: MAXVIT_T_WEIGHTS,
    ..ModelInfo::classifier("maxvit_t", "maxvit", 30919624, build)
}];

/// torchvision's `MaxVit_T_Weights` (its builder sets `input_size` to the weights' `min_size`).
const MAXVIT_T_WEIGHTS: &[Weights] = &[Weights::imagenet(
    "maxvit_t",
    "IMAGENET1K_V1",
    "maxvit_t-bc5ab103.pth",
    30919624,
    [83.7, 96.722],
    5.558,
    118.769,
    [224, 224],
)
.bicubic()
.default()
.overrides(&[("input_size", "224,224")])];
