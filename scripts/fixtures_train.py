"""Training at parity with torch: a full training step of every family of the registry, and the
tutorial's fine-tuning. Writes OUTDIR/train/ (read by tests/train.rs) and OUTDIR/finetune/ (read
by tests/finetune.rs and examples/finetune.rs).

# train/: one training step per model of TRAIN_STEP_MODELS

A generic harness: a new family adds one model name to TRAIN_STEP_MODELS (and, if it needs other
builder options or another input size, an entry in OVERRIDES). tests/train.rs loops over
train/manifest.json and checks that every family of the registry has a model in it.

For each model, built by torchvision's `get_model(name, **options)` (or, for the YOLO family that
torchvision lacks, by the PyTorch definitions of scripts/fixtures_yolo.py):

* weights: `fixtures_yolo.fill` (an integer hash of each state-dict entry's index: both sides
  compute the same floats, nothing is stored; num_batches_tracked 0); the float64 sum of each
  entry is in the manifest ("weight_sums") so the Rust side checks it made the same weights;
* the loss: `cross_entropy(model(x).flatten(1), target)` in train mode (for YOLO the
  [N, S, S, B*5+C] output flattened: any per-sample output is a logit vector here), with x and
  target stored; before each forward, `torch.manual_seed(SEED + step)` (Dropout masks);
* SGD (momentum, weight decay) for STEPS steps from those weights, then AdamW for STEPS steps
  from the same weights: each step is zero_grad, forward, loss, backward, optimizer.step();
* stored: the loss of every step, the gradients of the first step (before its update), and after
  the last step of each optimizer the parameters and buffers (BatchNorm running statistics and
  num_batches_tracked).

Tensors of at most FULL elements are stored whole; bigger ones (800 MB would not do for a
yolo_v1) as SAMPLE evenly spaced elements (flat index 0, step, 2*step, … with
step = numel // SAMPLE, plus the last element) with their float64 sum and sum of absolute values
in the manifest: "<model>/<what>/<key>" or "<model>/<what>/<key>#sample".

# finetune/: the tutorial's fine-tuning (examples/finetune.rs)

* resnet50.pth: a torchvision resnet50 state dict (1000 classes, `fill` weights), as torch.save
  writes it;
* data.safetensors: a small fixed dataset ("images" [16, 3, 40, 40], "labels" [16] in 0..10) and
  an evaluation batch ("eval_images" [2, 3, 40, 40]);
* finetune.json: the recipe and torch's loss at every step; finetuned.safetensors: torch's
  logits on the evaluation batch after training ("eval_logits"), its trained head ("fc.weight",
  "fc.bias") and a few BatchNorm statistics of the backbone.

The recipe (FINETUNE below): resnet50(num_classes=10); load resnet50.pth without fc.* (strict=
False); `torch.manual_seed(seed)`, then the tutorial's weights_init_classifier on the new fc
(normal std 0.001, bias 0); every parameter but fc's frozen (requires_grad False); model.train()
(BatchNorm normalises with batch statistics and updates its running statistics, its affine
parameters stay frozen); SGD on fc with momentum and weight decay; batch b of step s is
images[(s * batch) % 16 : … + batch]; then model.eval() logits on eval_images.
"""
import json

import torch
import torchvision
from safetensors.torch import save_file
from torch import nn
from torch.nn import functional as F

from fixtures_yolo import YoloV1, YoloV1ResNet, fill
from zoo_fixtures import no_init

# The models whose training step is compared with torch: one or more per registry family
# (tests/train.rs fails when a family of the registry has none). A new family adds its model
# name here. resnet18 and resnet50: ResNet's two blocks; yolo_v1: the YOLO family's layers
# (yolo_v1_resnet50 is resnet50 with the same neck and head: its step works here too, at ~40 s
# more on two cores, so it is left out).
TRAIN_STEP_MODELS = [
    "resnet18", "resnet50", "yolo_v1", "densenet121", "googlenet", "inception_v3", "regnet_y_400mf",
    "alexnet", "vgg11_bn", "squeezenet1_1", "shufflenet_v2_x0_5", "mnasnet0_5", "mobilenet_v2",
    "mobilenet_v3_small", "efficientnet_b0", "convnext_tiny", "vit_b_16", "swin_t", "maxvit_t",
]  # fmt: skip

