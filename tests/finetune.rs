//! The tutorial's fine-tuning end to end (examples/finetune.rs) against torch doing the same
//! (scripts/fixtures_train.py `finetune`): a resnet50 `.pth` saved by torch, loaded without fc.*
//! into a 10-class model, the backbone frozen, the head trained with tch's SGD on a small fixed
//! dataset, the result saved as `.pth` and loaded by torch.
//!
//! * the loss at every step equals torch's (rtol 1e-5);
//! * every frozen parameter is bit-identical to the file's afterwards (checked here, and by
//!   torch on the saved file);
//! * the trained head and the backbone's BatchNorm statistics (train mode updates them) equal
//!   torch's, and the saved file loads strictly into torchvision's resnet50(num_classes=10) and
//!   gives torch the logits torch's own fine-tuned model gives (rtol 1e-4, atol 1e-5·max|logit|),
//!   which are also ours.

mod common;

#[path = "../examples/finetune.rs"]
#[allow(dead_code)]
mod finetune;

use std::collections::HashMap;

use tch::{Kind, Tensor};
use tchvision::checkpoint::{self, ReadOptions};
use tchvision::nn::ModuleExt;

/// Loads OUT (our fine-tuned .pth) into torchvision's resnet50(num_classes=10) strictly, runs it
/// in eval mode on the dataset's eval_images, and lists the parameters that differ from the
/// pretrained file's (torch.equal), other than fc.*.
const TORCH_CHECK: &str = r#"
import json, sys, torch, torchvision
from safetensors.torch import load_file, save_file
ours, pretrained, data, result = sys.argv[1:5]
sd = torch.load(ours, weights_only=True)
model = torchvision.models.resnet50(num_classes=10)
model.load_state_dict(sd, strict=True)
model.eval()
with torch.no_grad():
    logits = model(load_file(data)["eval_images"])
pre = torch.load(pretrained, weights_only=True)
changed = [k for k, _ in model.named_parameters() if not k.startswith("fc.") and not torch.equal(sd[k], pre[k])]
save_file({"logits": logits.contiguous()}, result + ".safetensors")
json.dump({"changed": changed, "keys": len(sd)}, open(result + ".json", "w"))
"#;

#[test]
fn finetuning_equals_torch() {
    let _s = common::serial();
    let fx = common::json("finetune/finetune.json");
    let want = common::tensors("finetune/finetuned.safetensors");
    let weights = common::fixture("finetune/resnet50.pth");
    let data = common::fixture("finetune/data.safetensors");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("finetuned.pth");
    let f = |k: &str| fx[k].as_f64().unwrap_or_else(|| panic!("finetune.json: {k}"));
    let args = finetune::FinetuneArgs {
        weights: Some(weights.clone()),
        data: Some(data.clone()),
        out: out.clone(),
        num_classes: f("num_classes") as i64,
        steps: f("steps") as usize,
        batch: f("batch") as i64,
        lr: f("lr"),
        momentum: f("momentum"),
        weight_decay: f("weight_decay"),
        seed: f("seed") as i64,
    };
    let pretrained: HashMap<String, Tensor> =
        checkpoint::read(&weights, &ReadOptions::default()).unwrap().tensors.into_iter().collect();

    let done = finetune::finetune(&args).unwrap();

    // The partial load: everything but the 1000-class head.
    assert_eq!(done.report.missing, ["fc.weight", "fc.bias"]);
    assert_eq!(done.report.loaded.len(), pretrained.len() - 2);
    // The loss at every step.
    let want_losses = fx["losses"].as_array().unwrap();
    assert_eq!(done.losses.len(), want_losses.len());
    for (i, (ours, theirs)) in done.losses.iter().zip(want_losses).enumerate() {
        common::assert_close_f64(&format!("loss at step {i}"), *ours, theirs.as_f64().unwrap(), 1e-5, 0.0);
    }
    // Frozen parameters: bit-identical to the file's; the head moved as torch's did.
    let mut frozen = 0;
    for (k, p) in done.model.named_parameters() {
        if k.starts_with("fc.") {
            let scale = want[&k].abs().max().double_value(&[]);
            common::assert_close(&format!("trained {k}"), &p, &want[&k], 1e-4, 1e-5 * scale);
        } else {
            assert!(!p.requires_grad(), "{k} is frozen");
            common::assert_equal(&format!("frozen {k}"), &p, &pretrained[&k]);
            frozen += 1;
        }
    }
    assert_eq!(frozen, done.model.named_parameters().len() - 2);
    // BatchNorm statistics of the backbone (train mode updates them).
    let sd: HashMap<String, Tensor> = done.model.state_dict().into_iter().collect();
    let buffers = common::strings(&fx["buffers"]);
    for k in &buffers {
        if want[k].kind() == Kind::Int64 {
            common::assert_equal(k, &sd[k], &want[k]);
        } else {
            common::assert_close(k, &sd[k], &want[k], 1e-4, 1e-6);
        }
    }
    common::assert_covered("compared buffers", &buffers, want.keys().filter(|k| k.contains("bn")));
    // Our eval logits are torch's.
    let logits = done.eval_logits.as_ref().expect("the dataset has eval_images");
    let scale = want["eval_logits"].abs().max().double_value(&[]);
    common::assert_close("eval logits", logits, &want["eval_logits"], 1e-4, 1e-5 * scale);

    // torch loads the saved file strictly and gets the same logits; its backbone is the
    // pretrained one.
    let result = dir.path().join("torch");
    let o = std::process::Command::new(common::python())
        .args(["-c", TORCH_CHECK])
        .arg(&out)
        .arg(&weights)
        .arg(&data)
        .arg(&result)
        .output()
        .unwrap();
    assert!(o.status.success(), "torch could not use the saved file: {}", String::from_utf8_lossy(&o.stderr));
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(result.with_extension("json")).unwrap()).unwrap();
    assert_eq!(report["changed"], serde_json::json!([]), "backbone parameters torch finds changed");
    assert_eq!(report["keys"].as_u64().unwrap() as usize, sd.len());
    let torch_logits: HashMap<String, Tensor> =
        Tensor::read_safetensors(result.with_extension("safetensors")).unwrap().into_iter().collect();
    common::assert_close(
        "torch's logits from our file",
        &torch_logits["logits"],
        &want["eval_logits"],
        1e-4,
        1e-5 * scale,
    );
}
