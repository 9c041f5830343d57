"""Fixtures of torchvision's RegNet family (tests/regnet.rs).

Writes under OUTDIR/regnet/:
* block_params.json: for every model of the family, the BlockParams torchvision's builder
  computes (depths, widths, group_widths, bottleneck_multipliers, strides, se_ratio), and the
  same for a few other settings of BlockParams.from_init_params ("custom": its arguments too).
* regnet_y_400mf.pth: a regnet_y_400mf state dict of seeded values (fixtures_densenet.compact_state)
  saved by torch.save; expected.safetensors: "input" (1x3x97x83), the eval-mode "logits" and
  "trunk_output.block2" of torchvision's model after load_state_dict of that file.
* weights.json: torchvision's RegNet weights enums (fixtures_densenet.published).
"""
import json
from pathlib import Path

import torch
import torchvision
from safetensors.torch import save_file
from torchvision.models.regnet import BlockParams

from fixtures_densenet import compact_state, published

NAMES = [f"regnet_{k}_{s}" for k in "yx" for s in ["400mf", "800mf", "1_6gf", "3_2gf", "8gf", "16gf", "32gf"]] + [
    "regnet_y_128gf"
]
CUSTOM = [
    dict(depth=13, w_0=24, w_a=36.44, w_m=2.49, group_width=8),
    dict(depth=25, w_0=112, w_a=33.22, w_m=2.27, group_width=72, bottleneck_multiplier=2.0, se_ratio=0.25),
    dict(depth=10, w_0=16, w_a=10.7, w_m=2.51, group_width=4, bottleneck_multiplier=0.5),
]


def params(bp):
    return {
        "depths": bp.depths, "widths": bp.widths, "group_widths": bp.group_widths,
        "bottleneck_multipliers": bp.bottleneck_multipliers, "strides": bp.strides, "se_ratio": bp.se_ratio,
    }


def main(outdir):
    out = Path(outdir) / "regnet"
    out.mkdir(parents=True, exist_ok=True)
    captured = {}
    real = torchvision.models.regnet._regnet

    def spy(block_params, weights, progress, **kwargs):
        captured["bp"] = block_params
        raise StopIteration  # the parameters are all we need: skip building the model

    torchvision.models.regnet._regnet = spy
    table = {}
    try:
        for n in NAMES:
            try:
                getattr(torchvision.models.regnet, n)()
            except StopIteration:
                pass
            table[n] = params(captured.pop("bp"))
    finally:
        torchvision.models.regnet._regnet = real
    table["custom"] = [dict(args=c, **params(BlockParams.from_init_params(**c))) for c in CUSTOM]
    json.dump(table, open(out / "block_params.json", "w"))

    model = torchvision.models.regnet_y_400mf()
    sd = compact_state(model)
    torch.save(sd, out / "regnet_y_400mf.pth")
    model.load_state_dict(sd)
    torch.manual_seed(4)
    x = torch.randn(1, 3, 97, 83)
    feats = {}
    model.trunk_output.block2.register_forward_hook(lambda m, i, o: feats.__setitem__("b2", o.clone()))
    with torch.no_grad():
        y = model.eval()(x)
    save_file({"input": x, "logits": y, "trunk_output.block2": feats["b2"]}, str(out / "expected.safetensors"))
    json.dump(published(NAMES), open(out / "weights.json", "w"))
