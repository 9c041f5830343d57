//! The seed's `YourNet`: a torchvision resnet50 under the submodule `resnet50` and the YOLO-v1
//! head. Its backbone keys are torchvision's resnet50 keys (fixture made by torchvision) with the
//! `resnet50.` prefix; a plain resnet50 state dict loads into it only with that prefix.
mod common;

use tch::{nn::VarStore, Device, Kind, Tensor};
use tchvision::checkpoint::{load_state_dict, LoadOptions};
use tchvision::models::features::NodeOutputs;
use tchvision::models::seed::YourNet;
use tchvision::nn::ModuleExt;

#[test]
fn your_net_keys_forward_and_prefix_load() {
    let vs = VarStore::new(Device::Cpu);
    let net = YourNet::new(&vs.root()).unwrap();

    // Keys: torchvision's resnet50 state dict under `resnet50.`, then the seed's head.
    let torch = common::json("resnet/structure.json");
    let tv: Vec<(String, Vec<i64>)> = torch["models"]["resnet50"]["state_dict"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (format!("resnet50.{}", e[0].as_str().unwrap()), serde_json::from_value(e[1].clone()).unwrap()))
        .collect();
    let ours: Vec<(String, Vec<i64>)> = net.state_dict().into_iter().map(|(k, t)| (k, t.size())).collect();
    assert_eq!(&ours[..tv.len()], &tv[..]);
    let head: Vec<(String, Vec<i64>)> = ours[tv.len()..].to_vec();
    let want = [
        ("conn_layer1.0.weight", vec![4096, 7 * 7 * 1024]),
        ("conn_layer1.0.bias", vec![4096]),
        ("conn_layer2.0.weight", vec![7 * 7 * 30, 4096]),
        ("conn_layer2.0.bias", vec![7 * 7 * 30]),
    ];
    assert_eq!(head, want.iter().map(|(k, s)| (k.to_string(), s.clone())).collect::<Vec<_>>());

    // Forward: any input size gives 7·7·30 outputs; layer3 feeds the head through the pool.
    net.eval();
    for (h, w) in [(224, 224), (193, 257)] {
        let x = Tensor::randn([1, 3, h, w], (Kind::Float, Device::Cpu));
        let (y, nodes) = tch::no_grad(|| net.forward_nodes(&x, false, &["resnet50.layer3", "pool"])).unwrap();
        assert_eq!(y.size(), [1, 7 * 7 * 30]);
        assert_eq!(nodes[0].1.size()[1], 1024);
        assert_eq!(nodes[1].1.size(), [1, 1024, 7, 7]);
    }

    // A plain resnet50 state dict (torchvision's keys and values, from the fixture).
    let file: Vec<(String, Tensor)> = Tensor::read_safetensors(common::fixture("resnet/resnet50.safetensors")).unwrap();
    assert_eq!(file.len(), tv.len());
    let copy = || file.iter().map(|(k, t)| (k.clone(), t.shallow_clone())).collect::<Vec<_>>();
    // The seed's recipe as written loads nothing: every key differs by the prefix.
    let report = load_state_dict(&net, copy(), &LoadOptions::partial().drop_keys(r"^fc\.").unwrap()).unwrap();
    assert!(report.loaded.is_empty() && report.nothing_matched());
    assert!(report.to_string().contains("resnet50."), "{report}");
    // With the prefix every backbone key loads and the head is missing.
    let report = load_state_dict(&net, copy(), &LoadOptions::partial().add_prefix("resnet50.")).unwrap();
    assert_eq!(report.loaded.len(), tv.len());
    assert_eq!(report.missing, want.iter().map(|(k, _)| k.to_string()).collect::<Vec<_>>());
    assert!(report.unexpected.is_empty() && report.mismatched.is_empty());
    let sd = net.state_dict();
    for (k, t) in &file {
        let ours = &sd.iter().find(|(n, _)| *n == format!("resnet50.{k}")).unwrap().1;
        assert!(ours.equal(&t.to_kind(ours.kind())), "{k}");
    }
}
