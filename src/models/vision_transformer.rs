//! torchvision's Vision Transformer (Dosovitskiy et al. 2021, "An Image is Worth 16x16 Words:
//! Transformers for Image Recognition at Scale"): `vit_b_16`, `vit_b_32`, `vit_l_16`,
//! `vit_l_32`, `vit_h_14`, as `torchvision/models/vision_transformer.py` builds them, with the
//! SWAG weights (Singh et al. 2022, "Revisiting Weakly Supervised Pre-Training of Visual
//! Perception Models").
//!
//! * The module tree is torchvision's: `class_token`, `conv_proj` (the patch projection, a
//!   `patch_size`-strided convolution), `encoder` (`pos_embedding`, `dropout`, `layers` =
//!   `encoder_layer_0`… [`EncoderBlock`]s, `ln`) and `heads` (`head`, or `pre_logits`, `act`,
//!   `head` with a `representation_size`). Each block holds `ln_1`, `self_attention`
//!   ([`MultiheadAttention`] with packed `in_proj_weight` / `in_proj_bias` and `out_proj`),
//!   `dropout`, `ln_2` and `mlp` (`MLPBlock`: `0` Linear, `1` GELU, `2` Dropout, `3` Linear,
//!   `4` Dropout); LayerNorms use eps 1e-6. Checkpoints load as they are, and the older
//!   `mlp.linear_1` / `mlp.linear_2` keys are renamed on load, as `MLPBlock._load_from_state_dict`
//!   does.
//! * Initialisation is torchvision's, draw for draw: each layer's default, then `MLPBlock`'s
//!   xavier-uniform weights and N(0, 1e-6²) biases, `MultiheadAttention`'s own reset,
//!   `pos_embedding` N(0, 0.02²), `conv_proj` truncated normal with std √(1/fan_in), a zero
//!   `class_token`, zero `heads.head`, and a truncated-normal `heads.pre_logits`.
//! * The model is built for one input size, `image_size` (224 unless the option or the SWAG
//!   end-to-end weights, 384 / 512 / 518, say otherwise) and refuses any other with an
//!   [`Error::InputShape`], as torchvision does. A model built at another `image_size` loads
//!   checkpoints made at any size: the position embedding is resized on load (bicubic, the
//!   class token's kept) exactly as torchvision's [`interpolate_embeddings`] resizes it, and the
//!   load report lists it under `adapted`.
//! * `feature_info` stages are **token** stages: the outputs `[N, 1 + (S/p)², hidden_dim]`
//!   (class token first, then the patch tokens row by row) of the encoder layers at a quarter,
//!   half, three quarters and all of the depth; `num_chs` is `hidden_dim` (the last dimension,
//!   not the second) and `reduction` the patch size. `forward_features` returns the encoder's
//!   output (after `encoder.ln`), `forward_head` takes its class token through `heads`.
//!
//! ```no_run
//! use tch::{nn, Device, Kind, Tensor};
//! use tchvision::models::vision_transformer::{VisionTransformer, ViTConfig};
//! use tchvision::nn::ModuleExt;
//! let vs = nn::VarStore::new(Device::Cpu);
//! let net = VisionTransformer::new(&vs.root(), &ViTConfig::vit_b_16().image_size(320))?;
//! net.eval();
//! let logits = net.try_forward(&Tensor::zeros([1, 3, 320, 320], (Kind::Float, Device::Cpu)))?;
//! assert_eq!(logits.size(), [1, 1000]);
//! # Ok::<(), tchvision::Error>(())
//! ```

use tch::{nn::Path, Tensor};

use crate::error::{Error, Result, TorchResultExt};
use crate::init;
use crate::models::api::{Model, ModelInfo, Options};
use crate::models::features::{FeatureInfo, Layout};
use crate::models::weights::Weights;
use crate::nn::*;
use crate::ops::{mlp, Act};

