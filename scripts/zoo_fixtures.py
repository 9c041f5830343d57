#!/usr/bin/env python3
"""Fixtures of the generic zoo tests (tests/zoo.rs): every torchvision classification model that
a family file under scripts/zoo/ lists, built by torchvision itself.

Usage: zoo_fixtures.py OUTDIR [NAME...]   (tests/common runs it once per test process)
Incremental: each model's fixture is remade only when its case, its family file, this script
or the torch/torchvision versions change (a stamp per model), so adding a family costs only its
own models; NAMEs restrict the run to those models (the manifest then holds only them).

Each scripts/zoo/<family>.py defines `CASES = {name: dict(...)}` for its models, with keys:
  stages: the feature_info node names of the model (module paths), shallowest first;
  input:  (H, W) of the parity input (default (161, 239): odd and non-square);
  batch:  batch size of the parity input (default 1);
  kwargs: builder keyword arguments (default none);
  init:   compare torchvision's initialisation after torch.manual_seed(0) (default: under 40 M
          parameters);
  train:  also a train-mode forward (BatchNorm statistics, dropout / stochastic-depth masks)
          after torch.manual_seed(TRAIN_SEED) (default False; one model per family).

Writes under OUTDIR:
* manifest.json: {"torchvision": every classification model of torchvision.models.list_models(),
  "seed_base", "input_seed", "train_seed", "cases": {name: {input, batch, stages, kwargs, init,
  train, num_params, state: [[key, shape, dtype], ...], modules: [[path, class], ...],
  seeded_sum, init_stats?}}}. The structure is taken on the meta device.
* <name>.json (its manifest entry), <name>.stamp, <name>.safetensors: "logits" and "stage.<node>" (eval mode, on the seeded weights below), and
  for train cases "train.logits" and "train.state.<key>" (every buffer after the step).

Seeded weights (made the same way by tests/common/mod.rs `seed_state`, checked there through
the float64 sum of every seeded tensor): for the i-th state-dict entry (0-based) of a floating
dtype, `torch.manual_seed(seed_base + i); g = torch.randn(shape)` then
  running_var           -> 0.5 + |g|
  dim >= 2              -> g / sqrt(numel / shape[0])   (convs, linears, embeddings, scales)
  1-D key ending weight -> 1 + 0.1 g                    (norm weights)
  other 1-D / 0-D       -> 0.1 g                        (biases, running means, …)
so that no constant (zero BN bias, 1e-6 layer scale, zero head, zero class token) hides a
branch. Integer entries (num_batches_tracked, index buffers) keep their built value. The input
is `torch.manual_seed(input_seed); torch.randn(batch, 3, H, W)`.
"""
import hashlib
import importlib.util
import json
import math
import os
import sys
from pathlib import Path

import torch
import torchvision
from safetensors.torch import save_file

HERE = Path(__file__).resolve().parent
SEED_BASE = 5000
INPUT_SEED = 7
TRAIN_SEED = 11


def family_cases():
    cases = {}
    for f in sorted((HERE / "zoo").glob("*.py")):
        spec = importlib.util.spec_from_file_location(f"zoo_{f.stem}", f)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        for name, c in mod.CASES.items():
            assert name not in cases, f"{name} listed twice"
            cases[name] = dict(c, family=f.stem)
    return cases


def seed_state(model):
    """Fills every floating state-dict entry by the seeded recipe; returns the float64 sum."""
    total = 0.0
    with torch.no_grad():
        for i, (k, t) in enumerate(model.state_dict(keep_vars=True).items()):
            if not t.is_floating_point():
                continue
            torch.manual_seed(SEED_BASE + i)
            g = torch.randn(t.shape, dtype=torch.float32)
            if k.endswith("running_var"):
                v = 0.5 + g.abs()
            elif g.dim() >= 2:
                v = g / math.sqrt(g.numel() / g.shape[0])
            elif k.endswith("weight"):
                v = 1 + 0.1 * g
            else:
                v = 0.1 * g
            t.copy_(v)
            total += v.double().sum().item()
    return total


def build(name, kwargs, device=None):
    if device is None:
        return torchvision.models.get_model(name, **kwargs)
    with torch.device(device):
        return torchvision.models.get_model(name, **kwargs)


def stats(model):
    out = {}
    for k, t in model.state_dict().items():
        t = t.detach().double().flatten()
        out[k] = [t.sum().item(), t.abs().sum().item(), t[:4].tolist()]
    return out


