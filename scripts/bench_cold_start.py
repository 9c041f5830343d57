#!/usr/bin/env python3
"""The Python side of examples/bench_cold_start.rs.

    bench_cold_start.py make DIR
        writes DIR/resnet50.pth (torchvision's resnet50, seeded random weights) and DIR/x.npy
        (one 224x224 image batch)
    bench_cold_start.py run ARCH WEIGHTS INPUT OUTPUT
        the job `tchvision run ARCH --weights WEIGHTS --input INPUT --output OUTPUT` does, in
        Python: import torch and torchvision, build the model, load_state_dict(torch.load(...)),
        eval, forward under inference_mode, save the output
"""
import sys


def main():
    if sys.argv[1] == "make":
        import numpy as np
        import torch
        import torchvision
        from pathlib import Path

        out = Path(sys.argv[2])
        out.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(0)
        torch.save(torchvision.models.resnet50().state_dict(), out / "resnet50.pth")
        np.save(out / "x.npy", torch.randn(1, 3, 224, 224).numpy())
        return
    arch, weights, inp, output = sys.argv[2:6]
    import numpy as np
    import torch
    import torchvision

    model = getattr(torchvision.models, arch)()
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    model.eval()
    x = torch.from_numpy(np.load(inp))
    with torch.inference_mode():
        y = model(x)
    torch.save({"output": y}, output)


if __name__ == "__main__":
    main()
