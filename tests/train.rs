//! A full training step of every registry family equals torch's (fixtures of
//! scripts/fixtures_train.py, whose `TRAIN_STEP_MODELS` drives this test: a new family adds a
//! model name there and nothing here).
//!
//! For each model of the fixture's manifest, built by name (the registry; YOLO-v1 through
//! `create_detector` with the small input and hidden width the fixture states), with the weights
//! both sides compute (`hashed_fill`, checked by per-tensor sums):
//!
//! * train mode, `cross_entropy(model(x).flatten(1), target)`, backward, then tch's SGD
//!   (momentum, weight decay) for the fixture's steps; the loss of every step, the gradients of
//!   the first step, and afterwards every parameter, BatchNorm running statistic and
//!   num_batches_tracked equal torch.optim.SGD's;
//! * the same from the same weights with tch's AdamW against torch.optim.AdamW;
//! * the gradients again through the recorded-node path (`forward_nodes`, where ResNet's blocks
//!   run ReLU and the residual add out of place) are bit-identical to the fast path's (in-place
//!   `relu_`/`add_`) and equal torch's.
//!
//! Tolerances (|ours − torch| ≤ atol + rtol·|torch|, atol scaled by the tensor's largest
//! magnitude in torch): losses rtol 1e-5; gradients rtol 1e-4, atol 1e-6·max|g|; parameters and
//! statistics after the steps rtol 1e-5, atol 1e-7·max|p|. On the machine that wrote this the
//! losses, gradients and SGD results come out bit-identical to torch's and AdamW's within one
//! float32 ulp (C++ and Python order AdamW's arithmetic slightly differently); the tolerances
//! leave room for another thread count's reduction order. Tensors over the fixture's size limit
//! are compared on its evenly spaced samples and by their sum and sum of absolute values.

mod common;

use std::collections::HashMap;

use serde_json::Value;
use tch::nn::{OptimizerConfig, VarStore};
use tch::{Device, Kind, Reduction, Tensor};
use tchvision::detection::yolo::{create_detector, YoloV1Config};
use tchvision::models::api::{Model, Options as ModelOptions};
use tchvision::models::features::NodeOutputs;
use tchvision::nn::ModuleExt;
use tchvision::registry::{create_model, list_models, model_info};

fn manifest() -> Value {
    common::json("train/manifest.json")
}

/// Builds `name` with the fixture's options; every option must be understood.
fn build(name: &str, options: &Value, vs: &VarStore) -> Box<dyn Model> {
    let o = options.as_object().unwrap_or_else(|| panic!("{name}: options {options}"));
    let int = |k: &str| o.get(k).map(|v| v.as_i64().unwrap_or_else(|| panic!("{name}: option {k} = {v}")));
    let family = model_info(name).unwrap_or_else(|e| panic!("{e}")).family;
    if family == "yolo" {
        for k in o.keys() {
            let known = ["num_classes", "input_size", "hidden"].contains(&k.as_str());
            assert!(known, "{name}: the harness does not know option {k} (add it to build())");
        }
        // The registry builds the paper's 448-pixel, 4096-wide detector (an 800 MB layer): the
        // harness takes the fixture's input size and hidden width through the detector's config.
        let mut cfg = YoloV1Config::paper();
        if let Some(c) = int("num_classes") {
            cfg = cfg.num_classes(c);
        }
        if let Some(s) = int("input_size") {
            cfg = cfg.input_size(s);
        }
        if let Some(h) = int("hidden") {
            cfg = cfg.hidden(h);
        }
        create_detector(name, &vs.root(), &cfg).unwrap_or_else(|e| panic!("{name}: {e}"))
    } else {
        // Every other option as the CLI's `--option key=value` (the registry refuses unknown ones).
        let mut opts = ModelOptions::default();
        opts.num_classes = int("num_classes");
        for (k, v) in o.iter().filter(|(k, _)| k.as_str() != "num_classes") {
            let v = match v {
                Value::String(s) => s.clone(),
                Value::Array(a) => a.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(","),
                other => other.to_string(),
            };
            opts = opts.set(k, v);
        }
        create_model(name, &vs.root(), &opts).unwrap_or_else(|e| panic!("{name}: {e}"))
    }
}

/// One fixture tensor (whole, or sampled with its sums), compared with ours.
struct Stored<'a> {
    t: &'a HashMap<String, Tensor>,
    summaries: &'a Value,
    sample: i64,
}