/// The arguments of torchvision's `VisionTransformer(...)` (without `norm_layer`, always
/// `LayerNorm(eps=1e-6)`, and `conv_stem_configs`, which no torchvision builder uses).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ViTConfig {
    /// The (square) input side the model is built for.
    pub image_size: i64,
    /// The patch side (and stride of `conv_proj`).
    pub patch_size: i64,
    /// Encoder blocks.
    pub num_layers: usize,
    /// Attention heads.
    pub num_heads: i64,
    /// Token width.
    pub hidden_dim: i64,
    /// Hidden width of each block's MLP.
    pub mlp_dim: i64,
    /// Dropout after the position embedding, the attention and in the MLPs.
    pub dropout: f64,
    /// Dropout on the attention weights.
    pub attention_dropout: f64,
    /// Outputs of `heads.head`.
    pub num_classes: i64,
    /// `Some(r)`: a `pre_logits` Linear to `r` and a Tanh before the head.
    pub representation_size: Option<i64>,
}

impl ViTConfig {
    /// A configuration at 224 with torchvision's defaults (no dropout, 1000 classes).
    pub fn new(patch_size: i64, num_layers: usize, num_heads: i64, hidden_dim: i64, mlp_dim: i64) -> Self {
        ViTConfig {
            image_size: 224,
            patch_size,
            num_layers,
            num_heads,
            hidden_dim,
            mlp_dim,
            dropout: 0.0,
            attention_dropout: 0.0,
            num_classes: 1000,
            representation_size: None,
        }
    }
    /// `vit_b_16`: patch 16, 12 layers, 12 heads, width 768, MLP 3072.
    pub fn vit_b_16() -> Self {
        Self::new(16, 12, 12, 768, 3072)
    }
    /// `vit_b_32`: patch 32, 12 layers, 12 heads, width 768, MLP 3072.
    pub fn vit_b_32() -> Self {
        Self::new(32, 12, 12, 768, 3072)
    }
    /// `vit_l_16`: patch 16, 24 layers, 16 heads, width 1024, MLP 4096.
    pub fn vit_l_16() -> Self {
        Self::new(16, 24, 16, 1024, 4096)
    }
    /// `vit_l_32`: patch 32, 24 layers, 16 heads, width 1024, MLP 4096.
    pub fn vit_l_32() -> Self {
        Self::new(32, 24, 16, 1024, 4096)
    }
    /// `vit_h_14`: patch 14, 32 layers, 16 heads, width 1280, MLP 5120.
    pub fn vit_h_14() -> Self {
        Self::new(14, 32, 16, 1280, 5120)
    }
    /// Sets the input side.
    pub fn image_size(mut self, s: i64) -> Self {
        self.image_size = s;
        self
    }
    /// Sets the number of classes.
    pub fn num_classes(mut self, n: i64) -> Self {
        self.num_classes = n;
        self
    }

    /// Tokens per image: the patches and the class token.
    pub fn seq_length(&self) -> i64 {
        (self.image_size / self.patch_size).pow(2) + 1
    }

    /// Checks what torchvision checks (and what it would fail on later).
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidArgument(format!("VisionTransformer: {m}")));
        if self.patch_size <= 0 || self.image_size <= 0 || self.image_size % self.patch_size != 0 {
            return bad(format!(
                "Input shape indivisible by patch size! (image_size {}, patch_size {})",
                self.image_size, self.patch_size
            ));
        }
        if self.num_layers == 0 || self.hidden_dim <= 0 || self.mlp_dim <= 0 || self.num_classes < 0 {
            return bad(format!("bad sizes {self:?}"));
        }
        if self.representation_size.is_some_and(|r| r <= 0) {
            return bad(format!("representation_size must be positive, got {:?}", self.representation_size));
        }
        for (what, p) in [("dropout", self.dropout), ("attention_dropout", self.attention_dropout)] {
            if !(0.0..=1.0).contains(&p) {
                return bad(format!("{what} has to be between 0 and 1, but got {p}"));
            }
        }
        Ok(())
    }
}

fn layer_norm(p: &Path, dim: i64) -> Result<LayerNorm> {
    LayerNorm::with_options(p, &[dim], 1e-6, true, true)
}

