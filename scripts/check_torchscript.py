#!/usr/bin/env python3
"""Checks a TorchScript file that `tchvision export` wrote, with torch and torchvision only.

Usage: check_torchscript.py MODEL.pt ARCH WEIGHTS.pth INPUT.safetensors [--device D]

Loads MODEL.pt with torch.jit.load (as Triton's PyTorch backend and TorchServe do), runs it on
the one tensor of INPUT.safetensors, and compares with torchvision.models.ARCH loaded with
WEIGHTS.pth (eval mode). Prints one JSON object:

  max_rel_err       max |ours - torchvision| / max |torchvision| on the input
  other_batch       the same for the input repeated to batch + 1 (null if that raised)
  keys_equal        whether the file's state_dict() keys are torchvision's, in order
  values_equal      whether every state_dict() tensor equals torchvision's exactly
  num_state         entries in the file's state_dict()
  file_bytes        size of MODEL.pt
  state_bytes       bytes of torchvision's state dict (sum of numel * element size)
  reloaded_rel_err  max_rel_err after torch.jit.save + torch.jit.load in Python
"""
import io
import json
import os
import sys

import torch
import torchvision
from safetensors.torch import load_file


def rel(a, b):
    a, b = a.double().cpu(), b.double().cpu()
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-30)).item()


def main():
    args = sys.argv[1:]
    device = "cpu"
    if "--device" in args:
        i = args.index("--device")
        device = args[i + 1]
        del args[i : i + 2]
    path, arch, weights, inp = args
    x = next(iter(load_file(inp).values())).float().to(device)
    ref = getattr(torchvision.models, arch)()
    ref.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    ref = ref.eval().to(device)
    m = torch.jit.load(path, map_location=device).eval()
    with torch.no_grad():
        want = ref(x)
        got = m(x)
        out = {"max_rel_err": rel(got, want)}
        x2 = torch.cat([x, x[:1]])
        try:
            out["other_batch"] = rel(m(x2), ref(x2))
        except Exception:
            out["other_batch"] = None
        buf = io.BytesIO()
        torch.jit.save(m, buf)
        buf.seek(0)
        out["reloaded_rel_err"] = rel(torch.jit.load(buf, map_location=device)(x), want)
    sd, rsd = m.state_dict(), ref.state_dict()
    out["keys_equal"] = list(sd.keys()) == list(rsd.keys())
    out["values_equal"] = out["keys_equal"] and all(torch.equal(sd[k].cpu(), rsd[k].cpu()) for k in rsd)
    out["num_state"] = len(sd)
    out["file_bytes"] = os.path.getsize(path)
    out["state_bytes"] = sum(t.numel() * t.element_size() for t in rsd.values())
    print(json.dumps(out))


if __name__ == "__main__":
    main()
