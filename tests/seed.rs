//! The seed network, `Yolo_v1(num_class=20)` with our `bridge`, against the same network in
//! torch (scripts/fixtures_layers.py defines it): output shapes; after `manual_seed(0)` both
//! draw bit-identical weights (default init, then `_initialize_weights`) and give the same
//! output; with torch's weights copied in (the conv part from a safetensors state dict, the two
//! 800 MB / 24 MB Linear weights as repeats of saved tiles) eval and train outputs equal torch's;
//! `forward_with_feature` returns conv_layer2's output; bad input is an error naming the layer.

mod common;

use common::{assert_close, json, tensors};
use std::collections::HashMap;
use tch::{nn::VarStore, Device, Kind, Tensor};
use tchvision::models::seed::Yolo_v1;
use tchvision::nn::*;
use tchvision::Error;

fn yolo(seed: i64) -> (VarStore, Yolo_v1) {
    tch::manual_seed(seed);
    let vs = VarStore::new(Device::Cpu);
    let net = Yolo_v1::new(&vs.root(), 20).unwrap();
    (vs, net)
}

#[test]
fn output_shapes_and_bad_input() {
    let _rng = common::serial();
    let (_vs, net) = yolo(1);
    net.eval();
    let x = Tensor::randn([1, 3, 448, 448], (Kind::Float, Device::Cpu));
    let (feature, out) = net.forward_with_feature(&x, false).unwrap();
    assert_eq!(out.size(), [1, 7 * 7 * 30]);
    assert_eq!(feature.size(), [1, 192, 112, 112]);
    // Any size from 4x4 up runs (the bridge pools to 7x7).
    for shape in [[2i64, 3, 100, 130], [3, 3, 4, 4]] {
        let x = Tensor::randn(shape, (Kind::Float, Device::Cpu));
        assert_eq!(net.try_forward(&x).unwrap().size(), [shape[0], 1470], "input {shape:?}");
    }
    check_bad_input(&net);
    drop(net);
    // Another number of classes: 7·7·(2·5 + C).
    let vs = VarStore::new(Device::Cpu);
    let net = Yolo_v1::new(&vs.root(), 3).unwrap();
    net.eval();
    let y = net.try_forward(&Tensor::randn([2, 3, 64, 64], (Kind::Float, Device::Cpu))).unwrap();
    assert_eq!(y.size(), [2, 7 * 7 * 13]);
    assert_eq!(net.num_class, 3);
}

#[test]
fn same_seed_same_weights_and_output_as_torch() {
    let _rng = common::serial();
    let meta = json("layers/yolo.json");
    let t = tensors("layers/yolo.safetensors");
    let (_vs, net) = yolo(meta["seed"].as_i64().unwrap());
    let sampled = meta["init_sampled"].as_object().unwrap();
    assert_eq!(sampled.len(), net.state_dict().len());
    for (k, v) in net.state_dict() {
        match sampled[&k].as_i64() {
            None => assert!(v.equal(&t[&format!("init/{k}")]), "{k}: not bit-identical to torch's after the same seed"),
            Some(step) => {
                let n = v.numel() as i64;
                let flat = v.reshape([-1]);
                let mut idx = Tensor::arange_start_step(0, n, step, (Kind::Int64, Device::Cpu));
                if (n - 1) % step != 0 {
                    idx = Tensor::cat(&[idx, Tensor::from_slice(&[n - 1])], 0);
                }
                let got = flat.index_select(0, &idx);
                let want = &t[&format!("init_sample/{k}")];
                assert_eq!(got.size(), want.size(), "{k}: sample size");
                assert!(got.equal(want), "{k}: samples not bit-identical to torch's after the same seed");
            }
        }
    }
    net.eval();
    let x = &t["input"];
    let (feature, out) = net.forward_with_feature(x, false).unwrap();
    assert_close("feature (seeded init)", &feature, &t["init_eval/feature"], 1e-4, 1e-5);
    assert_close("output (seeded init)", &out, &t["init_eval/output"], 1e-4, 1e-5);
}

