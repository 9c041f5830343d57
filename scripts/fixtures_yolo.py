"""Fixtures of YOLO-v1 and its detection tools, from torch/torchvision. Writes OUTDIR/yolo/
(read by tests/yolo.rs and tests/detection.rs):

* structure.json: for the paper's YoloV1 (with and without BatchNorm, hidden 4096, built on the
  meta device so nothing is allocated) and the ResNet-50 variant, a PyTorch definition of the
  same network written here from the paper: named_modules with class names, state_dict keys,
  shapes and order, the parameter count.
* parity.safetensors + parity.json: eval-mode outputs of those definitions with hidden = 16
  (the 50176x4096 layer would be 800 MB), for a 448x448 input (the paper's net) or a 128x128
  one (input side 128: a 2x2x1024 head input; the others), all tensors filled by
  `hashed()` below, an integer hash that Rust reproduces exactly with the same tensor ops, so
  no weights need storing.
* nms.safetensors + nms.json: torchvision.ops.nms and batched_nms on boxes with integer
  coordinates (exact IoU ties with the thresholds, equal scores) and on a larger float set
  (torchvision's per-class path), for several IoU thresholds.
* iou.safetensors: torchvision.ops.box_iou on random boxes.
* loss.json + loss.safetensors: the YOLO-v1 loss computed by a loop-by-loop Python reference of
  the paper's equation (3) with the rules documented in src/detection/loss.rs, on random
  predictions and per-image boxes.
"""
import json
import math

import torch
import torchvision
from safetensors.torch import save_file
from torch import nn

# ---------------------------------------------------------------------------------------------
# The networks, from the paper's Figure 3.

BLOCKS = [
    [(7, 64, 2), "M"],
    [(3, 192, 1), "M"],
    [(1, 128, 1), (3, 256, 1), (1, 256, 1), (3, 512, 1), "M"],
    [(1, 256, 1), (3, 512, 1)] * 4 + [(1, 512, 1), (3, 1024, 1), "M"],
    [(1, 512, 1), (3, 1024, 1)] * 2 + [(3, 1024, 1), (3, 1024, 2)],
    [(3, 1024, 1), (3, 1024, 1)],
]


def _initialize_weights(modules):
    """The tutorial's _initialize_weights."""
    for m in modules:
        if isinstance(m, nn.Conv2d):
            n = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
            m.weight.data.normal_(0, math.sqrt(2.0 / n))
            if m.bias is not None:
                m.bias.data.zero_()
        elif isinstance(m, nn.BatchNorm2d):
            m.weight.data.fill_(1)
            m.bias.data.zero_()
        elif isinstance(m, nn.Linear):
            m.weight.data.normal_(0, 0.01)
            m.bias.data.zero_()


class YoloV1(nn.Module):
    def __init__(self, S=7, B=2, C=20, hidden=4096, batch_norm=False, side=448):
        super().__init__()
        f = side // 64
        self.S, self.D = S, B * 5 + C
        cin = 3
        for i, block in enumerate(BLOCKS):
            layers = []
            for layer in block:
                if layer == "M":
                    layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
                    continue
                k, cout, stride = layer
                layers.append(nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2))
                if batch_norm:
                    layers.append(nn.BatchNorm2d(cout))
                layers.append(nn.LeakyReLU(0.1))
                cin = cout
            setattr(self, f"conv_layer{i + 1}", nn.Sequential(*layers))
        self.flatten = nn.Flatten()
        self.conn_layer1 = nn.Sequential(nn.Linear(f * f * 1024, hidden), nn.Dropout(0.5), nn.LeakyReLU(0.1))
        self.conn_layer2 = nn.Sequential(nn.Linear(hidden, S * S * self.D))
        _initialize_weights(self.modules())

    def forward(self, x):
        for i in range(6):
            x = getattr(self, f"conv_layer{i + 1}")(x)
        x = self.conn_layer2(self.conn_layer1(self.flatten(x)))
        return x.reshape(-1, self.S, self.S, self.D)


