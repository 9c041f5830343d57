//! torchvision's Swin Transformers: Swin V1 (Liu et al. 2021, "Swin Transformer: Hierarchical
//! Vision Transformer using Shifted Windows") and Swin V2 (Liu et al. 2022, "Swin Transformer
//! V2: Scaling Up Capacity and Resolution"), as `torchvision/models/swin_transformer.py` builds
//! them: `swin_t`, `swin_s`, `swin_b`, `swin_v2_t`, `swin_v2_s`, `swin_v2_b`.
//!
//! * The module tree is torchvision's, attribute for attribute: `features` (a Sequential of the
//!   patch embedding `Sequential(Conv2d, Permute, LayerNorm)`, the stages — Sequentials of
//!   [`SwinTransformerBlock`]s — and a [`PatchMerging`] / [`PatchMergingV2`] between stages),
//!   then `norm`, `permute`, `avgpool`, `flatten`, `head`. The attention
//!   ([`ShiftedWindowAttention`]) holds `relative_position_bias_table` (V1) or `logit_scale`,
//!   the `cpb_mlp` and the `relative_coords_table` buffer (V2), and the
//!   `relative_position_index` buffer, in torchvision's order, so its checkpoints load as they
//!   are.
//! * [`shifted_window_attention`] is torchvision's function of that name, step for step: pad
//!   the map to multiples of the window, cyclic shift (none on an axis the padded map does not
//!   exceed the window on), window partition, attention (scaled dot product, or V2's cosine
//!   attention with the clamped logit scale), relative position bias, the shifted-window mask
//!   painted with Python's slice rules (so the one-axis shift of a map exactly one window high
//!   masks as torchvision does), softmax, reverse partition, reverse shift, unpad.
//! * Feature maps: the blocks work on **NHWC token maps** `[N, H, W, C]`, and the
//!   `feature_info` stages (`features.1`, `features.3`, `features.5`, `features.7`) are
//!   reported exactly as torchvision's modules output them — NHWC, not permuted — marked
//!   [`Layout::Nhwc`]; `forward_features` returns the normed NHWC map of the last stage.
//! * Initialisation is torchvision's: modules are created in its order (each Linear and Conv
//!   drawing torch's `reset_parameters`, the V1 bias table `trunc_normal_(std=0.02)`), each
//!   block's MLP gets `xavier_uniform_` weights and `normal_(std=1e-6)` biases, then every
//!   Linear `trunc_normal_(std=0.02)` with zero bias; the same seed gives the same weights.
//! * Any input size works (the windows pad), as in torchvision; the published weights were
//!   trained at 224 (V1) and 256 (V2), bicubic resize.

use std::cell::Cell;
use tch::{nn::Path, Kind, TchError, Tensor};

use crate::error::{Error, Result, TorchResultExt};
use crate::init;
use crate::models::api::{Model, ModelInfo, Options};
use crate::models::features::{FeatureInfo, Layout};
use crate::models::weights::Weights;
use crate::nn::*;
use crate::ops::{mlp, Act, DepthMode, Permute, StochasticDepth};

/// Which Swin: the block ([`SwinTransformerBlock`] or its V2 form) and the patch merging.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SwinVersion {
    /// Swin V1: pre-norm blocks, scaled dot-product attention with a learned bias table,
    /// [`PatchMerging`].
    V1,
    /// Swin V2: post-norm blocks, cosine attention with `logit_scale`, the continuous position
    /// bias MLP `cpb_mlp`, [`PatchMergingV2`].
    V2,
}

/// The arguments of torchvision's `SwinTransformer(...)`.
#[derive(Clone, Debug, PartialEq)]
pub struct SwinConfig {
    /// Patch size of the embedding convolution (its kernel and stride).
    pub patch_size: [i64; 2],
    /// Channels of the first stage (doubled at each stage).
    pub embed_dim: i64,
    /// Blocks per stage.
    pub depths: Vec<usize>,
    /// Attention heads per stage.
    pub num_heads: Vec<i64>,
    /// Window size.
    pub window_size: [i64; 2],
    /// Hidden width of the MLP over the channels.
    pub mlp_ratio: f64,
    /// Dropout after the attention projection and in the MLP.
    pub dropout: f64,
    /// Dropout on the attention weights.
    pub attention_dropout: f64,
    /// Stochastic depth of the last block (linear from 0 over the blocks).
    pub stochastic_depth_prob: f64,
    /// Outputs of `head`.
    pub num_classes: i64,
    /// V1 or V2 blocks and patch merging.
    pub version: SwinVersion,
}

