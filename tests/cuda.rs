//! CUDA: the same parity as on the CPU, where a GPU exists. Elsewhere each test prints why it
//! is skipped and returns.
mod common;

use tch::{nn::VarStore, Device, Kind, Tensor};
use tchvision::checkpoint::{self, LoadOptions, ReadOptions};
use tchvision::models::features::NodeOutputs;
use tchvision::models::resnet::{ResNet, ResNetConfig};
use tchvision::nn::ModuleExt;

fn gpu() -> Option<Device> {
    if tchvision::runtime::ensure_cuda_loaded() {
        Some(Device::Cuda(0))
    } else {
        common::skip("no CUDA device on this machine (tch::Cuda::is_available() is false)");
        None
    }
}

#[test]
fn runtime_device_parsing_matches_the_machine() {
    let cuda = tchvision::runtime::device("cuda");
    match gpu() {
        Some(_) => assert_eq!(cuda.unwrap(), Device::Cuda(0)),
        None => assert!(cuda.unwrap_err().to_string().contains("CUDA is not available")),
    }
    let auto = tchvision::runtime::device("auto").unwrap();
    assert_eq!(auto.is_cuda(), tch::Cuda::is_available());
}

#[test]
fn resnet18_on_cuda_matches_torchvision() {
    let Some(dev) = gpu() else { return };
    let o = common::tensors("resnet/outputs.safetensors");
    let vs = VarStore::new(dev);
    let net = ResNet::new(&vs.root(), &ResNetConfig::resnet18()).unwrap();
    // Load torch's weights through the checkpoint loader: values land on the model's device.
    let weights: Vec<(String, Tensor)> =
        Tensor::read_safetensors(common::fixture("resnet/resnet18.safetensors")).unwrap();
    let report = checkpoint::load_state_dict(&net, weights, &LoadOptions::strict()).unwrap();
    assert!(report.missing.is_empty() && report.unexpected.is_empty());
    for (k, t) in net.state_dict() {
        assert_eq!(t.device(), dev, "{k}");
        assert_eq!(t.kind() == Kind::Int64, k.ends_with("num_batches_tracked"), "{k}");
    }
    net.eval();
    for size in ["x224", "x193"] {
        let x = o[size].to_device(dev);
        let (y, nodes) = net.forward_nodes(&x, false, &["layer4"]).unwrap();
        assert_eq!(y.device(), dev);
        // cuDNN convolutions differ from the CPU's by more than float rounding: 1e-3.
        common::assert_close(&format!("cuda resnet18 {size}"), &y, &o[&format!("resnet18.logits.{size}")], 1e-3, 1e-3);
        assert_eq!(nodes[0].1.device(), dev);
    }
}

#[test]
fn cuda_tagged_checkpoints_load_onto_the_gpu() {
    let Some(dev) = gpu() else { return };
    let f = common::fixture("cli/resnet18.pth");
    let ck = checkpoint::read(&f, &ReadOptions { device: dev, ..ReadOptions::default() }).unwrap();
    assert!(ck.tensors.iter().all(|(_, t)| t.device() == dev));
}