def conv_bn_leaky(cin, cout, k, stride):
    return [nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False), nn.BatchNorm2d(cout), nn.LeakyReLU(0.1)]


class YoloV1ResNet(nn.Module):
    def __init__(self, S=7, B=2, C=20, hidden=4096, side=448):
        super().__init__()
        f = side // 64
        self.S, self.D = S, B * 5 + C
        self.backbone = torchvision.models.resnet50()
        self.neck = nn.Sequential(
            *conv_bn_leaky(2048, 1024, 1, 1), *conv_bn_leaky(1024, 1024, 3, 2), *conv_bn_leaky(1024, 1024, 3, 1)
        )
        self.flatten = nn.Flatten()
        self.conn_layer1 = nn.Sequential(nn.Linear(f * f * 1024, hidden), nn.Dropout(0.5), nn.LeakyReLU(0.1))
        self.conn_layer2 = nn.Sequential(nn.Linear(hidden, S * S * self.D))
        head = [self.neck, self.conn_layer1, self.conn_layer2]
        _initialize_weights([m for part in head for m in part.modules()])

    def forward(self, x):
        b = self.backbone
        x = b.maxpool(b.relu(b.bn1(b.conv1(x))))
        x = b.layer4(b.layer3(b.layer2(b.layer1(x))))
        x = self.neck(x)
        x = self.conn_layer2(self.conn_layer1(self.flatten(x)))
        return x.reshape(-1, self.S, self.S, self.D)


def structure(model):
    return {
        "modules": [[name, type(m).__name__] for name, m in model.named_modules()],
        "state_dict": [[k, list(v.shape)] for k, v in model.state_dict().items()],
        "num_parameters": sum(p.numel() for p in model.parameters()),
    }


# ---------------------------------------------------------------------------------------------
# Deterministic tensors without storing them: an integer hash (int64 ops only, exact anywhere).

P = 2147483647


PERIOD = 65537