impl SwinConfig {
    fn new(embed_dim: i64, depths: [usize; 4], heads: [i64; 4], window: i64, sd: f64, version: SwinVersion) -> Self {
        SwinConfig {
            patch_size: [4, 4],
            embed_dim,
            depths: depths.to_vec(),
            num_heads: heads.to_vec(),
            window_size: [window, window],
            mlp_ratio: 4.0,
            dropout: 0.0,
            attention_dropout: 0.0,
            stochastic_depth_prob: sd,
            num_classes: 1000,
            version,
        }
    }
    /// `swin_t`: 96, [2, 2, 6, 2], heads [3, 6, 12, 24], window 7, stochastic depth 0.2.
    pub fn swin_t() -> Self {
        Self::new(96, [2, 2, 6, 2], [3, 6, 12, 24], 7, 0.2, SwinVersion::V1)
    }
    /// `swin_s`: 96, [2, 2, 18, 2], heads [3, 6, 12, 24], window 7, stochastic depth 0.3.
    pub fn swin_s() -> Self {
        Self::new(96, [2, 2, 18, 2], [3, 6, 12, 24], 7, 0.3, SwinVersion::V1)
    }
    /// `swin_b`: 128, [2, 2, 18, 2], heads [4, 8, 16, 32], window 7, stochastic depth 0.5.
    pub fn swin_b() -> Self {
        Self::new(128, [2, 2, 18, 2], [4, 8, 16, 32], 7, 0.5, SwinVersion::V1)
    }
    /// `swin_v2_t`: 96, [2, 2, 6, 2], heads [3, 6, 12, 24], window 8, stochastic depth 0.2.
    pub fn swin_v2_t() -> Self {
        Self::new(96, [2, 2, 6, 2], [3, 6, 12, 24], 8, 0.2, SwinVersion::V2)
    }
    /// `swin_v2_s`: 96, [2, 2, 18, 2], heads [3, 6, 12, 24], window 8, stochastic depth 0.3.
    pub fn swin_v2_s() -> Self {
        Self::new(96, [2, 2, 18, 2], [3, 6, 12, 24], 8, 0.3, SwinVersion::V2)
    }
    /// `swin_v2_b`: 128, [2, 2, 18, 2], heads [4, 8, 16, 32], window 8, stochastic depth 0.5.
    pub fn swin_v2_b() -> Self {
        Self::new(128, [2, 2, 18, 2], [4, 8, 16, 32], 8, 0.5, SwinVersion::V2)
    }
    /// Sets the number of classes.
    pub fn num_classes(mut self, n: i64) -> Self {
        self.num_classes = n;
        self
    }

    /// Refuses what torchvision refuses or would fail on later (with its message where it has
    /// one).
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidArgument(format!("SwinTransformer: {m}")));
        if self.depths.is_empty() || self.depths.len() != self.num_heads.len() {
            return bad(format!(
                "depths {:?} and num_heads {:?} need one entry per stage",
                self.depths, self.num_heads
            ));
        }
        if self.depths.iter().sum::<usize>() < 2 {
            return bad(format!("needs at least two blocks in all (depths {:?})", self.depths));
        }
        if self.patch_size.iter().chain(&self.window_size).any(|&s| s <= 0) || self.embed_dim <= 0 {
            return bad(format!(
                "patch_size {:?}, window_size {:?} and embed_dim {} must be positive",
                self.patch_size, self.window_size, self.embed_dim
            ));
        }
        for (i, &h) in self.num_heads.iter().enumerate() {
            let dim = self.embed_dim << i;
            if h <= 0 || dim % h != 0 {
                return bad(format!("stage {i}: {dim} channels do not split into {h} heads"));
            }
        }
        for (name, p) in [
            ("dropout", self.dropout),
            ("attention_dropout", self.attention_dropout),
            ("stochastic_depth_prob", self.stochastic_depth_prob),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return bad(format!("{name} must lie in [0, 1], got {p}"));
            }
        }
        if self.mlp_ratio.is_nan() || (self.embed_dim as f64 * self.mlp_ratio) < 1.0 {
            return bad(format!("mlp_ratio {} leaves no hidden units", self.mlp_ratio));
        }
        if self.num_classes < 0 {
            return bad(format!("num_classes must be non-negative, got {}", self.num_classes));
        }
        Ok(())
    }
}

/// The arguments of torchvision's `SwinTransformerBlock(...)` (and of its attention).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SwinBlockArgs {
    /// Channels.
    pub dim: i64,
    /// Attention heads.
    pub num_heads: i64,
    /// Window size.
    pub window_size: [i64; 2],
    /// Cyclic shift (0 or half the window on alternate blocks).
    pub shift_size: [i64; 2],
    /// Hidden width of the MLP over `dim`.
    pub mlp_ratio: f64,
    /// Dropout after the projection and in the MLP.
    pub dropout: f64,
    /// Dropout on the attention weights.
    pub attention_dropout: f64,
    /// The block's stochastic depth.
    pub stochastic_depth_prob: f64,
    /// V1 or V2.
    pub version: SwinVersion,
}

/// Python's `seq[start:end]` bounds on a sequence of `len` (step 1): negative indices count
/// from the end, everything clamps into `[0, len]`; `None` is the end.
fn py_slice(start: i64, end: Option<i64>, len: i64) -> (i64, i64) {
    let idx = |i: i64| if i < 0 { (i + len).max(0) } else { i.min(len) };
    let (s, e) = (idx(start), end.map(idx).unwrap_or(len));
    (s, e.max(s))
}

/// `F.normalize(x, dim=-1)`: `x / max(‖x‖₂, 1e-12)`.
fn normalize(x: &Tensor) -> std::result::Result<Tensor, TchError> {
    let n = x.f_norm_scalaropt_dim(2.0, [-1i64], true)?.f_clamp_min(1e-12)?.f_expand_as(x)?;
    x.f_div(&n)
}

