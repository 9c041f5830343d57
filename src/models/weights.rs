//! torchvision's published weights as data, found on disk without a network.
//!
//! Each family declares a table of [`Weights`] next to its builders (copied from torchvision
//! 0.26's `Weights` enums, e.g. `ResNet50_Weights` in `torchvision/models/resnet.py`, by
//! `scripts/gen_weights.py`, and checked against them by a test): file name and sha256 prefix,
//! metrics, preprocessing (resize, crop, interpolation), the builder options the weights imply
//! (`transform_input=true` for Inception) and key-remap rules applied before loading (DenseNet's
//! old `norm.1` keys). torchvision names its weight files `<arch>-<first 8 hex digits of
//! sha256>.pth` and torch's hub caches them under `$TORCH_HOME/hub/checkpoints` (`$TORCH_HOME`
//! defaults to `$XDG_CACHE_HOME/torch`, then `~/.cache/torch`). [`find_weights`] looks the file
//! up in that cache or in folders you give, checks its hash prefix, and returns its path:
//! tchvision never downloads anything. The registry looks weights up by model and name
//! ([`crate::registry::lookup_weights`]).
//!
//! ```
//! use tchvision::registry::lookup_weights;
//! let w = lookup_weights("resnet50", "imagenet1k_v2")?;
//! assert_eq!(w.file, "resnet50-11ad3fa6.pth");
//! assert_eq!(w.preprocess().resize_size, 232);
//! # Ok::<(), tchvision::Error>(())
//! ```

use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::imageio::{Interpolation, Preprocess};

/// One published weight file of torchvision, with its metadata.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Weights {
    /// The architecture, as the registry names it.
    pub arch: &'static str,
    /// torchvision's enum name (`IMAGENET1K_V1`).
    pub name: &'static str,
    /// The file name torchvision downloads it as.
    pub file: &'static str,
    /// Parameters in the model.
    pub num_params: i64,
    /// Reported ImageNet-1K top-1 accuracy (%).
    pub acc1: f64,
    /// Reported ImageNet-1K top-5 accuracy (%).
    pub acc5: f64,
    /// Operations per image (GFLOPS, torchvision's `_ops`).
    pub gflops: f64,
    /// File size in MB (torchvision's `_file_size`).
    pub file_size_mb: f64,
    /// Shorter side of the resize before the crop.
    pub resize_size: i64,
    /// Side of the central crop.
    pub crop_size: i64,
    /// The resize's interpolation.
    pub interpolation: Interpolation,
    /// Whether torchvision marks it `DEFAULT` for its architecture.
    pub default: bool,
    /// Builder options these weights imply (`("transform_input", "true")`), applied when a model
    /// is built from them by name, as torchvision's builders do; the user's options win.
    pub overrides: &'static [(&'static str, &'static str)],
    /// Key renames applied to the file's keys before loading: `(regex, replacement)` with
    /// `$1`-style groups (DenseNet's `denselayer1.norm.1.weight` → `denselayer1.norm1.weight`).
    pub remap: &'static [(&'static str, &'static str)],
    /// Keys (regexes) of the file that the model built from these weights does not have and
    /// that are dropped on load (GoogLeNet's auxiliary heads, as torchvision drops them).
    pub drop: &'static [&'static str],
}