def hashed_unit(n, k):
    """n numbers in (-1, 1): a hash of the index i (i < 65537, a prime, repeated after that)
    salted with k; tests/yolo.rs has the same function."""
    L = min(n, PERIOD)
    i = torch.arange(L, dtype=torch.int64)
    h = (i * 40503 + k * 7919 + 12345) % P
    h = (h * h) % P
    h = (h * 48271) % P
    base = h.to(torch.float64) / P * 2.0 - 1.0
    return base.repeat((n + L - 1) // L)[:n]


def fill(model):
    """Overwrites every parameter and buffer (but num_batches_tracked) of `model`, the k-th
    state-dict entry with salt k: conv/linear weights uniform with std sqrt(2/fan_in), biases and
    running means 0.1*u, BatchNorm weights 1 + 0.1*u, running variances 0.75 + 0.25*u."""
    with torch.no_grad():
        for k, (name, t) in enumerate(model.state_dict().items()):
            if name.endswith("num_batches_tracked"):
                continue
            u = hashed_unit(t.numel(), k)
            if t.dim() >= 2:
                fan_in = t[0].numel()
                v = u * math.sqrt(3.0) * math.sqrt(2.0 / fan_in)
            elif name.endswith("running_var"):
                v = 0.75 + 0.25 * u
            elif name.endswith("weight"):
                v = 1.0 + 0.1 * u
            else:
                v = 0.1 * u
            t.copy_(v.reshape(t.shape).to(t.dtype))


def parity_input(side):
    return ((hashed_unit(3 * side * side, 999) + 1.0) / 2.0).reshape(1, 3, side, side).to(torch.float32)


# ---------------------------------------------------------------------------------------------
# The loss, cell by cell (src/detection/loss.rs documents the rules).


def iou_xyxy(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    area = lambda r: max(0.0, r[2] - r[0]) * max(0.0, r[3] - r[1])
    union = area(a) + area(b) - inter
    return inter / union if union > 0 else 0.0


def cxcywh_to_xyxy(c):
    return [c[0] - c[2] / 2, c[1] - c[3] / 2, c[0] + c[2] / 2, c[1] + c[3] / 2]


def reference_loss(pred, targets, S, B, C, sqrt_wh=True, l_coord=5.0, l_noobj=0.5, conf_iou=True):
    """pred: float64 [N, S, S, B*5+C]; targets: per image a list of (x1, y1, x2, y2, cls)."""
    terms = {"coord": 0.0, "object": 0.0, "no_object": 0.0, "class": 0.0}
    N = pred.shape[0]
    for n in range(N):
        cell_obj = {}
        for x1, y1, x2, y2, cls in targets[n]:
            cx, cy = (x1 + x2) / 2 * S, (y1 + y2) / 2 * S
            col, row = min(int(math.floor(cx)), S - 1), min(int(math.floor(cy)), S - 1)
            if (row, col) in cell_obj:
                continue  # the first object of a cell wins
            cell_obj[(row, col)] = (cx - col, cy - row, x2 - x1, y2 - y1, cls)
        for row in range(S):
            for col in range(S):
                p = pred[n, row, col].tolist()
                obj = cell_obj.get((row, col))
                resp = -1
                ious = [0.0] * B
                if obj is not None:
                    tx, ty, tw, th, cls = obj
                    tbox = [(col + tx) / S, (row + ty) / S, tw, th]
                    boxes = []
                    for b in range(B):
                        x, y, w, h = p[5 * b : 5 * b + 4]
                        if sqrt_wh:
                            w, h = w * w, h * h
                        boxes.append([(col + x) / S, (row + y) / S, w, h])
                    ious = [iou_xyxy(cxcywh_to_xyxy(bx), cxcywh_to_xyxy(tbox)) for bx in boxes]
                    if max(ious) > 0:
                        resp = max(range(B), key=lambda b: (ious[b], -b))
                    else:
                        d = [math.sqrt(sum((bx[i] - tbox[i]) ** 2 for i in range(4))) for bx in boxes]
                        resp = min(range(B), key=lambda b: (d[b], b))
                for b in range(B):
                    x, y, w, h, c = p[5 * b : 5 * b + 5]
                    if b == resp:
                        tx, ty, tw, th, cls = obj
                        if sqrt_wh:
                            sw, sh = w, h
                        else:
                            sgn = lambda v: (v > 0) - (v < 0)
                            sw = sgn(w) * math.sqrt(abs(w) + 1e-6)
                            sh = sgn(h) * math.sqrt(abs(h) + 1e-6)
                        terms["coord"] += l_coord * ((x - tx) ** 2 + (y - ty) ** 2)
                        terms["coord"] += l_coord * ((sw - math.sqrt(tw)) ** 2 + (sh - math.sqrt(th)) ** 2)
                        target = ious[b] if conf_iou else 1.0
                        terms["object"] += (c - target) ** 2
                    else:
                        terms["no_object"] += l_noobj * c * c
                if obj is not None:
                    cls = obj[4]
                    for k in range(C):
                        terms["class"] += (p[5 * B + k] - (1.0 if k == cls else 0.0)) ** 2
    terms["total"] = terms["coord"] + terms["object"] + terms["no_object"] + terms["class"]
    return terms


# ---------------------------------------------------------------------------------------------


def main(outdir):
    out = outdir / "yolo"
    out.mkdir(parents=True, exist_ok=True)

    # Structure, on the meta device: nothing allocated.
    with torch.device("meta"):
        st = {
            "yolo_v1": structure(YoloV1()),
            "yolo_v1_bn": structure(YoloV1(batch_norm=True)),
            "yolo_v1_resnet50": structure(YoloV1ResNet()),
        }
    (out / "structure.json").write_text(json.dumps(st))

    # Parity with hidden = 16: the paper's net at 448, the others at 128 (to keep this fast).
    torch.manual_seed(0)
    tensors, meta = {}, {}
    with torch.device("meta"):  # built without initialising: fill() overwrites everything
        models = [
            ("yolo_v1", 448, YoloV1(hidden=16)),
            ("yolo_v1_bn", 128, YoloV1(hidden=16, batch_norm=True, side=128)),
            ("yolo_v1_resnet50", 128, YoloV1ResNet(hidden=16, side=128)),
        ]
    with torch.no_grad():
        for name, side, model in models:
            model = model.to_empty(device="cpu")
            fill(model)
            model.eval()
            x = parity_input(side)
            tensors[name] = model(x).contiguous()
            sd = model.state_dict().items()
            weight_sum = sum(v.double().sum() for k, v in sd if not k.endswith("num_batches_tracked"))
            meta[name] = {"side": side, "input_sum": float(x.double().sum()), "weight_sum": float(weight_sum)}
    save_file(tensors, str(out / "parity.safetensors"))
    (out / "parity.json").write_text(json.dumps(meta))

    # NMS.
    g = torch.Generator().manual_seed(1)
    nms_t, nms_meta = {}, {"cases": []}
    # Integer coordinates: exact IoUs, ties at the thresholds; scores on a 0.1 grid: ties.
    n = 300
    xy = torch.randint(0, 60, (n, 2), generator=g).float()
    wh = torch.randint(1, 40, (n, 2), generator=g).float()
    boxes_a = torch.cat([xy, xy + wh], 1)
    scores_a = torch.randint(0, 10, (n,), generator=g).float() / 10
    idxs_a = torch.randint(0, 4, (n,), generator=g)
    # Float coordinates, more boxes than torchvision's coordinate trick takes (its per-class path).
    m = 1500
    xy = torch.rand(m, 2, generator=g) * 200
    wh = torch.rand(m, 2, generator=g) * 60 + 1
    boxes_b = torch.cat([xy, xy + wh], 1)
    scores_b = torch.rand(m, generator=g)
    idxs_b = torch.randint(0, 10, (m,), generator=g)
    for tag, (b, s, i) in {"int": (boxes_a, scores_a, idxs_a), "float": (boxes_b, scores_b, idxs_b)}.items():
        nms_t[f"{tag}/boxes"], nms_t[f"{tag}/scores"], nms_t[f"{tag}/idxs"] = b, s, i
        for thr in [0.0, 0.3, 0.5, 0.7, 1.0]:
            key = f"{tag}/{thr}"
            nms_t[f"{key}/nms"] = torchvision.ops.nms(b, s, thr)
            nms_t[f"{key}/batched"] = torchvision.ops.batched_nms(b, s, i, thr)
            nms_meta["cases"].append({"set": tag, "iou": thr})
    save_file(nms_t, str(out / "nms.safetensors"))
    (out / "nms.json").write_text(json.dumps(nms_meta))

    # IoU.
    xy = torch.rand(40, 2, generator=g) * 50
    a = torch.cat([xy, xy + torch.rand(40, 2, generator=g) * 30 + 0.5], 1)
    xy = torch.rand(30, 2, generator=g) * 50
    b = torch.cat([xy, xy + torch.rand(30, 2, generator=g) * 30 + 0.5], 1)
    save_file({"a": a, "b": b, "iou": torchvision.ops.box_iou(a, b)}, str(out / "iou.safetensors"))

    # The loss: predictions near the targets' range so IoUs are mixed (0 and > 0).
    S, B, C = 7, 2, 20
    pred = torch.rand(2, S, S, B * 5 + C, generator=g, dtype=torch.float64)
    targets = [
        # The third object's centre falls in the first one's cell: ignored (the first wins).
        [
            (0.10, 0.20, 0.45, 0.60, 3),
            (0.50, 0.50, 0.95, 0.90, 11),
            (0.12, 0.25, 0.43, 0.55, 7),
            (0.0, 0.0, 1.0, 1.0, 14),
        ],
        [(0.70, 0.05, 0.80, 0.20, 0), (0.30, 0.60, 0.34, 0.64, 19)],
    ]
    cases = {}
    for tag, kw in {
        "paper": {},
        "conf_one": {"conf_iou": False},
        "linear_wh": {"sqrt_wh": False},
    }.items():
        cases[tag] = reference_loss(pred, targets, S, B, C, **kw)
    save_file({"pred": pred}, str(out / "loss.safetensors"))
    (out / "loss.json").write_text(json.dumps({"targets": targets, "cases": cases}))