fn check_tokens(x: &Tensor, c: &Ctx, kind: &'static str) -> Result<()> {
    if x.dim() != 3 {
        return Err(Error::InputShape {
            path: c.path().to_string(),
            kind,
            expected: "(batch_size, seq_length, hidden_dim)".into(),
            actual: x.size(),
        });
    }
    Ok(())
}

/// torchvision's `MLPBlock(in_dim, mlp_dim, dropout)`: `MLP(in_dim, [mlp_dim, in_dim], GELU)`
/// with xavier-uniform weights and N(0, 1e-6²) biases; its version-1 keys `linear_1.*` /
/// `linear_2.*` load as `0.*` / `3.*`.
pub fn mlp_block(p: Path<'_>, in_dim: i64, mlp_dim: i64, dropout: f64) -> Result<Sequential> {
    let m = mlp(p, "MLPBlock", in_dim, &[mlp_dim, in_dim], Act::GELU, dropout)?.with_legacy_keys(&[
        ("linear_1.weight", "0.weight"),
        ("linear_1.bias", "0.bias"),
        ("linear_2.weight", "3.weight"),
        ("linear_2.bias", "3.bias"),
    ]);
    let _g = tch::no_grad_guard();
    for (_, l) in m.named_modules() {
        if l.kind() == ModuleKind::Linear {
            if let Some(mut w) = l.parameter("weight") {
                init::xavier_uniform_(&mut w, 1.0)?;
            }
            if let Some(mut b) = l.parameter("bias") {
                init::normal_(&mut b, 0.0, 1e-6)?;
            }
        }
    }
    Ok(m)
}

/// torchvision's `EncoderBlock`: `x = input + dropout(self_attention(ln_1(input)))`, then
/// `x + mlp(ln_2(x))`.
#[derive(Debug)]
pub struct EncoderBlock {
    /// Pre-attention norm.
    pub ln_1: LayerNorm,
    /// Self-attention, batch first.
    pub self_attention: MultiheadAttention,
    /// After the attention.
    pub dropout: Dropout,
    /// Pre-MLP norm.
    pub ln_2: LayerNorm,
    /// `MLPBlock`.
    pub mlp: Sequential,
}
crate::module!(EncoderBlock, [ln_1, self_attention, dropout, ln_2, mlp]);

impl EncoderBlock {
    /// `EncoderBlock(num_heads, hidden_dim, mlp_dim, dropout, attention_dropout)`.
    pub fn new(p: &Path, cfg: &ViTConfig) -> Result<Self> {
        let attn = MultiheadAttentionConfig { dropout: cfg.attention_dropout, bias: true, batch_first: true };
        Ok(EncoderBlock {
            ln_1: layer_norm(&(p / "ln_1"), cfg.hidden_dim)?,
            self_attention: MultiheadAttention::new(&(p / "self_attention"), cfg.hidden_dim, cfg.num_heads, attn)?,
            dropout: Dropout::new(&(p / "dropout"), cfg.dropout)?,
            ln_2: layer_norm(&(p / "ln_2"), cfg.hidden_dim)?,
            mlp: mlp_block(p / "mlp", cfg.hidden_dim, cfg.mlp_dim, cfg.dropout)?,
        })
    }

    fn forward(&self, input: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        check_tokens(input, c, "EncoderBlock")?;
        let x = c.chain(&[&self.ln_1, &self.self_attention, &self.dropout], input)?;
        let x = c.add(&x, input)?;
        let y = c.chain(&[&self.ln_2, &self.mlp], &x)?;
        c.add(&x, &y)
    }
}

/// torchvision's `Encoder`: `ln(layers(dropout(input + pos_embedding)))`.
#[derive(Debug)]
pub struct Encoder {
    /// `[1, seq_length, hidden_dim]`, learnt.
    pub pos_embedding: Tensor,
    /// After the position embedding.
    pub dropout: Dropout,
    /// `encoder_layer_0`, `encoder_layer_1`, … ([`EncoderBlock`]s).
    pub layers: Sequential,
    /// The final norm.
    pub ln: LayerNorm,
}
crate::module!(Encoder, [dropout, layers, ln], params[pos_embedding], upgrade = upgrade);

