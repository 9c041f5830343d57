//! What several subcommands share: building a model from the registry on a device, resolving
//! and loading weights, printing.

use std::path::{Path, PathBuf};

use anyhow::Context;
use tch::{nn::VarStore, Device};
use tchvision::checkpoint::{self, LoadOptions, LoadReport, ReadOptions};
use tchvision::imageio::Preprocess;
use tchvision::models::api::{Model, Options};
use tchvision::models::weights::{self, Weights};
use tchvision::registry::{create_model, create_model_for_weights, lookup_weights, model_info};

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

/// `--num-classes` and `--option key=value`: the builder's arguments, shared by the model
/// subcommands.
#[derive(Debug, clap::Args)]
pub struct OptionArgs {
    /// Classes of the head.
    #[arg(long)]
    pub num_classes: Option<i64>,
    /// A builder option of the model, KEY=VALUE (repeatable), e.g. width_mult=0.75,
    /// zero_init_residual=true, replace_stride_with_dilation=false,true,true. An option the
    /// model does not have is refused with the list of those it has.
    #[arg(long = "option", value_name = "KEY=VALUE")]
    pub option: Vec<String>,
}

impl OptionArgs {
    /// The parsed options.
    pub fn get(&self) -> anyhow::Result<Options> {
        let mut o = Options::default();
        for kv in &self.option {
            o = o.parse(kv)?;
        }
        if let Some(n) = self.num_classes {
            o = o.num_classes(n);
        }
        Ok(o)
    }
}

/// Builds `arch` from the registry on `device` with `options`; from published weights `w` (by
/// name), with the options and classes the weights imply, as torchvision's builders do.
pub fn build(arch: &str, options: &Options, w: Option<&Weights>, device: Device) -> anyhow::Result<Built> {
    let vs = VarStore::new(device);
    let model = match w {
        Some(w) => create_model_for_weights(arch, &vs.root(), options, w),
        None => create_model(arch, &vs.root(), options),
    }
    .with_context(|| format!("building {arch}"))?;
    Ok(Built { _vs: vs, model })
}

/// Resolves `--weights`, builds `arch` (from the published weights' builder options when they
/// were named) and loads the weights strictly: the model subcommands' common start. With
/// weights, which the strict load overwrites entirely, the model is built without drawing its
/// random initialisation first (`tchvision::init::skip_init`).
pub fn build_loaded(
    arch: &str,
    options: &OptionArgs,
    weights: &WeightsArg,
    device: Device,
) -> anyhow::Result<(Built, Option<ResolvedWeights>)> {
    let resolved = weights.resolve(arch)?;
    let named = resolved.as_ref().filter(|r| r.by_name).and_then(|r| r.published);
    let opts = options.get()?;
    let built = match &resolved {
        Some(_) => tchvision::init::skip_init(|| build(arch, &opts, named, device))?,
        None => build(arch, &opts, named, device)?,
    };
    if let Some(r) = &resolved {
        load_strict(built.model.as_ref(), &r.path, r.published, device)?;
    }
    Ok((built, resolved))
}

/// Weights given on the command line: a file, or the name of torchvision's published weights
/// (`imagenet1k_v1`, `default`) found in torch's hub cache or `--weights-dir`.
pub struct ResolvedWeights {
    /// The file.
    pub path: PathBuf,
    /// The published entry, when `--weights` named one (or the file is one by name).
    pub published: Option<&'static Weights>,
    /// Whether `--weights` named published weights (rather than a file).
    pub by_name: bool,
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
    /// Resolves the weights for `arch`; `None` without `--weights`.
    pub fn resolve(&self, arch: &str) -> anyhow::Result<Option<ResolvedWeights>> {
        self.weights.as_deref().map(|spec| resolve_weights(arch, spec, &self.weights_dir)).transpose()
    }
}

/// Resolves `--weights` for `arch`.
pub fn resolve_weights(arch: &str, spec: &str, dirs: &[PathBuf]) -> anyhow::Result<ResolvedWeights> {
    let as_path = Path::new(spec);
    if as_path.exists() {
        let name = as_path.file_name().and_then(|s| s.to_str()).unwrap_or("");
        let published = model_info(arch)?.weights.iter().find(|w| w.file == name);
        return Ok(ResolvedWeights { path: as_path.to_path_buf(), published, by_name: false });
    }
    if spec.contains('/') || spec.ends_with(".pth") || spec.ends_with(".safetensors") {
        anyhow::bail!("weights file {spec} does not exist");
    }
    let w = lookup_weights(arch, spec)?;
    let path = weights::find_weights(w, dirs)?;
    Ok(ResolvedWeights { path, published: Some(w), by_name: true })
}

/// Loads a whole checkpoint strictly into `model` (weights must fit the model exactly), after
/// the key remaps and drops of its published entry (DenseNet's old keys, GoogLeNet's aux heads).
pub fn load_strict(
    model: &dyn Model,
    path: &Path,
    published: Option<&Weights>,
    device: Device,
) -> anyhow::Result<LoadReport> {
    let ropts = ReadOptions { device, mmap: true, ..ReadOptions::default() };
    let lopts = match published {
        Some(w) => w.load_options(LoadOptions::strict())?,
        None => LoadOptions::strict(),
    };
    let report =
        checkpoint::load_file(model, path, &ropts, &lopts).with_context(|| format!("loading {}", path.display()))?;
    Ok(report)
}

/// The preprocessing for these weights: torchvision's for published ones; otherwise resize 256 /
/// crop 224 with ImageNet statistics for 224-input models, and resize and crop to the model's
/// input side for others (YOLO-v1's 448).
pub fn preprocess_for(w: Option<&ResolvedWeights>, arch: &str) -> Preprocess {
    if let Some(p) = w.and_then(|w| w.published) {
        return p.preprocess();
    }
    match model_info(arch).ok().map(|m| m.default_input) {
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