/// Copies torch's loaded-weights state into `net`: the conv part and the biases from the
/// fixture, the two Linear weights by repeating their tiles (w[i, j] = tile[i % a, j % b]).
fn load_torch_weights(net: &Yolo_v1, t: &HashMap<String, Tensor>) {
    let _g = tch::no_grad_guard();
    let mut copied = 0;
    for (k, mut v) in net.state_dict() {
        if let Some(src) = t.get(&format!("loaded/{k}")) {
            v.f_copy_(src).unwrap();
            copied += 1;
        }
    }
    assert_eq!(copied, net.state_dict().len() - 2, "all but the two Linear weights");
    let tile1 = &t["loaded/tile/conn_layer1.0.weight"];
    let tile2 = &t["loaded/tile/conn_layer2.0.weight"];
    let w1 = net.conn_layer1.get(0).unwrap().parameter("weight").unwrap();
    w1.view([64, 64, 64, 784]).f_copy_(&tile1.view([1, 64, 1, 784])).unwrap();
    let w2 = net.conn_layer2.get(0).unwrap().parameter("weight").unwrap();
    w2.view([10, 147, 8, 512]).f_copy_(&tile2.view([1, 147, 1, 512])).unwrap();
    assert!(w1.get(4095).get(50175).equal(&tile1.get(63).get(783)));
    assert!(w2.get(1469).get(4095).equal(&tile2.get(146).get(511)));
}

#[test]
fn torch_weights_give_torch_outputs() {
    let _rng = common::serial();
    let meta = json("layers/yolo.json");
    let t = tensors("layers/yolo.safetensors");
    let (_vs, net) = yolo(12345);
    load_torch_weights(&net, &t);
    let x = &t["input"];

    net.eval();
    let (feature, out) = net.forward_with_feature(x, true).unwrap();
    assert_close("eval feature (conv_layer2)", &feature, &t["loaded_eval/feature"], 1e-4, 1e-5);
    let bridge = net.bridge.try_forward(&feature).unwrap();
    assert_close("eval bridge", &bridge, &t["loaded_eval/bridge"], 1e-4, 1e-5);
    assert_close("eval output", &out, &t["loaded_eval/output"], 1e-4, 1e-5);
    // The feature is conv_layer2's output.
    let direct = net.conv_layer2.try_forward(&net.conv_layer1.try_forward(x).unwrap()).unwrap();
    assert!(feature.equal(&direct), "forward_with_feature's feature is not conv_layer2's output");
    assert!(net.try_forward(x).unwrap().equal(&out), "forward and forward_with_feature differ");

    // Training mode: batch statistics and Dropout after the same seed as torch.
    net.train();
    tch::manual_seed(meta["train_seed"].as_i64().unwrap());
    let y = net.try_forward(x).unwrap();
    assert_close("train output", &y, &t["loaded_train/output"], 1e-4, 1e-5);
    for (k, b) in net.named_buffers() {
        let want = &t[&format!("loaded_train/{k}")];
        assert_eq!(b.kind(), want.kind(), "{k}");
        assert_close(&format!("{k} after a training step"), &b, want, 1e-4, 1e-6);
    }
}

/// Bad input is an error naming the layer and both shapes, never a panic.
fn check_bad_input(net: &Yolo_v1) {
    let x = Tensor::zeros([1, 4, 64, 64], (Kind::Float, Device::Cpu));
    let err = net.try_forward(&x).unwrap_err();
    assert!(matches!(err, Error::InputShape { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("conv_layer1.0") && msg.contains("[1, 4, 64, 64]") && msg.contains("[N, 3, H, W]"), "{msg}");
    // Too small: 2x2 -> conv_layer1 -> 1x1, which conv_layer2's 2x2 max pool cannot take.
    let x = Tensor::zeros([1, 3, 2, 2], (Kind::Float, Device::Cpu));
    let msg = net.try_forward(&x).unwrap_err().to_string();
    assert!(msg.contains("conv_layer2.3") && msg.contains("[1, 192, 1, 1]") && msg.contains("2x2"), "{msg}");
    // Not an image at all.
    let msg = net.try_forward(&Tensor::zeros([3, 64], (Kind::Float, Device::Cpu))).unwrap_err().to_string();
    assert!(msg.contains("conv_layer1.0") && msg.contains("[3, 64]"), "{msg}");
    let msg = net.forward_with_feature(&Tensor::zeros([1, 3, 2, 2], (Kind::Float, Device::Cpu)), false);
    assert!(msg.is_err());
}