/// The shifted-window mask of torchvision: each pixel of the padded `[pad_h, pad_w]` map is
/// labelled by the region it came from before the cyclic shift (painted with Python's slice
/// rules), and two tokens of a window that carry different labels get −100.
fn shifted_window_mask(
    like: &Tensor,
    pad: [i64; 2],
    window: [i64; 2],
    shift: [i64; 2],
) -> std::result::Result<Tensor, TchError> {
    let [ph, pw] = pad;
    let [w0, w1] = window;
    let mask = Tensor::f_zeros([ph, pw], (like.kind(), like.device()))?;
    let h_slices = [(0, Some(-w0)), (-w0, Some(-shift[0])), (-shift[0], None)];
    let w_slices = [(0, Some(-w1)), (-w1, Some(-shift[1])), (-shift[1], None)];
    let mut count = 0i64;
    for h in h_slices {
        for w in w_slices {
            let (h0, h1) = py_slice(h.0, h.1, ph);
            let (c0, c1) = py_slice(w.0, w.1, pw);
            if h1 > h0 && c1 > c0 {
                let _ = mask.f_narrow(0, h0, h1 - h0)?.f_narrow(1, c0, c1 - c0)?.f_fill_(count)?;
            }
            count += 1;
        }
    }
    let nw = (ph / w0) * (pw / w1);
    let mask = mask.f_view([ph / w0, w0, pw / w1, w1])?.f_permute([0, 2, 1, 3])?.f_reshape([nw, w0 * w1])?;
    let mask = mask.f_unsqueeze(1)?.f_sub(&mask.f_unsqueeze(2)?)?;
    // type_as: a traced graph then takes the mask's type from `like` when it runs (a graph
    // cast to bfloat16 would otherwise add a float32 mask and compute on in float32).
    mask.f_masked_fill(&mask.f_ne(0)?, -100.0)?.f_masked_fill(&mask.f_eq(0)?, 0.0)?.f_type_as(like)
}

/// torchvision's `shifted_window_attention`: window-based multi-head self-attention (W-MSA)
/// with relative position bias, shifted or not, on an NHWC map `input` `[B, H, W, C]`; with
/// `logit_scale`, Swin V2's cosine attention (and the key bias zeroed). Returns `[B, H, W, C]`.
/// The steps, their order and the mask are torchvision's (see the module docs).
#[allow(clippy::too_many_arguments)]
pub fn shifted_window_attention(
    input: &Tensor,
    qkv_weight: &Tensor,
    proj_weight: &Tensor,
    relative_position_bias: &Tensor,
    window_size: [i64; 2],
    num_heads: i64,
    shift_size: [i64; 2],
    attention_dropout: f64,
    dropout: f64,
    qkv_bias: Option<&Tensor>,
    proj_bias: Option<&Tensor>,
    logit_scale: Option<&Tensor>,
    training: bool,
) -> Result<Tensor> {
    let s = input.size();
    if s.len() != 4 || num_heads <= 0 || s[3] % num_heads != 0 {
        return Err(Error::InvalidArgument(format!(
            "shifted_window_attention: needs an input [B, H, W, C] with C divisible by num_heads {num_heads}, got {s:?}"
        )));
    }
    if window_size.iter().any(|&w| w <= 0) || shift_size.iter().any(|&w| w < 0) {
        return Err(Error::InvalidArgument(format!(
            "shifted_window_attention: bad window_size {window_size:?} or shift_size {shift_size:?}"
        )));
    }
    let f = || -> std::result::Result<Tensor, TchError> {
        let (b, h, w, c) = (s[0], s[1], s[2], s[3]);
        let [w0, w1] = window_size;
        // pad feature maps to multiples of window size
        let pad_r = (w1 - w % w1) % w1;
        let pad_b = (w0 - h % w0) % w0;
        let x = input.f_constant_pad_nd([0, 0, 0, pad_r, 0, pad_b])?;
        let (ph, pw) = (h + pad_b, w + pad_r);
        // if window size is larger than feature size, there is no need to shift window
        let mut shift = shift_size;
        if w0 >= ph {
            shift[0] = 0;
        }
        if w1 >= pw {
            shift[1] = 0;
        }
        let shifted = shift[0] + shift[1] > 0;
        let x = if shifted { x.f_roll([-shift[0], -shift[1]], [1, 2])? } else { x };
        // partition windows
        let nw = (ph / w0) * (pw / w1);
        let x = x.f_view([b, ph / w0, w0, pw / w1, w1, c])?.f_permute([0, 1, 3, 2, 4, 5])?.f_reshape([
            b * nw,
            w0 * w1,
            c,
        ])?;
        let (n0, n1) = (b * nw, w0 * w1);
        // multi-head attention
        let qkv_bias = match (logit_scale, qkv_bias) {
            (Some(_), Some(bias)) => {
                let len = bias.numel() as i64 / 3;
                let zeros = bias.f_narrow(0, len, len)?.f_zeros_like()?;
                Some(Tensor::f_cat(&[bias.f_narrow(0, 0, len)?, zeros, bias.f_narrow(0, 2 * len, len)?], 0)?)
            }
            (_, bias) => bias.map(Tensor::shallow_clone),
        };
        let qkv = x.f_linear(qkv_weight, qkv_bias.as_ref())?;
        let qkv = qkv.f_reshape([n0, n1, 3, num_heads, c / num_heads])?.f_permute([2, 0, 3, 1, 4])?;
        let (q, k, v) = (qkv.f_select(0, 0)?, qkv.f_select(0, 1)?, qkv.f_select(0, 2)?);
        let attn = match logit_scale {
            Some(ls) => {
                // cosine attention, in float32 whatever the input's type (as autocast runs
                // normalize): a temperature up to 100 magnifies bfloat16's rounding of cosines
                let (q, k) = (q.f_to_kind(Kind::Float)?, k.f_to_kind(Kind::Float)?);
                let attn = normalize(&q)?.f_matmul(&normalize(&k)?.f_transpose(-2, -1)?)?;
                attn.f_mul(&ls.f_clamp_max(100f64.ln())?.f_exp()?)?
            }
            None => {
                let q = q.f_mul_scalar(((c / num_heads) as f64).powf(-0.5))?;
                q.f_matmul(&k.f_transpose(-2, -1)?)?
            }
        };
        // add relative position bias
        let mut attn = attn.f_add(relative_position_bias)?;
        if shifted {
            let mask = shifted_window_mask(&x, [ph, pw], window_size, shift)?;
            attn = attn
                .f_view([n0 / nw, nw, num_heads, n1, n1])?
                .f_add(&mask.f_unsqueeze(1)?.f_unsqueeze(0)?)?
                .f_view([-1, num_heads, n1, n1])?;
        }
        // softmax in float32 (as autocast), then back to the values' type
        let attn = attn.f_softmax(-1, Kind::Float)?.f_type_as(&v)?.f_dropout(attention_dropout, training)?;
        let x = attn.f_matmul(&v)?.f_transpose(1, 2)?.f_reshape([n0, n1, c])?;
        let x = x.f_linear(proj_weight, proj_bias)?.f_dropout(dropout, training)?;
        // reverse windows
        let x = x.f_view([b, ph / w0, pw / w1, w0, w1, c])?.f_permute([0, 1, 3, 2, 4, 5])?.f_reshape([b, ph, pw, c])?;
        // reverse cyclic shift
        let x = if shifted { x.f_roll([shift[0], shift[1]], [1, 2])? } else { x };
        // unpad features
        x.f_slice(1, 0, h, 1)?.f_slice(2, 0, w, 1)?.f_contiguous()
    };
    f().ctx("shifted_window_attention")
}