impl Encoder {
    /// `Encoder(seq_length, num_layers, num_heads, hidden_dim, mlp_dim, dropout,
    /// attention_dropout)`.
    pub fn new(p: &Path, cfg: &ViTConfig) -> Result<Self> {
        let mut pos = empty(p, &[1, cfg.seq_length(), cfg.hidden_dim])?;
        init::normal_(&mut pos, 0.0, 0.02)?;
        let pos_embedding = register(p, "pos_embedding", pos, true)?;
        let dropout = Dropout::new(&(p / "dropout"), cfg.dropout)?;
        let mut layers = Sequential::builder(p / "layers");
        for i in 0..cfg.num_layers {
            layers = layers.add_named(&format!("encoder_layer_{i}"), |p| EncoderBlock::new(p, cfg))?;
        }
        Ok(Encoder { pos_embedding, dropout, layers: layers.build(), ln: layer_norm(&(p / "ln"), cfg.hidden_dim)? })
    }

    fn forward(&self, input: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        check_tokens(input, c, "Encoder")?;
        let x = c.add(input, &self.pos_embedding)?;
        c.chain(&[&self.dropout, &self.layers, &self.ln], &x)
    }

    /// The load hook: a `pos_embedding` made for another image size (a square grid of patches
    /// and the class token) is resized to this encoder's grid as [`interpolate_embeddings`]
    /// resizes it (bicubic).
    fn upgrade(&self, prefix: &str, entries: &mut [(String, Tensor)]) -> Result<()> {
        let key = format!("{prefix}pos_embedding");
        let want = self.pos_embedding.size();
        for (k, v) in entries.iter_mut() {
            let have = v.size();
            if *k == key && have != want && have.len() == 3 && have[0] == 1 && have[2] == want[2] {
                if let (Some(_), Some(grid)) = (square_side(have[1] - 1), square_side(want[1] - 1)) {
                    *v = resize_pos_embedding(v, grid, "bicubic")?;
                }
            }
        }
        Ok(())
    }
}

/// `Some(g)` when `n = g²`.
fn square_side(n: i64) -> Option<i64> {
    if n < 0 {
        return None;
    }
    let g = (n as f64).sqrt().round() as i64;
    (g * g == n).then_some(g)
}

/// torchvision's `VisionTransformer` (see the [module docs](self)).
#[derive(Debug)]
pub struct VisionTransformer {
    /// `[1, 1, hidden_dim]`, prepended to the patch tokens.
    pub class_token: Tensor,
    /// The patch projection: `Conv2d(3, hidden_dim, patch_size, stride=patch_size)`.
    pub conv_proj: Conv2d,
    /// The transformer encoder.
    pub encoder: Encoder,
    /// `head`, or `pre_logits`, `act` (Tanh), `head`.
    pub heads: Sequential,
    /// The configuration it was built from.
    pub config: ViTConfig,
}
crate::module!(VisionTransformer, [conv_proj, encoder, heads], params[class_token]);

