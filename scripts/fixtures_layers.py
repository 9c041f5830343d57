"""Fixtures of the foundation, from torch itself: layers, init, the module tree and the seed net.

Writes under OUTDIR/layers/ (read by tests/layers.rs, tests/init.rs, tests/module_tree.rs and
tests/seed.rs):

* cases.json + cases.safetensors: for every layer case, torch's structure (named_modules with
  class names, named_children, named_parameters, named_buffers, state_dict: names, shapes,
  dtypes, order; the order `apply` visits), its weights ("<case>/state/<key>"), inputs and
  outputs in train mode (each call right after `torch.manual_seed`, so Dropout is reproducible)
  and eval mode, and for BatchNorm the state after two training steps. And gradients: from the
  stored state, in train mode, after the seed of step 0, `y = layer(input0)` and
  `y.backward(upstream)` for a random `upstream` ("<case>/upstream"): the input's gradient
  ("<case>/grad/input") and each parameter's ("<case>/grad/<param>"), listed in the case's
  "grads"; "manifest" lists every case name.
* init.json + init.safetensors: calculate_gain's table (and its errors), torch.nn.init's output
  after `torch.manual_seed` for each function, the default init of Conv2d/Linear after a seed,
  and the tutorial's recipes applied after a seed.
* yolo.json + yolo.safetensors: the seed's Yolo_v1(num_class=20) as src/models/seed.rs builds
  it (with its `bridge`): structure, get_submodule classes, samples of every tensor right after
  `torch.manual_seed(0); Yolo_v1(20)` (the 50176x4096 Linear is 800 MB: only samples are kept),
  and, for a loaded-weights parity test, the conv part's state dict (BatchNorm statistics
  randomised), small tiles that the two Linear weights repeat, and the outputs for a fixed input.
"""
import copy
import json
import math
import warnings

import torch
from safetensors.torch import save_file
from torch import nn
from torch.nn import init

# ---------------------------------------------------------------------------------------------
# The seed network (the tutorial's Yolo_v1, with the `bridge` our src/models/seed.rs adds).


class Flatten(nn.Module):
    """The tutorial's Flatten."""

    def __init__(self):
        super(Flatten, self).__init__()

    def forward(self, x):
        return x.view(x.size(0), -1)


