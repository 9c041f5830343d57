"""Fixtures of torchvision's EfficientNet and ConvNeXt families beyond the generic zoo cases.

Writes under OUTDIR/effnet/ (read by tests/efficientnet.rs and tests/convnext.rs):

* nodes.json + nodes.safetensors: for efficientnet_b0, efficientnet_v2_s and convnext_tiny on
  the zoo's seeded weights (scripts/zoo_fixtures.py `seed_state`, SEED_BASE) and the input
  `torch.manual_seed(INPUT_SEED); torch.randn(1, 3, 35, 43)`: torchvision's
  `get_graph_node_names` (eval) and, for every node but the input and the `get_attr` nodes
  (ConvNeXt's `layer_scale`, LayerNorm2d's weight and bias), the output `create_feature_extractor` gives
  ("NAME.node.NODE").
* options.json + options.safetensors: builders with keyword arguments, built by torchvision
  after `torch.manual_seed(0)` (its own initialisation, no seeding):
  efficientnet_b0(dropout=0.5, stochastic_depth_prob=0.6, num_classes=10) and
  convnext_tiny(layer_scale=0.5, stochastic_depth_prob=0.3, num_classes=10); on
  `torch.manual_seed(INPUT_SEED); torch.randn(2, 3, 33, 41)`: eval logits ("NAME.eval"), then
  after `torch.manual_seed(TRAIN_SEED)` a train-mode forward ("NAME.train": dropout and
  stochastic-depth masks) and every buffer after it ("NAME.state.KEY", listed in
  options.json).
* efficientnet_b0_c10.pth: `torch.save(model.state_dict())` of efficientnet_b0(num_classes=10)
  on seeded weights, with run_input.safetensors ("x": 1x3x67x91) and run_expected.safetensors
  ("output", "features.3", "features.7": torchvision's eval outputs) for `tchvision run`.
"""
import json
from pathlib import Path

import torch
import torchvision
from safetensors.torch import save_file
from torchvision.models.feature_extraction import create_feature_extractor, get_graph_node_names

from zoo_fixtures import INPUT_SEED, SEED_BASE, TRAIN_SEED, seed_state

NODE_MODELS = ["efficientnet_b0", "efficientnet_v2_s", "convnext_tiny"]
OPTION_CASES = {
    "efficientnet_b0": dict(dropout=0.5, stochastic_depth_prob=0.6, num_classes=10),
    "convnext_tiny": dict(layer_scale=0.5, stochastic_depth_prob=0.3, num_classes=10),
}


def main(outdir):
    out = Path(outdir) / "effnet"
    out.mkdir(parents=True, exist_ok=True)

    nodes_json, tensors = {"seed_base": SEED_BASE, "input_seed": INPUT_SEED, "models": {}}, {}
    for name in NODE_MODELS:
        model = torchvision.models.get_model(name).eval()
        seed_state(model)
        torch.manual_seed(INPUT_SEED)
        x = torch.randn(1, 3, 35, 43)
        _, eval_nodes = get_graph_node_names(model)
        fe = create_feature_extractor(model, return_nodes=eval_nodes[1:])
        attrs = {n.name for n in fe.graph.nodes if n.op == "get_attr"}
        # get_graph_node_names names a node `<module path>.<node name>`.
        wanted = [n for n in eval_nodes[1:] if n.rsplit(".", 1)[-1] not in attrs]
        fe = create_feature_extractor(model, return_nodes=wanted)
        with torch.no_grad():
            outs = fe(x)
        nodes_json["models"][name] = {"graph_nodes": eval_nodes, "compared": wanted}
        for n in wanted:
            tensors[f"{name}.node.{n}"] = outs[n].clone().contiguous()
    (out / "nodes.json").write_text(json.dumps(nodes_json))
    save_file(tensors, str(out / "nodes.safetensors"))

    opts_json, tensors = {"input_seed": INPUT_SEED, "train_seed": TRAIN_SEED, "models": {}}, {}
    for name, kwargs in OPTION_CASES.items():
        torch.manual_seed(0)
        model = torchvision.models.get_model(name, **kwargs)
        opts_json["models"][name] = {"kwargs": kwargs, "buffers": [k for k, _ in model.named_buffers()]}
        torch.manual_seed(INPUT_SEED)
        x = torch.randn(2, 3, 33, 41)
        model.eval()
        with torch.no_grad():
            tensors[f"{name}.eval"] = model(x)
        model.train()
        torch.manual_seed(TRAIN_SEED)
        with torch.no_grad():
            tensors[f"{name}.train"] = model(x)
        for k, t in model.named_buffers():
            tensors[f"{name}.state.{k}"] = t.clone()
    (out / "options.json").write_text(json.dumps(opts_json))
    save_file(tensors, str(out / "options.safetensors"))

    model = torchvision.models.efficientnet_b0(num_classes=10).eval()
    seed_state(model)
    torch.save(model.state_dict(), out / "efficientnet_b0_c10.pth")
    torch.manual_seed(INPUT_SEED)
    x = torch.randn(1, 3, 67, 91)
    save_file({"x": x}, str(out / "run_input.safetensors"))
    fe = create_feature_extractor(model, return_nodes=["features.3", "features.7", "classifier.1"])
    with torch.no_grad():
        o = fe(x)
    save_file({k: o[n].clone().contiguous() for k, n in [("output", "classifier.1"), ("features.3", "features.3"), ("features.7", "features.7")]},
              str(out / "run_expected.safetensors"))
