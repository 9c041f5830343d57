//! What several subcommands share: building a model from the registry on a device, resolving
//! and loading weights, checking arguments and outputs before any work, printing.

use std::path::{Path, PathBuf};

use anyhow::Context;
use tch::{nn::VarStore, Device};
use tchvision::checkpoint::files;
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
    let built = build_resolved(arch, options, resolved.as_ref(), device)?;
    Ok((built, resolved))
}

/// [`build_loaded`] with the weights already resolved (so that a subcommand can check its
/// outputs against the weights file before building anything). A model that receives a state
/// dict is built without drawing its random initialisation (the file overwrites every value).
pub fn build_resolved(
    arch: &str,
    options: &OptionArgs,
    resolved: Option<&ResolvedWeights>,
    device: Device,
) -> anyhow::Result<Built> {
    let named = resolved.filter(|r| r.by_name).and_then(|r| r.published);
    let opts = options.get()?;
    let built = match resolved {
        Some(_) => tchvision::init::skip_init(|| build(arch, &opts, named, device))?,
        None => build(arch, &opts, named, device)?,
    };
    if let Some(r) = resolved {
        load_strict(built.model.as_ref(), &r.path, r.published, device)?;
    }
    Ok(built)
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
        files::check_regular(as_path)?;
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
        Some(w) => w.load_options(LoadOptions::strict(), model)?,
        None => LoadOptions::strict(),
    };
    let report =
        checkpoint::load_file(model, path, &ropts, &lopts).with_context(|| format!("loading {}", path.display()))?;
    Ok(report)
}

/// The preprocessing for these weights: torchvision's for published ones; otherwise resize 256 /
/// crop 224 with ImageNet statistics for 224-input models, and resize and crop to the model's
/// input side for others (YOLO-v1's 448). A model built for one input size (ViT with
/// `image_size`) gets that size: published weights' resize is scaled with their crop.
pub fn preprocess_for(w: Option<&ResolvedWeights>, arch: &str, model: &dyn Model) -> Preprocess {
    let fixed = model.fixed_input_size().map(|[h, _]| h);
    if let Some(p) = w.and_then(|w| w.published) {
        let pre = p.preprocess();
        return match fixed {
            Some(s) if s != pre.crop_size => {
                let resize = (pre.resize_size as f64 * s as f64 / pre.crop_size as f64).round() as i64;
                Preprocess { resize_size: resize, crop_size: s, ..pre }
            }
            _ => pre,
        };
    }
    match fixed.or_else(|| model_info(arch).ok().map(|m| m.input_size()[0])) {
        Some(h) if h != 224 => Preprocess::imagenet(h, h),
        _ => Preprocess::imagenet(256, 224),
    }
}

/// Prints `value` as pretty JSON on stdout (an I/O error, such as a closed pipe, is returned
/// as such: `main` ends quietly on a closed pipe and fails on a full disk).
pub fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value).map_err(std::io::Error::from)?;
    writeln!(out)?;
    Ok(())
}

/// A bad command-line argument, found before any work: one line on stderr and exit status 2,
/// as clap's own usage errors.
#[derive(Debug)]
pub struct Usage(pub String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

/// A [`Usage`] error.
pub fn usage(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Usage(message.into()))
}

/// Refuses, before any work, an output file that is one of the inputs (after resolving links
/// and `..`): `convert a.pth a.pth`, `run --output x.npy --input x.npy`, a drawing that would
/// replace its image. `what` names the output's option.
pub fn check_not_an_input(output: &Path, what: &str, inputs: &[&Path]) -> anyhow::Result<()> {
    for input in inputs {
        if files::same_file(output, input) {
            return Err(usage(format!(
                "{what} {} is the input {}: refusing to overwrite an input; choose another name",
                output.display(),
                input.display()
            )));
        }
    }
    Ok(())
}

/// Checks an output folder option (`--out DIR`): it must not be an existing file.
pub fn check_out_dir(dir: &Path) -> anyhow::Result<()> {
    if let Ok(m) = std::fs::metadata(dir) {
        if !m.is_dir() {
            return Err(usage(format!("--out {} is a file, not a folder", dir.display())));
        }
    }
    Ok(())
}

/// Checks that each input exists and is a regular file (not a folder, FIFO or device), before
/// any model is built.
pub fn check_inputs(paths: &[&Path]) -> anyhow::Result<()> {
    for p in paths {
        files::check_regular(p)?;
    }
    Ok(())
}

/// The tensor file formats the CLI writes, told by the output's extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutFormat {
    /// PyTorch's zip format (`torch.save`): `.pth`, `.pt`, `.bin`, `.ckpt`.
    Pth,
    /// safetensors: `.safetensors`.
    Safetensors,
}

impl OutFormat {
    /// The format of `path` by its extension; a usage error naming the choices otherwise.
    pub fn of(path: &Path, option: &str) -> anyhow::Result<OutFormat> {
        let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("safetensors") => Ok(OutFormat::Safetensors),
            Some("pth" | "pt" | "bin" | "ckpt") => Ok(OutFormat::Pth),
            _ => Err(usage(format!(
                "{option} {}: cannot tell which format to write; name it .safetensors, or .pth, .pt, .bin, .ckpt \
                 (PyTorch's zip format)",
                path.display()
            ))),
        }
    }

    /// The format's name as `inspect` prints it.
    pub fn name(self) -> &'static str {
        match self {
            OutFormat::Pth => "zip",
            OutFormat::Safetensors => "safetensors",
        }
    }

    /// Writes `tensors` to `path` in this format, atomically, with the `_metadata` module
    /// `versions` into a `.pth` (safetensors has no place for them).
    pub fn save(
        self,
        path: &Path,
        tensors: &[(String, tch::Tensor)],
        versions: &[(String, i64)],
    ) -> anyhow::Result<()> {
        let written = || format!("writing {}", path.display());
        match self {
            OutFormat::Safetensors => tchvision::checkpoint::safetensors::save(path, tensors).with_context(written)?,
            OutFormat::Pth => {
                tchvision::checkpoint::save_pth_with_versions(path, tensors, versions).with_context(written)?
            }
        }
        Ok(())
    }
}

/// The largest `--input-size` side accepted: a model's activations grow with the input, and a
/// summary keeps every module's output.
pub const MAX_INPUT_SIDE: i64 = 4096;

/// `--input-size H,W` checked: two whole numbers from 1 to [`MAX_INPUT_SIDE`]; `default`
/// without the option.
pub fn input_size(arg: Option<&[i64]>, default: [i64; 2]) -> anyhow::Result<[i64; 2]> {
    let Some(v) = arg else { return Ok(default) };
    let [h, w] = v else {
        let given: Vec<String> = v.iter().map(i64::to_string).collect();
        return Err(usage(format!("--input-size needs two numbers H,W, got {} ({})", v.len(), given.join(","))));
    };
    for (name, d) in [("height", *h), ("width", *w)] {
        if !(1..=MAX_INPUT_SIDE).contains(&d) {
            return Err(usage(format!("--input-size: {name} {d} is not between 1 and {MAX_INPUT_SIDE} pixels")));
        }
    }
    Ok([*h, *w])
}

/// A column of text padded to `width` characters (no format width, whose limit a 70 000-byte
/// key would pass), after escaping control characters.
pub fn pad(s: &str, width: usize) -> String {
    let s = tchvision::error::printable(s);
    let n = s.chars().count();
    let mut out = s.into_owned();
    out.extend(std::iter::repeat_n(' ', width.saturating_sub(n)));
    out
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
