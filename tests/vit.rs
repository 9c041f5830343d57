//! torchvision's Vision Transformer beyond the generic zoo tests (tests/zoo.rs), and
//! `nn.MultiheadAttention`, against fixtures torch writes (scripts/fixtures_vit.py):
//! the attention layer's initialisation, structure and outputs on each of torch's paths; the
//! version-1 MLP keys loading as torchvision loads them; the `representation_size` head; the
//! position embedding resized for another image size as torchvision's `interpolate_embeddings`
//! resizes it (the function, and loading a 224 checkpoint into a 320 model); the fixed input
//! size; the weights table; and the CLI on a vit_b_32 file torch saved.
mod common;

use std::collections::HashMap;
use std::process::{Command, Output};

use tch::{nn::VarStore, Device, Kind, Tensor};
use tchvision::checkpoint::{self, LoadOptions, ReadOptions};
use tchvision::models::api::{Model, Options};
use tchvision::models::vision_transformer::{interpolate_embeddings, ViTConfig, VisionTransformer};
use tchvision::nn::{ModuleExt, MultiheadAttention, MultiheadAttentionConfig};
use tchvision::registry::{create_model_for_weights, lookup_weights, model_info};
use tchvision::Error;

/// max |a − b| / max |b| ≤ 1e-4 (the zoo's measure), with equal shapes.
#[track_caller]
fn close(what: &str, ours: &Tensor, theirs: &Tensor) {
    assert_eq!(ours.size(), theirs.size(), "{what}: shapes");
    let (a, b) = (ours.to_kind(Kind::Double), theirs.to_kind(Kind::Double));
    let scale = b.abs().max().double_value(&[]).max(1e-30);
    let e = (a - b).abs().max().double_value(&[]) / scale;
    assert!(e <= 1e-4, "{what}: relative error {e:e}");
}

fn strings(v: &serde_json::Value) -> Pairs {
    v.as_array()
        .unwrap()
        .iter()
        .map(|p| (p[0].as_str().unwrap().to_string(), p[1].to_string().trim_matches('"').to_string()))
        .collect()
}

type Pairs = Vec<(String, String)>;

/// The state dict (keys and shapes) and named_modules (paths and class names).
fn structure_of(m: &dyn tchvision::nn::Module) -> (Pairs, Pairs) {
    let state = m.state_dict().into_iter().map(|(k, t)| (k, format!("{:?}", t.size()).replace(' ', ""))).collect();
    let mods = m.named_modules().into_iter().map(|(p, m)| (p, m.class_name().to_string())).collect();
    (state, mods)
}