impl VisionTransformer {
    /// Builds the network of `cfg` at `p` and initialises it as torchvision does.
    pub fn new(p: &Path, cfg: &ViTConfig) -> Result<Self> {
        cfg.validate()?;
        let (d, ps) = (cfg.hidden_dim, cfg.patch_size);
        let conv_cfg = Conv2dConfig::default().stride(ps);
        let conv_proj = Conv2d::new(&(p / "conv_proj"), 3, d, ps, conv_cfg)?;
        let class_token = register(p, "class_token", filled(p, &[1, 1, d], 0.0)?, true)?;
        let encoder = Encoder::new(&(p / "encoder"), cfg)?;
        let heads = match cfg.representation_size {
            None => Sequential::builder(p / "heads").add_named("head", |p| Linear::new(p, d, cfg.num_classes))?,
            Some(r) => Sequential::builder(p / "heads")
                .add_named("pre_logits", |p| Linear::new(p, d, r))?
                .add_named("act", Tanh::new)?
                .add_named("head", |p| Linear::new(p, r, cfg.num_classes))?,
        }
        .build();
        let net = VisionTransformer { class_token, conv_proj, encoder, heads, config: *cfg };
        let _g = tch::no_grad_guard();
        let fan_in = 3 * ps * ps;
        init::trunc_normal_(&mut net.conv_proj.weight.shallow_clone(), 0.0, (1.0 / fan_in as f64).sqrt(), -2.0, 2.0)?;
        if let Some(b) = &net.conv_proj.bias {
            init::zeros_(&mut b.shallow_clone())?;
        }
        if let Ok(pre) = net.heads.get_submodule("pre_logits") {
            if let (Some(mut w), Some(mut b)) = (pre.parameter("weight"), pre.parameter("bias")) {
                let fan_in = w.size()[1] as f64;
                init::trunc_normal_(&mut w, 0.0, (1.0 / fan_in).sqrt(), -2.0, 2.0)?;
                init::zeros_(&mut b)?;
            }
        }
        let head = net.heads.get_submodule("head")?;
        for name in ["weight", "bias"] {
            if let Some(mut t) = head.parameter(name) {
                init::zeros_(&mut t)?;
            }
        }
        Ok(net)
    }

    /// torchvision's `_process_input`: checks the size, projects the patches and returns the
    /// tokens `[N, (S/p)², hidden_dim]`.
    fn process_input(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        let s = self.config.image_size;
        let size = x.size();
        if size.len() != 4 || size[1] != 3 || size[2] != s || size[3] != s {
            return Err(Error::InputShape {
                path: c.path().to_string(),
                kind: "VisionTransformer",
                expected: format!(
                    "[N, 3, {s}, {s}] (the model is built for image_size {s}; build it with the option \
                     image_size to run at another size)"
                ),
                actual: size,
            });
        }
        let (n, g) = (size[0], s / self.config.patch_size);
        let x = c.call(&self.conv_proj, x)?;
        let x = c.op("reshape", &x, || x.f_reshape([n, self.config.hidden_dim, g * g]))?;
        c.op("permute", &x, || x.f_permute([0, 2, 1]))
    }

    /// The class token and the patch tokens through the encoder: `[N, seq_length, hidden_dim]`.
    pub fn trunk(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        let x = self.process_input(x, c)?;
        let n = x.size()[0];
        let token = c.op("expand", &self.class_token, || self.class_token.f_expand([n, -1, -1], false))?;
        let x = c.cat(&[token, x], 1)?;
        c.call(&self.encoder, &x)
    }

    fn head(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        check_tokens(x, c, "VisionTransformer")?;
        let x = c.op("getitem", x, || x.f_select(1, 0))?;
        c.call(&self.heads, &x)
    }

    fn forward(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        let x = self.trunk(x, c)?;
        self.head(&x, c)
    }
}

impl Model for VisionTransformer {
    fn forward_features(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        Ctx::run(self, train, |c| self.trunk(xs, c))
    }
    fn forward_head(&self, features: &Tensor, train: bool) -> Result<Tensor> {
        Ctx::run(self, train, |c| self.head(features, c))
    }
    fn feature_info(&self) -> Vec<FeatureInfo> {
        let n = self.config.num_layers;
        let mut at: Vec<usize> = (1..=4).map(|k| (k * n / 4).max(1) - 1).collect();
        at.dedup();
        at.into_iter()
            .map(|i| {
                let node = format!("encoder.layers.encoder_layer_{i}");
                FeatureInfo::new(self.config.hidden_dim, self.config.patch_size, &node).layout(Layout::Nlc)
            })
            .collect()
    }
    fn num_classes(&self) -> i64 {
        self.config.num_classes
    }
    fn fixed_input_size(&self) -> Option<[i64; 2]> {
        Some([self.config.image_size; 2])
    }
}

