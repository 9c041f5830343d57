//! The seed's feature pyramid: the outputs of layer1…layer4 of a resnet50, taken in one
//! forward pass, fed to a small FPN (lateral 1×1 convs, top-down nearest upsampling, 3×3 output
//! convs; Lin et al. 2017), next to the classifier's logits.
//!
//! Run: `cargo run --example feature_pyramid [-- resnet50.pth]`
use tch::{nn, Device, Kind, Tensor};
use tchvision::checkpoint::{self, LoadOptions, ReadOptions};
use tchvision::models::api::Model;
use tchvision::models::features::NodeOutputs;
use tchvision::models::fpn::FeaturePyramidNetwork;
use tchvision::models::resnet::{ResNet, ResNetConfig};
use tchvision::nn::ModuleExt;

fn main() -> anyhow::Result<()> {
    tch::manual_seed(0);
    let vs = nn::VarStore::new(Device::Cpu);
    let backbone = ResNet::new(&(vs.root() / "backbone"), &ResNetConfig::resnet50())?;
    if let Some(path) = std::env::args().nth(1) {
        let report = checkpoint::load_file(&backbone, &path, &ReadOptions::default(), &LoadOptions::strict())?;
        println!("loaded {} tensors from {path}", report.loaded.len());
    }
    // The stages layer1..layer4 (timm's feature_info: channels and stride of each).
    let stages: Vec<_> = backbone.feature_info().into_iter().filter(|f| f.module.starts_with("layer")).collect();
    for s in &stages {
        println!("{}: {} channels at stride {}", s.module, s.num_chs, s.reduction);
    }
    let fpn = FeaturePyramidNetwork::for_stages(&(vs.root() / "fpn"), &stages, 256)?;
    backbone.eval();
    let x = Tensor::randn([1, 3, 224, 224], (Kind::Float, Device::Cpu));
    let names: Vec<&str> = stages.iter().map(|s| s.module.as_str()).collect();
    let (logits, maps) = tch::no_grad(|| backbone.forward_nodes(&x, false, &names))?;
    println!("logits {:?}", logits.size());
    for (name, p) in tch::no_grad(|| fpn.forward_maps(&maps))? {
        println!("pyramid level {name}: {:?}", p.size());
    }
    Ok(())
}