def stamp(name, c):
    h = hashlib.sha256()
    h.update(Path(__file__).read_bytes())
    h.update((HERE / "zoo" / f"{c['family']}.py").read_bytes())
    h.update(repr(sorted(c.items())).encode())
    h.update(f"{torch.__version__} {torchvision.__version__}".encode())
    return h.hexdigest()


def write_atomic(path, write):
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def make_case(name, c):
    kwargs = c.get("kwargs", {})
    h, w = c.get("input", (161, 239))
    batch = c.get("batch", 1)
    meta = build(name, kwargs, "meta")
    num_params = sum(p.numel() for p in meta.parameters())
    entry = {
        "family": c["family"],
        "input": [h, w],
        "batch": batch,
        "stages": c["stages"],
        "kwargs": kwargs,
        "init": c.get("init", num_params < 40_000_000),
        "train": c.get("train", False),
        "num_params": num_params,
        "state": [[k, list(t.shape), str(t.dtype).replace("torch.", "")] for k, t in meta.state_dict().items()],
        "modules": [[p, type(m).__name__] for p, m in meta.named_modules()],
    }
    del meta
    real = None
    if entry["init"]:
        torch.manual_seed(0)
        real = build(name, kwargs)
        entry["init_stats"] = stats(real)
    model = build(name, kwargs, "meta").to_empty(device="cpu")
    # Integer buffers that torchvision computes at construction (index tables) are lost by
    # to_empty: take them from a real build.
    ints = [k for k, t in model.state_dict().items() if not t.is_floating_point()]
    if real is None and any(not k.endswith("num_batches_tracked") for k in ints):
        real = build(name, kwargs)
    real_sd = real.state_dict() if real is not None else {}
    with torch.no_grad():
        for k, t in model.state_dict(keep_vars=True).items():
            if not t.is_floating_point():
                t.copy_(real_sd[k]) if k in real_sd else t.zero_()
    del real, real_sd
    entry["seeded_sum"] = seed_state(model)
    torch.manual_seed(INPUT_SEED)
    x = torch.randn(batch, 3, h, w)
    tensors = {}
    outputs = {}
    modules = dict(model.named_modules())
    hooks = [modules[s].register_forward_hook(lambda m, i, o, s=s: outputs.__setitem__(s, o)) for s in c["stages"]]
    model.eval()
    with torch.no_grad():
        y = model(x)
    for hk in hooks:
        hk.remove()
    tensors["logits"] = y.contiguous()
    for s in c["stages"]:
        o = outputs[s]
        tensors[f"stage.{s}"] = (o[0] if isinstance(o, tuple) else o).contiguous()
    if entry["train"]:
        model.train()
        torch.manual_seed(TRAIN_SEED)
        y = model(x)
        if not isinstance(y, torch.Tensor):  # GoogLeNet / Inception outputs in train mode
            y = y[0]
        tensors["train.logits"] = y.detach().contiguous()
        buffers = dict(model.named_buffers())
        for k, t in model.state_dict().items():
            if k in buffers:
                tensors[f"train.state.{k}"] = t.detach().clone().contiguous()
    return entry, tensors


def main(outdir, names=()):
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    cases = family_cases()
    if names:
        unknown = [n for n in names if n not in cases]
        assert not unknown, f"no zoo case for {unknown}"
        cases = {n: cases[n] for n in names}
    manifest = {
        "torchvision": sorted(torchvision.models.list_models(module=torchvision.models)),
        "seed_base": SEED_BASE,
        "input_seed": INPUT_SEED,
        "train_seed": TRAIN_SEED,
        "cases": {},
    }
    for name, c in cases.items():
        want = stamp(name, c)
        stamp_file = out / f"{name}.stamp"
        if not (stamp_file.exists() and stamp_file.read_text() == want and (out / f"{name}.json").exists()):
            entry, tensors = make_case(name, c)
            write_atomic(out / f"{name}.safetensors", lambda p: save_file(tensors, str(p)))
            write_atomic(out / f"{name}.json", lambda p: p.write_text(json.dumps(entry)))
            write_atomic(stamp_file, lambda p: p.write_text(want))
            print(f"[zoo fixtures] {name}", flush=True)
        manifest["cases"][name] = json.loads((out / f"{name}.json").read_text())
    write_atomic(out / "manifest.json", lambda p: p.write_text(json.dumps(manifest)))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else HERE.parent / "target" / "zoo-fixtures", sys.argv[2:])