impl Weights {
    /// ImageNet-1K weights with a bilinear resize; the rest at their defaults.
    #[allow(clippy::too_many_arguments)]
    pub const fn imagenet(
        arch: &'static str,
        name: &'static str,
        file: &'static str,
        num_params: i64,
        acc: [f64; 2],
        gflops: f64,
        file_size_mb: f64,
        resize_crop: [i64; 2],
    ) -> Self {
        Weights {
            arch,
            name,
            file,
            num_params,
            acc1: acc[0],
            acc5: acc[1],
            gflops,
            file_size_mb,
            resize_size: resize_crop[0],
            crop_size: resize_crop[1],
            interpolation: Interpolation::Bilinear,
            default: false,
            overrides: &[],
            remap: &[],
            drop: &[],
        }
    }
    /// Marks it torchvision's `DEFAULT`.
    pub const fn default(self) -> Self {
        Weights { default: true, ..self }
    }
    /// A bicubic resize.
    pub const fn bicubic(self) -> Self {
        Weights { interpolation: Interpolation::Bicubic, ..self }
    }
    /// Sets the builder options these weights imply.
    pub const fn overrides(self, overrides: &'static [(&'static str, &'static str)]) -> Self {
        Weights { overrides, ..self }
    }
    /// Sets the key renames.
    pub const fn remap(self, remap: &'static [(&'static str, &'static str)]) -> Self {
        Weights { remap, ..self }
    }
    /// Sets the dropped keys.
    pub const fn drop(self, drop: &'static [&'static str]) -> Self {
        Weights { drop, ..self }
    }

    /// The sha256 prefix in the file name (`0676ba61` for `resnet50-0676ba61.pth`).
    pub fn hash_prefix(&self) -> &'static str {
        let stem = self.file.trim_end_matches(".pth");
        stem.rsplit('-').next().unwrap_or("")
    }

    /// The preprocessing the weights were evaluated with (torchvision's `weights.transforms()`).
    pub fn preprocess(&self) -> Preprocess {
        Preprocess { interpolation: self.interpolation, ..Preprocess::imagenet(self.resize_size, self.crop_size) }
    }

    /// `base` with these weights' key renames and drops added.
    pub fn load_options(&self, base: crate::checkpoint::LoadOptions) -> Result<crate::checkpoint::LoadOptions> {
        let mut o = base;
        for (re, to) in self.remap {
            o = o.rename_keys(re, to)?;
        }
        for re in self.drop {
            o = o.drop_keys(re)?;
        }
        Ok(o)
    }

    /// The categories the classifier predicts (ImageNet-1K's 1000, in torchvision's order).
    pub fn categories(&self) -> Vec<&'static str> {
        imagenet_categories()
    }
}

/// The name the older API used.
pub type PublishedWeights = Weights;

/// ImageNet-1K's category names in torchvision's order (`torchvision/models/_meta.py`).
pub fn imagenet_categories() -> Vec<&'static str> {
    include_str!("imagenet_classes.txt").lines().collect()
}

/// torch's hub checkpoint folder: `$TORCH_HOME/hub/checkpoints`, with `$TORCH_HOME` defaulting
/// to `$XDG_CACHE_HOME/torch` and then `~/.cache/torch`.
pub fn torch_hub_checkpoints() -> Option<PathBuf> {
    let home = std::env::var_os("TORCH_HOME").map(PathBuf::from).or_else(|| {
        std::env::var_os("XDG_CACHE_HOME")
            .map(|x| PathBuf::from(x).join("torch"))
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/torch")))
    })?;
    Some(home.join("hub").join("checkpoints"))
}

/// The first `n` hex digits of a file's sha256.
pub fn sha256_prefix(path: &Path, n: usize) -> Result<String> {
    let io = |source| Error::Io { path: path.display().to_string(), source };
    let mut f = std::fs::File::open(path).map_err(io)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let k = f.read(&mut buf).map_err(io)?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
    }
    let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok(hex[..n.min(hex.len())].to_string())
}

/// Finds the file of published weights in `dirs` (searched first, in order) and then in torch's
/// hub cache, and checks that its sha256 starts with the prefix in its name. Never downloads.
pub fn find_weights(w: &PublishedWeights, dirs: &[PathBuf]) -> Result<PathBuf> {
    let mut searched = Vec::new();
    for dir in dirs.iter().cloned().chain(torch_hub_checkpoints()) {
        let p = dir.join(w.file);
        if p.is_file() {
            let got = sha256_prefix(&p, w.hash_prefix().len())?;
            if got != w.hash_prefix() {
                return Err(Error::Format {
                    path: p.display().to_string(),
                    message: format!("sha256 starts with {got}, but {} needs {}: the file is not torchvision's {} {} (corrupt or renamed)", w.file, w.hash_prefix(), w.arch, w.name),
                });
            }
            return Ok(p);
        }
        searched.push(dir.display().to_string());
    }
    Err(Error::InvalidArgument(format!(
        "{} ({} {}) not found in {}; tchvision never downloads: put the file there or pass its path",
        w.file,
        w.arch,
        w.name,
        searched.join(", ")
    )))
}