/// torchvision's `relative_position_index` (and MaxViT's `_get_relative_position_index`):
/// for every pair of the `h·w` positions of a window, the row of the bias table of their
/// offset, `(Δh + h − 1)·(2w − 1) + Δw + w − 1`, row-major over the pairs.
pub fn relative_position_index(h: i64, w: i64) -> Vec<i64> {
    let n = h * w;
    let mut v = Vec::with_capacity((n * n) as usize);
    for i in 0..n {
        for j in 0..n {
            v.push((i / w - j / w + h - 1) * (2 * w - 1) + (i % w - j % w) + w - 1);
        }
    }
    v
}

/// V2's `relative_coords_table` `[1, 2h−1, 2w−1, 2]`: the offsets scaled to [−8, 8] and
/// mapped to `sign(t)·log2(|t| + 1) / 3`, in float32 as torchvision computes them.
fn relative_coords_table(window: [i64; 2]) -> std::result::Result<Tensor, TchError> {
    let opts = (Kind::Float, tch::Device::Cpu);
    let [h, w] = window;
    let ch = Tensor::f_arange_start(-(h - 1), h, opts)?;
    let cw = Tensor::f_arange_start(-(w - 1), w, opts)?;
    let grid_h = ch.f_view([-1, 1])?.f_expand([2 * h - 1, 2 * w - 1], false)?.f_div_scalar(h - 1)?;
    let grid_w = cw.f_view([1, -1])?.f_expand([2 * h - 1, 2 * w - 1], false)?.f_div_scalar(w - 1)?;
    let t = Tensor::f_stack(&[grid_h, grid_w], -1)?.f_unsqueeze(0)?.f_mul_scalar(8)?;
    t.f_sign()?.f_mul(&t.f_abs()?.f_add_scalar(1.0)?.f_log2()?)?.f_div_scalar(3.0)
}

/// torchvision's `ShiftedWindowAttention` (V1) and `ShiftedWindowAttentionV2`: `qkv`, `proj`,
/// the relative position bias (a learned table in V1; in V2 the `cpb_mlp` of the
/// `relative_coords_table`, squashed to `16·sigmoid`) gathered by `relative_position_index`,
/// and [`shifted_window_attention`].
#[derive(Debug)]
pub struct ShiftedWindowAttention {
    /// `dim → 3·dim`, with bias.
    pub qkv: Linear,
    /// `dim → dim`, with bias.
    pub proj: Linear,
    /// V2: `Sequential(Linear(2, 512), ReLU, Linear(512, heads, bias=False))`.
    pub cpb_mlp: Option<Sequential>,
    /// V1: `[(2h−1)(2w−1), heads]`.
    pub relative_position_bias_table: Option<Tensor>,
    /// V2: `[heads, 1, 1]`, log of the cosine-attention temperature.
    pub logit_scale: Option<Tensor>,
    /// V2: the buffer `[1, 2h−1, 2w−1, 2]` fed to `cpb_mlp`.
    pub relative_coords_table: Option<Tensor>,
    /// The int64 buffer `[(h·w)²]`.
    pub relative_position_index: Tensor,
    /// The block's arguments.
    pub args: SwinBlockArgs,
    training: Cell<bool>,
    path: String,
}

