//! The tutorial's partial-loading recipe, in tchvision.
//!
//! The tutorial (PyTorch):
//!
//! ```python
//! pretrained_dict = torch.load('/path/to/resnet50.pth')
//! pretrained_dict.pop('fc.weight'); pretrained_dict.pop('fc.bias')
//! model_dict = model.state_dict()
//! pretrained_dict = {k: v for k, v in pretrained_dict.items() if k in model_dict}
//! model_dict.update(pretrained_dict)
//! model.load_state_dict(model_dict)
//! ```
//!
//! Here: a small CNN with a 1000-class classifier is saved as a `.pth` state dict (PyTorch's zip
//! format, torch-style keys), then loaded into the same network with a 10-class classifier,
//! dropping `^fc\.` — one call, returning a report. Then the recipe's trap: the tutorial's own
//! network holds the backbone as `self.resnet50`, so every key differs by `resnet50.` and the
//! recipe loads nothing; the report says so, and `add_prefix` fixes it.
//!
//! Run with `cargo run --example partial_load`.

use anyhow::Result;
use tch::{nn::Path, nn::VarStore, Device, Tensor};
use tchvision::checkpoint::{self, load_file, LoadOptions, ReadOptions};
use tchvision::nn::*;

/// A small ResNet-like CNN: conv1, bn1, layer1 (Conv, BN, ReLU), fc.
#[derive(Debug)]
struct SmallNet {
    conv1: Conv2d,
    bn1: BatchNorm2d,
    layer1: Sequential,
    fc: Linear,
}

impl SmallNet {
    fn new(p: &Path, num_classes: i64) -> tchvision::Result<Self> {
        Ok(SmallNet {
            conv1: Conv2d::new(&(p / "conv1"), 3, 8, 3, Conv2dConfig::default().padding(1).bias(false))?,
            bn1: BatchNorm2d::new(&(p / "bn1"), 8, BatchNormConfig::default())?,
            layer1: Sequential::builder(p / "layer1")
                .add(|p| Conv2d::new(p, 8, 16, 3, Conv2dConfig::default().padding(1)))?
                .add(|p| BatchNorm2d::new(p, 16, BatchNormConfig::default()))?
                .add(ReLU::new)?
                .build(),
            fc: Linear::new(&(p / "fc"), 16, num_classes)?,
        })
    }
}

impl Module for SmallNet {
    fn kind(&self) -> ModuleKind {
        ModuleKind::Custom("SmallNet")
    }
    fn try_forward_t(&self, xs: &Tensor, train: bool) -> tchvision::Result<Tensor> {
        let x = self.bn1.try_forward_t(&self.conv1.try_forward_t(xs, train)?, train)?.relu();
        let x = self.layer1.try_forward_t(&x, train)?;
        self.fc.try_forward_t(&x.adaptive_avg_pool2d([1, 1]).flatten(1, -1), train)
    }
    fn named_children(&self) -> Vec<(String, &dyn Module)> {
        vec![
            ("conv1".into(), &self.conv1 as &dyn Module),
            ("bn1".into(), &self.bn1),
            ("layer1".into(), &self.layer1),
            ("fc".into(), &self.fc),
        ]
    }
}

/// The tutorial's `YourNet`: the backbone as `self.resnet50`, then its own head.
#[derive(Debug)]
struct YourNet {
    resnet50: SmallNet,
    conn_layer1: Sequential,
}

impl Module for YourNet {
    fn kind(&self) -> ModuleKind {
        ModuleKind::Custom("YourNet")
    }
    fn try_forward_t(&self, xs: &Tensor, train: bool) -> tchvision::Result<Tensor> {
        self.conn_layer1.try_forward_t(&self.resnet50.try_forward_t(xs, train)?, train)
    }
    fn named_children(&self) -> Vec<(String, &dyn Module)> {
        vec![("resnet50".into(), &self.resnet50 as &dyn Module), ("conn_layer1".into(), &self.conn_layer1)]
    }
}

fn main() -> Result<()> {
    tch::manual_seed(0);
    let dir = std::env::temp_dir().join(format!("tchvision-partial-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("pretrained.pth");

    // "Pretrained" weights: a 1000-class SmallNet, saved as torch.save(model.state_dict()) would.
    let vs = VarStore::new(Device::Cpu);
    let pretrained = SmallNet::new(&vs.root(), 1000)?;
    checkpoint::save_pth(&file, &pretrained.state_dict())?;
    println!("saved {} ({} tensors)\n", file.display(), pretrained.state_dict().len());
    let read = ReadOptions { device: Device::Cpu, state_dict_key: None, strip_module_prefix: false, mmap: false };

    // 1. The recipe: a 10-class model, drop fc.*, load the rest (strict=False).
    let vs = VarStore::new(Device::Cpu);
    let model = SmallNet::new(&vs.root(), 10)?;
    let recipe = LoadOptions::partial().drop_keys(r"^fc\.")?;
    let report = load_file(&model, &file, &read, &recipe)?;
    println!("== SmallNet(10), drop ^fc\\. ==\n{report}");
    assert!(model.conv1.weight.equal(&pretrained.conv1.weight));

    // Without the drop rule the 1000-class classifier does not fit: an error, nothing changed.
    match load_file(&model, &file, &read, &LoadOptions::partial()) {
        Err(e) => println!("== SmallNet(10), no drop rule ==\nerror: {e}\n"),
        Ok(r) => println!("unexpectedly loaded: {r}"),
    }

    // 2. The tutorial's YourNet: every key is `resnet50.…`, so the recipe loads NOTHING.
    let vs = VarStore::new(Device::Cpu);
    let p = vs.root();
    let net = YourNet {
        resnet50: SmallNet::new(&(&p / "resnet50"), 10)?,
        conn_layer1: Sequential::builder(&p / "conn_layer1").add(|p| Linear::new(p, 10, 4))?.build(),
    };
    let report = load_file(&net, &file, &read, &recipe)?;
    println!("== YourNet, the tutorial's recipe ==\n{report}");

    // The report names the fix: add the prefix.
    let fixed = recipe.add_prefix("resnet50.");
    let report = load_file(&net, &file, &read, &fixed)?;
    println!("== YourNet, drop ^fc\\. + add_prefix \"resnet50.\" ==\n{report}");
    println!("as JSON: {}", serde_json::to_string(&report)?);
    assert!(net.resnet50.conv1.weight.equal(&pretrained.conv1.weight));

    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
