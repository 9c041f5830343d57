"""Fixtures for the CLI on the classic families (tests/classic.rs): OUTDIR/classic/.

One small model per family whose files stay small (AlexNet's and VGG's weights are 0.2-0.5 GB:
their parity is the zoo's), with seeded weights saved by torch.save(model.state_dict()):

* squeezenet1_1.pth (1000 classes, for `predict`), shufflenet_v2_x0_5.pth and mnasnet0_75.pth
  (10 classes)
* x.safetensors: the input of `run`, [2, 3, 75, 91]
* expected.safetensors: for each model `<name>.output` (eval logits) and `<name>.<node>` for
  each of its feature_info nodes (forward hooks on the modules), and `<name>.chelsea` the
  logits on examples/images/chelsea.png preprocessed on tchvision's float path (resize 256,
  crop 224)
* predict.json: squeezenet1_1's top-5 (index, probability, label) on chelsea.png
"""
import json
import math

import torch
import torchvision
from safetensors.torch import save_file
from torchvision.io import decode_image
from torchvision.models._meta import _IMAGENET_CATEGORIES
from torchvision.transforms.v2 import functional as F
from pathlib import Path

IMAGES = Path(__file__).resolve().parent.parent / "examples" / "images"

MODELS = {
    "squeezenet1_1": (1000, ["features.1", "features.4", "features.7", "features.12"]),
    "shufflenet_v2_x0_5": (10, ["conv1", "maxpool", "stage2", "stage3", "conv5"]),
    "mnasnet0_75": (10, ["layers.7", "layers.8", "layers.9", "layers.11", "layers.16"]),
}


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
    return model.eval()


def chelsea():
    img = decode_image(str(IMAGES / "chelsea.png"), mode=torchvision.io.ImageReadMode.RGB)
    x = F.center_crop(F.resize(img.float(), [256], antialias=True), [224]) / 255.0
    return F.normalize(x, mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]).unsqueeze(0)


def main(outdir):
    out = Path(outdir) / "classic"
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(5)
    x = torch.randn(2, 3, 75, 91)
    save_file({"input": x}, str(out / "x.safetensors"))
    img = chelsea()
    expected = {}
    for n, (name, (classes, nodes)) in enumerate(MODELS.items()):
        model = seeded(torchvision.models.get_model(name, num_classes=classes), 1000 * (n + 1))
        torch.save(model.state_dict(), out / f"{name}.pth")
        got = {}
        mods = dict(model.named_modules())
        hooks = [mods[s].register_forward_hook(lambda m, i, o, s=s: got.__setitem__(s, o.clone())) for s in nodes]
        with torch.no_grad():
            expected[f"{name}.output"] = model(x)
        for h in hooks:
            h.remove()
        for s in nodes:
            expected[f"{name}.{s}"] = got[s].contiguous()
        with torch.no_grad():
            expected[f"{name}.chelsea"] = model(img)
    save_file(expected, str(out / "expected.safetensors"))
    p, i = expected["squeezenet1_1.chelsea"].softmax(-1)[0].topk(5)
    json.dump({"index": i.tolist(), "prob": p.tolist(), "label": [_IMAGENET_CATEGORIES[k] for k in i.tolist()]},
              open(out / "predict.json", "w"))