# Builder options and input shape of every model, unless OVERRIDES says otherwise: small odd
# inputs keep the suite fast.
DEFAULT = {"options": {"num_classes": 10}, "input": [2, 3, 49, 63]}
OVERRIDES = {
    # The YOLO-v1 head takes (input_size / 64)^2 * 1024 features: 64 pixels give one cell of
    # features; a 32-wide hidden layer instead of 4096 (the paper's 800 MB layer).
    "yolo_v1": {"options": {"num_classes": 10, "input_size": 64, "hidden": 32}, "input": [2, 3, 64, 64]},
    "yolo_v1_resnet50": {"options": {"num_classes": 10, "input_size": 64, "hidden": 32}, "input": [2, 3, 64, 64]},
    # F.dropout after every dense layer.
    "densenet121": {"options": {"num_classes": 10, "drop_rate": 0.2}, "input": [2, 3, 49, 63]},
    # The auxiliary head needs a 299x299 input in training: without it, at the 75x75 minimum.
    "inception_v3": {"options": {"num_classes": 10, "aux_logits": False}, "input": [2, 3, 75, 79]},
    # Its features shrink a 49-pixel side to nothing: the 63-pixel minimum of its weights.
    "alexnet": {"options": {"num_classes": 10}, "input": [2, 3, 63, 71]},
    # A 48-pixel image: 9 patch tokens and the class token.
    "vit_b_16": {"options": {"num_classes": 10, "image_size": 48}, "input": [2, 3, 48, 48]},
    # Every stage's map must split into 7x7 windows and grids: 224 is the smallest such input.
    "maxvit_t": {"options": {"num_classes": 10, "input_size": [224, 224]}, "input": [1, 3, 224, 224]},
}

# Networks that torchvision does not have: their PyTorch definitions (fixtures_yolo.py).
LOCAL = {
    "yolo_v1": lambda num_classes, input_size, hidden: YoloV1(C=num_classes, hidden=hidden, side=input_size),
    "yolo_v1_resnet50": lambda num_classes, input_size, hidden: YoloV1ResNet(C=num_classes, hidden=hidden, side=input_size),
}

STEPS = 2
SEED = 7000
SGD = {"lr": 0.05, "momentum": 0.9, "dampening": 0.0, "weight_decay": 1e-3, "nesterov": False}
ADAMW = {"lr": 1e-3, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.05, "amsgrad": False}

FULL = 1 << 17
SAMPLE = 8192


def build(name, options):
    def make():
        return LOCAL[name](**options) if name in LOCAL else torchvision.models.get_model(name, **options)

    # Built without initialising (fill() sets every floating tensor); integer buffers such as
    # Swin's relative_position_index are computed by the constructor as usual.
    with no_init():
        m = make()
    fill(m)
    with torch.no_grad():
        for k, v in m.state_dict().items():
            if k.endswith("num_batches_tracked"):
                v.zero_()
    return m


def logits(out):
    """The main output: GoogLeNet's and Inception's training-mode outputs are tuples (the
    auxiliary heads run, updating their norms and drawing their dropout, but take no part in
    the loss: their parameters get no gradient)."""
    return out[0] if isinstance(out, tuple) else out


def sample_index(numel):
    step = max(1, numel // SAMPLE)
    idx = torch.arange(0, numel, step)
    if idx[-1] != numel - 1:
        idx = torch.cat([idx, torch.tensor([numel - 1])])
    return step, idx


def store(tensors, summary, key, t):
    t = t.detach()
    if t.numel() <= FULL:
        tensors[key] = t.clone().contiguous()
        return
    _, idx = sample_index(t.numel())
    tensors[key + "#sample"] = t.reshape(-1)[idx].clone().contiguous()
    summary[key] = {"sum": float(t.double().sum()), "abs_sum": float(t.double().abs().sum())}


def run(model, x, target, opt, tensors, summary, prefix, grads_to=None):
    losses = []
    for step in range(STEPS):
        opt.zero_grad()
        torch.manual_seed(SEED + step)
        loss = F.cross_entropy(logits(model(x)).flatten(1), target)
        loss.backward()
        if step == 0 and grads_to:
            for k, p in model.named_parameters():
                if p.grad is not None:  # None: unused by forward (yolo_v1_resnet50's backbone.fc)
                    store(tensors, summary, f"{grads_to}/{k}", p.grad)
        opt.step()
        losses.append(loss.item())
    for k, v in model.state_dict().items():
        store(tensors, summary, f"{prefix}/state/{k}", v)
    return losses


def train_steps(out):
    out.mkdir(parents=True, exist_ok=True)
    tensors, models = {}, []
    for name in TRAIN_STEP_MODELS:
        cfg = {**DEFAULT, **OVERRIDES.get(name, {})}
        m = build(name, cfg["options"])
        sd = m.state_dict()
        init = type(sd)((k, v.clone()) for k, v in sd.items())
        init._metadata = sd._metadata  # per-module versions (MNASNet refuses a state dict without)
        g = torch.Generator().manual_seed(11)
        x = torch.randn(cfg["input"], generator=g)
        with torch.no_grad():
            m.eval()
            width = m(x).flatten(1).shape[1]
        target = torch.randint(0, width, (cfg["input"][0],), generator=g)
        tensors[f"{name}/input"] = x
        tensors[f"{name}/target"] = target
        summary = {}
        m.train()
        sgd = torch.optim.SGD(m.parameters(), **SGD)
        sgd_losses = run(m, x, target, sgd, tensors, summary, f"{name}/sgd", grads_to=f"{name}/grad")
        m.load_state_dict(init)
        m.train()
        adamw = torch.optim.AdamW(m.parameters(), **{**ADAMW, "betas": tuple(ADAMW["betas"])})
        adamw_losses = run(m, x, target, adamw, tensors, summary, f"{name}/adamw")
        models.append(
            {
                "name": name,
                "options": cfg["options"],
                "input": cfg["input"],
                "output_width": width,
                "weight_sums": {k: float(v.double().sum()) for k, v in init.items() if v.is_floating_point()},
                "parameters": [k for k, _ in m.named_parameters()],
                "grads": [k for k, p in m.named_parameters() if p.grad is not None],
                "state": list(m.state_dict().keys()),
                "losses": {"sgd": sgd_losses, "adamw": adamw_losses},
                "summaries": summary,
            }
        )
        del m, init, sgd, adamw
    save_file(tensors, str(out / "train.safetensors"))
    manifest = {
        "models": TRAIN_STEP_MODELS,
        "steps": STEPS,
        "seed": SEED,
        "sgd": SGD,
        "adamw": ADAMW,
        "full": FULL,
        "sample": SAMPLE,
        "cases": models,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))