class Yolo_v1(nn.Module):
    def __init__(self, num_class):
        super(Yolo_v1, self).__init__()
        C = num_class
        self.conv_layer1 = nn.Sequential(
            nn.Conv2d(in_channels=3, out_channels=64, kernel_size=7, stride=1, padding=7 // 2),
            nn.BatchNorm2d(64),
            nn.LeakyReLU(0.1),
            nn.MaxPool2d(kernel_size=2, stride=2),
        )
        self.conv_layer2 = nn.Sequential(
            nn.Conv2d(in_channels=64, out_channels=192, kernel_size=3, stride=1, padding=3 // 2),
            nn.BatchNorm2d(192),
            nn.LeakyReLU(0.1),
            nn.MaxPool2d(kernel_size=2, stride=2),
        )
        # Our stand-in for the layers the tutorial omits (see src/models/seed.rs).
        self.bridge = nn.Sequential(
            nn.Conv2d(192, 1024, 1, padding=0),
            nn.BatchNorm2d(1024),
            nn.LeakyReLU(0.1),
            nn.AdaptiveAvgPool2d(7),
        )
        self.flatten = Flatten()
        self.conn_layer1 = nn.Sequential(
            nn.Linear(in_features=7 * 7 * 1024, out_features=4096), nn.Dropout(0.5), nn.LeakyReLU(0.1)
        )
        self.conn_layer2 = nn.Sequential(nn.Linear(in_features=4096, out_features=7 * 7 * (2 * 5 + C)))
        self._initialize_weights()

    def forward_with_feature(self, input):
        conv_layer1 = self.conv_layer1(input)
        feature = self.conv_layer2(conv_layer1)
        x = self.bridge(feature)
        flatten = self.flatten(x)
        conn_layer1 = self.conn_layer1(flatten)
        output = self.conn_layer2(conn_layer1)
        return feature, output

    def forward(self, input):
        return self.forward_with_feature(input)[1]

    def _initialize_weights(self):
        for m in self.modules():
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


# The tutorial's other two recipes, verbatim.
def weights_init_kaiming(m):
    classname = m.__class__.__name__
    if classname.find("Conv") != -1:
        init.kaiming_normal_(m.weight.data, a=0, mode="fan_in")
    elif classname.find("Linear") != -1:
        init.kaiming_normal_(m.weight.data, a=0, mode="fan_out")
        init.constant_(m.bias.data, 0.0)
    elif classname.find("BatchNorm2d") != -1:
        init.normal_(m.weight.data, 1.0, 0.02)
        init.constant_(m.bias.data, 0.0)


def weights_init_classifier(m):
    classname = m.__class__.__name__
    if classname.find("Linear") != -1:
        init.normal_(m.weight.data, std=0.001)
        init.constant_(m.bias.data, 0.0)


def kaiming_fan_out(model):
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.constant_(m.weight, 1)
            nn.init.constant_(m.bias, 0)


# ---------------------------------------------------------------------------------------------
# Helpers.


def tensor_meta(name, t):
    return [name, list(t.shape), str(t.dtype).replace("torch.", "")]


def structure(m):
    """Everything torch derives from the module tree, in torch's order."""
    order = []
    names = {id(x): p for p, x in m.named_modules()}
    m.apply(lambda x: order.append(names[id(x)]))
    return {
        "modules": [[p, type(x).__name__] for p, x in m.named_modules()],
        "children": [[n, type(c).__name__] for n, c in m.named_children()],
        "parameters": [tensor_meta(n, t) for n, t in m.named_parameters()],
        "buffers": [tensor_meta(n, t) for n, t in m.named_buffers()],
        "state_dict": [tensor_meta(k, t) for k, t in m.state_dict().items()],
        "apply_order": order,
    }


def store(out, key, t):
    out[key] = t.detach().clone().contiguous()


def randomise(m):
    """Replaces every floating-point parameter and buffer by random values (variances positive),
    so that a parity test does not pass on the defaults alone."""
    with torch.no_grad():
        for name, p in m.named_parameters():
            p.copy_(torch.randn_like(p) * 0.5 + (1.0 if name.endswith("weight") and p.dim() == 1 else 0.0))
        for name, b in m.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(torch.randn_like(b) * 0.3)
            elif name.endswith("running_var"):
                b.copy_(torch.rand_like(b) + 0.5)


def edge_values(x):
    """Puts the activations' edge points (0, -0, ±3, ±6, tiny) at the start of x."""
    v = torch.tensor([0.0, -0.0, 3.0, -3.0, 6.0, -6.0, 1e-8, -1e-8, 0.5, -0.5])
    x.view(-1)[: v.numel()] = v
    return x


# ---------------------------------------------------------------------------------------------
# Layers. Each case: (name, builder, input shape, options). The Rust test builds the same layer
# for each name (tests/layers.rs `build`).


def layer_cases():
    C = []

    def case(name, build, shape, steps=1, edges=False, randomise_params=True):
        C.append(dict(name=name, build=build, shape=shape, steps=steps, edges=edges, rand=randomise_params))

    # Conv2d
    case("conv_basic", lambda: nn.Conv2d(3, 8, 3), [2, 3, 9, 9])
    case("conv_stride_pad", lambda: nn.Conv2d(4, 6, (3, 5), stride=(2, 1), padding=(1, 2)), [2, 4, 10, 9])
    case("conv_same", lambda: nn.Conv2d(3, 5, (3, 4), padding="same", dilation=(2, 1)), [2, 3, 8, 9])
    case("conv_same_even", lambda: nn.Conv2d(2, 3, 4, padding="same"), [1, 2, 7, 6])
    case("conv_valid", lambda: nn.Conv2d(3, 4, 3, stride=2, padding="valid"), [2, 3, 9, 8])
    case("conv_dilation", lambda: nn.Conv2d(3, 4, 3, dilation=2, padding=2), [2, 3, 9, 9])
    case("conv_dilation_pair", lambda: nn.Conv2d(3, 4, (3, 2), stride=(1, 2), dilation=(1, 3), padding=(0, 1)), [1, 3, 8, 11])
    case("conv_groups", lambda: nn.Conv2d(6, 9, 3, groups=3, padding=1, bias=False), [2, 6, 7, 7])
    case("conv_depthwise", lambda: nn.Conv2d(4, 4, 3, groups=4, padding=1), [2, 4, 6, 6])
    case("conv_nobias_1x1", lambda: nn.Conv2d(3, 4, 1, bias=False), [2, 3, 5, 5])
    case("conv_unbatched", lambda: nn.Conv2d(3, 4, 3, padding=1), [3, 7, 7])
    # BatchNorm2d: two training steps, then eval.
    case("bn_default", lambda: nn.BatchNorm2d(4), [3, 4, 5, 5], steps=2)
    case("bn_momentum_none", lambda: nn.BatchNorm2d(4, momentum=None), [3, 4, 5, 5], steps=2)
    case("bn_eps_momentum", lambda: nn.BatchNorm2d(4, eps=1e-3, momentum=0.3), [3, 4, 5, 5], steps=2)
    case("bn_no_track", lambda: nn.BatchNorm2d(4, track_running_stats=False), [3, 4, 5, 5], steps=2)
    case("bn_no_affine", lambda: nn.BatchNorm2d(4, affine=False), [3, 4, 5, 5], steps=2)
    # Linear
    case("linear", lambda: nn.Linear(5, 3), [4, 5])
    case("linear_3d", lambda: nn.Linear(5, 3), [2, 3, 5])
    case("linear_nobias", lambda: nn.Linear(6, 2, bias=False), [4, 6])
    # Dropout (train mode after torch.manual_seed; eval = identity)
    case("dropout", lambda: nn.Dropout(0.3), [4, 50], steps=2)
    case("dropout_half", lambda: nn.Dropout(0.5), [2, 3, 8, 8])
    case("dropout_p0", lambda: nn.Dropout(0.0), [4, 10])
    case("dropout_p1", lambda: nn.Dropout(1.0), [4, 10])
    # Activations
    case("relu", lambda: nn.ReLU(), [2, 4, 5, 5], edges=True)
    case("relu6", lambda: nn.ReLU6(), [2, 4, 5, 5], edges=True)
    case("leaky_relu", lambda: nn.LeakyReLU(), [2, 4, 5, 5], edges=True)
    case("leaky_relu_0_2", lambda: nn.LeakyReLU(0.2), [2, 4, 5, 5], edges=True)
    case("prelu_1", lambda: nn.PReLU(), [2, 4, 5, 5], edges=True)
    case("prelu_channels", lambda: nn.PReLU(4, init=0.1), [2, 4, 5, 5], edges=True)
    case("prelu_default_init", lambda: nn.PReLU(4), [2, 4, 5, 5], edges=True, randomise_params=False)
    case("silu", lambda: nn.SiLU(), [2, 4, 5, 5], edges=True)
    case("hardswish", lambda: nn.Hardswish(), [2, 4, 5, 5], edges=True)
    case("hardsigmoid", lambda: nn.Hardsigmoid(), [2, 4, 5, 5], edges=True)
    case("gelu", lambda: nn.GELU(), [2, 4, 5, 5], edges=True)
    case("gelu_tanh", lambda: nn.GELU(approximate="tanh"), [2, 4, 5, 5], edges=True)
    case("sigmoid", lambda: nn.Sigmoid(), [2, 4, 5, 5], edges=True)
    # Pools
    case("maxpool_2", lambda: nn.MaxPool2d(2), [2, 3, 8, 7])
    case("maxpool_pad", lambda: nn.MaxPool2d(3, stride=2, padding=1), [2, 3, 9, 8])
    case("maxpool_dilation", lambda: nn.MaxPool2d(2, stride=1, dilation=2), [2, 3, 7, 7])
    case("maxpool_ceil", lambda: nn.MaxPool2d(3, stride=2, ceil_mode=True), [2, 3, 8, 10])
    case("maxpool_unbatched", lambda: nn.MaxPool2d((2, 3), stride=(1, 2)), [3, 6, 7])
    # Inputs smaller than the window that torch still pools (ceil mode, padding).
    case("maxpool_ceil_tiny", lambda: nn.MaxPool2d(2, ceil_mode=True), [1, 2, 1, 3])
    case("maxpool_pad_tiny", lambda: nn.MaxPool2d(3, stride=2, padding=1), [1, 2, 1, 1])
    case("avgpool_ceil_tiny", lambda: nn.AvgPool2d(2, ceil_mode=True), [1, 2, 1, 3])
    case("avgpool_pad", lambda: nn.AvgPool2d(3, stride=2, padding=1), [2, 3, 9, 8])
    case("avgpool_ceil_nopad", lambda: nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False), [2, 3, 8, 10])
    case("avgpool_divisor", lambda: nn.AvgPool2d(2, divisor_override=3), [2, 3, 6, 7])
    case("adaptive_avg_3x5", lambda: nn.AdaptiveAvgPool2d((3, 5)), [2, 3, 7, 11])
    case("adaptive_avg_7", lambda: nn.AdaptiveAvgPool2d(7), [1, 4, 10, 9])
    case("adaptive_avg_up", lambda: nn.AdaptiveAvgPool2d((4, 3)), [1, 2, 3, 2])
    # Norms
    case("layernorm", lambda: nn.LayerNorm([4, 5]), [2, 3, 4, 5])
    case("layernorm_noaffine", lambda: nn.LayerNorm(5, eps=1e-3, elementwise_affine=False), [2, 3, 5])
    case("layernorm_nobias", lambda: nn.LayerNorm(5, bias=False), [2, 3, 5])
    case("groupnorm", lambda: nn.GroupNorm(2, 6), [2, 6, 3, 3])
    case("groupnorm_noaffine", lambda: nn.GroupNorm(3, 6, eps=1e-3, affine=False), [2, 6, 4, 3])
    # Shape layers
    case("identity", lambda: nn.Identity(), [2, 3, 4])
    case("flatten", lambda: nn.Flatten(), [2, 3, 4, 5])
    case("flatten_0_2", lambda: nn.Flatten(0, 2), [2, 3, 4, 5])
    case("flatten_neg", lambda: nn.Flatten(2, -1), [2, 3, 4, 5])
    case("flatten_1_neg2", lambda: nn.Flatten(1, -2), [2, 3, 4, 5])
    # Sequential, nested, with every mode-dependent layer.
    case(
        "sequential_nested",
        lambda: nn.Sequential(
            nn.Conv2d(3, 4, 3, padding=1),
            nn.BatchNorm2d(4),
            nn.ReLU(),
            nn.Sequential(nn.Conv2d(4, 4, 1, bias=False), nn.GroupNorm(2, 4), nn.Dropout(0.5), nn.Sequential(nn.SiLU())),
            nn.AdaptiveAvgPool2d(2),
            nn.Flatten(),
            nn.Linear(16, 3),
        ),
        [2, 3, 6, 6],
        steps=2,
    )
    return C


def write_layers(d):
    tensors = {}
    cases = []
    for i, c in enumerate(layer_cases()):
        name = c["name"]
        torch.manual_seed(100 + i)
        m = c["build"]()
        default_state = {k: v.detach().clone() for k, v in m.state_dict().items()}
        if c["rand"]:
            randomise(m)
        for k, v in m.state_dict().items():
            store(tensors, f"{name}/state/{k}", v)
        fresh = copy.deepcopy(m)  # the stored state, for the gradients below
        xs = []
        m.train()
        for s in range(c["steps"]):
            x = torch.randn(c["shape"]) * (3.0 if c["edges"] else 1.0)
            if c["edges"]:
                edge_values(x)
            xs.append(x)
            store(tensors, f"{name}/input{s}", x)
            seed = 1000 + 10 * i + s
            torch.manual_seed(seed)
            y = m(x)
            store(tensors, f"{name}/train{s}", y)
        for k, v in m.state_dict().items():
            store(tensors, f"{name}/after_train/{k}", v)
        m.eval()
        y = m(xs[0])
        store(tensors, f"{name}/eval", y)
        y2 = m(xs[0])
        assert torch.equal(y, y2)
        # Gradients, train mode, from the stored state, for the same input and seed as step 0.
        fresh.train()
        x = xs[0].clone().requires_grad_(True)
        torch.manual_seed(1000 + 10 * i)
        y = fresh(x)
        upstream = torch.randn(y.shape, generator=torch.Generator().manual_seed(5000 + i))
        y.backward(upstream)
        store(tensors, f"{name}/upstream", upstream)
        store(tensors, f"{name}/grad/input", x.grad)
        grads = []
        for k, p in fresh.named_parameters():
            assert p.grad is not None, f"{name}: {k} has no gradient"
            store(tensors, f"{name}/grad/{k}", p.grad)
            grads.append(k)
        cases.append(
            {
                "name": name,
                "repr": repr(m),
                "steps": c["steps"],
                "seeds": [1000 + 10 * i + s for s in range(c["steps"])],
                "structure": structure(m),
                "grads": grads,
                # parameters/buffers of the freshly built layer equal to torch's defaults
                "default_state": {
                    k: {"all_equal": float(v.flatten()[0]) if v.numel() and bool((v == v.flatten()[0]).all()) else None}
                    for k, v in default_state.items()
                },
            }
        )
    save_file(tensors, str(d / "cases.safetensors"))
    (d / "cases.json").write_text(json.dumps(cases, indent=1))
    (d / "manifest.json").write_text(json.dumps({"cases": [c["name"] for c in cases]}, indent=1))


# ---------------------------------------------------------------------------------------------
# torch.nn.init


def write_init(d):
    gains = []
    for name, param in [
        ("linear", None),
        ("conv1d", None),
        ("conv2d", None),
        ("conv3d", None),
        ("conv_transpose1d", None),
        ("conv_transpose2d", None),
        ("conv_transpose3d", None),
        ("sigmoid", None),
        ("tanh", None),
        ("relu", None),
        ("leaky_relu", None),
        ("leaky_relu", 0.2),
        ("leaky_relu", 0),
        ("leaky_relu", math.sqrt(5)),
        ("selu", None),
        ("identity", None),
        ("softmax", None),
        ("Relu", None),
    ]:
        try:
            gains.append({"name": name, "param": param, "gain": float(init.calculate_gain(name, param))})
        except ValueError as e:
            gains.append({"name": name, "param": param, "error": str(e)})

    t = {}
    runs = []

    def run(key, shape, seed, f, **meta):
        torch.manual_seed(seed)
        x = torch.empty(shape)
        f(x)
        store(t, key, x)
        runs.append(dict(key=key, shape=list(shape), seed=seed, **meta))

    shape = [16, 8, 3, 3]
    run("normal", shape, 1, lambda x: init.normal_(x, 0.5, 2.0))
    run("uniform", shape, 2, lambda x: init.uniform_(x, -0.3, 0.7))
    run("xavier_uniform", shape, 3, lambda x: init.xavier_uniform_(x, gain=init.calculate_gain("tanh")))
    run("xavier_normal", shape, 4, lambda x: init.xavier_normal_(x, gain=2.0))
    run("kaiming_uniform_default", shape, 5, lambda x: init.kaiming_uniform_(x))
    run("kaiming_uniform_leaky_fan_out", shape, 6, lambda x: init.kaiming_uniform_(x, a=0.2, mode="fan_out", nonlinearity="leaky_relu"))
    run("kaiming_normal_relu_fan_out", shape, 7, lambda x: init.kaiming_normal_(x, mode="fan_out", nonlinearity="relu"))
    run("kaiming_normal_selu", shape, 8, lambda x: init.kaiming_normal_(x, nonlinearity="selu"))
    # LeCun is not in torch: its formulas are kaiming with the linear gain over fan_in.
    run("lecun_normal", shape, 9, lambda x: init.kaiming_normal_(x, mode="fan_in", nonlinearity="linear"))
    run("lecun_uniform", shape, 10, lambda x: init.kaiming_uniform_(x, mode="fan_in", nonlinearity="linear"))
    run("trunc_normal", shape, 11, lambda x: init.trunc_normal_(x, mean=0.1, std=0.5, a=-0.4, b=0.9))
    run("trunc_normal_default", [40, 50], 12, lambda x: init.trunc_normal_(x))
    run("orthogonal_wide", [5, 8], 13, lambda x: init.orthogonal_(x))
    run("orthogonal_tall", [8, 5], 14, lambda x: init.orthogonal_(x, gain=1.5))
    run("orthogonal_conv", [6, 2, 2, 2], 15, lambda x: init.orthogonal_(x, gain=0.5))
    run("constant", [3, 4], 16, lambda x: init.constant_(x, 0.25))
    run("zeros", [3, 4], 17, lambda x: init.zeros_(x))
    run("ones", [3, 4], 18, lambda x: init.ones_(x))

    # Default initialisation (reset_parameters) after a seed.
    defaults = []

    def default(key, seed, build):
        torch.manual_seed(seed)
        m = build()
        for k, v in m.state_dict().items():
            store(t, f"{key}/{k}", v)
        defaults.append(dict(key=key, seed=seed, repr=repr(m)))

    default("conv_3_8_3", 0, lambda: nn.Conv2d(3, 8, 3))
    default("conv_groups", 1, lambda: nn.Conv2d(4, 6, (3, 2), groups=2))
    default("conv_nobias", 2, lambda: nn.Conv2d(5, 7, 1, bias=False))
    default("linear_20_7", 0, lambda: nn.Linear(20, 7))
    default("linear_nobias", 3, lambda: nn.Linear(9, 4, bias=False))
    default("bn", 4, lambda: nn.BatchNorm2d(5))
    default("prelu", 5, lambda: nn.PReLU(3))

    # The recipes after a seed, on small modules of the tutorial's shapes.
    recipes = []

    def recipe(key, seed, build, f):
        torch.manual_seed(seed)
        m = build()
        for k, v in m.state_dict().items():
            store(t, f"{key}/before/{k}", v)
        torch.manual_seed(seed + 1000)
        f(m)
        for k, v in m.state_dict().items():
            store(t, f"{key}/after/{k}", v)
        recipes.append(dict(key=key, seed=seed, recipe_seed=seed + 1000, structure=structure(m)))

    def small_net():
        return nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.Sequential(nn.Conv2d(8, 6, 1, bias=False), nn.GroupNorm(2, 6)),
            nn.Flatten(),
            nn.Linear(6, 4),
        )

    def conv_layer1():
        return nn.Sequential(
            nn.Conv2d(in_channels=3, out_channels=64, kernel_size=7, stride=1, padding=7 // 2),
            nn.BatchNorm2d(64),
            nn.LeakyReLU(0.1),
            nn.MaxPool2d(kernel_size=2, stride=2),
        )

    def init_weights(model):
        # Yolo_v1._initialize_weights on any model
        Yolo_v1._initialize_weights(model)

    recipe("initialize_weights", 21, small_net, init_weights)
    recipe("kaiming_fan_out", 22, small_net, kaiming_fan_out)
    recipe("weights_init_kaiming_conv_layer1", 23, conv_layer1, lambda m: m.apply(weights_init_kaiming))
    recipe("weights_init_kaiming_small", 24, small_net, lambda m: m.apply(weights_init_kaiming))
    recipe("weights_init_classifier_small", 25, small_net, lambda m: m.apply(weights_init_classifier))

    save_file(t, str(d / "init.safetensors"))
    (d / "init.json").write_text(json.dumps({"gains": gains, "runs": runs, "defaults": defaults, "recipes": recipes}, indent=1))


# ---------------------------------------------------------------------------------------------
# The seed's Yolo_v1.

SAMPLE = 4096  # samples of each big tensor
FULL = 400_000  # tensors up to this size are kept whole


def sample_index(numel):
    """Evenly spaced flat indices plus the last one: start 0, step max(1, numel // SAMPLE)."""
    step = max(1, numel // SAMPLE)
    idx = torch.arange(0, numel, step)
    if idx[-1] != numel - 1:
        idx = torch.cat([idx, torch.tensor([numel - 1])])
    return step, idx


def write_yolo(d):
    t = {}
    meta = {}
    torch.manual_seed(0)
    net = Yolo_v1(20)
    meta["seed"] = 0
    meta["num_class"] = 20
    meta["structure"] = structure(net)
    meta["get_submodule"] = [
        [p, type(net.get_submodule(p)).__name__]
        for p in ["", "conv_layer1", "conv_layer1.0", "conv_layer2.1", "bridge.3", "flatten", "conn_layer1.1", "conn_layer2.0"]
    ]
    meta["num_parameters"] = sum(p.numel() for p in net.parameters())
    # Right after the seed: every tensor (sampled when big), for RNG parity.
    sampled = {}
    for k, v in net.state_dict().items():
        flat = v.reshape(-1)
        if v.numel() <= FULL:
            store(t, f"init/{k}", v)
            sampled[k] = None
        else:
            step, idx = sample_index(v.numel())
            store(t, f"init_sample/{k}", flat[idx])
            sampled[k] = step
    meta["init_sampled"] = sampled
    net.eval()
    torch.manual_seed(1)
    x = torch.randn(2, 3, 48, 48)
    store(t, "input", x)
    with torch.no_grad():
        feature, out = net.forward_with_feature(x)
    store(t, "init_eval/feature", feature)
    store(t, "init_eval/output", out)

    # Loaded-weights parity: randomise the conv part (BatchNorm statistics too), give the two
    # Linear layers weights that repeat small random tiles (w[i, j] = tile[i % a, j % b]).
    torch.manual_seed(2)
    with torch.no_grad():
        for part in [net.conv_layer1, net.conv_layer2, net.bridge]:
            for name, p in part.named_parameters():
                if p.dim() == 1:
                    p.copy_(torch.randn_like(p) * 0.2 + (1.0 if name.endswith("weight") else 0.0))
                else:
                    p.copy_(torch.randn_like(p) * math.sqrt(2.0 / p[0].numel()))
            for name, b in part.named_buffers():
                if name.endswith("running_mean"):
                    b.copy_(torch.randn_like(b) * 0.1)
                elif name.endswith("running_var"):
                    b.copy_(torch.rand_like(b) + 0.5)
                elif name.endswith("num_batches_tracked"):
                    b.fill_(7)
        tile1 = torch.randn(64, 784) * 0.01
        tile2 = torch.randn(147, 512) * 0.02
        net.conn_layer1[0].weight.view(64, 64, 64, 784).copy_(tile1.view(1, 64, 1, 784))
        net.conn_layer1[0].bias.copy_(torch.randn(4096) * 0.1)
        net.conn_layer2[0].weight.view(10, 147, 8, 512).copy_(tile2.view(1, 147, 1, 512))
        net.conn_layer2[0].bias.copy_(torch.randn(1470) * 0.1)
    for k, v in net.state_dict().items():
        if k.startswith(("conv_layer1.", "conv_layer2.", "bridge.")) or k.endswith("bias"):
            store(t, f"loaded/{k}", v)
    store(t, "loaded/tile/conn_layer1.0.weight", tile1)
    store(t, "loaded/tile/conn_layer2.0.weight", tile2)
    with torch.no_grad():
        net.eval()
        feature, out = net.forward_with_feature(x)
        store(t, "loaded_eval/feature", feature)
        store(t, "loaded_eval/bridge", net.bridge(feature))
        store(t, "loaded_eval/output", out)
        # One training-mode forward: batch statistics and Dropout (after a seed).
        net.train()
        torch.manual_seed(3)
        store(t, "loaded_train/output", net(x))
        for k, v in net.state_dict().items():
            if "running" in k or "num_batches" in k:
                store(t, f"loaded_train/{k}", v)
    meta["train_seed"] = 3
    del net
    save_file(t, str(d / "yolo.safetensors"))
    (d / "yolo.json").write_text(json.dumps(meta, indent=1))


def main(outdir):
    d = outdir / "layers"
    d.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # conv_same_even: "Using padding='same' with even kernel lengths … may require a
        # zero-padded copy of the input" (expected, it is the case under test).
        warnings.filterwarnings("ignore", message="Using padding='same'")
        write_layers(d)
    write_init(d)
    write_yolo(d)


if __name__ == "__main__":
    import sys
    from pathlib import Path

    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("target/fixtures"))
