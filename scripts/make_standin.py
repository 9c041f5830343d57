#!/usr/bin/env python3
"""Writes a stand-in for torchvision's resnet50-0676ba61.pth: the same keys, shapes and dtypes,
saved by torch.save exactly as torchvision's file is, but with RANDOM weights (seeded), since
published weights cannot be downloaded here. BatchNorm running statistics are randomised too
(torchvision's init leaves them at 0 and 1).

Usage: make_standin.py OUT.pth [ARCH]
"""
import sys

import torch
import torchvision


def main():
    out = sys.argv[1]
    arch = sys.argv[2] if len(sys.argv) > 2 else "resnet50"
    torch.manual_seed(0)
    model = torchvision.models.get_model(arch, weights=None)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    torch.save(model.state_dict(), out)
    print(f"[standin] wrote {out}: torchvision {arch} state dict with seeded RANDOM weights")


if __name__ == "__main__":
    main()
