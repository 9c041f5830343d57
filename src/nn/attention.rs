//! `nn.MultiheadAttention` (`torch/nn/modules/activation.py`; Vaswani et al. 2017, "Attention Is
//! All You Need") with packed input projections, computed as `F.multi_head_attention_forward`
//! computes it with `need_weights=False`, and its `out_proj`
//! ([`NonDynamicallyQuantizableLinear`]).
//!
//! * Parameters as torch registers them: `in_proj_weight` `[3E, E]` (q, k, v stacked),
//!   `in_proj_bias` `[3E]`, then `out_proj.weight` `[E, E]` and `out_proj.bias` `[E]`.
//!   Initialisation is torch's: `out_proj` draws `nn.Linear`'s default when it is built, then
//!   `_reset_parameters` draws `xavier_uniform_` for `in_proj_weight` and zeroes both biases.
//! * The forward pass takes the route torch takes: in evaluation mode, batched self-attention
//!   (query, key and value the same tensor), an even number of heads, `batch_first`, biases, on
//!   CPU or CUDA, with no gradient being recorded, it is torch's fused
//!   `_native_multi_head_attention` (the "fast path"); otherwise the packed in-projection,
//!   `scaled_dot_product_attention` (with the attention dropout in training mode, drawing the
//!   same mask as torch for the same seed) and the output projection, step for step as
//!   `F.multi_head_attention_forward`.
//! * Not supported (not used by torchvision's classifiers): different key/value sizes (`kdim`,
//!   `vdim`), `add_bias_kv`, `add_zero_attn`, masks and the attention weights
//!   (`need_weights=True`).

use std::cell::Cell;
use tch::{nn::Path, Device, Tensor};

use super::{empty, forward_error, input_error, path_string, register, Linear, Module, ModuleKind};
use crate::error::{Error, Result};
use crate::init;

/// `NonDynamicallyQuantizableLinear` (`torch/nn/modules/linear.py`): an `nn.Linear` under
/// another class name, the output projection of [`MultiheadAttention`].
#[derive(Debug)]
pub struct NonDynamicallyQuantizableLinear(pub Linear);

impl Module for NonDynamicallyQuantizableLinear {
    fn kind(&self) -> ModuleKind {
        ModuleKind::Linear
    }
    fn class_name(&self) -> &'static str {
        "NonDynamicallyQuantizableLinear"
    }
    fn try_forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        self.0.try_forward_t(xs, train)
    }
    fn own_parameters(&self) -> Vec<(&'static str, &Tensor)> {
        self.0.own_parameters()
    }
}

/// The options of [`MultiheadAttention`], with torch's defaults.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MultiheadAttentionConfig {
    /// Dropout on the attention weights in training mode (default 0).
    pub dropout: f64,
    /// Biases in the input and output projections (default true).
    pub bias: bool,
    /// Inputs and output are `[N, L, E]` (true) or `[L, N, E]` (false, torch's default).
    pub batch_first: bool,
}

impl Default for MultiheadAttentionConfig {
    fn default() -> Self {
        MultiheadAttentionConfig { dropout: 0.0, bias: true, batch_first: false }
    }
}

/// `nn.MultiheadAttention(embed_dim, num_heads, dropout, bias, batch_first=...)` (see the
/// [module docs](self)). As a [`Module`] its forward is self-attention, `attn(x, x, x,
/// need_weights=False)[0]`; [`MultiheadAttention::attend`] takes separate query, key and value.
#[derive(Debug)]
pub struct MultiheadAttention {
    /// `[3·embed_dim, embed_dim]`: the query, key and value projections stacked.
    pub in_proj_weight: Tensor,
    /// `[3·embed_dim]`.
    pub in_proj_bias: Option<Tensor>,
    /// The output projection.
    pub out_proj: NonDynamicallyQuantizableLinear,
    /// The embedding size `E`.
    pub embed_dim: i64,
    /// Heads; `E / num_heads` is each head's size.
    pub num_heads: i64,
    /// The options.
    pub config: MultiheadAttentionConfig,
    training: Cell<bool>,
    path: String,
}