#[test]
fn multihead_attention_equals_torch_on_each_path() {
    let _s = common::serial();
    let t = common::tensors("vit/mha.safetensors");
    let js = common::json("vit/mha.json");
    let vs = VarStore::new(Device::Cpu);
    let mut layers = HashMap::new();
    for name in ["a", "b", "c"] {
        let j = &js[name];
        let cfg = MultiheadAttentionConfig {
            dropout: j["dropout"].as_f64().unwrap_or(0.0),
            bias: j["bias"].as_bool().unwrap_or(true),
            batch_first: j["batch_first"].as_bool().unwrap_or(false),
        };
        tch::manual_seed(j["seed"].as_i64().unwrap());
        let e = j["embed_dim"].as_i64().unwrap();
        let m = MultiheadAttention::new(&(vs.root() / name), e, j["num_heads"].as_i64().unwrap(), cfg).unwrap();
        // keys, shapes, classes (out_proj is a NonDynamicallyQuantizableLinear)
        let (state, mods) = structure_of(&m);
        assert_eq!(state, strings(&j["state"]), "{name}: state dict");
        assert_eq!(mods, strings(&j["modules"]), "{name}: named_modules");
        // torch's initialisation after the same seed, exactly
        for (k, v) in m.state_dict() {
            let theirs = &t[&format!("{name}.init.{k}")];
            assert!(v.equal(theirs), "{name}.{k}: init differs from torch's");
        }
        common::copy_state(&m, &t, &format!("{name}.state."));
        layers.insert(name, m);
    }
    let input = |n: &str| t[&format!("in.{n}")].shallow_clone();
    let (x, q, kv, k, v, xu) = (input("x"), input("q"), input("kv"), input("k"), input("v"), input("xu"));
    let (a, b, c) = (&layers["a"], &layers["b"], &layers["c"]);
    assert!(!t["a.eval_nograd"].equal(&t["a.eval_grad"]), "torch's two paths differ in the last bits");
    for m in layers.values() {
        m.eval();
    }
    tch::no_grad(|| {
        // torch's fused kernel, bit for bit (the slow path differs in the last bits).
        assert!(a.try_forward(&x).unwrap().equal(&t["a.eval_nograd"]), "a: fast path (eval, no grad)");
        close("a: key is value", &a.attend(&q, &kv, &kv, true).unwrap(), &t["a.kv"]);
        close("a: q, k, v", &a.attend(&q, &k, &v, true).unwrap(), &t["a.qkv"]);
        close("a: unbatched", &a.try_forward(&xu).unwrap(), &t["a.unbatched"]);
        close("b: sequence first, odd heads", &b.try_forward(&input("xb")).unwrap(), &t["b.eval_nograd"]);
        close("c: no bias", &c.try_forward(&x).unwrap(), &t["c.eval_nograd"]);
    });
    // Grad enabled and the parameters require grad: torch's slow path.
    let y = a.try_forward(&x).unwrap();
    assert!(y.requires_grad(), "the slow path records the graph");
    assert!(y.detach().equal(&t["a.eval_grad"]), "a: slow path (eval, grad)");
    // Training: torch's attention-dropout masks for the same seed.
    a.train();
    tch::manual_seed(13);
    let y = a.try_forward(&x).unwrap().detach();
    close("a: train (dropout)", &y, &t["a.train"]);
    assert!(!y.allclose(&t["a.eval_grad"], 1e-5, 1e-6, false), "dropout changed the output");
    tch::manual_seed(14);
    close("a: train, key is value", &a.attend(&q, &kv, &kv, true).unwrap().detach(), &t["a.train_kv"]);
    // Bad shapes are errors naming the layer.
    let err = a.try_forward(&Tensor::zeros([2, 5, 7], (Kind::Float, Device::Cpu))).unwrap_err();
    assert!(matches!(err, Error::InputShape { .. }) && err.to_string().contains("a (MultiheadAttention)"), "{err}");
    assert!(a.attend(&q, &k, &q, false).is_err(), "key and value of different lengths");
    assert!(MultiheadAttention::new(&(vs.root() / "bad"), 10, 3, Default::default()).is_err());
}

fn tiny_config(js: &serde_json::Value) -> ViTConfig {
    let c = &js["config"];
    let g = |k: &str| c[k].as_i64().unwrap();
    ViTConfig::new(g("patch_size"), g("num_layers") as usize, g("num_heads"), g("hidden_dim"), g("mlp_dim"))
        .image_size(g("image_size"))
        .num_classes(g("num_classes"))
}

#[test]
fn version_1_mlp_keys_load_as_torchvision_loads_them() {
    let _s = common::serial();
    let t = common::tensors("vit/tiny.safetensors");
    let js = common::json("vit/tiny.json");
    let vs = VarStore::new(Device::Cpu);
    let net = VisionTransformer::new(&vs.root(), &tiny_config(&js)).unwrap();
    let report = checkpoint::load_file(
        &net,
        common::fixture("vit/tiny_old_keys.pth"),
        &ReadOptions::default(),
        &LoadOptions::strict(),
    )
    .unwrap();
    let renamed: Vec<(String, String)> = report.renamed.iter().map(|r| (r.from.clone(), r.to.clone())).collect();
    assert_eq!(renamed, strings(&js["renamed"]), "the renames torchvision's MLPBlock makes");
    assert_eq!(renamed.len(), 8, "2 layers × 2 Linears × weight and bias");
    assert_eq!(report.loaded.len(), net.state_dict().len());
    net.eval();
    let y = tch::no_grad(|| net.try_forward(&t["old.x"])).unwrap();
    close("logits after loading the old keys", &y, &t["old.logits"]);
}

