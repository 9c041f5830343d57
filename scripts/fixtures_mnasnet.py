"""Fixtures for MNASNet's state-dict versions (tests/mnasnet.rs): OUTDIR/mnasnet/.

torchvision's MNASNet has `_version = 2` (its stem scales with alpha); state dicts saved by
torchvision < 0.3.1 are version 1 (stem fixed at 32/16 channels), which its
`_load_from_state_dict` converts for alpha != 1 by swapping in a version-1 stem. The version
travels in the state dict's `_metadata` (torch.save keeps it). Files, all with seeded weights and
10 classes (small files):

* v2_05.pth          mnasnet0_5().state_dict()                  (version 2, torchvision loads it)
* v2_05_plain.pth    dict(the same): no `_metadata`             (torchvision refuses: version None)
* v1_05.pth          a version-1 mnasnet0_5 (v1 stem, `_metadata` version 1; torchvision converts)
* v1_10.pth          mnasnet1_0 saved as version 1 (same layout as version 2 for alpha 1)
* v3_05.pth          v2_05 with its root version set to 3        (torchvision refuses)
* nbt_plain.pth      BatchNorm's version rule, on shufflenet_v2_x0_5 (no version check of its
                     own): its state dict without any num_batches_tracked and without `_metadata`
                     (version None: torch keeps the model's num_batches_tracked)
* nbt_v2.pth         the same with `_metadata` (BatchNorm version 2: torch reports them missing)
* io.safetensors     the input `x` [2, 3, 67, 83] and torchvision's eval outputs `out.<file stem>`
                     for each file it loads
* meta.json          per file whether torchvision's load_state_dict accepts it (and its error), and
                     v2_05's `_metadata` as [[module path, version], ...]
"""
import json
import math
from collections import OrderedDict

import torch
import torch.nn as nn
import torchvision
from safetensors.torch import save_file
from torchvision.models.mnasnet import _BN_MOMENTUM, _get_depths, _stack


def seeded(model, base):
    with torch.no_grad():
        for i, (k, t) in enumerate(model.state_dict(keep_vars=True).items()):
            if not t.is_floating_point():
                continue
            torch.manual_seed(base + i)
            g = torch.randn(t.shape)
            if k.endswith("running_var"):
                t.copy_(0.5 + g.abs())
            elif g.dim() >= 2:
                t.copy_(g / math.sqrt(g.numel() / g.shape[0]))
            elif k.endswith("weight"):
                t.copy_(1 + 0.1 * g)
            else:
                t.copy_(0.1 * g)
    return model


def v1_model(alpha):
    """torchvision's own version-1 patch of `_load_from_state_dict`, applied to a fresh model."""
    m = torchvision.models.MNASNet(alpha, num_classes=10)
    depths = _get_depths(alpha)
    v1_stem = [
        nn.Conv2d(3, 32, 3, padding=1, stride=2, bias=False),
        nn.BatchNorm2d(32, momentum=_BN_MOMENTUM),
        nn.ReLU(inplace=True),
        nn.Conv2d(32, 32, 3, padding=1, stride=1, groups=32, bias=False),
        nn.BatchNorm2d(32, momentum=_BN_MOMENTUM),
        nn.ReLU(inplace=True),
        nn.Conv2d(32, 16, 1, padding=0, stride=1, bias=False),
        nn.BatchNorm2d(16, momentum=_BN_MOMENTUM),
        _stack(16, depths[2], 3, 2, 3, 3, _BN_MOMENTUM),
    ]
    for idx, layer in enumerate(v1_stem):
        m.layers[idx] = layer
    m._version = 1
    return m


def try_load(alpha, sd):
    """torchvision's verdict: (output or None, error or None)."""
    if alpha is None:
        m = torchvision.models.shufflenet_v2_x0_5(num_classes=10)
    else:
        m = torchvision.models.MNASNet(alpha, num_classes=10)
    try:
        m.load_state_dict(sd)
    except Exception as e:  # noqa: BLE001  (recorded for the Rust test to compare with)
        return None, f"{type(e).__name__}: {e}"
    m.eval()
    with torch.no_grad():
        return m(X), None


def main(outdir):
    global X
    out = outdir / "mnasnet"
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(3)
    X = torch.randn(2, 3, 67, 83)
    tensors = {"x": X}
    meta = {"files": {}}

    def write(stem, alpha, sd):
        torch.save(sd, out / f"{stem}.pth")
        y, err = try_load(alpha, torch.load(out / f"{stem}.pth", weights_only=True))
        meta["files"][stem] = {"alpha": alpha, "torchvision_loads": err is None, "error": err}
        if y is not None:
            tensors[f"out.{stem}"] = y.contiguous()

    v2 = seeded(torchvision.models.mnasnet0_5(num_classes=10), 100).state_dict()
    meta["metadata_v2_05"] = [[k, v["version"]] for k, v in v2._metadata.items()]
    write("v2_05", 0.5, v2)
    write("v2_05_plain", 0.5, dict(v2))
    write("v1_05", 0.5, seeded(v1_model(0.5), 200).state_dict())
    write("v1_10", 1.0, seeded(v1_model(1.0), 300).state_dict())
    v3 = OrderedDict(v2)
    v3._metadata = OrderedDict((k, dict(v)) for k, v in v2._metadata.items())
    v3._metadata[""]["version"] = 3
    write("v3_05", 0.5, v3)
    shuffle = seeded(torchvision.models.shufflenet_v2_x0_5(num_classes=10), 400).state_dict()
    nbt = OrderedDict((k, t) for k, t in shuffle.items() if not k.endswith("num_batches_tracked"))
    write("nbt_plain", None, dict(nbt))
    nbt._metadata = shuffle._metadata
    write("nbt_v2", None, nbt)
    save_file(tensors, str(out / "io.safetensors"))
    (out / "meta.json").write_text(json.dumps(meta, indent=1))
