#!/usr/bin/env python3
"""Writes the starting seeds of the fuzz targets into fuzz/seeds/<target>/, made by the writers
of each format themselves (torch.save, numpy.save, safetensors, PIL): small, valid files in
every variant the readers support. Run with the venv's Python (scripts/env.sh); the fuzzing
then grows and minimises the corpus (see fuzz/run.sh)."""
import io
import sys
import zipfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save as st_save

OUT = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent / "seeds"


def put(target, name, data):
    d = OUT / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)


def torch_bytes(obj, legacy=False):
    b = io.BytesIO()
    torch.save(obj, b, _use_new_zipfile_serialization=not legacy)
    return b.getvalue()


def main():
    torch.manual_seed(0)
    w = torch.randn(2, 3)
    sds = {
        "plain": {"w": w, "b": torch.arange(3)},
        "dtypes": {"f16": torch.ones(2, dtype=torch.float16), "bf16": torch.ones(2, dtype=torch.bfloat16),
                   "i8": torch.tensor([1, -2], dtype=torch.int8), "bool": torch.tensor([True, False]),
                   "c64": torch.tensor([1 + 2j], dtype=torch.complex64)},
        "views": {"w": w, "t": w.t(), "row": w[1], "tied": w},
        "nested": {"state_dict": {"w": w}, "epoch": 3, "arch": "x", "opt": {"lr": 0.1, "betas": (0.9, 0.99)}},
        "param": {"p": torch.nn.Parameter(torch.ones(2))},
        "scalar": {"s": torch.tensor(1.5), "e": torch.empty(0, 3)},
    }
    for name, sd in sds.items():
        z = torch_bytes(sd)
        put("read_pth", f"{name}.pth", z)
        put("read_pth", f"{name}_legacy.pth", torch_bytes(sd, legacy=True))
        with zipfile.ZipFile(io.BytesIO(z)) as f:
            pkl = next(n for n in f.namelist() if n.endswith("data.pkl"))
            put("unpickle", f"{name}.pkl", f.read(pkl))
    put("read_pth", "bare_tensor.pth", torch_bytes(w))

    arrays = {
        "f32": np.arange(6, dtype="<f4").reshape(2, 3),
        "i64_scalar": np.array(7, dtype="<i8"),
        "bool": np.array([True, False, True]),
        "u8": np.arange(4, dtype=np.uint8),
        "f16": np.ones(3, dtype="<f2"),
        "be_f8": np.arange(3, dtype=">f8"),
        "c8": np.array([1 + 2j], dtype="<c8"),
        "fortran": np.asfortranarray(np.arange(6, dtype="<i4").reshape(2, 3)),
        "empty": np.zeros((0, 3), dtype="<f4"),
        "i2_4d": np.arange(16, dtype="<i2").reshape(1, 2, 2, 4),
    }
    for name, a in arrays.items():
        b = io.BytesIO()
        np.save(b, a)
        put("read_npy", f"{name}.npy", b.getvalue())
    b = io.BytesIO()
    np.lib.format.write_array(b, arrays["f32"], version=(2, 0))
    put("read_npy", "v2.npy", b.getvalue())

    put("safetensors_header", "plain.safetensors", st_save({"w": w, "b": torch.arange(3)}))
    put("safetensors_header", "dtypes.safetensors", st_save({k: v for k, v in sds["dtypes"].items()}))
    put("safetensors_header", "meta.safetensors", st_save({"w": w}, metadata={"format": "pt"}))
    put("safetensors_header", "empty.safetensors", st_save({"e": torch.empty(0, 3), "s": torch.tensor(2.0)}))

    rgb = Image.fromarray((np.arange(8 * 6 * 3) * 7 % 256).astype(np.uint8).reshape(6, 8, 3))
    for mode, name in [("RGB", "rgb"), ("L", "gray"), ("RGBA", "rgba"), ("P", "palette"), ("LA", "gray_alpha")]:
        b = io.BytesIO()
        rgb.convert(mode).save(b, format="PNG")
        put("decode_image", f"{name}.png", b.getvalue())
    b = io.BytesIO()
    Image.fromarray((np.arange(48) * 1000).astype(np.uint16).reshape(6, 8)).save(b, format="PNG")
    put("decode_image", "gray16.png", b.getvalue())
    for mode, name in [("RGB", "rgb"), ("L", "gray")]:
        b = io.BytesIO()
        rgb.convert(mode).save(b, format="JPEG", quality=50)
        put("decode_image", f"{name}.jpg", b.getvalue())
    b = io.BytesIO()
    rgb.save(b, format="JPEG", progressive=True)
    put("decode_image", "progressive.jpg", b.getvalue())


if __name__ == "__main__":
    main()