#[test]
fn representation_size_head_equals_torchvisions() {
    let _s = common::serial();
    let t = common::tensors("vit/tiny.safetensors");
    let js = common::json("vit/tiny.json");
    let mut cfg = tiny_config(&js["rep"]);
    cfg.representation_size = Some(js["rep"]["config"]["representation_size"].as_i64().unwrap());
    tch::manual_seed(22);
    let vs = VarStore::new(Device::Cpu);
    let net = VisionTransformer::new(&vs.root(), &cfg).unwrap();
    let (state, mods) = structure_of(&net);
    assert_eq!(state, strings(&js["rep"]["state"]));
    assert_eq!(mods, strings(&js["rep"]["modules"]));
    assert!(mods.contains(&("heads.act".into(), "Tanh".into())));
    for (k, v) in net.state_dict() {
        let theirs = &t[&format!("rep.init.{k}")];
        assert!(v.equal(theirs), "{k}: init differs from torchvision's");
    }
    common::copy_state(&net, &t, "rep.state.");
    net.eval();
    let y = tch::no_grad(|| net.try_forward(&t["rep.x"])).unwrap();
    close("logits with pre_logits", &y, &t["rep.logits"]);
    // forward_features then forward_head is the forward pass.
    let f = tch::no_grad(|| net.forward_features(&t["rep.x"], false)).unwrap();
    assert_eq!(f.size(), [2, 5, 8]);
    let y2 = tch::no_grad(|| net.forward_head(&f, false)).unwrap();
    assert!(y2.equal(&y));
}

