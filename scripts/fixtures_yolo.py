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
* loss.json + loss.safetensors: the YOLO-v1 loss of a reference written here from the paper's
  equation (3), vectorised (`yolo_loss_eq3`; the choices the paper leaves open are stated once,
  in CHOICES), first checked on the hand-computed cases of tests/detection.rs ("hand"), then run
  on random predictions and per-image boxes: the terms ("cases") and the gradient of the total
  with respect to the predictions ("grad_<case>").
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
    """Overwrites every floating-point parameter and buffer (but num_batches_tracked) of `model`, the k-th
    state-dict entry with salt k: conv/linear weights uniform with std sqrt(2/fan_in), biases and
    running means 0.1*u, BatchNorm weights 1 + 0.1*u, running variances 0.75 + 0.25*u."""
    with torch.no_grad():
        for k, (name, t) in enumerate(model.state_dict().items()):
            if name.endswith("num_batches_tracked") or not t.is_floating_point():
                continue  # integer buffers are structure (Swin's relative_position_index)
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
# The loss: equation (3) of the paper (Redmon et al. 2016, §2.2), vectorised over the batch, the
# S×S cells and the B predictors, written from the paper and not from src/detection/loss.rs:
#
#   λcoord Σ_i Σ_j 1obj_ij [(x_i − x̂_i)² + (y_i − ŷ_i)²]
# + λcoord Σ_i Σ_j 1obj_ij [(√w_i − √ŵ_i)² + (√h_i − √ĥ_i)²]
# + Σ_i Σ_j 1obj_ij (C_i − Ĉ_i)² + λnoobj Σ_i Σ_j 1noobj_ij (C_i − Ĉ_i)²
# + Σ_i 1obj_i Σ_c (p_i(c) − p̂_i(c))²
#
# What the paper says: an object belongs to the cell its centre falls in; x, y are the centre
# relative to the cell, w, h relative to the image; the network predicts √w, √h (so that small
# deviations in small boxes matter more); the predictor "responsible" for an object is the one with
# the highest current IoU with it; the confidence should equal the IoU with the truth; λcoord 5,
# λnoobj 0.5; a sum-squared error on raw outputs. Where the paper is silent, the choices, stated
# here once (tests/detection.rs checks that src/detection/loss.rs makes the same):
CHOICES = {
    "cell": "floor(centre * S), a centre on the right or bottom edge in the last cell",
    "one_object_per_cell": "when several centres fall in one cell, the first object listed is used",
    "responsible_ties": "equal highest IoUs: the lowest predictor index",
    "responsible_no_overlap": "every IoU 0: the predictor nearest in (cx, cy, w, h), image units, Euclidean (darknet)",
    "noobj": "1noobj_ij = 1 for every predictor not responsible, also the other predictors of an object's cell",
    "confidence_target": "the responsible predictor's IoU, without gradient (conf_iou=False: 1)",
    "degenerate_boxes": "a box with a negative side has area 0",
    "sqrt_wh_false": "the net predicts w, h: sign(w) * sqrt(|w| + 1e-6) is compared with sqrt(w_true)",
    "batch": "summed over the batch, not averaged",
}


def _cells(targets, S, C, N):
    """Per cell: object flag, the truth box (cx, cy, w, h) in image units, the one-hot class."""
    flat = [(n, *o) for n, objs in enumerate(targets) for o in objs]
    obj = torch.zeros(N, S, S, dtype=torch.bool)
    box = torch.zeros(N, S, S, 4, dtype=torch.float64)
    cls = torch.zeros(N, S, S, C, dtype=torch.float64)
    if not flat:
        return obj, box, cls
    t = torch.tensor([[n, x1, y1, x2, y2, c] for n, x1, y1, x2, y2, c in flat], dtype=torch.float64)
    n, c = t[:, 0].long(), t[:, 5].long()
    cx, cy = (t[:, 1] + t[:, 3]) / 2, (t[:, 2] + t[:, 4]) / 2
    col = (cx * S).floor().long().clamp(max=S - 1)
    row = (cy * S).floor().long().clamp(max=S - 1)
    key = (n * S + row) * S + col
    i = torch.arange(len(flat))
    first = ~((key[:, None] == key[None, :]) & (i[None, :] < i[:, None])).any(1)
    n, row, col, c = n[first], row[first], col[first], c[first]
    obj[n, row, col] = True
    box[n, row, col] = torch.stack([cx[first], cy[first], (t[:, 3] - t[:, 1])[first], (t[:, 4] - t[:, 2])[first]], 1)
    cls[n, row, col, c] = 1.0
    return obj, box, cls


def _iou(a, b):
    """Elementwise IoU of (cx, cy, w, h) boxes; negative sides count as area 0."""
    lo = torch.maximum(a[..., :2] - a[..., 2:] / 2, b[..., :2] - b[..., 2:] / 2)
    hi = torch.minimum(a[..., :2] + a[..., 2:] / 2, b[..., :2] + b[..., 2:] / 2)
    inter = (hi - lo).clamp(min=0).prod(-1)
    area = lambda r: r[..., 2].clamp(min=0) * r[..., 3].clamp(min=0)
    union = area(a) + area(b) - inter
    return torch.where(union > 0, inter / union, torch.zeros_like(union))