# ---------------------------------------------------------------------------------------------
# The tutorial's fine-tuning.

FINETUNE = {
    "seed": 3,
    "steps": 6,
    "batch": 4,
    "lr": 0.1,
    "momentum": 0.9,
    "weight_decay": 1e-4,
    "num_classes": 10,
    "side": 40,
    "samples": 16,
}
# BatchNorm statistics of the backbone kept for the comparison (they move in train mode).
FINETUNE_BUFFERS = ["bn1.running_mean", "layer2.1.bn2.running_var", "layer4.2.bn3.running_mean", "layer4.2.bn3.num_batches_tracked"]


def weights_init_classifier(m):
    """The tutorial's weights_init_classifier, verbatim."""
    classname = m.__class__.__name__
    if classname.find("Linear") != -1:
        nn.init.normal_(m.weight.data, std=0.001)
        nn.init.constant_(m.bias.data, 0.0)


def finetune(out):
    out.mkdir(parents=True, exist_ok=True)
    f = FINETUNE
    pretrained = build("resnet50", {})
    torch.save(pretrained.state_dict(), out / "resnet50.pth")
    g = torch.Generator().manual_seed(5)
    images = torch.randn(f["samples"], 3, f["side"], f["side"], generator=g)
    labels = torch.randint(0, f["num_classes"], (f["samples"],), generator=g)
    eval_images = torch.randn(2, 3, f["side"], f["side"], generator=g)
    save_file({"images": images, "labels": labels, "eval_images": eval_images}, str(out / "data.safetensors"))

    with torch.device("meta"):
        model = torchvision.models.resnet50(num_classes=f["num_classes"])
    model = model.to_empty(device="cpu")
    sd = torch.load(out / "resnet50.pth", weights_only=True)
    sd = {k: v for k, v in sd.items() if not k.startswith("fc.")}
    missing, unexpected = model.load_state_dict(sd, strict=False)
    assert missing == ["fc.weight", "fc.bias"] and not unexpected, (missing, unexpected)
    torch.manual_seed(f["seed"])
    model.fc.apply(weights_init_classifier)
    for k, p in model.named_parameters():
        p.requires_grad_(k.startswith("fc."))
    model.train()
    opt = torch.optim.SGD(
        [p for p in model.parameters() if p.requires_grad], lr=f["lr"], momentum=f["momentum"], weight_decay=f["weight_decay"]
    )
    losses = []
    for step in range(f["steps"]):
        lo = (step * f["batch"]) % f["samples"]
        xb, yb = images[lo : lo + f["batch"]], labels[lo : lo + f["batch"]]
        opt.zero_grad()
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    model.eval()
    with torch.no_grad():
        logits = model(eval_images)
    state = model.state_dict()
    t = {"eval_logits": logits, "fc.weight": state["fc.weight"], "fc.bias": state["fc.bias"]}
    for k in FINETUNE_BUFFERS:
        t[k] = state[k]
    save_file({k: v.contiguous() for k, v in t.items()}, str(out / "finetuned.safetensors"))
    (out / "finetune.json").write_text(json.dumps({**f, "losses": losses, "buffers": FINETUNE_BUFFERS}, indent=1))


def main(outdir):
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    train_steps(outdir / "train")
    finetune(outdir / "finetune")


if __name__ == "__main__":
    import pathlib
    import sys
    import time

    t = time.time()
    main(pathlib.Path(sys.argv[1]))
    print(f"{time.time() - t:.1f} s")