impl ShiftedWindowAttention {
    /// torchvision's `ShiftedWindowAttention(dim, window_size, shift_size, num_heads,
    /// attention_dropout, dropout)` (V2: `ShiftedWindowAttentionV2`), built and initialised in
    /// its order.
    pub fn new(p: &Path, a: &SwinBlockArgs) -> Result<Self> {
        let (dim, heads, [h, w]) = (a.dim, a.num_heads, a.window_size);
        let path = path_string(p);
        let qkv = Linear::new(&(p / "qkv"), dim, 3 * dim)?;
        let proj = Linear::new(&(p / "proj"), dim, dim)?;
        let dev = p.device();
        let (table, coords) = match a.version {
            SwinVersion::V1 => {
                let mut t = filled(p, &[(2 * h - 1) * (2 * w - 1), heads], 0.0)?;
                init::trunc_normal_(&mut t, 0.0, 0.02, -2.0, 2.0)?;
                (Some(register(p, "relative_position_bias_table", t, true)?), None)
            }
            SwinVersion::V2 => {
                let t = relative_coords_table(a.window_size).ctx(format!("{path}: relative_coords_table"))?;
                (None, Some(register(p, "relative_coords_table", t.to_device(dev), false)?))
            }
        };
        let index = Tensor::from_slice(&relative_position_index(h, w)).to_device(dev);
        let relative_position_index = register(p, "relative_position_index", index, false)?;
        let (logit_scale, cpb_mlp) = match a.version {
            SwinVersion::V1 => (None, None),
            SwinVersion::V2 => {
                let ls = filled(p, &[heads, 1, 1], 10.0)?.f_log().ctx(format!("{path}: logit_scale"))?;
                let cpb = Sequential::builder(p / "cpb_mlp")
                    .add(|p| Linear::new(p, 2, 512))?
                    .add(ReLU::new)?
                    .add(|p| Linear::with_bias(p, 512, heads, false))?
                    .build();
                if let Some(bias) = &qkv.bias {
                    let _g = tch::no_grad_guard();
                    let _ =
                        bias.f_narrow(0, dim, dim).and_then(|mut b| b.f_zero_()).ctx(format!("{path}: qkv.bias"))?;
                }
                (Some(register(p, "logit_scale", ls, true)?), Some(cpb))
            }
        };
        Ok(ShiftedWindowAttention {
            qkv,
            proj,
            cpb_mlp,
            relative_position_bias_table: table,
            logit_scale,
            relative_coords_table: coords,
            relative_position_index,
            args: *a,
            training: Cell::new(true),
            path,
        })
    }

    /// The bias `[1, heads, N, N]` added to the attention logits (N = window tokens).
    pub fn get_relative_position_bias(&self, c: &mut Ctx) -> Result<Tensor> {
        let n = self.args.window_size[0] * self.args.window_size[1];
        let gather = |table: &Tensor| -> std::result::Result<Tensor, TchError> {
            let b = table.f_index_select(0, &self.relative_position_index)?.f_view([n, n, -1])?;
            b.f_permute([2, 0, 1])?.f_contiguous()?.f_unsqueeze(0)
        };
        match (&self.relative_position_bias_table, &self.cpb_mlp, &self.relative_coords_table) {
            (Some(table), _, _) => c.op("_get_relative_position_bias", table, || gather(table)),
            (None, Some(cpb), Some(coords)) => {
                let table = c.call(cpb, coords)?;
                let table = c.op("view", &table, || table.f_view([-1, self.args.num_heads]))?;
                let bias = c.op("_get_relative_position_bias", &table, || gather(&table))?;
                c.op("sigmoid", &bias, || bias.f_sigmoid()?.f_mul_scalar(16))
            }
            _ => Err(Error::InvalidArgument(format!("{}: neither a bias table nor a cpb_mlp", self.path))),
        }
    }

    fn forward(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        let bias = self.get_relative_position_bias(c)?;
        let a = &self.args;
        let training = c.train && self.training.get();
        let (qkv_bias, proj_bias) = (self.qkv.bias.as_ref(), self.proj.bias.as_ref());
        #[rustfmt::skip]
        let out = shifted_window_attention(x, &self.qkv.weight, &self.proj.weight, &bias, a.window_size, a.num_heads,
            a.shift_size, a.attention_dropout, a.dropout, qkv_bias, proj_bias, self.logit_scale.as_ref(), training);
        let out = out.map_err(|e| match e {
            Error::Torch { source, .. } => {
                Error::Forward { path: self.path.clone(), kind: self.class_name(), input: x.size(), source }
            }
            e => e,
        })?;
        // The module's output is this node's (torchvision's wrapped function call).
        c.op("shifted_window_attention", x, || Ok(out))
    }
}

