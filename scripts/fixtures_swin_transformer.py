"""Fixtures of the Swin family's own behaviour (tests/swin_transformer.rs), made by torchvision.

Writes under OUTDIR/swin/:
* swa.json + swa.safetensors: torchvision's `shifted_window_attention` (eval mode) on random
  inputs and weights for the cases of SWA_CASES: windows that do and do not divide the map,
  shifts on both axes, on one axis only (the padded map exactly one window high or wide), none
  (window as large as the map), a non-square window, V1 and V2 (cosine attention with
  logit_scale and the key bias zeroed). Tensors "CASE.input", ".qkv_weight", ".qkv_bias",
  ".proj_weight", ".proj_bias", ".bias" (the relative position bias [1, heads, N, N]),
  ".logit_scale" (V2), ".output".
* small.json + small.safetensors: two small SwinTransformers (V1 and V2: embed 16, depths
  [2, 2], heads [2, 4], window [4, 4], stochastic depth 0.5, dropout 0.2, attention dropout
  0.3, 10 classes) built after torch.manual_seed(0) with torchvision's init: their state dicts
  ("NAME.state.KEY"), the input "x" (2x3x37x45), eval logits ("NAME.eval") and the logits of a
  train-mode forward after torch.manual_seed(TRAIN_SEED) ("NAME.train"): every dropout and
  stochastic-depth mask drawn as torch draws it.
* options.json: parameter counts of swin_t(mlp_ratio=2.0) and swin_v2_t(mlp_ratio=3.0).
"""
import json
from pathlib import Path

import torch
from safetensors.torch import save_file
from torchvision.models import swin_t, swin_v2_t
from torchvision.models.swin_transformer import (
    PatchMergingV2,
    SwinTransformer,
    SwinTransformerBlockV2,
    shifted_window_attention,
)

TRAIN_SEED = 23

# name: (B, H, W, C, heads, window, shift, v2)
SWA_CASES = {
    "pad_both_shift_both": (2, 13, 17, 8, 2, [7, 7], [3, 3], False),
    "one_window_high": (1, 5, 8, 8, 2, [7, 7], [3, 3], False),
    "one_window_wide_v2": (1, 21, 9, 8, 2, [7, 7], [3, 3], True),
    "no_shift_window_covers": (1, 3, 6, 8, 2, [7, 7], [3, 3], False),
    "exact_fit_v2": (1, 16, 16, 12, 3, [8, 8], [4, 4], True),
    "non_square_window": (1, 9, 10, 6, 3, [4, 5], [2, 2], False),
    "unshifted_padded": (1, 11, 12, 8, 4, [7, 7], [0, 0], False),
}


def small(v2):
    kw = dict(block=SwinTransformerBlockV2, downsample_layer=PatchMergingV2) if v2 else {}
    return SwinTransformer(
        patch_size=[4, 4], embed_dim=16, depths=[2, 2], num_heads=[2, 4], window_size=[4, 4],
        stochastic_depth_prob=0.5, dropout=0.2, attention_dropout=0.3, num_classes=10, **kw
    )


def main(outdir):
    out = Path(outdir) / "swin"
    out.mkdir(parents=True, exist_ok=True)
    t = {}
    torch.manual_seed(0)
    for name, (b, h, w, c, heads, window, shift, v2) in SWA_CASES.items():
        n = window[0] * window[1]
        d = {
            "input": torch.randn(b, h, w, c),
            "qkv_weight": torch.randn(3 * c, c) / c**0.5,
            "qkv_bias": 0.1 * torch.randn(3 * c),
            "proj_weight": torch.randn(c, c) / c**0.5,
            "proj_bias": 0.1 * torch.randn(c),
            "bias": torch.randn(1, heads, n, n),
        }
        if v2:
            d["logit_scale"] = torch.randn(heads, 1, 1)
        d["output"] = shifted_window_attention(
            d["input"], d["qkv_weight"], d["proj_weight"], d["bias"], window, heads, shift_size=shift,
            qkv_bias=d["qkv_bias"], proj_bias=d["proj_bias"], logit_scale=d.get("logit_scale"), training=False,
        )
        t.update({f"{name}.{k}": v.contiguous() for k, v in d.items()})
    save_file(t, str(out / "swa.safetensors"))
    (out / "swa.json").write_text(json.dumps({k: list(v) for k, v in SWA_CASES.items()}))

    t = {}
    torch.manual_seed(1)
    x = torch.randn(2, 3, 37, 45)
    t["x"] = x
    for name, v2 in [("v1", False), ("v2", True)]:
        torch.manual_seed(0)
        m = small(v2)
        for k, v in m.state_dict().items():
            t[f"{name}.state.{k}"] = v.contiguous()
        m.eval()
        with torch.no_grad():
            t[f"{name}.eval"] = m(x)
        m.train()
        torch.manual_seed(TRAIN_SEED)
        with torch.no_grad():
            t[f"{name}.train"] = m(x)
    save_file(t, str(out / "small.safetensors"))
    (out / "small.json").write_text(json.dumps({"train_seed": TRAIN_SEED, "input": [2, 3, 37, 45]}))

    counts = {}
    with torch.device("meta"):
        counts["swin_t"] = sum(p.numel() for p in swin_t(mlp_ratio=2.0).parameters())
        counts["swin_v2_t"] = sum(p.numel() for p in swin_v2_t(mlp_ratio=3.0).parameters())
    (out / "options.json").write_text(json.dumps(counts))