impl MultiheadAttention {
    /// `nn.MultiheadAttention(embed_dim, num_heads, ...)` at `p`, initialised as torch.
    pub fn new(p: &Path, embed_dim: i64, num_heads: i64, config: MultiheadAttentionConfig) -> Result<Self> {
        let path = path_string(p);
        let bad = |m: String| Err(Error::InvalidArgument(format!("{path} (MultiheadAttention): {m}")));
        if embed_dim <= 0 || num_heads <= 0 {
            return bad(format!(
                "embed_dim and num_heads must be greater than 0, got embed_dim={embed_dim} and num_heads={num_heads}"
            ));
        }
        if embed_dim % num_heads != 0 {
            return bad(format!("embed_dim ({embed_dim}) must be divisible by num_heads ({num_heads})"));
        }
        if !(0.0..=1.0).contains(&config.dropout) {
            return bad(format!("dropout has to be between 0 and 1, but got {}", config.dropout));
        }
        let mut w = empty(p, &[3 * embed_dim, embed_dim])?;
        let mut b = if config.bias { Some(empty(p, &[3 * embed_dim])?) } else { None };
        let out_proj = Linear::with_bias(&(p / "out_proj"), embed_dim, embed_dim, config.bias)?;
        // torch's _reset_parameters, after out_proj drew its own default initialisation.
        init::xavier_uniform_(&mut w, 1.0)?;
        if let Some(b) = b.as_mut() {
            init::zeros_(b)?;
            if let Some(ob) = &out_proj.bias {
                init::zeros_(&mut ob.shallow_clone())?;
            }
        }
        Ok(MultiheadAttention {
            in_proj_weight: register(p, "in_proj_weight", w, true)?,
            in_proj_bias: b.map(|b| register(p, "in_proj_bias", b, true)).transpose()?,
            out_proj: NonDynamicallyQuantizableLinear(out_proj),
            embed_dim,
            num_heads,
            config,
            training: Cell::new(true),
            path,
        })
    }

    /// `attn(query, key, value, need_weights=False)[0]`: pass the same tensor (the same
    /// reference) as query, key and value for self-attention, as torch tells self-attention by
    /// identity (`query is key`). Shapes: `[N, L, E]` / `[N, S, E]` with `batch_first`, else
    /// `[L, N, E]` / `[S, N, E]`; or unbatched `[L, E]` / `[S, E]`. `train = false` forces
    /// evaluation (no attention dropout, the fast path when it applies).
    pub fn attend(&self, query: &Tensor, key: &Tensor, value: &Tensor, train: bool) -> Result<Tensor> {
        let training = train && self.training.get();
        let e = self.embed_dim;
        let err = |source: tch::TchError| forward_error(&self.path, self.kind(), query)(source);
        let batched = query.dim() == 3;
        let shape_ok = |t: &Tensor| t.dim() == query.dim() && t.size().last() == Some(&e);
        if !(query.dim() == 2 || batched) || !shape_ok(query) {
            let want = if self.config.batch_first { "[N, L, E]" } else { "[L, N, E]" };
            return Err(input_error(&self.path, self.kind(), format!("{want} or [L, E] with E = {e}"), query));
        }
        let batch_dim = if self.config.batch_first { 0 } else { 1 };
        if !shape_ok(key)
            || !shape_ok(value)
            || key.size() != value.size()
            || batched && query.size()[batch_dim] != key.size()[batch_dim]
        {
            return Err(input_error(
                &self.path,
                self.kind(),
                format!("key and value of one shape, with the query's rank, batch size and E = {e}"),
                key,
            ));
        }
        // torch tells self-attention by identity; unbatched inputs lose it (each is unsqueezed).
        let (same_qk, same_kv) = (batched && std::ptr::eq(query, key), batched && std::ptr::eq(key, value));
        if self.fast_path(query, same_qk && same_kv, training).map_err(err)? {
            if let Some(b) = &self.in_proj_bias {
                let ob = self.out_proj.0.bias.as_ref().unwrap_or(b);
                let (out, _) = Tensor::f_internal_native_multi_head_attention(
                    query,
                    key,
                    value,
                    e,
                    self.num_heads,
                    &self.in_proj_weight,
                    b,
                    &self.out_proj.0.weight,
                    ob,
                    None::<Tensor>,
                    false,
                    true,
                    None,
                )
                .map_err(err)?;
                return Ok(out);
            }
        }
        self.slow_path(query, key, value, same_qk, same_kv, batched, training).map_err(err)
    }

    /// Whether torch's `MultiheadAttention.forward` takes `_native_multi_head_attention`.
    fn fast_path(
        &self,
        query: &Tensor,
        self_attention: bool,
        training: bool,
    ) -> std::result::Result<bool, tch::TchError> {
        let device_ok = |t: &Tensor| matches!(t.device(), Device::Cpu | Device::Cuda(_));
        let mut args = vec![query, &self.in_proj_weight, &self.out_proj.0.weight];
        args.extend(self.in_proj_bias.as_ref());
        args.extend(self.out_proj.0.bias.as_ref());
        let simple = query.dim() == 3
            && self_attention
            && self.in_proj_bias.as_ref().is_some_and(|b| b.kind() == query.kind())
            && self.in_proj_weight.kind() == query.kind()
            && !training
            && self.num_heads % 2 == 0
            && self.config.batch_first
            && args.iter().all(|t| device_ok(t));
        if !simple {
            return Ok(false);
        }
        // Not `torch.is_grad_enabled() and any(t.requires_grad for t in args)`.
        Ok(!(args.iter().any(|t| t.requires_grad()) && grad_enabled()?))
    }