crate::module!(ShiftedWindowAttention, [qkv, proj, cpb_mlp?], {
    fn class_name(&self) -> &'static str {
        match self.args.version {
            SwinVersion::V1 => "ShiftedWindowAttention",
            SwinVersion::V2 => "ShiftedWindowAttentionV2",
        }
    }
    fn own_parameters(&self) -> Vec<(&'static str, &Tensor)> {
        let table = self.relative_position_bias_table.iter().map(|t| ("relative_position_bias_table", t));
        table.chain(self.logit_scale.iter().map(|t| ("logit_scale", t))).collect()
    }
    fn own_buffers(&self) -> Vec<(&'static str, &Tensor)> {
        let coords = self.relative_coords_table.iter().map(|t| ("relative_coords_table", t));
        coords.chain([("relative_position_index", &self.relative_position_index)]).collect()
    }
    fn training_flag(&self) -> Option<&Cell<bool>> {
        Some(&self.training)
    }
});

/// torchvision's `SwinTransformerBlock` (V1: `x + sd(attn(norm1(x)))`, then
/// `x + sd(mlp(norm2(x)))`) and `SwinTransformerBlockV2` (post-norm: `x + sd(norm1(attn(x)))`,
/// `x + sd(norm2(mlp(x)))`), on NHWC maps.
#[derive(Debug)]
pub struct SwinTransformerBlock {
    /// LayerNorm over the channels.
    pub norm1: LayerNorm,
    /// The (shifted) window attention.
    pub attn: ShiftedWindowAttention,
    /// Row-mode stochastic depth on both branches.
    pub stochastic_depth: StochasticDepth,
    /// LayerNorm over the channels.
    pub norm2: LayerNorm,
    /// `MLP(dim, [dim·mlp_ratio, dim], GELU, dropout)`.
    pub mlp: Sequential,
}

impl SwinTransformerBlock {
    /// Builds the block as torchvision's constructor does, MLP initialisation included.
    pub fn new(p: &Path, a: &SwinBlockArgs) -> Result<Self> {
        let norm1 = LayerNorm::new(&(p / "norm1"), &[a.dim])?;
        let attn = ShiftedWindowAttention::new(&(p / "attn"), a)?;
        let stochastic_depth =
            StochasticDepth::new(&(p / "stochastic_depth"), a.stochastic_depth_prob, DepthMode::Row)?;
        let norm2 = LayerNorm::new(&(p / "norm2"), &[a.dim])?;
        let hidden = (a.dim as f64 * a.mlp_ratio) as i64;
        let mlp = mlp(p / "mlp", "MLP", a.dim, &[hidden, a.dim], Act::GELU, a.dropout)?;
        let _g = tch::no_grad_guard();
        for (_, m) in mlp.named_modules() {
            if m.kind() == ModuleKind::Linear {
                if let Some(mut w) = m.parameter("weight") {
                    init::xavier_uniform_(&mut w, 1.0)?;
                }
                if let Some(mut b) = m.parameter("bias") {
                    init::normal_(&mut b, 0.0, 1e-6)?;
                }
            }
        }
        Ok(SwinTransformerBlock { norm1, attn, stochastic_depth, norm2, mlp })
    }

    fn forward(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        let (attn, mlp): ([&dyn Module; 2], [&dyn Module; 2]) = match self.attn.args.version {
            SwinVersion::V1 => ([&self.norm1, &self.attn], [&self.norm2, &self.mlp]),
            SwinVersion::V2 => ([&self.attn, &self.norm1], [&self.mlp, &self.norm2]),
        };
        let y = c.chain(&attn, x)?;
        let y = c.call(&self.stochastic_depth, &y)?;
        let x = c.add(x, &y)?;
        let y = c.chain(&mlp, &x)?;
        let y = c.call(&self.stochastic_depth, &y)?;
        c.add(&x, &y)
    }
}

crate::module!(SwinTransformerBlock, [norm1, attn, stochastic_depth, norm2, mlp], {
    fn class_name(&self) -> &'static str {
        match self.attn.args.version {
            SwinVersion::V1 => "SwinTransformerBlock",
            SwinVersion::V2 => "SwinTransformerBlockV2",
        }
    }
});

/// torchvision's `_patch_merging_pad`: pads `[..., H, W, C]` to even H and W and concatenates
/// the four 2×2 phases `(0,0), (1,0), (0,1), (1,1)` on the channels: `[..., H/2, W/2, 4C]`.
fn patch_merging_pad(x: &Tensor) -> std::result::Result<Tensor, TchError> {
    let s = x.size();
    let (h, w) = (s[s.len() - 3], s[s.len() - 2]);
    let x = x.f_constant_pad_nd([0, 0, 0, w % 2, 0, h % 2])?;
    let phase = |i: i64, j: i64| x.f_slice(-3, i, None, 2)?.f_slice(-2, j, None, 2);
    Tensor::f_cat(&[phase(0, 0)?, phase(1, 0)?, phase(0, 1)?, phase(1, 1)?], -1)
}

/// torchvision's `PatchMerging` (V1): `_patch_merging_pad`, LayerNorm over `4·dim`, then
/// `reduction` (`4·dim → 2·dim`, no bias).
#[derive(Debug)]
pub struct PatchMerging {
    /// `Linear(4·dim, 2·dim, bias=False)`.
    pub reduction: Linear,
    /// `LayerNorm(4·dim)`.
    pub norm: LayerNorm,
}
crate::module!(PatchMerging, [reduction, norm]);

