//! The tutorial's fine-tuning, end to end: a pretrained ResNet-50 `.pth` loaded without its
//! classifier into a 10-class ResNet-50, the backbone frozen, the new head trained with tch's
//! SGD on a small dataset, and the result saved as a `.pth` that torch loads.
//!
//! The same in PyTorch (scripts/fixtures_train.py runs it, and tests/finetune.rs checks that
//! this example gives the same losses, leaves the backbone bit-identical and writes a file that
//! gives torch the same logits):
//!
//! ```python
//! model = torchvision.models.resnet50(num_classes=10)
//! sd = torch.load("resnet50.pth")
//! model.load_state_dict({k: v for k, v in sd.items() if not k.startswith("fc.")}, strict=False)
//! torch.manual_seed(seed)
//! model.fc.apply(weights_init_classifier)          # the tutorial's: N(0, 0.001²), bias 0
//! for name, p in model.named_parameters():
//!     p.requires_grad = name.startswith("fc.")     # freeze the backbone
//! model.train()
//! opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad],
//!                       lr=0.1, momentum=0.9, weight_decay=1e-4)
//! for step in range(steps):
//!     lo = step * batch % len(images)
//!     x, y = images[lo:lo + batch], labels[lo:lo + batch]
//!     opt.zero_grad(); loss = F.cross_entropy(model(x), y); loss.backward(); opt.step()
//! torch.save(model.state_dict(), "finetuned.pth")
//! ```
//!
//! In train mode the frozen backbone's BatchNorm layers still normalise with batch statistics
//! and update their running statistics, as in PyTorch; only the parameters are frozen.
//!
//! Run: `cargo run --release --example finetune -- [--weights resnet50.pth]
//! [--data data.safetensors] [--out finetuned.pth] [--steps 6] [--lr 0.1] [--seed 3]`.
//! Without `--weights`, torchvision's `resnet50-0676ba61.pth` from torch's hub cache
//! (`$TORCH_HOME/hub/checkpoints`) when it is there, else a randomly initialised ResNet-50 saved as
//! a stand-in. `--data` is a `.safetensors` file with `images` `[N, 3, H, W]` (float32, already
//! normalised) and `labels` `[N]` (int64, `0..10`), and optionally `eval_images`; without it, 16
//! random 40×40 images.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use tch::nn::{OptimizerConfig, VarStore};
use tch::{Device, Kind, Reduction, Tensor};
use tchvision::checkpoint::{self, load_file, LoadOptions, LoadReport, ReadOptions};
use tchvision::init::recipes::weights_init_classifier;
use tchvision::models::resnet::{ResNet, ResNetConfig};
use tchvision::models::weights;
use tchvision::nn::ModuleExt;

/// What to fine-tune on, and how.
#[derive(Clone, Debug)]
pub struct FinetuneArgs {
    /// A ResNet-50 state dict (`.pth`, `.safetensors`); `None`: the hub cache's or a stand-in.
    pub weights: Option<PathBuf>,
    /// The dataset (`images`, `labels`, optionally `eval_images`); `None`: random images.
    pub data: Option<PathBuf>,
    /// Where to save the fine-tuned state dict (`.pth`).
    pub out: PathBuf,
    /// Classes of the new head.
    pub num_classes: i64,
    /// Optimiser steps.
    pub steps: usize,
    /// Images per step.
    pub batch: i64,
    /// SGD's learning rate, momentum and weight decay.
    pub lr: f64,
    /// SGD momentum.
    pub momentum: f64,
    /// SGD weight decay.
    pub weight_decay: f64,
    /// `tch::manual_seed` before the head's initialisation.
    pub seed: i64,
}

impl Default for FinetuneArgs {
    fn default() -> Self {
        FinetuneArgs {
            weights: None,
            data: None,
            out: PathBuf::from("finetuned.pth"),
            num_classes: 10,
            steps: 6,
            batch: 4,
            lr: 0.1,
            momentum: 0.9,
            weight_decay: 1e-4,
            seed: 3,
        }
    }
}

/// The fine-tuned model and what happened on the way.
pub struct Finetuned {
    /// Holds the model's tensors.
    pub vs: VarStore,
    /// The fine-tuned ResNet-50.
    pub model: ResNet,
    /// What the partial load loaded, dropped and left missing.
    pub report: LoadReport,
    /// The loss of every step.
    pub losses: Vec<f64>,
    /// Eval-mode logits on the dataset's `eval_images`, when it has them.
    pub eval_logits: Option<Tensor>,
}

/// The pretrained weights: the given file, torchvision's from the hub cache, or a stand-in
/// (a temporary file, removed when the returned guard drops).
fn pretrained(args: &FinetuneArgs) -> Result<(PathBuf, Option<TempFile>)> {
    if let Some(w) = &args.weights {
        return Ok((w.clone(), None));
    }
    let published = tchvision::registry::lookup_weights("resnet50", "imagenet1k_v1")?;
    if let Ok(p) = weights::find_weights(published, &[]) {
        return Ok((p, None));
    }
    println!("no {} in torch's hub cache: a randomly initialised resnet50 stands in for it", published.file);
    tch::manual_seed(0);
    let vs = VarStore::new(Device::Cpu);
    let standin = ResNet::new(&vs.root(), &ResNetConfig::resnet50())?;
    let path = std::env::temp_dir().join(format!("tchvision-finetune-standin-{}.pth", std::process::id()));
    checkpoint::save_pth(&path, &standin.state_dict())?;
    Ok((path.clone(), Some(TempFile(path))))
}

