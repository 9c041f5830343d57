#!/usr/bin/env python3
"""Prints the Rust weights table of torchvision's published weights for the given models, as a
family file declares it (`Weights::imagenet(...)` entries), from torchvision's own `Weights`
enums: file name (from the URL), num_params, acc@1/acc@5, GFLOPS, file size, resize/crop and
interpolation, DEFAULT. Options the builder takes from the weights (`transform_input`),
key remaps (DenseNet) and dropped keys (aux heads) are written by hand in the family file.

Usage: gen_weights.py NAME... (e.g. gen_weights.py mobilenet_v2 mobilenet_v3_large)
A test (tests/weights.rs) checks every table against the enums, so a hand edit cannot drift.
"""
import sys

from torchvision.models import get_model_weights
from torchvision.transforms import InterpolationMode


def entry(arch, w, default):
    meta = w.meta
    m = meta["_metrics"]["ImageNet-1K"]
    t = w.transforms()
    resize = t.resize_size[0] if isinstance(t.resize_size, (list, tuple)) else t.resize_size
    crop = t.crop_size[0] if isinstance(t.crop_size, (list, tuple)) else t.crop_size
    file = w.url.rsplit("/", 1)[1]
    s = (f'    Weights::imagenet("{arch}", "{w.name}", "{file}", {meta["num_params"]}, '
         f'[{m["acc@1"]!r}, {m["acc@5"]!r}], {meta["_ops"]!r}, {meta["_file_size"]!r}, [{resize}, {crop}])')
    if t.interpolation == InterpolationMode.BICUBIC:
        s += ".bicubic()"
    elif t.interpolation != InterpolationMode.BILINEAR:
        raise SystemExit(f"{arch} {w.name}: unsupported interpolation {t.interpolation}")
    if default:
        s += ".default()"
    return s + ","


def main():
    for arch in sys.argv[1:]:
        enum = get_model_weights(arch)
        default = enum.DEFAULT
        print(f"/// torchvision's `{enum.__name__}`.")
        print(f"const {arch.upper()}_WEIGHTS: &[Weights] = &[")
        for w in enum:
            print(entry(arch, w, w is default))
        print("];")


if __name__ == "__main__":
    main()
