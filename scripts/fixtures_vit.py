"""Fixtures of torchvision's Vision Transformer family and of nn.MultiheadAttention (read by
tests/vit.rs). Writes under OUTDIR/vit/:

* mha.safetensors, mha.json: three nn.MultiheadAttention layers. "a" (E 8, 2 heads, batch
  first, attention dropout 0.25), "b" (E 9, 3 heads, sequence first) and "c" (E 8, 2 heads,
  batch first, no bias). For each, after torch.manual_seed(SEED): the initialised state
  ("X.init.KEY"); then every tensor is replaced by seeded values (seed(), as the zoo's) and
  stored ("X.state.KEY"); then outputs `m(q, k, v, need_weights=False)[0]`:
  - a.eval_nograd: self-attention (x is x is x), eval, under no_grad (torch's fused fast path);
  - a.eval_grad: the same with grad enabled (the parameters require grad: the slow path);
  - a.train: train mode after torch.manual_seed(13) (attention dropout masks);
  - a.kv: q, and kv as key and value (key is value), eval, no_grad;
  - a.qkv: three different tensors; a.unbatched: self-attention on [L, E];
  - a.train_kv: train mode, key is value, after torch.manual_seed(14);
  - b.eval_nograd: self-attention on [L, N, E] (3 heads, odd: the slow path);
  - c.eval_nograd: self-attention without biases (the slow path).
  The inputs are "in.x" [2, 5, 8], "in.q" [2, 5, 8], "in.kv" [2, 7, 8], "in.k", "in.v"
  [2, 7, 8], "in.xu" [5, 8], "in.xb" [5, 2, 9]. mha.json: per layer its state-dict keys and
  named_modules (paths and class names).
* tiny.safetensors, tiny.json, tiny_old_keys.pth: a tiny VisionTransformer (image 32, patch
  16, 2 layers, 2 heads, width 8, MLP 16, 5 classes) with seeded weights, saved by torch.save
  with the MLP keys renamed to the version-1 names (`mlp.linear_1.*`, `mlp.linear_2.*`) in an
  OrderedDict without `_metadata` (as an old checkpoint); torchvision loads it (checked here)
  and its eval logits on "old.x" are "old.logits". tiny.json lists the renamed keys. The same
  config with representation_size 6 ("rep"): structure (state keys, shapes, named_modules),
  torchvision's init after torch.manual_seed(22) ("rep.init.KEY"), and eval logits
  ("rep.logits") on "rep.x" after seeding ("rep.state.KEY").
* interp.safetensors, interp.json, interp_224.pth: a small VisionTransformer (patch 16, 1 layer,
  2 heads, width 16, MLP 32, 5 classes) at image_size 224 with seeded weights, saved by
  torch.save; torchvision's interpolate_embeddings(320, 16, state) position embedding
  ("pos320", and "pos320_bilinear" for mode bilinear) and the logits of the model built at 320
  that loads it ("logits320" on "x320"). "big.pos224" is a vit_b_16-sized position embedding
  [1, 197, 768] and "big.pos320" its bicubic interpolation for 320; interp.json holds the keys
  left by reset_heads=True.
* weights.json: torchvision's weights enums of the family: name, file, num_params, metrics,
  resize/crop, interpolation, min_size, DEFAULT.
* cli/: vit_b_32 with 10 classes as a torch.save file, vit_b_32_shared.pth (seeded weights; the
  encoder layers 1..11 are the very tensors of layer 0, so the file stores them once), inputs
  x224.safetensors and x320.safetensors (one tensor each), and expected.safetensors: the
  eval logits at 224 ("logits224"), the output of encoder.layers.encoder_layer_11
  ("layer11_224"), and the logits of vit_b_32(image_size=320) loading
  interpolate_embeddings(320, 32, file) on x320 ("logits320").
"""
import json
import math
import re
from collections import OrderedDict

import torch
import torchvision
from safetensors.torch import save_file
from torch import nn
from torchvision.models.vision_transformer import VisionTransformer, interpolate_embeddings

ARCHS = ["vit_b_16", "vit_b_32", "vit_l_16", "vit_l_32", "vit_h_14"]


def seed(module, base):
    """Every floating state-dict entry i := the zoo's seeded recipe with seed base + i."""
    with torch.no_grad():
        for i, (k, t) in enumerate(module.state_dict(keep_vars=True).items()):
            if not t.is_floating_point():
                continue
            torch.manual_seed(base + i)
            g = torch.randn(t.shape)
            if g.dim() >= 2:
                v = g / math.sqrt(g.numel() / g.shape[0])
            elif k.endswith("weight"):
                v = 1 + 0.1 * g
            else:
                v = 0.1 * g
            t.copy_(v)


