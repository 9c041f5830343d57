"""Fixtures of torchvision's ResNet family, the registry, feature extraction and the FPN.

Writes under OUTDIR/resnet/ (read by tests/resnet.rs and tests/features.rs):

* structure.json: for every model of the family (and a few variants: dilation, GroupNorm,
  10 classes, zero_init_residual), built on the meta device: the state dict (keys in order,
  shapes, dtypes) and named_modules (paths and class names); the FeaturePyramidNetwork's too;
  torchvision's get_graph_node_names for resnet18 and resnet50 (train and eval).
* resnet18.safetensors, resnet50.safetensors: state dicts used for the numerical parity tests
  (torchvision's init after the seeds of init.json). Before anything is run the BatchNorm
  statistics are calibrated on a random batch and then randomised (torchvision's init leaves
  them 0 and 1, which would hide BatchNorm bugs), the BN affine parameters are randomised too,
  and every float tensor is rounded to float16 (and run in float32 by torch): the files hold
  those exact values as float16, half the size.
* seeded_norms.safetensors: for the rest of the family (resnet34, resnet101, resnet152, the
  ResNeXts and the Wide ResNets, SEEDED), too big to ship, the conv and fc weights are
  "seeded": for the i-th state-dict entry (0-based) of dim >= 2,
  `torch.manual_seed(SEED_BASE + i); w = torch.randn(shape) * sqrt(2 / fan_in)` with fan_in
  the numel of w[0]; "fc.bias" (index i) is `torch.manual_seed(SEED_BASE + i);
  torch.randn(shape) * 0.01`. libtorch's generator makes the same numbers in Rust. The norm
  tensors (calibrated as above) are stored in float32 under "NAME.KEY", with the float64 sum
  of each seeded tensor (structure.json's seeded_sums) so the Rust side can check that it made
  the same weights. resnet18 with GroupNorm(32) is seeded entirely (its GroupNorm weights
  1 + 0.1 * randn, biases 0.1 * randn, same seeding).
* family.safetensors: for every model of SEEDED, eval-mode logits on x224[:1] and x193
  ("NAME.logits.x224", "NAME.logits.x193") and the outputs of its layer1..layer4 modules on
  x224[:1] ("NAME.node.layerK.x224", taken by forward hooks during the same forward).
* outputs.safetensors: inputs (x224: 2x3x224x224, x193: 1x3x193x257), eval-mode logits of
  resnet18, resnet50 and resnet18 with GroupNorm, create_feature_extractor outputs (with the
  ReLUs made non-inplace, and one output of the inplace model to show the difference;
  resnet18's layer1..layer4 on x224, resnet50's on x193), a train-mode forward of resnet18
  with the updated BatchNorm statistics, the dilated resnet50's logits, the FPN's weights,
  inputs (resnet50's layer1..layer4 on x193) and outputs.
* init.json: torchvision's init after a seed (torch.manual_seed(0); resnet18(); and
  torch.manual_seed(1); resnet50(zero_init_residual=True); torch.manual_seed(2);
  FeaturePyramidNetwork([256, 512, 1024, 2048], 64)): per key the float64 sum, the sum of
  absolute values and the first four values. These two models are then the resnet18 and
  resnet50 above (calibration replaces every BN tensor, zero-initialised ones included).
"""
import copy
import json
import math
from functools import partial

import numpy as np
import torch
import torchvision
from safetensors.torch import save_file
from torch import nn
from torchvision.models.feature_extraction import create_feature_extractor, get_graph_node_names
from torchvision.ops import FeaturePyramidNetwork

NAMES = [
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "resnext50_32x4d",
    "resnext101_32x8d",
    "resnext101_64x4d",
    "wide_resnet50_2",
    "wide_resnet101_2",
]

# Variants: name -> (builder, kwargs). The Rust tests build the same configurations.
VARIANTS = {
    "resnet50_dilated": ("resnet50", {"replace_stride_with_dilation": [False, True, True]}),
    "resnet50_gn32": ("resnet50", {"norm_layer": partial(nn.GroupNorm, 32)}),
    "resnet18_classes10": ("resnet18", {"num_classes": 10}),
    "resnet18_zero_init": ("resnet18", {"zero_init_residual": True}),
}

SEED_BASE = 1000