def yolo_loss_eq3(pred, targets, S, B, C, sqrt_wh=True, l_coord=5.0, l_noobj=0.5, conf_iou=True):
    """pred: [N, S, S, B*5+C] (float64, may require grad); targets: per image a list of
    (x1, y1, x2, y2, class) relative to the image. Returns the terms and their total."""
    N = pred.shape[0]
    obj, tbox, tcls = _cells(targets, S, C, N)
    p = pred[..., : 5 * B].reshape(N, S, S, B, 5)
    x, y, w, h, conf = p.unbind(-1)
    grid = torch.arange(S, dtype=torch.float64)
    # Predicted boxes in image units (for the IoU and the "responsible" choice: no gradient).
    with torch.no_grad():
        pw, ph = (w * w, h * h) if sqrt_wh else (w, h)
        pbox = torch.stack([(grid.view(1, 1, S, 1) + x) / S, (grid.view(1, S, 1, 1) + y) / S, pw, ph], -1)
        truth = tbox.unsqueeze(3).expand_as(pbox)
        iou = _iou(pbox, truth)  # [N, S, S, B]
        nearest = (pbox - truth).pow(2).sum(-1).sqrt().argmin(-1)  # first minimum
        best = torch.where(iou.amax(-1) > 0, iou.argmax(-1), nearest)  # argmax: first maximum
        resp = torch.nn.functional.one_hot(best, B).to(torch.float64) * obj.unsqueeze(-1)
    noobj = 1.0 - resp
    # Targets relative to the cell.
    col = grid.view(1, 1, S)
    row = grid.view(1, S, 1)
    tx = (tbox[..., 0] * S - col).unsqueeze(-1)
    ty = (tbox[..., 1] * S - row).unsqueeze(-1)
    sw, sh = (w, h) if sqrt_wh else (torch.sign(w) * (w.abs() + 1e-6).sqrt(), torch.sign(h) * (h.abs() + 1e-6).sqrt())
    tsw, tsh = tbox[..., 2].clamp(min=0).sqrt().unsqueeze(-1), tbox[..., 3].clamp(min=0).sqrt().unsqueeze(-1)
    coord = l_coord * (resp * ((x - tx) ** 2 + (y - ty) ** 2 + (sw - tsw) ** 2 + (sh - tsh) ** 2)).sum()
    target_conf = iou if conf_iou else torch.ones_like(iou)
    object_ = (resp * (conf - target_conf) ** 2).sum()
    no_object = l_noobj * (noobj * conf**2).sum()
    class_ = (obj.unsqueeze(-1) * (pred[..., 5 * B :] - tcls) ** 2).sum()
    total = coord + object_ + no_object + class_
    return {"total": total, "coord": coord, "object": object_, "no_object": no_object, "class": class_}


def _floats(terms):
    return {k: float(v.detach()) for k, v in terms.items()}


def hand_cases():
    """The hand-computed cases of tests/detection.rs, and their values worked out by hand there
    (the reference must reproduce them before it is used as an oracle)."""
    cases = {}
    # One object [0, 0, 0.5, 0.5], class 1, S = 2, B = 2, C = 2: box 1 (IoU 0.5184) responsible.
    pred = torch.zeros(1, 2, 2, 12, dtype=torch.float64)
    pred[0, 0, 0, 0:5] = torch.tensor([0.5, 0.5, 0.5, 0.5, 0.8], dtype=torch.float64)
    pred[0, 0, 0, 5:10] = torch.tensor([0.5, 0.5, 0.6, 0.6, 0.3], dtype=torch.float64)
    pred[0, 0, 0, 10], pred[0, 0, 0, 11] = 0.1, 0.7
    pred[0, 1, 1, 0:5] = torch.tensor([0.3, 0.9, 0.7, 0.2, 0.2], dtype=torch.float64)
    pred[0, 1, 0, 10] = 0.9
    pred[0, 0, 1, 11] = 0.9
    coord = 5.0 * 2.0 * (0.6 - math.sqrt(0.5)) ** 2
    obj = (0.3 - 0.5184) ** 2
    want = {"coord": coord, "object": obj, "no_object": 0.34, "class": 0.10}
    cases["one_object"] = (pred, [[(0.0, 0.0, 0.5, 0.5, 1)]], (2, 2, 2), want)
    # No predictor overlaps the object [0, 0, 0.1, 0.1] (C = 1): box 1 is nearer.
    pred = torch.zeros(1, 2, 2, 11, dtype=torch.float64)
    pred[0, 0, 0, 0:5] = torch.tensor([0.9, 0.9, 0.1, 0.1, 0.6], dtype=torch.float64)
    pred[0, 0, 0, 5:10] = torch.tensor([0.5, 0.5, 0.1, 0.1, 0.4], dtype=torch.float64)
    pred[0, 0, 0, 10] = 0.7
    coord = 5.0 * (2 * 0.4**2 + 2 * (0.1 - math.sqrt(0.1)) ** 2)
    want = {"coord": coord, "object": 0.16, "no_object": 0.18, "class": 0.09}
    cases["no_overlap"] = (pred, [[(0.0, 0.0, 0.1, 0.1, 0)]], (2, 2, 1), want)
    out = {}
    for name, (pred, targets, (S, B, C), want) in cases.items():
        got = _floats(yolo_loss_eq3(pred, targets, S, B, C))
        want["total"] = sum(want.values())
        for k, v in want.items():
            assert abs(got[k] - v) < 1e-12, f"equation (3) reference, hand case {name}: {k} = {got[k]}, by hand {v}"
        out[name] = {"terms": got, "by_hand": want}
    return out


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
    cases, grads = {}, {}
    for tag, kw in {
        "paper": {},
        "conf_one": {"conf_iou": False},
        "linear_wh": {"sqrt_wh": False},
    }.items():
        p = pred.clone().requires_grad_(True)
        terms = yolo_loss_eq3(p, targets, S, B, C, **kw)
        terms["total"].backward()
        cases[tag] = _floats(terms)
        grads[f"grad_{tag}"] = p.grad
    save_file({"pred": pred, **grads}, str(out / "loss.safetensors"))
    (out / "loss.json").write_text(
        json.dumps({"targets": targets, "cases": cases, "hand": hand_cases(), "choices": CHOICES}, indent=1)
    )