    /// `F.multi_head_attention_forward(..., need_weights=False)` with packed projections.
    #[allow(clippy::too_many_arguments)]
    fn slow_path(
        &self,
        query: &Tensor,
        key: &Tensor,
        value: &Tensor,
        same_qk: bool,
        same_kv: bool,
        batched: bool,
        training: bool,
    ) -> std::result::Result<Tensor, tch::TchError> {
        let (e, nh) = (self.embed_dim, self.num_heads);
        let hd = e / nh;
        // batch_first: to [L, N, E]; unbatched: [L, 1, E].
        let prep = |t: &Tensor| -> std::result::Result<Tensor, tch::TchError> {
            if !batched {
                t.f_unsqueeze(1)
            } else if self.config.batch_first {
                t.f_transpose(1, 0)
            } else {
                Ok(t.shallow_clone())
            }
        };
        let q_in = prep(query)?;
        let k_in = if same_qk { q_in.shallow_clone() } else { prep(key)? };
        let v_in = if same_kv { k_in.shallow_clone() } else { prep(value)? };
        let (tgt_len, bsz, src_len) = (q_in.size()[0], q_in.size()[1], k_in.size()[0]);
        // _in_projection_packed
        let (w, b) = (&self.in_proj_weight, self.in_proj_bias.as_ref());
        let packed = |x: &Tensor, n: i64| -> std::result::Result<Tensor, tch::TchError> {
            x.f_unflatten(-1, [n, e])?.f_unsqueeze(0)?.f_transpose(0, -2)?.f_squeeze_dim(-2)?.f_contiguous()
        };
        let (q, k, v) = if same_kv && same_qk {
            let proj = packed(&q_in.f_linear(w, b)?, 3)?;
            (proj.f_select(0, 0)?, proj.f_select(0, 1)?, proj.f_select(0, 2)?)
        } else if same_kv {
            let ws = w.f_split_with_sizes([e, 2 * e], 0)?;
            let bs = b.map(|b| b.f_split_with_sizes([e, 2 * e], 0)).transpose()?;
            let q = q_in.f_linear(&ws[0], bs.as_ref().map(|v| &v[0]))?;
            let kv = packed(&k_in.f_linear(&ws[1], bs.as_ref().map(|v| &v[1]))?, 2)?;
            (q, kv.f_select(0, 0)?, kv.f_select(0, 1)?)
        } else {
            let ws = w.f_chunk(3, 0)?;
            let bs = b.map(|b| b.f_chunk(3, 0)).transpose()?;
            let bias = |i: usize| bs.as_ref().map(|v| &v[i]);
            (q_in.f_linear(&ws[0], bias(0))?, k_in.f_linear(&ws[1], bias(1))?, v_in.f_linear(&ws[2], bias(2))?)
        };
        let heads = |t: &Tensor, len: i64| -> std::result::Result<Tensor, tch::TchError> {
            t.f_view([len, bsz * nh, hd])?.f_transpose(0, 1)?.f_view([bsz, nh, len, hd])
        };
        let (q, k, v) = (heads(&q, tgt_len)?, heads(&k, src_len)?, heads(&v, src_len)?);
        let dropout_p = if training { self.config.dropout } else { 0.0 };
        let out = Tensor::f_scaled_dot_product_attention(&q, &k, &v, None::<Tensor>, dropout_p, false, None, false)?;
        let out = out.f_permute([2, 0, 1, 3])?.f_contiguous()?.f_view([bsz * tgt_len, e])?;
        let out = out.f_linear(&self.out_proj.0.weight, self.out_proj.0.bias.as_ref())?;
        let out = out.f_view([tgt_len, bsz, e])?;
        if !batched {
            out.f_squeeze_dim(1)
        } else if self.config.batch_first {
            out.f_transpose(1, 0)
        } else {
            Ok(out)
        }
    }
}

/// Whether autograd records operations now (`torch.is_grad_enabled()`): tch does not expose
/// the grad mode, so this asks an operation on a scalar that requires grad (views of such a
/// tensor require grad in any mode, results only in grad mode).
fn grad_enabled() -> std::result::Result<bool, tch::TchError> {
    let t = Tensor::f_zeros([], (tch::Kind::Float, Device::Cpu))?.set_requires_grad(true);
    Ok(t.f_neg()?.requires_grad())
}

impl Module for MultiheadAttention {
    fn kind(&self) -> ModuleKind {
        ModuleKind::MultiheadAttention
    }
    fn try_forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        self.attend(xs, xs, xs, train)
    }
    fn named_children(&self) -> Vec<(String, &dyn Module)> {
        vec![("out_proj".to_string(), &self.out_proj)]
    }
    fn own_parameters(&self) -> Vec<(&'static str, &Tensor)> {
        let mut v = vec![("in_proj_weight", &self.in_proj_weight)];
        v.extend(self.in_proj_bias.as_ref().map(|b| ("in_proj_bias", b)));
        v
    }
    fn training_flag(&self) -> Option<&Cell<bool>> {
        Some(&self.training)
    }
}

crate::impl_module_t!(NonDynamicallyQuantizableLinear, MultiheadAttention);