# The models whose weights are seeded rather than stored (every model of NAMES but the two
# shipped ones); all four stages of each are compared.
SEEDED = [n for n in NAMES if n not in ("resnet18", "resnet50")]
STAGES = ["layer1", "layer2", "layer3", "layer4"]

# resnet50 nodes returned by create_feature_extractor (on x193).
R50_NODES = [
    "x",
    "conv1",
    "maxpool",
    "layer1",
    "layer2",
    "layer3",
    "layer4",
    "avgpool",
    "flatten",
    "fc",
    "layer3.5",
    "layer2.0.conv1",
    "layer1.0.relu_1",
    "layer4.1.add",
    "layer2.1.bn2",
    "layer2.0.downsample",
    "layer4.2.relu_2",
    "layer4.0",
]
# The nodes of R50_NODES whose last graph node another query also ends at.
R50_ALONE = ["layer3.5", "layer4.2.relu_2"]
# resnet18 nodes (on x224).
R18_NODES = ["layer2", "layer4", "layer1.1.add", "layer3.0.downsample.1", "fc"]

BN_TYPES = (nn.BatchNorm2d,)


def structure(model):
    return {
        "state_dict": [[k, list(v.shape), str(v.dtype).replace("torch.", "")] for k, v in model.state_dict().items()],
        "modules": [[n, type(m).__name__] for n, m in model.named_modules()],
    }


def build(name, device=None, **kw):
    fn = getattr(torchvision.models, name)
    if device is None:
        return fn(**kw)
    with torch.device(device):
        return fn(**kw)


@torch.no_grad()
def calibrate(model, seed):
    """Randomises the BN affine parameters (the last norm of each residual branch smaller, so
    activations stay O(1) through the depth), sets the running statistics from a random batch,
    then randomises them."""
    g = torch.Generator().manual_seed(seed)
    last = set()
    for m in model.modules():
        if isinstance(m, torchvision.models.resnet.Bottleneck):
            last.add(id(m.bn3))
        elif isinstance(m, torchvision.models.resnet.BasicBlock):
            last.add(id(m.bn2))
    bns = [m for m in model.modules() if isinstance(m, BN_TYPES)]
    for m in bns:
        c = m.num_features
        lo, span = (0.2, 0.3) if id(m) in last else (0.5, 1.0)
        m.weight.copy_(lo + span * torch.rand(c, generator=g))
        m.bias.copy_(0.2 * torch.randn(c, generator=g))
        m.reset_running_stats()
        m.momentum = None  # cumulative: one batch sets the statistics
    model.train()
    model(torch.randn(2, 3, 64, 96, generator=g))
    for m in bns:
        m.momentum = 0.1
        c = m.num_features
        m.running_mean.add_(0.1 * m.running_var.sqrt() * torch.randn(c, generator=g))
        m.running_var.mul_(torch.exp(0.2 * torch.randn(c, generator=g)))
        m.num_batches_tracked.fill_(int(torch.randint(1, 1000, (1,), generator=g)))
    model.eval()


@torch.no_grad()
def round_half(model):
    for v in model.state_dict().values():
        if v.is_floating_point():
            v.copy_(v.half().float())


def sum64(v):
    """The float64 sum of a float32 tensor (numpy's pairwise sum: a few times faster than
    torch's sum(dtype=float64) on big tensors, as exact)."""
    return float(v.detach().numpy().sum(dtype=np.float64))


def half_state(model):
    return {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in model.state_dict().items()}


@torch.no_grad()
def seeded_fill(model, norms=False):
    """The seeded recipe (see the module docs); with `norms`, also every other 1-D tensor
    (GroupNorm's): "...weight" = 1 + 0.1 * randn, "...bias" = 0.1 * randn."""
    sums = {}
    for i, (k, v) in enumerate(model.state_dict().items()):
        # normal_(0, std) in place makes the same floats as randn(shape) * std (mean 0: one
        # product each), without the temporaries
        if v.dim() >= 2:
            torch.manual_seed(SEED_BASE + i)
            v.normal_(0.0, math.sqrt(2.0 / v[0].numel()))
        elif k == "fc.bias":
            torch.manual_seed(SEED_BASE + i)
            v.normal_(0.0, 0.01)
        elif norms and v.dim() == 1 and k.endswith("weight"):
            torch.manual_seed(SEED_BASE + i)
            v.copy_(1 + 0.1 * torch.randn(v.shape))
        elif norms and v.dim() == 1 and k.endswith("bias"):
            torch.manual_seed(SEED_BASE + i)
            v.copy_(0.1 * torch.randn(v.shape))
        else:
            continue
        sums[k] = sum64(v)
    return sums


