"""Fixtures of torchvision's DenseNet family (tests/densenet.rs), and two helpers the GoogLeNet /
Inception and RegNet fixture scripts share.

Writes under OUTDIR/densenet/:
* densenet121-a639ec97.pth: a densenet121 state dict under the old key names of torchvision's
  published files (`features.denseblock1.denselayer1.norm.1.weight`, ...), saved by torch.save
  under the published file's name (its content is not the published one: see compact_state).
* oldkeys.json: the old keys and the keys torchvision renames them to.
* expected.safetensors: "input" (2x3x65x71) and the eval-mode outputs of the model torchvision
  makes from that file by its own loading code (densenet121(weights=...) with the download
  replaced by the file): "logits", "features.norm5"; and "logits.memory_efficient" of
  densenet121(memory_efficient=True) on the same weights.
* weights.json: torchvision's DenseNet weights enums (see published()).
"""
import json
import math
import re
from contextlib import contextmanager
from pathlib import Path

import torch
import torchvision
from safetensors.torch import save_file
from torchvision.models import get_model_weights
from torchvision.models._api import WeightsEnum

SEED_BASE = 9000


def compact_state(model):
    """The model's state dict with seeded values in small storages: each floating tensor of shape
    [n, *rest] is an as_strided view of its own storage of n + prod(rest) - 1 values, row i being
    storage[i : i + prod(rest)] (so a 1000x1024 classifier takes 2023 values and the saved file
    stays small). Values for the i-th entry: torch.manual_seed(SEED_BASE + i); g = randn(storage)
    then running_var 0.5 + |g|, dim >= 2 g / sqrt(prod(rest)), 1-D weight 1 + 0.1 g, other 0.1 g.
    Integer entries are kept."""
    out = {}
    for i, (k, t) in enumerate(model.state_dict().items()):
        if not t.is_floating_point() or t.dim() == 0:
            out[k] = t.clone()
            continue
        rest = math.prod(t.shape[1:])
        torch.manual_seed(SEED_BASE + i)
        g = torch.randn(t.shape[0] + rest - 1)
        if k.endswith("running_var"):
            v = 0.5 + g.abs()
        elif t.dim() >= 2:
            v = g / math.sqrt(rest)
        elif k.endswith("weight"):
            v = 1 + 0.1 * g
        else:
            v = 0.1 * g
        strides = [1] + [math.prod(t.shape[d + 1:]) for d in range(1, t.dim())]
        out[k] = torch.as_strided(v, tuple(t.shape), tuple(strides))
    return out


@contextmanager
def published_file(state_dict):
    """torchvision's builders with `weights=` load `state_dict` instead of downloading."""
    saved = WeightsEnum.get_state_dict
    WeightsEnum.get_state_dict = lambda self, *a, **k: {k: v.clone() for k, v in state_dict.items()}
    try:
        yield
    finally:
        WeightsEnum.get_state_dict = saved


def published(archs):
    """torchvision's weights enums of `archs`: one record per weight, in enum order."""
    table = []
    for arch in archs:
        enum = get_model_weights(arch)
        for w in enum:
            t = w.transforms()
            m = w.meta["_metrics"]["ImageNet-1K"]
            table.append({
                "arch": arch, "name": w.name, "file": w.url.rsplit("/", 1)[1], "num_params": w.meta["num_params"],
                "acc1": m["acc@1"], "acc5": m["acc@5"], "gflops": w.meta["_ops"], "file_size_mb": w.meta["_file_size"],
                "resize_size": t.resize_size[0], "crop_size": t.crop_size[0],
                "interpolation": t.interpolation.value, "default": enum.DEFAULT == w,
                "categories": len(w.meta["categories"]),
            })
    return table


OLD = re.compile(r"^(.*denselayer\d+\.)(norm|relu|conv)([12])\.(weight|bias|running_mean|running_var)$")


def main(outdir):
    out = Path(outdir) / "densenet"
    out.mkdir(parents=True, exist_ok=True)
    sd = compact_state(torchvision.models.densenet121())
    old = {}
    renames = []
    for k, v in sd.items():
        m = OLD.match(k)
        if m:
            ok = f"{m.group(1)}{m.group(2)}.{m.group(3)}.{m.group(4)}"
            renames.append([ok, k])
            old[ok] = v
        else:
            old[k] = v
    torch.save(old, out / "densenet121-a639ec97.pth")
    json.dump({"renames": renames, "num_keys": len(old)}, open(out / "oldkeys.json", "w"))

    torch.manual_seed(3)
    x = torch.randn(2, 3, 65, 71)
    tensors = {"input": x}
    with published_file(old):
        model = torchvision.models.densenet121(weights="IMAGENET1K_V1").eval()
        lean = torchvision.models.densenet121(weights="IMAGENET1K_V1", memory_efficient=True).eval()
    feats = {}
    model.features.norm5.register_forward_hook(lambda m, i, o: feats.__setitem__("norm5", o.clone()))
    with torch.no_grad():
        tensors["logits"] = model(x)
        tensors["features.norm5"] = feats["norm5"]
        tensors["logits.memory_efficient"] = lean(x)
    save_file(tensors, str(out / "expected.safetensors"))
    json.dump(published(["densenet121", "densenet161", "densenet169", "densenet201"]), open(out / "weights.json", "w"))
