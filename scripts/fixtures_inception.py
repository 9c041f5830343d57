"""Fixtures of GoogLeNet and Inception-v3 built from published weights or from a file
(tests/inception.rs): torchvision's builders with `weights=` (the download replaced by a file of
seeded values, see fixtures_densenet.compact_state) against the plain constructors loading the
same file, as the tutorial does (`models.inception_v3()` then `load_state_dict`).
(torchvision refuses `aux_logits=False` together with `weights=`; tchvision's `--option` may
override it: the test checks that on its own.)

Writes under OUTDIR/inception/:
* googlenet-1378be20.pth, inception_v3_google-0cc3c7bd.pth: state dicts with every key of the
  plain constructor (auxiliary heads included, as the published files), saved under the
  published files' names.
* expected.safetensors: inputs "googlenet.input" (2x3x67x73), "inception_v3.input"
  (2x3x75x79, the smallest size is 75) and per model, eval-mode logits of
  - "<m>.named": <m>(weights=IMAGENET1K_V1) (transform_input on; GoogLeNet without its
    auxiliary heads, Inception-v3 with AuxLogits);
  - "<m>.named.no_transform": <m>(weights=..., transform_input=False);
  - "<m>.plain": <m>() after load_state_dict (transform_input off);
  and the training-mode outputs of googlenet(weights=..., aux_logits=True) after
  torch.manual_seed(11): "googlenet.named_aux.train.{logits,aux2,aux1}".
* structure.json: per variant, the state-dict keys; whether torchvision fails on 74x79.
* weights.json: torchvision's weights enums of both (fixtures_densenet.published).
* predict_expected.json: the plain inception_v3 with the file's weights on
  examples/images/chelsea.png, preprocessed as Inception_V3_Weights' preset (resize 342, crop
  299) on the float path tchvision takes (fixtures_cli.float_preprocess): top-5 indices and
  probabilities.
"""
import json
import warnings
from pathlib import Path

import torch
import torchvision
from safetensors.torch import save_file
from torchvision.io import ImageReadMode, decode_image

from fixtures_cli import IMAGES, float_preprocess
from fixtures_densenet import compact_state, published, published_file

FILES = {"googlenet": "googlenet-1378be20.pth", "inception_v3": "inception_v3_google-0cc3c7bd.pth"}


def main(outdir):
    out = Path(outdir) / "inception"
    out.mkdir(parents=True, exist_ok=True)
    warnings.filterwarnings("ignore", category=FutureWarning)
    tensors, structure = {}, {}
    sizes = {"googlenet": (67, 73), "inception_v3": (75, 79)}
    for name, file in FILES.items():
        builder = getattr(torchvision.models, name)
        sd = compact_state(builder(init_weights=False))
        torch.save(sd, out / file)
        torch.manual_seed(5)
        x = torch.randn(2, 3, *sizes[name])
        tensors[f"{name}.input"] = x
        variants = {"named": {}, "named.no_transform": {"transform_input": False}}
        models = {}
        with published_file(sd):
            for v, kw in variants.items():
                models[v] = builder(weights="IMAGENET1K_V1", **kw)
            if name == "googlenet":
                models["named_aux"] = builder(weights="IMAGENET1K_V1", aux_logits=True)
        plain = builder(init_weights=False)
        plain.load_state_dict(sd)
        models["plain"] = plain
        if name == "inception_v3":
            img = decode_image(str(IMAGES / "chelsea.png"), mode=ImageReadMode.RGB)
            with torch.no_grad():
                probs = plain.eval()(float_preprocess(img, 342, 299).unsqueeze(0)).softmax(-1)[0]
            p, i = probs.topk(5)
            json.dump({"top5_index": i.tolist(), "top5_prob": p.tolist()}, open(out / "predict_expected.json", "w"))
            # Below 75x75 torchvision fails too (the refusal is checked on our side).
            try:
                with torch.no_grad():
                    plain.eval()(torch.randn(1, 3, 74, 79))
                structure["inception_v3.74x79_fails"] = False
            except RuntimeError:
                structure["inception_v3.74x79_fails"] = True
        for v, m in models.items():
            structure[f"{name}.{v}"] = list(m.state_dict().keys())
            if v == "named_aux":
                continue
            with torch.no_grad():
                tensors[f"{name}.{v}"] = m.eval()(x)
        if name == "googlenet":
            m = models["named_aux"].train()
            torch.manual_seed(11)
            with torch.no_grad():
                o = m(x)
            tensors["googlenet.named_aux.train.logits"] = o.logits
            tensors["googlenet.named_aux.train.aux2"] = o.aux_logits2
            tensors["googlenet.named_aux.train.aux1"] = o.aux_logits1
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(out / "expected.safetensors"))
    json.dump(structure, open(out / "structure.json", "w"))
    json.dump(published(list(FILES)), open(out / "weights.json", "w"))