#[test]
fn position_embedding_interpolates_as_torchvisions_interpolate_embeddings() {
    let _s = common::serial();
    let t = common::tensors("vit/interp.safetensors");
    let js = common::json("vit/interp.json");
    let file = common::fixture("vit/interp_224.pth");
    let state = checkpoint::read(&file, &ReadOptions::default()).unwrap().tensors;
    // The function, on the small model's state dict and on a vit_b_16-sized embedding.
    let out = interpolate_embeddings(320, 16, state, "bicubic", false).unwrap();
    let pos = &out.iter().find(|(k, _)| k == "encoder.pos_embedding").unwrap().1;
    close("interpolate_embeddings bicubic", pos, &t["pos320"]);
    let state = checkpoint::read(&file, &ReadOptions::default()).unwrap().tensors;
    let n = state.len();
    let out = interpolate_embeddings(320, 16, state, "bilinear", false).unwrap();
    assert_eq!(out.len(), n, "reset_heads=false keeps every key");
    close("interpolate_embeddings bilinear", &out[3].1, &t["pos320_bilinear"]);
    assert_eq!(out[3].0, "encoder.pos_embedding");
    let big = vec![
        ("encoder.pos_embedding".to_string(), t["big.pos224"].shallow_clone()),
        ("heads.head.weight".to_string(), Tensor::zeros([3, 768], (Kind::Float, Device::Cpu))),
        ("heads.head.bias".to_string(), Tensor::zeros([3], (Kind::Float, Device::Cpu))),
    ];
    let out = interpolate_embeddings(320, 16, big, "bicubic", true).unwrap();
    let keys: Vec<&str> = out.iter().map(|(k, _)| k.as_str()).collect();
    let want: Vec<&str> = js["reset_heads_keys"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(keys, want, "reset_heads drops the heads");
    close("vit_b_16's embedding for 320", &out[0].1, &t["big.pos320"]);
    // torchvision's errors: not a square grid, a mode align_corners does not take.
    let odd = vec![("encoder.pos_embedding".to_string(), Tensor::zeros([1, 11, 4], (Kind::Float, Device::Cpu)))];
    assert!(interpolate_embeddings(64, 16, odd, "bicubic", false).unwrap_err().to_string().contains("perfect square"));
    let state = checkpoint::read(&file, &ReadOptions::default()).unwrap().tensors;
    assert!(interpolate_embeddings(320, 16, state, "nearest", false).is_err());

    // The loader path: the 224 checkpoint into a model built at 320.
    let c = &js["config"];
    let g = |k: &str| c[k].as_i64().unwrap();
    let cfg = ViTConfig::new(g("patch_size"), g("num_layers") as usize, g("num_heads"), g("hidden_dim"), g("mlp_dim"))
        .image_size(320)
        .num_classes(g("num_classes"));
    let vs = VarStore::new(Device::Cpu);
    let net = VisionTransformer::new(&vs.root(), &cfg).unwrap();
    let report = checkpoint::load_file(&net, &file, &ReadOptions::default(), &LoadOptions::strict()).unwrap();
    assert_eq!(report.adapted.len(), 1);
    let a = &report.adapted[0];
    assert_eq!(
        (a.key.as_str(), a.model_shape.clone(), a.file_shape.clone()),
        ("encoder.pos_embedding", vec![1, 401, 16], vec![1, 197, 16])
    );
    close("loaded pos_embedding", &net.encoder.pos_embedding, &t["pos320"]);
    net.eval();
    let y = tch::no_grad(|| net.try_forward(&t["x320"])).unwrap();
    close("logits at 320", &y, &t["logits320"]);
    // At the checkpoint's own size nothing is adapted.
    let vs = VarStore::new(Device::Cpu);
    let net224 = VisionTransformer::new(&vs.root(), &cfg.image_size(224)).unwrap();
    let report = checkpoint::load_file(&net224, &file, &ReadOptions::default(), &LoadOptions::strict()).unwrap();
    assert!(report.adapted.is_empty() && report.is_complete());
    close("pos_embedding at 224", &net224.encoder.pos_embedding, &t["pos224"]);
}

#[test]
fn the_model_takes_only_the_size_it_was_built_for() {
    let _s = common::serial();
    let vs = VarStore::new(Device::Cpu);
    let cfg = ViTConfig::new(16, 2, 2, 8, 16).image_size(32).num_classes(5);
    let net = VisionTransformer::new(&vs.root(), &cfg).unwrap();
    net.eval();
    assert_eq!(net.fixed_input_size(), Some([32, 32]));
    let ok = net.try_forward(&Tensor::zeros([2, 3, 32, 32], (Kind::Float, Device::Cpu))).unwrap();
    assert_eq!(ok.size(), [2, 5]);
    for bad in [[1, 3, 33, 33], [1, 3, 32, 48], [1, 1, 32, 32]] {
        let err = net.try_forward(&Tensor::zeros(bad, (Kind::Float, Device::Cpu))).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, Error::InputShape { .. }), "{msg}");
        assert!(msg.contains("[N, 3, 32, 32]") && msg.contains("image_size"), "{msg}");
    }
    // Built at another size, it takes that one.
    let vs = VarStore::new(Device::Cpu);
    let net48 = VisionTransformer::new(&vs.root(), &cfg.image_size(48)).unwrap();
    assert_eq!(net48.encoder.pos_embedding.size(), [1, 10, 8]);
    assert_eq!(net48.try_forward(&Tensor::zeros([1, 3, 48, 48], (Kind::Float, Device::Cpu))).unwrap().size(), [1, 5]);
    // What torchvision refuses to build.
    assert!(VisionTransformer::new(&vs.root(), &cfg.image_size(40)).unwrap_err().to_string().contains("indivisible"));
    // feature_info: token stages, channels last.
    let info = net.feature_info();
    let names: Vec<&str> = info.iter().map(|i| i.module.as_str()).collect();
    assert_eq!(names, ["encoder.layers.encoder_layer_0", "encoder.layers.encoder_layer_1"]);
    let (_, stages) = net.forward_stages(&Tensor::zeros([1, 3, 32, 32], (Kind::Float, Device::Cpu)), false).unwrap();
    for (i, t) in stages {
        assert_eq!(t.size(), [1, 5, i.num_chs], "{}", i.module);
        assert_eq!(i.reduction, 16);
    }
}