impl PatchMerging {
    /// `PatchMerging(dim)`.
    pub fn new(p: &Path, dim: i64) -> Result<Self> {
        Ok(PatchMerging {
            reduction: Linear::with_bias(&(p / "reduction"), 4 * dim, 2 * dim, false)?,
            norm: LayerNorm::new(&(p / "norm"), &[4 * dim])?,
        })
    }
    fn forward(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        let x = c.op("_patch_merging_pad", x, || patch_merging_pad(x))?;
        c.chain(&[&self.norm, &self.reduction], &x)
    }
}

/// torchvision's `PatchMergingV2`: `_patch_merging_pad`, `reduction` (`4·dim → 2·dim`, no
/// bias), then LayerNorm over `2·dim`.
#[derive(Debug)]
pub struct PatchMergingV2 {
    /// `Linear(4·dim, 2·dim, bias=False)`.
    pub reduction: Linear,
    /// `LayerNorm(2·dim)`.
    pub norm: LayerNorm,
}
crate::module!(PatchMergingV2, [reduction, norm]);

impl PatchMergingV2 {
    /// `PatchMergingV2(dim)`.
    pub fn new(p: &Path, dim: i64) -> Result<Self> {
        Ok(PatchMergingV2 {
            reduction: Linear::with_bias(&(p / "reduction"), 4 * dim, 2 * dim, false)?,
            norm: LayerNorm::new(&(p / "norm"), &[2 * dim])?,
        })
    }
    fn forward(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        let x = c.op("_patch_merging_pad", x, || patch_merging_pad(x))?;
        c.chain(&[&self.reduction, &self.norm], &x)
    }
}

/// torchvision's `SwinTransformer`.
#[derive(Debug)]
pub struct SwinTransformer {
    /// Patch embedding, then the stages with a patch merging between them.
    pub features: Sequential,
    /// LayerNorm of the last stage's channels.
    pub norm: LayerNorm,
    /// NHWC → NCHW.
    pub permute: Permute,
    /// Global average pool.
    pub avgpool: AdaptiveAvgPool2d,
    /// `Flatten(1)`.
    pub flatten: Flatten,
    /// The classifier.
    pub head: Linear,
    /// The configuration it was built from.
    pub config: SwinConfig,
}
crate::module!(SwinTransformer, [features, norm, permute, avgpool, flatten, head]);

impl SwinTransformer {
    /// Builds the network of `cfg` at `p` and initialises it as torchvision does.
    pub fn new(p: &Path, cfg: &SwinConfig) -> Result<Self> {
        cfg.validate()?;
        let [ph, pw] = cfg.patch_size;
        let conv = Conv2dConfig::default().stride([ph, pw]);
        let mut features = Sequential::builder(p / "features");
        let embed = Sequential::builder(features.next_path())
            .add(|p| Conv2d::new(p, 3, cfg.embed_dim, [ph, pw], conv))?
            .add(|p| Permute::new(p, &[0, 2, 3, 1]))?
            .add(|p| LayerNorm::new(p, &[cfg.embed_dim]))?
            .build();
        features = features.push(Box::new(embed));
        let total = cfg.depths.iter().sum::<usize>();
        let mut block_id = 0;
        for (i, (&depth, &heads)) in cfg.depths.iter().zip(&cfg.num_heads).enumerate() {
            let dim = cfg.embed_dim << i;
            let mut stage = Sequential::builder(features.next_path());
            for layer in 0..depth {
                let shift = |w: i64| if layer % 2 == 0 { 0 } else { w / 2 };
                let a = SwinBlockArgs {
                    dim,
                    num_heads: heads,
                    window_size: cfg.window_size,
                    shift_size: [shift(cfg.window_size[0]), shift(cfg.window_size[1])],
                    mlp_ratio: cfg.mlp_ratio,
                    dropout: cfg.dropout,
                    attention_dropout: cfg.attention_dropout,
                    stochastic_depth_prob: cfg.stochastic_depth_prob * block_id as f64 / (total - 1) as f64,
                    version: cfg.version,
                };
                stage = stage.add(|p| SwinTransformerBlock::new(p, &a))?;
                block_id += 1;
            }
            let stage = stage.build();
            features = features.push(Box::new(stage));
            if i + 1 < cfg.depths.len() {
                features = match cfg.version {
                    SwinVersion::V1 => features.add(|p| PatchMerging::new(p, dim))?,
                    SwinVersion::V2 => features.add(|p| PatchMergingV2::new(p, dim))?,
                };
            }
        }
        let num_features = cfg.embed_dim << (cfg.depths.len() - 1);
        let net = SwinTransformer {
            features: features.build(),
            norm: LayerNorm::new(&(p / "norm"), &[num_features])?,
            permute: Permute::new(&(p / "permute"), &[0, 3, 1, 2])?,
            avgpool: AdaptiveAvgPool2d::new(&(p / "avgpool"), 1)?,
            flatten: Flatten::new(&(p / "flatten"))?,
            head: Linear::new(&(p / "head"), num_features, cfg.num_classes)?,
            config: cfg.clone(),
        };
        let _g = tch::no_grad_guard();
        for (_, m) in net.named_modules() {
            if m.kind() == ModuleKind::Linear {
                if let Some(mut w) = m.parameter("weight") {
                    init::trunc_normal_(&mut w, 0.0, 0.02, -2.0, 2.0)?;
                }
                if let Some(mut b) = m.parameter("bias") {
                    init::zeros_(&mut b)?;
                }
            }
        }
        Ok(net)
    }

