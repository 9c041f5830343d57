//! The Swin family's own behaviour against torchvision (fixtures of
//! scripts/fixtures_swin_transformer.py); the structure, parity, init and train-mode tests of
//! every model are the generic zoo tests (tests/zoo.rs).
//!
//! * `shifted_window_attention` equals torchvision's function on windows that do and do not
//!   divide the map, with shifts on both axes, on one axis only, none, a non-square window, V1
//!   and V2.
//! * Small V1 and V2 models with every dropout and stochastic depth on: torchvision's init
//!   after the same seed, eval logits, and a train-mode forward whose dropout and
//!   stochastic-depth masks are torch's.
//! * The builder options (`mlp_ratio`) give torchvision's parameter counts; bad inputs and
//!   configurations are errors, not panics.
mod common;

use std::collections::HashMap;
use tch::{nn::VarStore, Device, Kind, Tensor};
use tchvision::models::api::Options;
use tchvision::models::swin_transformer::{shifted_window_attention, SwinConfig, SwinTransformer, SwinVersion};
use tchvision::nn::ModuleExt;
use tchvision::registry::create_model;
use tchvision::Error;

fn get(t: &HashMap<String, Tensor>, k: &str) -> Tensor {
    t.get(k).unwrap_or_else(|| panic!("fixture tensor {k} missing")).shallow_clone()
}

/// max |a − b| / max |b|.
fn rel_err(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size());
    let scale = b.abs().max().double_value(&[]).max(1e-30);
    (a - b).abs().max().double_value(&[]) / scale
}

#[test]
fn shifted_window_attention_equals_torchvisions() {
    let cases = common::json("swin/swa.json");
    let t = common::tensors("swin/swa.safetensors");
    let cases = cases.as_object().unwrap();
    assert_eq!(cases.len(), 7, "cases of scripts/fixtures_swin_transformer.py");
    for (name, c) in cases {
        let c = c.as_array().unwrap();
        let pair = |v: &serde_json::Value| -> [i64; 2] {
            let v = v.as_array().unwrap();
            [v[0].as_i64().unwrap(), v[1].as_i64().unwrap()]
        };
        let (heads, window, shift, v2) = (c[4].as_i64().unwrap(), pair(&c[5]), pair(&c[6]), c[7].as_bool().unwrap());
        let k = |s: &str| get(&t, &format!("{name}.{s}"));
        let logit_scale = if v2 { Some(k("logit_scale")) } else { None };
        let out = shifted_window_attention(
            &k("input"),
            &k("qkv_weight"),
            &k("proj_weight"),
            &k("bias"),
            window,
            heads,
            shift,
            0.0,
            0.0,
            Some(&k("qkv_bias")),
            Some(&k("proj_bias")),
            logit_scale.as_ref(),
            false,
        )
        .unwrap();
        let e = rel_err(&out, &k("output"));
        assert!(e < 1e-5, "{name}: relative error {e:e}");
    }
}

#[test]
fn shifted_window_attention_refuses_bad_arguments() {
    let x = Tensor::zeros([1, 7, 7, 6], (Kind::Float, Device::Cpu));
    let w = Tensor::zeros([18, 6], (Kind::Float, Device::Cpu));
    let p = Tensor::zeros([6, 6], (Kind::Float, Device::Cpu));
    let b = Tensor::zeros([1, 4, 49, 49], (Kind::Float, Device::Cpu));
    let run = |x: &Tensor, heads, window| {
        shifted_window_attention(x, &w, &p, &b, window, heads, [0, 0], 0.0, 0.0, None, None, None, false)
    };
    assert!(matches!(run(&x, 4, [7, 7]), Err(Error::InvalidArgument(_))), "6 channels in 4 heads");
    assert!(matches!(run(&x, 2, [0, 7]), Err(Error::InvalidArgument(_))), "zero window");
    assert!(matches!(run(&x.flatten(0, 1), 2, [7, 7]), Err(Error::InvalidArgument(_))), "3-D input");
    // A bias of the wrong size is libtorch's error, returned, not a panic.
    assert!(run(&x, 2, [7, 7]).is_err(), "bias for 4 heads with 2 heads");
}