#[test]
fn weights_table_equals_torchvisions_enums() {
    let _s = common::serial();
    let tv = common::json("vit/weights.json");
    let tv = tv.as_array().unwrap();
    let ours: Vec<_> = tchvision::registry::all_weights().into_iter().filter(|w| w.arch.starts_with("vit_")).collect();
    assert_eq!(ours.len(), tv.len());
    assert_eq!(tv.len(), 10);
    for (w, t) in ours.into_iter().zip(tv) {
        assert_eq!(
            (w.arch, w.name, w.file),
            (t["arch"].as_str().unwrap(), t["name"].as_str().unwrap(), t["file"].as_str().unwrap())
        );
        assert_eq!(w.num_params, t["num_params"].as_i64().unwrap(), "{}", w.file);
        assert_eq!(
            [w.acc1, w.acc5, w.gflops],
            [t["acc1"].as_f64().unwrap(), t["acc5"].as_f64().unwrap(), t["gflops"].as_f64().unwrap()]
        );
        assert_eq!(
            [w.resize_size, w.crop_size],
            [t["resize_size"].as_i64().unwrap(), t["crop_size"].as_i64().unwrap()]
        );
        let interp = format!("{:?}", w.interpolation).to_ascii_lowercase();
        assert_eq!(interp, t["interpolation"].as_str().unwrap(), "{}", w.file);
        assert_eq!(w.default, t["default"].as_bool().unwrap(), "{}", w.file);
        // torchvision's builder sets image_size to the weights' min_size.
        let min = t["min_size"][0].as_i64().unwrap();
        let image_size = w.overrides.iter().find(|(k, _)| *k == "image_size").map(|(_, v)| v.parse::<i64>().unwrap());
        assert_eq!(image_size.unwrap_or(224), min, "{}: image_size", w.file);
        assert_eq!(model_info(w.arch).unwrap().num_params == w.num_params, image_size.is_none(), "{}", w.file);
    }
    // Built from the SWAG end-to-end weights: 384, with their parameter count.
    let w = lookup_weights("vit_b_16", "imagenet1k_swag_e2e_v1").unwrap();
    let vs = VarStore::new(Device::Cpu);
    let m = create_model_for_weights("vit_b_16", &vs.root(), &Options::default(), w).unwrap();
    assert_eq!(m.fixed_input_size(), Some([384, 384]));
    assert_eq!(m.num_parameters(), w.num_params);
}

// ---- the CLI on a vit_b_32 checkpoint torch saved

fn tv(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tchvision")).args(args).output().expect("running tchvision")
}

