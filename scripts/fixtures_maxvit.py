"""Fixtures of MaxViT's own behaviour (tests/maxvit.rs), made by torchvision.

Writes OUTDIR/maxvit/maxvit.json: torchvision's error messages for maxvit_t at input sizes it
refuses to build (input_size=(256, 256): a block input not divisible by the partition size),
and, for a maxvit_t built for 224x224, whether torchvision refuses to run it on 256x256 and
on 448x448 inputs (True: it raises), on the meta device; and the output shape of maxvit_t(input_size=(221, 223)) at that size.
"""
import json
from pathlib import Path

import torch
from torchvision.models import maxvit_t


def main(outdir):
    out = Path(outdir) / "maxvit"
    out.mkdir(parents=True, exist_ok=True)
    res = {}
    try:
        with torch.device("meta"):
            maxvit_t(input_size=(256, 256))
        res["build_256"] = None
    except ValueError as e:
        res["build_256"] = str(e)
    with torch.device("meta"):
        m = maxvit_t().eval()
    for s in (256, 448):
        try:
            with torch.no_grad():
                m(torch.empty(1, 3, s, s, device="meta"))
            res[f"run_{s}_refused"] = False
        except Exception:  # noqa: BLE001 (a reshape or assertion error, as it happens)
            res[f"run_{s}_refused"] = True
    # Built for 221x223 (every block input divides into 7), torchvision runs there.
    with torch.device("meta"):
        m = maxvit_t(input_size=(221, 223), num_classes=3).eval()
        with torch.no_grad():
            res["run_221x223_shape"] = list(m(torch.empty(1, 3, 221, 223)).shape)
    (out / "maxvit.json").write_text(json.dumps(res))