fn small(version: SwinVersion) -> SwinConfig {
    SwinConfig {
        patch_size: [4, 4],
        embed_dim: 16,
        depths: vec![2, 2],
        num_heads: vec![2, 4],
        window_size: [4, 4],
        mlp_ratio: 4.0,
        dropout: 0.2,
        attention_dropout: 0.3,
        stochastic_depth_prob: 0.5,
        num_classes: 10,
        version,
    }
}

#[test]
fn small_models_init_eval_and_train_masks_equal_torchvisions() {
    let _s = common::serial();
    let t = common::tensors("swin/small.safetensors");
    let meta = common::json("swin/small.json");
    let x = get(&t, "x");
    for (name, version) in [("v1", SwinVersion::V1), ("v2", SwinVersion::V2)] {
        let vs = VarStore::new(Device::Cpu);
        tch::manual_seed(0);
        let m = SwinTransformer::new(&vs.root(), &small(version)).unwrap();
        // torchvision's init after the same seed: every tensor equal.
        let sd = m.state_dict();
        let want = t.keys().filter(|k| k.starts_with(&format!("{name}.state."))).count();
        assert_eq!(sd.len(), want, "{name}: state-dict entries");
        for (k, v) in &sd {
            let theirs = get(&t, &format!("{name}.state.{k}"));
            if v.is_floating_point() {
                let e = rel_err(v, &theirs);
                assert!(e < 1e-6, "{name}: init of {k}: relative error {e:e}");
            } else {
                assert!(v.equal(&theirs), "{name}: {k}");
            }
        }
        m.eval();
        let y = tch::no_grad(|| m.try_forward(&x)).unwrap();
        let e = rel_err(&y, &get(&t, &format!("{name}.eval")));
        assert!(e < 1e-5, "{name}: eval logits: relative error {e:e}");
        m.train();
        tch::manual_seed(meta["train_seed"].as_i64().unwrap());
        let y = tch::no_grad(|| m.try_forward(&x)).unwrap();
        let e = rel_err(&y, &get(&t, &format!("{name}.train")));
        assert!(e < 1e-5, "{name}: train-mode logits (dropout and stochastic-depth masks): relative error {e:e}");
    }
}

#[test]
fn builder_options_give_torchvisions_parameter_counts() {
    let counts = common::json("swin/options.json");
    let _s = common::serial();
    for (name, ratio) in [("swin_t", 2.0), ("swin_v2_t", 3.0)] {
        let vs = VarStore::new(Device::Cpu);
        let m = create_model(name, &vs.root(), &Options::default().set("mlp_ratio", ratio)).unwrap();
        assert_eq!(m.num_parameters(), counts[name].as_i64().unwrap(), "{name}(mlp_ratio={ratio})");
    }
    let vs = VarStore::new(Device::Cpu);
    let e = create_model("swin_t", &vs.root(), &Options::default().set("dropout", 1.5)).unwrap_err();
    assert!(e.to_string().contains("dropout"), "{e}");
    let e = create_model("swin_t", &vs.root(), &Options::default().set("window_size", 5)).unwrap_err();
    assert!(e.to_string().contains("mlp_ratio, dropout, attention_dropout"), "{e}");
}

#[test]
fn bad_inputs_are_errors() {
    let _s = common::serial();
    let vs = VarStore::new(Device::Cpu);
    let m = SwinTransformer::new(&vs.root(), &small(SwinVersion::V1)).unwrap();
    m.eval();
    for shape in [vec![1, 4, 32, 32], vec![1, 3, 2, 2], vec![3, 32, 32]] {
        let x = Tensor::zeros(shape.as_slice(), (Kind::Float, Device::Cpu));
        assert!(m.try_forward(&x).is_err(), "input {shape:?}");
    }
    // A map smaller than the window still runs (padded), as in torchvision.
    let y = m.try_forward(&Tensor::zeros([1, 3, 5, 9], (Kind::Float, Device::Cpu))).unwrap();
    assert_eq!(y.size(), [1, 10]);
    let mut cfg = small(SwinVersion::V2);
    cfg.num_heads = vec![3, 4];
    assert!(matches!(SwinTransformer::new(&vs.root(), &cfg), Err(Error::InvalidArgument(_))));
}