fn ok(args: &[&str]) -> String {
    let out = tv(args);
    assert!(out.status.success(), "tchvision {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn p(rel: &str) -> String {
    common::fixture(rel).display().to_string()
}

#[test]
fn cli_runs_vit_as_torchvision_at_its_size_and_at_320() {
    let want = common::tensors("vit/cli/expected.safetensors");
    let dir = tempfile::tempdir().unwrap();
    let w = p("vit/cli/vit_b_32_shared.pth");
    let out224 = dir.path().join("o224.safetensors").display().to_string();
    let base = ["--num-classes", "10", "--weights", &w, "--device", "cpu"];
    let (x224, x320) = (p("vit/cli/x224.safetensors"), p("vit/cli/x320.safetensors"));
    let mut args = vec!["run", "vit_b_32", "--input", &x224, "--output", &out224];
    args.extend(["--nodes", "encoder.layers.encoder_layer_11"]);
    args.extend(base);
    ok(&args);
    let got: HashMap<String, Tensor> = Tensor::read_safetensors(&out224).unwrap().into_iter().collect();
    close("run vit_b_32 224", &got["output"], &want["logits224"]);
    close("run vit_b_32 layer 11", &got["encoder.layers.encoder_layer_11"], &want["layer11_224"]);
    // Built at 320 from the 224 file: the position embedding is interpolated on load.
    let out320 = dir.path().join("o320.safetensors").display().to_string();
    let mut args = vec!["run", "vit_b_32", "--option", "image_size=320", "--input", &x320];
    args.extend(["--output", &out320]);
    args.extend(base);
    ok(&args);
    let got: HashMap<String, Tensor> = Tensor::read_safetensors(&out320).unwrap().into_iter().collect();
    close("run vit_b_32 at 320", &got["output"], &want["logits320"]);
    // `load` reports the adaptation.
    let j =
        ok(&["load", "vit_b_32", &w, "--num-classes", "10", "--option", "image_size=320", "--json", "--device", "cpu"]);
    let r: serde_json::Value = serde_json::from_str(&j).unwrap();
    assert_eq!(r["adapted"][0]["key"], "encoder.pos_embedding");
    assert_eq!(r["adapted"][0]["model_shape"], serde_json::json!([1, 101, 768]));
    assert_eq!(r["adapted"][0]["file_shape"], serde_json::json!([1, 50, 768]));
    assert_eq!(r["mismatched"], serde_json::json!([]));
    // The wrong input size: one line naming the size and the option.
    let mut args = vec!["run", "vit_b_32", "--input", &x320, "--output", &out320];
    args.extend(base);
    let out = tv(&args);
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("224") && err.contains("image_size") && !err.contains("panicked"), "{err}");
}

#[test]
fn cli_summary_and_features_use_the_built_size_and_tokens() {
    let j = ok(&["summary", "vit_b_32", "--option", "image_size=64", "--json", "--device", "cpu"]);
    let s: serde_json::Value = serde_json::from_str(&j).unwrap();
    assert_eq!(s["input"], serde_json::json!([1, 3, 64, 64]));
    let outputs = s["outputs"].as_array().unwrap();
    let shape_of = |m: &str| outputs.iter().find(|o| o["module"] == m).unwrap()["shape"].clone();
    assert_eq!(shape_of("encoder.layers.encoder_layer_0"), serde_json::json!([1, 5, 768]));
    assert_eq!(shape_of("encoder.layers.encoder_layer_0.self_attention"), serde_json::json!([1, 5, 768]));
    assert_eq!(shape_of("heads.head"), serde_json::json!([1, 1000]));
    // Token outputs pictured as their patch grid (class token left out): 768 tiles of 2×2.
    let dir = tempfile::tempdir().unwrap();
    let img = common::root().join("examples/images/chelsea.png").display().to_string();
    let out = dir.path().display().to_string();
    let j = ok(&[
        "features",
        "vit_b_32",
        "--option",
        "image_size=64",
        &img,
        "--nodes",
        "encoder.layers.encoder_layer_5,conv_proj",
        "--out",
        &out,
        "--json",
        "--device",
        "cpu",
    ]);
    let v: serde_json::Value = serde_json::from_str(&j).unwrap();
    assert_eq!(v[0]["shape"], serde_json::json!([1, 5, 768]));
    assert_eq!(v[1]["shape"], serde_json::json!([1, 768, 2, 2]));
    let g = tchvision::imageio::load_rgb(std::path::Path::new(v[0]["png"].as_str().unwrap())).unwrap();
    // 768 channels in rows of 28 (ceil(sqrt(768))): 28 rows of 3-pixel tiles.
    assert_eq!(g.size(), [3, 28 * 3 - 1, 28 * 3 - 1]);
}
