"""Fixtures for tchvision's .npy reader (outdir/npy/): arrays written by numpy.save in every
variant the reader supports, and torch.from_numpy(np.load(f)) of each, the oracle, in a
safetensors file (complex tensors as torch.view_as_real, which safetensors can store), with each
torch dtype in names.json."""
import json
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file


def main(outdir):
    out = Path(outdir) / "npy"
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    arrays = {
        "f32_nchw": rng.standard_normal((2, 3, 5, 7)).astype("<f4"),
        "f64_be": rng.standard_normal((3, 4)).astype(">f8"),
        "f16": rng.standard_normal((6,)).astype("<f2"),
        "i64_scalar": np.array(-123456789012, dtype="<i8"),
        "i32_be": np.arange(-5, 7, dtype=">i4").reshape(3, 4),
        "i16": np.arange(-8, 8, dtype="<i2"),
        "i8": np.arange(-4, 4, dtype="i1"),
        "u8": np.arange(250, 256, dtype="u1"),
        "bool": np.array([[True, False], [False, True]]),
        "c64": (rng.standard_normal(4) + 1j * rng.standard_normal(4)).astype("<c8"),
        "c128_be": (rng.standard_normal(3) + 1j * rng.standard_normal(3)).astype(">c16"),
        "fortran_3d": np.asfortranarray(rng.standard_normal((2, 3, 4)).astype("<f4")),
        "empty": np.zeros((0, 5), dtype="<f4"),
    }
    expected, dtypes = {}, {}
    for name, a in arrays.items():
        np.save(out / f"{name}.npy", a)
        t = torch.from_numpy(np.load(out / f"{name}.npy").astype(a.dtype.newbyteorder("="))).contiguous()
        dtypes[name] = str(t.dtype).removeprefix("torch.")
        expected[name] = torch.view_as_real(t).contiguous() if t.is_complex() else t
    # Format version 2.0 (4-byte header length), as numpy writes for huge headers.
    with open(out / "v2.npy", "wb") as f:
        np.lib.format.write_array(f, arrays["f32_nchw"], version=(2, 0))
    expected["v2"] = expected["f32_nchw"].clone()
    dtypes["v2"] = dtypes["f32_nchw"]
    save_file(expected, str(out / "expected.safetensors"))
    json.dump(dtypes, open(out / "dtypes.json", "w"), indent=1, sort_keys=True)