def forward_stages(model, xs):
    """`model(xs)` and the outputs of its layer1..layer4 modules in that forward (hooks)."""
    got = {}
    hooks = [
        getattr(model, k).register_forward_hook(lambda _m, _i, y, k=k: got.__setitem__(k, y.clone()))
        for k in STAGES
    ]
    try:
        logits = model(xs)
    finally:
        for h in hooks:
            h.remove()
    return logits, got


def no_inplace(model):
    for m in model.modules():
        if isinstance(m, nn.ReLU):
            m.inplace = False


def init_summary(model):
    out = {}
    for k, v in model.state_dict().items():
        if v.is_floating_point():
            out[k] = {
                "sum": sum64(v),
                "abs_sum": float(np.abs(v.numpy()).sum(dtype=np.float64)),
                "first": v.flatten()[:4].double().tolist(),
            }
    return out


@torch.no_grad()
def main(outdir):
    out = outdir / "resnet"
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))

    # ---- structure of every model (meta device: no memory, no init cost)
    st = {"models": {}, "variants": {}}
    for name in NAMES:
        st["models"][name] = structure(build(name, "meta"))
    for vname, (name, kw) in VARIANTS.items():
        st["variants"][vname] = structure(build(name, "meta", **kw))
    with torch.device("meta"):
        st["fpn"] = structure(FeaturePyramidNetwork([256, 512, 1024, 2048], 64))
    st["graph_nodes"] = {}
    for name in ["resnet18", "resnet50"]:
        tr, ev = get_graph_node_names(build(name, "meta"))
        st["graph_nodes"][name] = {"train": tr, "eval": ev}
    st["r50_nodes"] = R50_NODES
    st["r18_nodes"] = R18_NODES
    st["seed_base"] = SEED_BASE
    st["seeded"] = SEEDED

    # ---- init parity after a seed
    # (the two ResNets are then calibrated into the stored-weight models below)
    init = {}
    torch.manual_seed(0)
    r18 = build("resnet18")
    init["resnet18"] = init_summary(r18)
    torch.manual_seed(1)
    r50 = build("resnet50", zero_init_residual=True)
    init["resnet50_zero_init"] = init_summary(r50)
    torch.manual_seed(2)
    init["fpn"] = init_summary(FeaturePyramidNetwork([256, 512, 1024, 2048], 64))
    (out / "init.json").write_text(json.dumps(init))

    g = torch.Generator().manual_seed(1234)
    x224 = torch.randn(2, 3, 224, 224, generator=g)
    x193 = torch.randn(1, 3, 193, 257, generator=g)
    xtrain = torch.randn(2, 3, 64, 80, generator=g)
    o = {"x224": x224, "x193": x193, "xtrain": xtrain}

    # ---- resnet18: stored weights
    calibrate(r18, 11)
    round_half(r18)
    save_file(half_state(r18), str(out / "resnet18.safetensors"))
    o["resnet18.logits.x224"], stages = forward_stages(r18, x224)
    o["resnet18.logits.x193"] = r18(x193)
    no_inplace(r18)
    fx = create_feature_extractor(r18, return_nodes=R18_NODES)
    fx.eval()
    for k, v in fx(x224).items():
        o[f"resnet18.node.{k}"] = v
    for k, v in stages.items():  # the stages R18_NODES lacks (the others are the same tensors)
        assert o.setdefault(f"resnet18.node.{k}", v) is v or torch.equal(o[f"resnet18.node.{k}"], v), k
    # one train-mode step: logits and updated statistics
    t18 = copy.deepcopy(r18)
    t18.train()
    o["resnet18.train.logits"] = t18(xtrain)
    for key in ["bn1.running_mean", "layer1.0.bn1.running_mean", "layer4.1.bn2.running_var",
                "layer4.1.bn2.num_batches_tracked"]:
        o[f"resnet18.train.{key}"] = t18.state_dict()[key].clone()

    # ---- resnet50: stored weights
    calibrate(r50, 21)
    round_half(r50)
    save_file(half_state(r50), str(out / "resnet50.safetensors"))
    o["resnet50.logits.x224"] = r50(x224)
    # torchvision's ReLU(inplace=True) overwrites the output of the node before it (bn1, bn2,
    # add) in the extractor's outputs: keep one such output to show it, then extract with
    # inplace=False, which returns what each node computed.
    fx = create_feature_extractor(r50, return_nodes=["layer4.1.add", "fc"])  # fc: the ReLU runs
    fx.eval()
    o["resnet50.inplace_node.layer4.1.add"] = fx(x193)["layer4.1.add"]
    no_inplace(r50)
    # torchvision lets a graph node answer one query only: asked for "layer3" and "layer3.5"
    # together, it answers "layer3.5" with the node before layer3.5's last (and with "layer4"
    # and "layer4.2.relu_2", the second not at all). Queries that share their last node with
    # another are asked alone.
    fx = create_feature_extractor(r50, return_nodes=[n for n in R50_NODES if n not in R50_ALONE])
    fx.eval()
    feats = fx(x193)
    for n in R50_ALONE:
        fx = create_feature_extractor(r50, return_nodes=[n])
        fx.eval()
        feats[n] = fx(x193)[n]
    for k, v in feats.items():
        o[f"resnet50.node.{k}"] = v
    o["resnet50.logits.x193"] = feats["fc"]
    # dilated resnet50 on the same weights
    d50 = build("resnet50", "meta", replace_stride_with_dilation=[False, True, True]).to_empty(device="cpu")
    d50.load_state_dict(r50.state_dict())
    d50.eval()
    o["resnet50_dilated.logits.x193"] = d50(x193)

    # ---- FPN on resnet50's stages
    torch.manual_seed(30)
    fpn = FeaturePyramidNetwork([256, 512, 1024, 2048], 64)
    for m in fpn.modules():
        if isinstance(m, nn.Conv2d):
            m.bias.normal_(0, 0.1)  # torchvision's init leaves them 0, which would hide bias bugs
    for k, v in fpn.state_dict().items():
        o[f"fpn.state.{k}"] = v.clone()
    res = fpn({f"layer{i}": feats[f"layer{i}"] for i in range(1, 5)})
    for k, v in res.items():
        o[f"fpn.out.{k}"] = v

    # ---- the rest of the family: seeded weights, stored norms; logits at both sizes (batch 1),
    # layer1..layer4 at 224. One model at a time: the biggest holds 0.5 GB of weights.
    norms, fam = {}, {}
    st["seeded_sums"] = {}
    x224_1 = x224[:1]
    for name in SEEDED:
        m = build(name, "meta").to_empty(device="cpu")  # every tensor is set below
        st["seeded_sums"][name] = seeded_fill(m)
        calibrate(m, 40 + NAMES.index(name))
        for k, v in m.state_dict().items():
            if k not in st["seeded_sums"][name]:
                norms[f"{name}.{k}"] = v.clone()
        fam[f"{name}.logits.x224"], stages = forward_stages(m, x224_1)
        for k, v in stages.items():
            fam[f"{name}.node.{k}.x224"] = v
        fam[f"{name}.logits.x193"] = m(x193)
        del m, stages
    save_file(norms, str(out / "seeded_norms.safetensors"))
    save_file({k: v.contiguous() for k, v in fam.items()}, str(out / "family.safetensors"))

    # ---- ResNet-18 with GroupNorm(32): every tensor seeded (nothing to store but the logits)
    m = build("resnet18", "meta", norm_layer=partial(nn.GroupNorm, 32)).to_empty(device="cpu")
    st["seeded_sums"]["resnet18_gn32"] = seeded_fill(m, norms=True)
    m.eval()
    o["resnet18_gn32.logits.x193"] = m(x193)

    save_file({k: v.contiguous().clone() for k, v in o.items()}, str(out / "outputs.safetensors"))
    (out / "structure.json").write_text(json.dumps(st))


if __name__ == "__main__":
    import pathlib
    import sys
    import time

    t = time.time()
    main(pathlib.Path(sys.argv[1]))
    print(f"{time.time() - t:.1f} s")