/// Resizes a position embedding `[1, 1 + g², D]` to `[1, 1 + grid², D]` as torchvision's
/// `interpolate_embeddings` does: the class token's embedding is kept, the patch embeddings
/// are resampled as a `g × g` image (`mode` `bicubic` or `bilinear`, `align_corners=True`).
pub fn resize_pos_embedding(pos: &Tensor, grid: i64, mode: &str) -> Result<Tensor> {
    let size = pos.size();
    let bad = |m: String| Err(Error::InvalidArgument(format!("interpolate_embeddings: {m}")));
    if size.len() != 3 || size[0] != 1 {
        return bad(format!("Unexpected position embedding shape: {size:?}"));
    }
    let (seq, d) = (size[1] - 1, size[2]);
    let Some(g) = square_side(seq) else {
        return bad(format!("seq_length is not a perfect square! (seq_length {seq})"));
    };
    if grid <= 0 {
        return bad(format!("the new grid must be positive, got {grid}"));
    }
    if g == grid {
        return Ok(pos.shallow_clone());
    }
    let ctx = "interpolate_embeddings";
    let token = pos.f_narrow(1, 0, 1).ctx(ctx)?;
    let img = pos.f_narrow(1, 1, seq).ctx(ctx)?.f_permute([0, 2, 1]).ctx(ctx)?.f_reshape([1, d, g, g]).ctx(ctx)?;
    let img = match mode {
        "bicubic" => img.f_upsample_bicubic2d([grid, grid], true, None, None),
        "bilinear" => img.f_upsample_bilinear2d([grid, grid], true, None, None),
        other => return Err(Error::unknown("interpolation mode", other, &["bicubic", "bilinear"])),
    }
    .ctx(ctx)?;
    let img = img.f_reshape([1, d, grid * grid]).ctx(ctx)?.f_permute([0, 2, 1]).ctx(ctx)?;
    Tensor::f_cat(&[token, img], 1).ctx(ctx)
}

/// torchvision's `interpolate_embeddings(image_size, patch_size, model_state,
/// interpolation_mode, reset_heads)`: the state dict with `encoder.pos_embedding` resized for
/// a model of `image_size` (see [`resize_pos_embedding`]); when it was resized and
/// `reset_heads`, without the `heads` entries.
pub fn interpolate_embeddings(
    image_size: i64,
    patch_size: i64,
    mut state: Vec<(String, Tensor)>,
    interpolation_mode: &str,
    reset_heads: bool,
) -> Result<Vec<(String, Tensor)>> {
    if patch_size <= 0 || image_size < patch_size {
        return Err(Error::InvalidArgument(format!(
            "interpolate_embeddings: image_size {image_size} and patch_size {patch_size} make no patch"
        )));
    }
    let Some(i) = state.iter().position(|(k, _)| k == "encoder.pos_embedding") else {
        return Err(Error::unknown("state-dict key", "encoder.pos_embedding", &[] as &[&str]));
    };
    let pos = &state[i].1;
    if pos.dim() != 3 || pos.size()[0] != 1 {
        return Err(Error::InvalidArgument(format!(
            "interpolate_embeddings: Unexpected position embedding shape: {:?}",
            pos.size()
        )));
    }
    let grid = image_size / patch_size;
    if pos.size()[1] != grid * grid + 1 {
        state[i].1 = resize_pos_embedding(pos, grid, interpolation_mode)?;
        if reset_heads {
            state.retain(|(k, _)| !k.starts_with("heads"));
        }
    }
    Ok(state)
}

fn build(p: &Path, o: &Options, mut cfg: ViTConfig) -> Result<Box<dyn Model>> {
    cfg.num_classes = o.num_classes.unwrap_or(cfg.num_classes);
    o.apply("image_size", &mut cfg.image_size)?;
    o.apply("dropout", &mut cfg.dropout)?;
    o.apply("attention_dropout", &mut cfg.attention_dropout)?;
    if let Some(r) = o.get::<i64>("representation_size")? {
        cfg.representation_size = Some(r);
    }
    Ok(Box::new(VisionTransformer::new(p, &cfg)?))
}

macro_rules! entry {
    ($name:ident, $params:literal, $weights:ident) => {
        ModelInfo {
            options: &["image_size", "dropout", "attention_dropout", "representation_size"],
            weights: $weights,
            ..ModelInfo::classifier(stringify!($name), "vision_transformer", $params, |p, o| {
                build(p, o, ViTConfig::$name())
            })
        }
    };
}