    fn trunk(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        c.chain(&[&self.features, &self.norm], x)
    }

    fn classify(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        c.chain(&[&self.permute, &self.avgpool, &self.flatten, &self.head], x)
    }

    fn forward(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        let x = self.trunk(x, c)?;
        self.classify(&x, c)
    }
}

impl Model for SwinTransformer {
    /// The normed NHWC map of the last stage, `[N, H/32, W/32, C]`.
    fn forward_features(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        Ctx::run(self, train, |c| self.trunk(xs, c))
    }
    fn forward_head(&self, features: &Tensor, train: bool) -> Result<Tensor> {
        Ctx::run(self, train, |c| self.classify(features, c))
    }
    /// Each stage's output (`features.1`, `.3`, `.5`, `.7`), NHWC as torchvision's modules
    /// output them.
    fn feature_info(&self) -> Vec<FeatureInfo> {
        let c = &self.config;
        (0..c.depths.len())
            .map(|i| {
                let f = FeatureInfo::new(c.embed_dim << i, c.patch_size[0] << i, &format!("features.{}", 2 * i + 1));
                f.layout(Layout::Nhwc)
            })
            .collect()
    }
    fn num_classes(&self) -> i64 {
        self.config.num_classes
    }
}

fn build(p: &Path, o: &Options, mut cfg: SwinConfig) -> Result<Box<dyn Model>> {
    cfg.num_classes = o.num_classes.unwrap_or(cfg.num_classes);
    o.apply("mlp_ratio", &mut cfg.mlp_ratio)?;
    o.apply("dropout", &mut cfg.dropout)?;
    o.apply("attention_dropout", &mut cfg.attention_dropout)?;
    Ok(Box::new(SwinTransformer::new(p, &cfg)?))
}

macro_rules! entry {
    ($name:ident, $params:literal, $input:literal, $weights:ident) => {
        ModelInfo {
            options: &["mlp_ratio", "dropout", "attention_dropout"],
            weights: $weights,
            default_input: [$input, $input],
            ..ModelInfo::classifier(stringify!($name), "swin_transformer", $params, |p, o| {
                build(p, o, SwinConfig::$name())
            })
        }
    };
}

/// The family's registry entries.
pub const MODELS: &[ModelInfo] = &[
    entry!(swin_t, 28288354, 224, SWIN_T_WEIGHTS),
    entry!(swin_s, 49606258, 224, SWIN_S_WEIGHTS),
    entry!(swin_b, 87768224, 224, SWIN_B_WEIGHTS),
    entry!(swin_v2_t, 28351570, 256, SWIN_V2_T_WEIGHTS),
    entry!(swin_v2_s, 49737442, 256, SWIN_V2_S_WEIGHTS),
    entry!(swin_v2_b, 87930848, 256, SWIN_V2_B_WEIGHTS),
];

/// torchvision's `Swin_T_Weights`.
const SWIN_T_WEIGHTS: &[Weights] = &[Weights::imagenet(
    "swin_t",
    "IMAGENET1K_V1",
    "swin_t-704ceda3.pth",
    28288354,
    [81.474, 95.776],
    4.491,
    108.19,
    [232, 224],
)
.bicubic()
.default()];
/// torchvision's `Swin_S_Weights`.
const SWIN_S_WEIGHTS: &[Weights] = &[Weights::imagenet(
    "swin_s",
    "IMAGENET1K_V1",
    "swin_s-5e29d889.pth",
    49606258,
    [83.196, 96.36],
    8.741,
    189.786,
    [246, 224],
)
.bicubic()
.default()];
/// torchvision's `Swin_B_Weights`.
const SWIN_B_WEIGHTS: &[Weights] = &[Weights::imagenet(
    "swin_b",
    "IMAGENET1K_V1",
    "swin_b-68c6b09e.pth",
    87768224,
    [83.582, 96.64],
    15.431,
    335.364,
    [238, 224],
)
.bicubic()
.default()];
/// torchvision's `Swin_V2_T_Weights`.
const SWIN_V2_T_WEIGHTS: &[Weights] = &[Weights::imagenet(
    "swin_v2_t",
    "IMAGENET1K_V1",
    "swin_v2_t-b137f0e2.pth",
    28351570,
    [82.072, 96.132],
    5.94,
    108.626,
    [260, 256],
)
.bicubic()
.default()];
/// torchvision's `Swin_V2_S_Weights`.
const SWIN_V2_S_WEIGHTS: &[Weights] = &[Weights::imagenet(
    "swin_v2_s",
    "IMAGENET1K_V1",
    "swin_v2_s-637d8ceb.pth",
    49737442,
    [83.712, 96.816],
    11.546,
    190.675,
    [260, 256],
)
.bicubic()
.default()];
/// torchvision's `Swin_V2_B_Weights`.
const SWIN_V2_B_WEIGHTS: &[Weights] = &[Weights::imagenet(
    "swin_v2_b",
    "IMAGENET1K_V1",
    "swin_v2_b-781e5279.pth",
    87930848,
    [84.112, 96.864],
    20.325,
    336.372,
    [272, 256],
)
.bicubic()
.default()];
