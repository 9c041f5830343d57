//! torchvision's published weights, found on disk without a network.
//!
//! torchvision names its weight files `<arch>-<first 8 hex digits of sha256>.pth` and torch's hub
//! caches them under `$TORCH_HOME/hub/checkpoints` (`$TORCH_HOME` defaults to
//! `$XDG_CACHE_HOME/torch`, then `~/.cache/torch`). This table copies torchvision 0.26's
//! `Weights` entries for the ResNet family (`torchvision/models/resnet.py`): file name, sha256
//! prefix, categories, preprocessing and reported accuracy. [`find_weights`] looks the file up in
//! that cache or in folders you give, checks its hash prefix, and returns its path: tchvision
//! never downloads anything.
//!
//! ```
//! use tchvision::models::weights::{lookup, PUBLISHED};
//! let w = lookup("resnet50", "imagenet1k_v2")?;
//! assert_eq!(w.file, "resnet50-11ad3fa6.pth");
//! assert_eq!(w.preprocess().resize_size, 232);
//! assert!(PUBLISHED.iter().all(|w| w.file.starts_with(w.arch)));
//! # Ok::<(), tchvision::Error>(())
//! ```

use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::imageio::Preprocess;

/// One published weight file of torchvision.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct PublishedWeights {
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
    /// Shorter side of the resize before the 224 crop.
    pub resize_size: i64,
    /// Side of the central crop.
    pub crop_size: i64,
    /// Whether torchvision marks it `DEFAULT` for its architecture.
    pub default: bool,
}

impl PublishedWeights {
    /// The sha256 prefix in the file name (`0676ba61` for `resnet50-0676ba61.pth`).
    pub fn hash_prefix(&self) -> &'static str {
        let stem = self.file.trim_end_matches(".pth");
        stem.rsplit('-').next().unwrap_or("")
    }

    /// The preprocessing the weights were evaluated with.
    pub fn preprocess(&self) -> Preprocess {
        Preprocess::imagenet(self.resize_size, self.crop_size)
    }

    /// The categories the classifier predicts (ImageNet-1K's 1000, in torchvision's order).
    pub fn categories(&self) -> Vec<&'static str> {
        imagenet_categories()
    }
}

macro_rules! w {
    ($arch:literal, $name:literal, $file:literal, $n:literal, $a1:literal, $a5:literal, $resize:literal, $default:literal) => {
        PublishedWeights {
            arch: $arch,
            name: $name,
            file: $file,
            num_params: $n,
            acc1: $a1,
            acc5: $a5,
            resize_size: $resize,
            crop_size: 224,
            default: $default,
        }
    };
}

/// torchvision 0.26's published weights for the ResNet family.
pub const PUBLISHED: &[PublishedWeights] = &[
    w!("resnet18", "IMAGENET1K_V1", "resnet18-f37072fd.pth", 11689512, 69.758, 89.078, 256, true),
    w!("resnet34", "IMAGENET1K_V1", "resnet34-b627a593.pth", 21797672, 73.314, 91.42, 256, true),
    w!("resnet50", "IMAGENET1K_V1", "resnet50-0676ba61.pth", 25557032, 76.13, 92.862, 256, false),
    w!("resnet50", "IMAGENET1K_V2", "resnet50-11ad3fa6.pth", 25557032, 80.858, 95.434, 232, true),
    w!("resnet101", "IMAGENET1K_V1", "resnet101-63fe2227.pth", 44549160, 77.374, 93.546, 256, false),
    w!("resnet101", "IMAGENET1K_V2", "resnet101-cd907fc2.pth", 44549160, 81.886, 95.78, 232, true),
    w!("resnet152", "IMAGENET1K_V1", "resnet152-394f9c45.pth", 60192808, 78.312, 94.046, 256, false),
    w!("resnet152", "IMAGENET1K_V2", "resnet152-f82ba261.pth", 60192808, 82.284, 96.002, 232, true),
    w!("resnext50_32x4d", "IMAGENET1K_V1", "resnext50_32x4d-7cdf4587.pth", 25028904, 77.618, 93.698, 256, false),
    w!("resnext50_32x4d", "IMAGENET1K_V2", "resnext50_32x4d-1a0047aa.pth", 25028904, 81.198, 95.34, 232, true),
    w!("resnext101_32x8d", "IMAGENET1K_V1", "resnext101_32x8d-8ba56ff5.pth", 88791336, 79.312, 94.526, 256, false),
    w!("resnext101_32x8d", "IMAGENET1K_V2", "resnext101_32x8d-110c445d.pth", 88791336, 82.834, 96.228, 232, true),
    w!("resnext101_64x4d", "IMAGENET1K_V1", "resnext101_64x4d-173b62eb.pth", 83455272, 83.246, 96.454, 232, true),
    w!("wide_resnet50_2", "IMAGENET1K_V1", "wide_resnet50_2-95faca4d.pth", 68883240, 78.468, 94.086, 256, false),
    w!("wide_resnet50_2", "IMAGENET1K_V2", "wide_resnet50_2-9ba9bcbe.pth", 68883240, 81.602, 95.758, 232, true),
    w!("wide_resnet101_2", "IMAGENET1K_V1", "wide_resnet101_2-32ee1156.pth", 126886696, 78.848, 94.284, 256, false),
    w!("wide_resnet101_2", "IMAGENET1K_V2", "wide_resnet101_2-d733dc28.pth", 126886696, 82.51, 96.02, 232, true),
];

/// ImageNet-1K's category names in torchvision's order (`torchvision/models/_meta.py`).
pub fn imagenet_categories() -> Vec<&'static str> {
    include_str!("imagenet_classes.txt").lines().collect()
}

/// The published weights `name` of `arch`: `imagenet1k_v1`, `IMAGENET1K_V2`, or `default`
/// (case-insensitive).
pub fn lookup(arch: &str, name: &str) -> Result<&'static PublishedWeights> {
    let of_arch: Vec<&PublishedWeights> = PUBLISHED.iter().filter(|w| w.arch == arch).collect();
    if of_arch.is_empty() {
        let archs: Vec<&str> =
            PUBLISHED.iter().map(|w| w.arch).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
        return Err(Error::unknown("architecture with published weights", arch, &archs));
    }
    let found = if name.eq_ignore_ascii_case("default") {
        of_arch.iter().find(|w| w.default)
    } else {
        of_arch.iter().find(|w| w.name.eq_ignore_ascii_case(name))
    };
    found.copied().ok_or_else(|| {
        let mut names: Vec<String> = of_arch.iter().map(|w| w.name.to_ascii_lowercase()).collect();
        names.push("default".into());
        Error::unknown("weights", format!("{arch}:{name}"), &names)
    })
}

/// torch's hub checkpoint folder: `$TORCH_HOME/hub/checkpoints`, with `$TORCH_HOME` defaulting
/// to `$XDG_CACHE_HOME/torch` and then `~/.cache/torch`; a leading `~` is the home folder, as
/// torch's `expanduser` makes it (`torch.hub.get_dir()`).
pub fn torch_hub_checkpoints() -> Option<PathBuf> {
    let home = std::env::var_os("TORCH_HOME").map(PathBuf::from).or_else(|| {
        std::env::var_os("XDG_CACHE_HOME")
            .map(|x| PathBuf::from(x).join("torch"))
            .or_else(|| Some(PathBuf::from("~/.cache/torch")))
    })?;
    let home = match home.strip_prefix("~") {
        Ok(rest) => PathBuf::from(std::env::var_os("HOME")?).join(rest),
        Err(_) => home,
    };
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