/// Removes its file when dropped.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `images`, `labels` and optionally `eval_images`.
fn dataset(args: &FinetuneArgs) -> Result<(Tensor, Tensor, Option<Tensor>)> {
    let Some(path) = &args.data else {
        tch::manual_seed(args.seed + 1);
        let images = Tensor::randn([16, 3, 40, 40], (Kind::Float, Device::Cpu));
        let labels = Tensor::randint(args.num_classes, [16], (Kind::Int64, Device::Cpu));
        return Ok((images, labels, None));
    };
    let mut t: std::collections::HashMap<String, Tensor> =
        Tensor::read_safetensors(path).with_context(|| format!("reading {}", path.display()))?.into_iter().collect();
    let (Some(images), Some(labels)) = (t.remove("images"), t.remove("labels")) else {
        bail!("{}: expected tensors `images` and `labels`", path.display());
    };
    if images.dim() != 4 || labels.size() != [images.size()[0]] || labels.kind() != Kind::Int64 {
        bail!(
            "{}: expected images [N, 3, H, W] and int64 labels [N], got {:?} and {:?} {:?}",
            path.display(),
            images.size(),
            labels.size(),
            labels.kind()
        );
    }
    Ok((images.to_kind(Kind::Float), labels, t.remove("eval_images")))
}

/// Loads, freezes, trains and saves (see the module docs).
pub fn finetune(args: &FinetuneArgs) -> Result<Finetuned> {
    let (weights_file, _standin) = pretrained(args)?;
    let (images, labels, eval_images) = dataset(args)?;

    // 1. A 10-class resnet50, loaded from the 1000-class file without fc.*.
    let vs = VarStore::new(Device::Cpu);
    let model = ResNet::new(&vs.root(), &ResNetConfig::resnet50().num_classes(args.num_classes))?;
    let read = ReadOptions { device: Device::Cpu, ..ReadOptions::default() };
    let report = load_file(&model, &weights_file, &read, &LoadOptions::partial().drop_keys(r"^fc\.")?)?;
    println!(
        "loaded {} tensors from {}; left as built: {:?}",
        report.loaded.len(),
        weights_file.display(),
        report.missing
    );

    // 2. The new head: the tutorial's weights_init_classifier after a seed.
    tch::manual_seed(args.seed);
    weights_init_classifier(&model.fc)?;

    // 3. Freeze everything but the head.
    for (name, p) in model.named_parameters() {
        let _ = p.set_requires_grad(name.starts_with("fc."));
    }

    // 4. Train the head with tch's SGD (frozen parameters get no gradient, so SGD skips them).
    let mut opt = tch::nn::Sgd { momentum: args.momentum, dampening: 0.0, wd: args.weight_decay, nesterov: false }
        .build(&vs, args.lr)?;
    model.train();
    let n = images.size()[0];
    let mut losses = Vec::with_capacity(args.steps);
    for step in 0..args.steps {
        let lo = (step as i64 * args.batch) % n;
        let len = args.batch.min(n - lo);
        let (x, y) = (images.narrow(0, lo, len), labels.narrow(0, lo, len));
        opt.zero_grad();
        let loss = model.try_forward(&x)?.f_cross_entropy_loss::<Tensor>(&y, None, Reduction::Mean, -100, 0.0)?;
        loss.f_backward()?;
        opt.step();
        let l = loss.double_value(&[]);
        println!("step {step}: loss {l:.6}");
        losses.push(l);
    }

    // 5. Evaluate, and save as torch.save(model.state_dict()) would.
    model.eval();
    let eval_logits = match &eval_images {
        Some(x) => Some(tch::no_grad(|| model.try_forward(x))?),
        None => None,
    };
    checkpoint::save_pth(&args.out, &model.state_dict())?;
    println!("saved {}", args.out.display());
    Ok(Finetuned { vs, model, report, losses, eval_logits })
}

fn parse_args() -> Result<FinetuneArgs> {
    let mut a = FinetuneArgs::default();
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--weights" => a.weights = Some(value()?.into()),
            "--data" => a.data = Some(value()?.into()),
            "--out" => a.out = value()?.into(),
            "--steps" => a.steps = value()?.parse()?,
            "--batch" => a.batch = value()?.parse()?,
            "--lr" => a.lr = value()?.parse()?,
            "--seed" => a.seed = value()?.parse()?,
            other => bail!(
                "unknown argument {other}; usage: finetune [--weights F] [--data F] [--out F] [--steps N] [--batch N] [--lr X] [--seed N]"
            ),
        }
    }
    if a.batch <= 0 {
        bail!("--batch must be positive");
    }
    Ok(a)
}

#[allow(dead_code)] // tests/finetune.rs includes this file for `finetune` alone
fn main() -> Result<()> {
    let args = parse_args()?;
    let done = finetune(&args)?;
    println!("losses: {:?}", done.losses);
    Ok(())
}
