"""Fixtures for the model CLI and image preprocessing tests (outdir/cli/), made by torchvision."""
import json
import math

import numpy as np
import torch
import torchvision
import torchvision.models.feature_extraction
from torchvision.io import decode_image
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F
from safetensors.torch import save_file
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "examples" / "images"


def randomize_bn(model):
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)


def float_preprocess(img, resize, crop):
    # The float path tchvision takes: antialiased bilinear resize in float32, center crop,
    # scale to [0, 1], normalise with ImageNet statistics.
    x = F.resize(img.float(), [resize], antialias=True)
    x = F.center_crop(x, [crop])
    x = x / 255.0
    return F.normalize(x, mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])


def main(outdir):
    out = Path(outdir) / "cli"
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    model = torchvision.models.resnet18().eval()
    randomize_bn(model)
    torch.save(model.state_dict(), out / "resnet18.pth")

    # `run --weights FILE` on the transformer and ConvNeXt families: torchvision's own init
    # (seeded), every BatchNorm statistic randomised, the state dict as torch.save writes it,
    # an input and torchvision's logits (families/<name>.pth, families.safetensors).
    fam = out / "families"
    fam.mkdir(exist_ok=True)
    fam_t = {}
    for name, side in [("convnext_tiny", 67), ("swin_t", 67), ("swin_v2_t", 67), ("vit_b_16", 224), ("maxvit_t", 224)]:
        torch.manual_seed(1)
        m = torchvision.models.get_model(name, num_classes=10).eval()
        randomize_bn(m)
        with torch.no_grad():  # zero-initialised parameters (ViT's head) get values too
            for prm in m.parameters():
                if not prm.any():
                    prm.uniform_(-0.1, 0.1)
        torch.save(m.state_dict(), fam / f"{name}.pth")
        xi = torch.randn(1, 3, side, side)
        with torch.no_grad():
            fam_t[f"{name}.input"] = xi
            fam_t[f"{name}.output"] = m(xi).contiguous()
    save_file(fam_t, str(out / "families.safetensors"))

    # `run`: an input in three containers, and torchvision's outputs for it.
    x = torch.randn(2, 3, 64, 80)
    save_file({"input": x.contiguous()}, str(out / "input.safetensors"))
    np.save(out / "input.npy", x.numpy())
    torch.save(x, out / "input.pth")
    with torch.no_grad():
        fx = torchvision.models.feature_extraction.create_feature_extractor(model, return_nodes=["layer1", "layer4", "avgpool", "fc"])
        r = fx(x)
    save_file({"output": r["fc"].contiguous(), "layer1": r["layer1"].contiguous(), "layer4": r["layer4"].contiguous(), "avgpool": r["avgpool"].contiguous()}, str(out / "run_expected.safetensors"))

    # Preprocessing: images decoded by torchvision, preprocessed on the float path and by
    # torchvision's own ImageClassification preset (uint8 path) for comparison.
    pre = {}
    for name in ["chelsea.png", "rocket.jpg"]:
        img = decode_image(str(IMAGES / name), mode=torchvision.io.ImageReadMode.RGB)
        pre[name.replace(".", "_") + "_decoded"] = img.contiguous()
        for resize in (256, 232):
            pre[f"{name.replace('.', '_')}_float_{resize}"] = float_preprocess(img, resize, 224).contiguous()
            preset = torchvision.models.ResNet50_Weights.IMAGENET1K_V1.transforms() if resize == 256 else torchvision.models.ResNet50_Weights.IMAGENET1K_V2.transforms()
            pre[f"{name.replace('.', '_')}_preset_{resize}"] = preset(img).contiguous()
    save_file(pre, str(out / "preprocess.safetensors"))

    # predict: torchvision's top-5 on chelsea.png, preprocessed by the weights' own preset
    # (ResNet18_Weights.IMAGENET1K_V1.transforms(): resize 256 and crop 224 on the uint8 image,
    # then scale and normalise), not by a rewrite of tchvision's float path. The probabilities of
    # every class are kept, with the margins between the top-5 and the next.
    img = decode_image(str(IMAGES / "chelsea.png"), mode=torchvision.io.ImageReadMode.RGB)
    preset = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.transforms()
    with torch.no_grad():
        probs = model(preset(img).unsqueeze(0)).softmax(-1)[0]
    p, i = probs.topk(6)
    from torchvision.models._meta import _IMAGENET_CATEGORIES as cats
    json.dump(
        {
            "preset": repr(preset),
            "top5_index": i[:5].tolist(),
            "top5_prob": p[:5].tolist(),
            "top5_label": [cats[k] for k in i[:5].tolist()],
            "sixth_prob": float(p[5]),
        },
        open(out / "predict_expected.json", "w"),
        indent=1,
    )
    save_file({"probs": probs.contiguous()}, str(out / "predict_probs.safetensors"))

    # Images in other modes for the decoder: grayscale PNG, RGBA PNG, a JPEG; and their RGB
    # decoding by PIL's convert("RGB").
    from PIL import Image
    base = Image.open(IMAGES / "chelsea.png").convert("RGB").resize((64, 48))
    gray = base.convert("L")
    rgba = base.convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize((64, 48)))
    gray.save(out / "gray.png")
    rgba.save(out / "rgba.png")
    save_file({
        "gray": torch.from_numpy(np.array(gray.convert("RGB"))).permute(2, 0, 1).contiguous(),
        "rgba": torch.from_numpy(np.array(rgba.convert("RGB"))).permute(2, 0, 1).contiguous(),
    }, str(out / "modes_expected.safetensors"))
    (out / "empty.png").write_bytes(b"")

    # torchvision's published weights for every classification model, as its Weights enums
    # describe them.
    from torchvision.models import get_model_weights
    from torchvision.transforms import InterpolationMode
    table = []
    for arch in sorted(torchvision.models.list_models(module=torchvision.models)):
        enum = get_model_weights(arch)
        for w in enum:
            t = w.transforms()
            m = w.meta["_metrics"]["ImageNet-1K"]
            cats = w.meta["categories"]  # None for VGG-16's IMAGENET1K_FEATURES (its acc is NaN)
            acc = [None if math.isnan(a) else a for a in (m["acc@1"], m["acc@5"])]
            table.append({"arch": arch, "name": w.name, "file": w.url.rsplit("/", 1)[1],
                          "num_params": w.meta["num_params"], "acc1": acc[0], "acc5": acc[1],
                          "gflops": w.meta["_ops"], "file_size_mb": w.meta["_file_size"],
                          "resize_size": t.resize_size[0], "crop_size": t.crop_size[0],
                          "interpolation": "bicubic" if t.interpolation == InterpolationMode.BICUBIC else
                          "bilinear" if t.interpolation == InterpolationMode.BILINEAR else str(t.interpolation),
                          "mean": list(t.mean), "std": list(t.std),
                          "default": enum.DEFAULT == w, "categories": None if cats is None else len(cats)})
    json.dump(table, open(out / "published_weights.json", "w"), indent=1)
    # Parameter counts of builder variants the CLI tests build with --option.
    counts = {"mobilenet_v2_width_0_5": torchvision.models.mobilenet_v2(width_mult=0.5)}
    json.dump({k: sum(p.numel() for p in m.parameters()) for k, m in counts.items()},
              open(out / "num_params.json", "w"))
    (out / "not_an_image.png").write_bytes(b"this is not a PNG file at all")