impl Stored<'_> {
    /// Compares `ours` with the fixture's `key`; `atol` is relative to torch's largest magnitude.
    #[track_caller]
    fn check(&self, what: &str, key: &str, ours: &Tensor, rtol: f64, atol_rel: f64) {
        if let Some(want) = self.t.get(key) {
            if want.kind() == Kind::Int64 {
                common::assert_equal(what, ours, want);
                return;
            }
            let scale = if want.numel() > 0 { want.abs().max().double_value(&[]) } else { 0.0 };
            common::assert_close(what, ours, want, rtol, atol_rel * scale);
            return;
        }
        let want = self.t.get(&format!("{key}#sample")).unwrap_or_else(|| panic!("{what}: fixture lacks {key}"));
        let n = ours.numel() as i64;
        let step = (n / self.sample).max(1);
        let mut idx = Tensor::arange_start_step(0, n, step, (Kind::Int64, Device::Cpu));
        if idx.int64_value(&[-1]) != n - 1 {
            idx = Tensor::cat(&[idx, Tensor::from_slice(&[n - 1])], 0);
        }
        assert_eq!(idx.size(), want.size(), "{what}: sample count (numel {n})");
        let got = ours.reshape([-1]).index_select(0, &idx);
        let scale = want.abs().max().double_value(&[]);
        common::assert_close(&format!("{what} (samples)"), &got, want, rtol, atol_rel * scale);
        let s = &self.summaries[key];
        let abs_sum = s["abs_sum"].as_f64().unwrap();
        let ours64 = ours.to_kind(Kind::Double);
        common::assert_close_f64(
            &format!("{what}: sum of |x|"),
            ours64.abs().sum(Kind::Double).double_value(&[]),
            abs_sum,
            rtol,
            0.0,
        );
        common::assert_close_f64(
            &format!("{what}: sum"),
            ours64.sum(Kind::Double).double_value(&[]),
            s["sum"].as_f64().unwrap(),
            0.0,
            rtol * abs_sum,
        );
    }
}

fn snapshot(m: &dyn Model) -> Vec<(String, Tensor)> {
    m.state_dict().into_iter().map(|(k, t)| (k, t.detach().copy())).collect()
}

fn restore(m: &dyn Model, snap: &[(String, Tensor)]) {
    let _g = tch::no_grad_guard();
    for ((k, mut t), (k2, s)) in m.state_dict().into_iter().zip(snap) {
        assert_eq!(&k, k2);
        t.copy_(s);
    }
    for (_, mut p) in m.named_parameters() {
        p.zero_grad();
    }
}

fn loss(m: &dyn Model, x: &Tensor, target: &Tensor, seed: i64, recorded: bool) -> Tensor {
    tch::manual_seed(seed);
    let y = if recorded {
        // The recorded-node path: every node reported, nothing in place.
        m.forward_nodes::<&str>(x, true, &[]).unwrap().0
    } else {
        m.try_forward(x).unwrap()
    };
    y.flatten(1, -1).cross_entropy_loss::<Tensor>(target, None, Reduction::Mean, -100, 0.0)
}

fn grads(m: &dyn Model) -> Vec<(String, Tensor)> {
    m.named_parameters().into_iter().filter(|(_, p)| p.grad().defined()).map(|(k, p)| (k, p.grad().copy())).collect()
}

const GRAD_RTOL: f64 = 1e-4;
const GRAD_ATOL: f64 = 1e-6;

fn check_grads(what: &str, name: &str, got: &[(String, Tensor)], case: &Value, stored: &Stored) {
    common::assert_covered(
        &format!("{what}: parameters with a gradient"),
        got.iter().map(|(k, _)| k),
        common::strings(&case["grads"]),
    );
    for (k, g) in got {
        stored.check(&format!("{what}: gradient of {k}"), &format!("{name}/grad/{k}"), g, GRAD_RTOL, GRAD_ATOL);
    }
}

/// Runs the fixture's steps with `opt`, comparing the losses; returns the first step's gradients.
#[allow(clippy::too_many_arguments)]
fn run_steps(
    what: &str,
    m: &dyn Model,
    opt: &mut tch::nn::Optimizer,
    x: &Tensor,
    target: &Tensor,
    seed: i64,
    want_losses: &Value,
    steps: usize,
) -> Vec<(String, Tensor)> {
    let want = want_losses.as_array().unwrap();
    assert_eq!(want.len(), steps, "{what}: losses in the fixture");
    let mut first = Vec::new();
    for (step, want) in want.iter().enumerate() {
        opt.zero_grad();
        let l = loss(m, x, target, seed + step as i64, false);
        l.backward();
        if step == 0 {
            first = grads(m);
        }
        opt.step();
        common::assert_close_f64(
            &format!("{what}: loss at step {step}"),
            l.double_value(&[]),
            want.as_f64().unwrap(),
            1e-5,
            0.0,
        );
    }
    first
}

