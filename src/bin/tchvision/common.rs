//! What several subcommands share: building a model from the registry on a device, resolving
//! and loading weights, printing.

use std::path::{Path, PathBuf};

use anyhow::Context;
use tch::{nn::VarStore, Device};
use tchvision::checkpoint::{self, LoadOptions, LoadReport, ReadOptions};
use tchvision::imageio::Preprocess;
use tchvision::models::registry::{create_model, Model, ModelOptions};
use tchvision::models::weights::{self, PublishedWeights};

/// `--device cpu|cuda|cuda:N|auto`, shared by the model subcommands.
#[derive(Debug, clap::Args)]
pub struct DeviceArg {
    /// Where to run: cpu, cuda, cuda:N, or auto (a GPU when there is one).
    #[arg(long, default_value = "auto")]
    pub device: String,
}

impl DeviceArg {
    /// The parsed device.
    pub fn get(&self) -> anyhow::Result<Device> {
        Ok(tchvision::runtime::device(&self.device)?)
    }
}

/// A built model and the var store holding its tensors.
pub struct Built {
    /// Keeps the variables alive (and lets tch optimisers find them).
    pub _vs: VarStore,
    /// The model.
    pub model: Box<dyn Model>,
}

/// Builds `arch` from the registry on `device`.
pub fn build(arch: &str, num_classes: Option<i64>, device: Device) -> anyhow::Result<Built> {
    let vs = VarStore::new(device);
    let opts = ModelOptions { num_classes, ..Default::default() };
    let model = create_model(arch, &vs.root(), &opts).with_context(|| format!("building {arch}"))?;
    Ok(Built { _vs: vs, model })
}

/// Builds `arch` for `weights`: with `--weights`, which a strict load then overwrites entirely,
/// without drawing the random initialisation first (`tchvision::init::skip_init`); without,
/// as [`build`].
pub fn build_for(arch: &str, num_classes: Option<i64>, device: Device, weights: &WeightsArg) -> anyhow::Result<Built> {
    if weights.weights.is_some() {
        tchvision::init::skip_init(|| build(arch, num_classes, device))
    } else {
        build(arch, num_classes, device)
    }
}

/// Weights given on the command line: a file, or the name of torchvision's published weights
/// (`imagenet1k_v1`, `default`) found in torch's hub cache or `--weights-dir`.
pub struct ResolvedWeights {
    /// The file.
    pub path: PathBuf,
    /// The published entry, when `--weights` named one (or the file is one by name).
    pub published: Option<&'static PublishedWeights>,
}

/// `--weights` and `--weights-dir`, shared by the subcommands that run a model.
#[derive(Debug, clap::Args)]
pub struct WeightsArg {
    /// Weights: a checkpoint file, or a published name (imagenet1k_v1, default) found on disk.
    #[arg(long)]
    pub weights: Option<String>,
    /// Extra folders to search for published weights (before torch's hub cache).
    #[arg(long = "weights-dir")]
    pub weights_dir: Vec<PathBuf>,
}

impl WeightsArg {
    /// Resolves the weights for `arch` and loads them strictly into `model`; `None` without
    /// `--weights` (the model keeps its random initialisation).
    pub fn load(&self, arch: &str, model: &dyn Model, device: Device) -> anyhow::Result<Option<ResolvedWeights>> {
        let Some(spec) = &self.weights else { return Ok(None) };
        let w = resolve_weights(arch, spec, &self.weights_dir)?;
        load_strict(model, &w.path, device)?;
        Ok(Some(w))
    }
}

/// Resolves `--weights` for `arch`.
pub fn resolve_weights(arch: &str, spec: &str, dirs: &[PathBuf]) -> anyhow::Result<ResolvedWeights> {
    let as_path = Path::new(spec);
    if as_path.exists() {
        let name = as_path.file_name().and_then(|s| s.to_str()).unwrap_or("");
        let published = weights::PUBLISHED.iter().find(|w| w.arch == arch && w.file == name);
        return Ok(ResolvedWeights { path: as_path.to_path_buf(), published });
    }
    if spec.contains('/') || spec.ends_with(".pth") || spec.ends_with(".safetensors") {
        anyhow::bail!("weights file {spec} does not exist");
    }
    let w = weights::lookup(arch, spec)?;
    let path = weights::find_weights(w, dirs)?;
    Ok(ResolvedWeights { path, published: Some(w) })
}

/// Loads a whole checkpoint strictly into `model` (weights must fit the model exactly).
pub fn load_strict(model: &dyn Model, path: &Path, device: Device) -> anyhow::Result<LoadReport> {
    let ropts = ReadOptions { device, mmap: true, ..ReadOptions::default() };
    let report = checkpoint::load_file(model, path, &ropts, &LoadOptions::strict())
        .with_context(|| format!("loading {}", path.display()))?;
    Ok(report)
}

/// The preprocessing for these weights: torchvision's for published ones; otherwise resize 256 /
/// crop 224 with ImageNet statistics for 224-input models, and resize and crop to the model's
/// input side for others (YOLO-v1's 448).
pub fn preprocess_for(w: Option<&ResolvedWeights>, arch: &str) -> Preprocess {
    if let Some(p) = w.and_then(|w| w.published) {
        return p.preprocess();
    }
    match tchvision::models::registry::list_models().iter().find(|m| m.name == arch).map(|m| m.default_input) {
        Some([h, _]) if h != 224 => Preprocess::imagenet(h, h),
        _ => Preprocess::imagenet(256, 224),
    }
}

/// Prints `value` as pretty JSON on stdout.
pub fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

/// A progress bar on stderr for `n` steps: drawn on a terminal, hidden when piped.
pub fn progress(n: u64, what: &str) -> indicatif::ProgressBar {
    let pb = indicatif::ProgressBar::new(n);
    if let Ok(style) = indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {elapsed}") {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.set_message(what.to_string());
    pb
}