def structure(m):
    return {
        "state": [[k, list(t.shape)] for k, t in m.state_dict().items()],
        "modules": [[p, type(x).__name__] for p, x in m.named_modules()],
    }


def mha(out):
    t = {}
    js = {}
    torch.manual_seed(1)
    t["in.x"] = torch.randn(2, 5, 8)
    t["in.q"] = torch.randn(2, 5, 8)
    t["in.kv"] = torch.randn(2, 7, 8)
    t["in.k"] = torch.randn(2, 7, 8)
    t["in.v"] = torch.randn(2, 7, 8)
    t["in.xu"] = torch.randn(5, 8)
    t["in.xb"] = torch.randn(5, 2, 9)
    layers = {
        "a": (3, dict(embed_dim=8, num_heads=2, dropout=0.25, batch_first=True)),
        "b": (4, dict(embed_dim=9, num_heads=3)),
        "c": (5, dict(embed_dim=8, num_heads=2, bias=False, batch_first=True)),
    }
    mods = {}
    for name, (s, kw) in layers.items():
        torch.manual_seed(s)
        m = nn.MultiheadAttention(**kw)
        for k, v in m.state_dict().items():
            t[f"{name}.init.{k}"] = v.clone()
        seed(m, 700 + 10 * s)
        for k, v in m.state_dict().items():
            t[f"{name}.state.{k}"] = v.clone()
        js[name] = dict(structure(m), seed=s, **kw)
        mods[name] = m
    a, b, c = mods["a"], mods["b"], mods["c"]
    x, q, kv, k, v, xu = (t[f"in.{n}"] for n in ["x", "q", "kv", "k", "v", "xu"])

    def run(m, *args):
        return m(*args, need_weights=False)[0].detach().clone()

    for m in mods.values():
        m.eval()
    with torch.no_grad():
        t["a.eval_nograd"] = run(a, x, x, x)
        t["a.kv"] = run(a, q, kv, kv)
        t["a.qkv"] = run(a, q, k, v)
        t["a.unbatched"] = run(a, xu, xu, xu)
        t["b.eval_nograd"] = run(b, t["in.xb"], t["in.xb"], t["in.xb"])
        t["c.eval_nograd"] = run(c, x, x, x)
    t["a.eval_grad"] = run(a, x, x, x)
    a.train()
    torch.manual_seed(13)
    t["a.train"] = run(a, x, x, x)
    torch.manual_seed(14)
    t["a.train_kv"] = run(a, q, kv, kv)
    save_file({k: v.contiguous() for k, v in t.items()}, str(out / "mha.safetensors"))
    (out / "mha.json").write_text(json.dumps(js))


TINY = dict(image_size=32, patch_size=16, num_layers=2, num_heads=2, hidden_dim=8, mlp_dim=16, num_classes=5)


def tiny(out):
    t = {}
    torch.manual_seed(21)
    m = VisionTransformer(**TINY)
    seed(m, 900)
    old = OrderedDict()
    renamed = []
    for k, v in m.state_dict().items():
        nk = re.sub(r"\.mlp\.0\.", ".mlp.linear_1.", re.sub(r"\.mlp\.3\.", ".mlp.linear_2.", k))
        if nk != k:
            renamed.append([nk, k])
        old[nk] = v
    assert not hasattr(old, "_metadata")
    torch.save(old, out / "tiny_old_keys.pth")
    m2 = VisionTransformer(**TINY)
    m2.load_state_dict(torch.load(out / "tiny_old_keys.pth"))  # torchvision's MLPBlock renames
    m2.eval()
    torch.manual_seed(23)
    t["old.x"] = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        t["old.logits"] = m2(t["old.x"])
    js = {"renamed": renamed, "config": TINY}

    rep = dict(TINY, representation_size=6)
    torch.manual_seed(22)
    r = VisionTransformer(**rep)
    for k, v in r.state_dict().items():
        t[f"rep.init.{k}"] = v.clone()
    js["rep"] = dict(structure(r), config=rep)
    seed(r, 950)
    for k, v in r.state_dict().items():
        t[f"rep.state.{k}"] = v.clone()
    r.eval()
    torch.manual_seed(24)
    t["rep.x"] = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        t["rep.logits"] = r(t["rep.x"])
    save_file({k: v.contiguous() for k, v in t.items()}, str(out / "tiny.safetensors"))
    (out / "tiny.json").write_text(json.dumps(js))