fn check_state(what: &str, m: &dyn Model, prefix: &str, case: &Value, stored: &Stored) {
    let sd = m.state_dict();
    common::assert_covered(&format!("{what}: state"), sd.iter().map(|(k, _)| k), common::strings(&case["state"]));
    for (k, t) in sd {
        stored.check(&format!("{what}: {k}"), &format!("{prefix}/state/{k}"), &t, 1e-5, 1e-7);
    }
}

fn train_step_equals_torch(case: &Value, man: &Value, t: &HashMap<String, Tensor>) {
    let name = case["name"].as_str().unwrap();
    let stored = Stored { t, summaries: &case["summaries"], sample: man["sample"].as_i64().unwrap() };
    let steps = man["steps"].as_u64().unwrap() as usize;
    let seed = man["seed"].as_i64().unwrap();
    let vs = VarStore::new(Device::Cpu);
    let m = build(name, &case["options"], &vs);
    let m: &dyn Model = m.as_ref();

    // The same weights as torch's.
    let sums = common::hashed_fill(m);
    let want = case["weight_sums"].as_object().unwrap();
    common::assert_covered(&format!("{name}: filled tensors"), sums.iter().map(|(k, _)| k), want.keys());
    for (k, s) in &sums {
        common::assert_close_f64(&format!("{name}: {k} weights"), *s, want[k].as_f64().unwrap(), 1e-9, 1e-9);
    }
    let params: Vec<String> = m.named_parameters().into_iter().map(|(k, _)| k).collect();
    assert_eq!(params, common::strings(&case["parameters"]), "{name}: named_parameters");
    let init = snapshot(m);
    let x = &t[&format!("{name}/input")];
    let target = &t[&format!("{name}/target")];
    m.train();

    // SGD with momentum and weight decay.
    let sgd = &man["sgd"];
    let mut opt = tch::nn::Sgd {
        momentum: sgd["momentum"].as_f64().unwrap(),
        dampening: sgd["dampening"].as_f64().unwrap(),
        wd: sgd["weight_decay"].as_f64().unwrap(),
        nesterov: sgd["nesterov"].as_bool().unwrap(),
    }
    .build(&vs, sgd["lr"].as_f64().unwrap())
    .unwrap();
    let fast = run_steps(&format!("{name} SGD"), m, &mut opt, x, target, seed, &case["losses"]["sgd"], steps);
    check_grads(&format!("{name} (in-place path)"), name, &fast, case, &stored);
    check_state(&format!("{name} after SGD"), m, &format!("{name}/sgd"), case, &stored);
    drop(opt);

    // The recorded-node path: the same gradients, bit for bit.
    restore(m, &init);
    loss(m, x, target, seed, true).backward();
    let recorded = grads(m);
    check_grads(&format!("{name} (recorded path)"), name, &recorded, case, &stored);
    assert_eq!(recorded.len(), fast.len());
    for ((k, a), (_, b)) in recorded.iter().zip(&fast) {
        common::assert_equal(&format!("{name}: gradient of {k}, recorded vs in-place path"), a, b);
    }

    // AdamW from the same weights.
    restore(m, &init);
    let a = &man["adamw"];
    let lr = a["lr"].as_f64().unwrap();
    let mut opt = tch::nn::AdamW {
        beta1: a["betas"][0].as_f64().unwrap(),
        beta2: a["betas"][1].as_f64().unwrap(),
        wd: a["weight_decay"].as_f64().unwrap(),
        eps: a["eps"].as_f64().unwrap(),
        amsgrad: a["amsgrad"].as_bool().unwrap(),
    }
    .build(&vs, lr)
    .unwrap();
    let _ = run_steps(&format!("{name} AdamW"), m, &mut opt, x, target, seed, &case["losses"]["adamw"], steps);
    check_state(&format!("{name} after AdamW"), m, &format!("{name}/adamw"), case, &stored);
}

#[test]
fn training_steps_equal_torch_for_every_family() {
    let _s = common::serial();
    let man = manifest();
    let t = common::tensors("train/train.safetensors");
    let mut covered = Vec::new();
    for case in man["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        train_step_equals_torch(case, &man, &t);
        covered.push(name.to_string());
    }
    common::assert_covered("training-step models", &covered, common::strings(&man["models"]));
    // Every family of the registry has a model here (a new family adds one to
    // TRAIN_STEP_MODELS in scripts/fixtures_train.py).
    let families: std::collections::BTreeSet<&str> = list_models().into_iter().map(|m| m.family).collect();
    let tested: std::collections::BTreeSet<&str> =
        covered.iter().map(|n| model_info(n).unwrap_or_else(|e| panic!("{e}")).family).collect();
    let untested: Vec<_> = families.difference(&tested).collect();
    assert!(untested.is_empty(), "families without a training-step case (TRAIN_STEP_MODELS): {untested:?}");
}