/// The family's registry entries (parameter counts at the default image_size 224).
pub const MODELS: &[ModelInfo] = &[
    entry!(vit_b_16, 86567656, VIT_B_16_WEIGHTS),
    entry!(vit_b_32, 88224232, VIT_B_32_WEIGHTS),
    entry!(vit_l_16, 304326632, VIT_L_16_WEIGHTS),
    entry!(vit_l_32, 306535400, VIT_L_32_WEIGHTS),
    entry!(vit_h_14, 632045800, VIT_H_14_WEIGHTS),
];

/// torchvision's `ViT_B_16_Weights`.
#[rustfmt::skip]
const VIT_B_16_WEIGHTS: &[Weights] = &[
    Weights::imagenet("vit_b_16", "IMAGENET1K_V1", "vit_b_16-c867db91.pth", 86567656, [81.072, 95.318], 17.564, 330.285, [256, 224]).default(),
    Weights::imagenet("vit_b_16", "IMAGENET1K_SWAG_E2E_V1", "vit_b_16_swag-9ac1b537.pth", 86859496, [85.304, 97.65], 55.484, 331.398, [384, 384]).bicubic().overrides(&[("image_size", "384")]),
    Weights::imagenet("vit_b_16", "IMAGENET1K_SWAG_LINEAR_V1", "vit_b_16_lc_swag-4e70ced5.pth", 86567656, [81.886, 96.18], 17.564, 330.285, [224, 224]).bicubic(),
];
/// torchvision's `ViT_B_32_Weights`.
#[rustfmt::skip]
const VIT_B_32_WEIGHTS: &[Weights] = &[
    Weights::imagenet("vit_b_32", "IMAGENET1K_V1", "vit_b_32-d86f8d99.pth", 88224232, [75.912, 92.466], 4.409, 336.604, [256, 224]).default(),
];
/// torchvision's `ViT_L_16_Weights`.
#[rustfmt::skip]
const VIT_L_16_WEIGHTS: &[Weights] = &[
    Weights::imagenet("vit_l_16", "IMAGENET1K_V1", "vit_l_16-852ce7e3.pth", 304326632, [79.662, 94.638], 61.555, 1161.023, [242, 224]).default(),
    Weights::imagenet("vit_l_16", "IMAGENET1K_SWAG_E2E_V1", "vit_l_16_swag-4f3808c9.pth", 305174504, [88.064, 98.512], 361.986, 1164.258, [512, 512]).bicubic().overrides(&[("image_size", "512")]),
    Weights::imagenet("vit_l_16", "IMAGENET1K_SWAG_LINEAR_V1", "vit_l_16_lc_swag-4d563306.pth", 304326632, [85.146, 97.422], 61.555, 1161.023, [224, 224]).bicubic(),
];
/// torchvision's `ViT_L_32_Weights`.
#[rustfmt::skip]
const VIT_L_32_WEIGHTS: &[Weights] = &[
    Weights::imagenet("vit_l_32", "IMAGENET1K_V1", "vit_l_32-c7638314.pth", 306535400, [76.972, 93.07], 15.378, 1169.449, [256, 224]).default(),
];
/// torchvision's `ViT_H_14_Weights` (its default, SWAG end to end, runs at 518).
#[rustfmt::skip]
const VIT_H_14_WEIGHTS: &[Weights] = &[
    Weights::imagenet("vit_h_14", "IMAGENET1K_SWAG_E2E_V1", "vit_h_14_swag-80465313.pth", 633470440, [88.552, 98.694], 1016.717, 2416.643, [518, 518]).bicubic().default().overrides(&[("image_size", "518")]),
    Weights::imagenet("vit_h_14", "IMAGENET1K_SWAG_LINEAR_V1", "vit_h_14_lc_swag-c1eb923e.pth", 632045800, [85.708, 97.73], 167.295, 2411.209, [224, 224]).bicubic(),
];