SMALL = dict(patch_size=16, num_layers=1, num_heads=2, hidden_dim=16, mlp_dim=32, num_classes=5)


def interp(out):
    t = {}
    torch.manual_seed(31)
    m = VisionTransformer(image_size=224, **SMALL)
    seed(m, 1000)
    torch.save(m.state_dict(), out / "interp_224.pth")
    sd320 = interpolate_embeddings(320, 16, m.state_dict())
    t["pos224"] = m.state_dict()["encoder.pos_embedding"]
    t["pos320"] = sd320["encoder.pos_embedding"]
    t["pos320_bilinear"] = interpolate_embeddings(320, 16, m.state_dict(), "bilinear")["encoder.pos_embedding"]
    m320 = VisionTransformer(image_size=320, **SMALL)
    m320.load_state_dict(sd320)
    m320.eval()
    torch.manual_seed(32)
    t["x320"] = torch.randn(1, 3, 320, 320)
    with torch.no_grad():
        t["logits320"] = m320(t["x320"])
    torch.manual_seed(41)
    big = OrderedDict()
    big["encoder.pos_embedding"] = torch.randn(1, 197, 768) * 0.02
    big["heads.head.weight"] = torch.randn(3, 768)
    big["heads.head.bias"] = torch.randn(3)
    t["big.pos224"] = big["encoder.pos_embedding"].clone()
    res = interpolate_embeddings(320, 16, big, reset_heads=True)
    t["big.pos320"] = res["encoder.pos_embedding"]
    save_file({k: v.contiguous() for k, v in t.items()}, str(out / "interp.safetensors"))
    (out / "interp.json").write_text(json.dumps({"config": SMALL, "reset_heads_keys": list(res.keys())}))


def weights(out):
    rows = []
    for arch in ARCHS:
        enum = torchvision.models.get_model_weights(arch)
        for w in enum:
            tr = w.transforms()
            m = w.meta["_metrics"]["ImageNet-1K"]
            rows.append(
                dict(
                    arch=arch,
                    name=w.name,
                    file=w.url.rsplit("/", 1)[1],
                    num_params=w.meta["num_params"],
                    acc1=m["acc@1"],
                    acc5=m["acc@5"],
                    gflops=w.meta["_ops"],
                    resize_size=tr.resize_size[0],
                    crop_size=tr.crop_size[0],
                    interpolation=tr.interpolation.value,
                    min_size=list(w.meta["min_size"]),
                    default=w is enum.DEFAULT,
                )
            )
    (out / "weights.json").write_text(json.dumps(rows))


def cli(out):
    d = out / "cli"
    d.mkdir(parents=True, exist_ok=True)
    m = torchvision.models.vit_b_32(num_classes=10)
    seed(m, 6000)
    sd = OrderedDict()
    for k, v in m.state_dict().items():
        k0 = re.sub(r"encoder_layer_\d+\.", "encoder_layer_0.", k)
        sd[k] = sd[k0] if k0 != k else v
    torch.save(sd, d / "vit_b_32_shared.pth")
    m.load_state_dict(sd)
    m.eval()
    torch.manual_seed(52)
    x224 = torch.randn(1, 3, 224, 224)
    x320 = torch.randn(1, 3, 320, 320)
    save_file({"x": x224}, str(d / "x224.safetensors"))
    save_file({"x": x320}, str(d / "x320.safetensors"))
    e = {}
    hook = m.encoder.layers.encoder_layer_11.register_forward_hook(lambda mod, i, o: e.__setitem__("layer11_224", o))
    with torch.no_grad():
        e["logits224"] = m(x224)
    hook.remove()
    m320 = torchvision.models.vit_b_32(num_classes=10, image_size=320)
    m320.load_state_dict(interpolate_embeddings(320, 32, sd))
    m320.eval()
    with torch.no_grad():
        e["logits320"] = m320(x320)
    save_file({k: v.contiguous() for k, v in e.items()}, str(d / "expected.safetensors"))


def main(outdir):
    out = outdir / "vit"
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    mha(out)
    tiny(out)
    interp(out)
    weights(out)
    cli(out)


if __name__ == "__main__":
    import sys
    from pathlib import Path

    main(Path(sys.argv[1]))
