//! RegNet against torchvision beyond the generic zoo tests (fixtures of
//! scripts/fixtures_regnet.py): the block parameters of every model and of other settings of
//! `BlockParams.from_init_params` (width quantisation, group-width compatibility, bottleneck
//! multipliers); a file saved by torch.save through the library and `tchvision run`; the
//! weights tables, SWAG weights' bicubic preprocessing included.
mod common;

use std::collections::HashMap;
use std::process::Command;

use tch::{nn::VarStore, Device, Tensor};
use tchvision::checkpoint::{self, LoadOptions, ReadOptions};
use tchvision::models::api::Options;
use tchvision::models::features::NodeOutputs;
use tchvision::models::regnet::{BlockParams, RegNetConfig};
use tchvision::nn::ModuleExt;
use tchvision::registry::{create_model, list_models};

fn ints(v: &serde_json::Value) -> Vec<i64> {
    v.as_array().unwrap().iter().map(|x| x.as_i64().unwrap()).collect()
}

fn check(what: &str, ours: &BlockParams, t: &serde_json::Value) {
    assert_eq!(ours.depths, ints(&t["depths"]), "{what}: depths");
    assert_eq!(ours.widths, ints(&t["widths"]), "{what}: widths");
    assert_eq!(ours.group_widths, ints(&t["group_widths"]), "{what}: group widths");
    assert_eq!(ours.strides, ints(&t["strides"]), "{what}: strides");
    let b: Vec<f64> = t["bottleneck_multipliers"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
    assert_eq!(ours.bottleneck_multipliers, b, "{what}: bottleneck multipliers");
    assert_eq!(ours.se_ratio, t["se_ratio"].as_f64(), "{what}: se_ratio");
}

#[test]
fn block_params_equal_torchvisions() {
    let t = common::json("regnet/block_params.json");
    let family: Vec<&str> = list_models().into_iter().filter(|m| m.family == "regnet").map(|m| m.name).collect();
    assert_eq!(family.len(), 15);
    for name in family {
        let cfg = match name {
            "regnet_y_400mf" => RegNetConfig::regnet_y_400mf(),
            "regnet_y_800mf" => RegNetConfig::regnet_y_800mf(),
            "regnet_y_1_6gf" => RegNetConfig::regnet_y_1_6gf(),
            "regnet_y_3_2gf" => RegNetConfig::regnet_y_3_2gf(),
            "regnet_y_8gf" => RegNetConfig::regnet_y_8gf(),
            "regnet_y_16gf" => RegNetConfig::regnet_y_16gf(),
            "regnet_y_32gf" => RegNetConfig::regnet_y_32gf(),
            "regnet_y_128gf" => RegNetConfig::regnet_y_128gf(),
            "regnet_x_400mf" => RegNetConfig::regnet_x_400mf(),
            "regnet_x_800mf" => RegNetConfig::regnet_x_800mf(),
            "regnet_x_1_6gf" => RegNetConfig::regnet_x_1_6gf(),
            "regnet_x_3_2gf" => RegNetConfig::regnet_x_3_2gf(),
            "regnet_x_8gf" => RegNetConfig::regnet_x_8gf(),
            "regnet_x_16gf" => RegNetConfig::regnet_x_16gf(),
            "regnet_x_32gf" => RegNetConfig::regnet_x_32gf(),
            other => panic!("{other} has no configuration here"),
        };
        check(name, &cfg.block_params, &t[name]);
    }
    let custom = t["custom"].as_array().unwrap();
    assert_eq!(custom.len(), 3);
    for c in custom {
        let a = &c["args"];
        let bp = BlockParams::from_init_params(
            a["depth"].as_i64().unwrap(),
            a["w_0"].as_i64().unwrap(),
            a["w_a"].as_f64().unwrap(),
            a["w_m"].as_f64().unwrap(),
            a["group_width"].as_i64().unwrap(),
            a["bottleneck_multiplier"].as_f64().unwrap_or(1.0),
            a["se_ratio"].as_f64(),
        )
        .unwrap();
        check(&a.to_string(), &bp, c);
    }
    // torchvision's refusals.
    assert!(BlockParams::from_init_params(10, 20, 10.0, 2.0, 8, 1.0, None).is_err(), "w_0 not a multiple of 8");
    assert!(BlockParams::from_init_params(10, 24, 10.0, 1.0, 8, 1.0, None).is_err(), "w_m <= 1");
}

fn expected() -> HashMap<String, Tensor> {
    common::tensors("regnet/expected.safetensors")
}

#[test]
fn a_file_saved_by_torch_gives_torchvisions_outputs() {
    let _s = common::serial();
    let e = expected();
    let vs = VarStore::new(Device::Cpu);
    let m = create_model("regnet_y_400mf", &vs.root(), &Options::default()).unwrap();
    let f = common::fixture("regnet/regnet_y_400mf.pth");
    checkpoint::load_file(m.as_ref(), &f, &ReadOptions::default(), &LoadOptions::strict()).unwrap();
    m.eval();
    let (y, nodes) = tch::no_grad(|| m.forward_nodes(&e["input"], false, &["trunk_output.block2"])).unwrap();
    common::assert_close("logits", &y, &e["logits"], 1e-4, 1e-5);
    common::assert_close("trunk_output.block2", &nodes[0].1, &e["trunk_output.block2"], 1e-4, 1e-5);
}

#[test]
fn cli_run_equals_torchvision() {
    let e = expected();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("x.safetensors");
    Tensor::write_safetensors(&[("input", &e["input"])], &input).unwrap();
    let out = dir.path().join("y.safetensors");
    let f = common::fixture("regnet/regnet_y_400mf.pth").display().to_string();
    let (i, o) = (input.display().to_string(), out.display().to_string());
    let args = [
        "run",
        "regnet_y_400mf",
        "--weights",
        &f,
        "--input",
        &i,
        "--output",
        &o,
        "--nodes",
        "trunk_output.block2",
        "--device",
        "cpu",
    ];
    let st = Command::new(env!("CARGO_BIN_EXE_tchvision")).args(args).output().unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    let got: HashMap<String, Tensor> = Tensor::read_safetensors(&out).unwrap().into_iter().collect();
    common::assert_close("output", &got["output"], &e["logits"], 1e-4, 1e-5);
    common::assert_close("trunk_output.block2", &got["trunk_output.block2"], &e["trunk_output.block2"], 1e-4, 1e-5);
}

#[test]
fn weights_tables_equal_torchvisions() {
    common::assert_weights_tables_match("regnet/weights.json");
    // The SWAG end-to-end weights: bicubic to 384, cropped to 384.
    let w = tchvision::registry::lookup_weights("regnet_y_128gf", "default").unwrap();
    assert_eq!(w.name, "IMAGENET1K_SWAG_E2E_V1");
    let p = w.preprocess();
    assert_eq!((p.resize_size, p.crop_size, p.interpolation), (384, 384, tchvision::imageio::Interpolation::Bicubic));
}
