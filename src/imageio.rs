//! Images in and out, and torchvision's ImageNet preprocessing
//! (`torchvision/transforms/_presets.py`, `ImageClassification`).
//!
//! Images are `uint8` tensors `[3, H, W]` (RGB). JPEG and PNG are decoded with the `image` crate;
//! grayscale becomes RGB by repeating the channel and RGBA drops its alpha, as PIL's
//! `convert("RGB")` does.

use std::path::Path;
use tch::{Device, Kind, Tensor};

use crate::error::{Error, Result, TorchResultExt};

fn format_err(path: &Path, message: impl Into<String>) -> Error {
    Error::Format { path: path.display().to_string(), message: message.into() }
}

/// Decodes a JPEG or PNG file into an RGB `uint8` tensor `[3, H, W]`.
pub fn load_rgb(path: &Path) -> Result<Tensor> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io { path: path.display().to_string(), source })?;
    decode_rgb(&bytes).map_err(|m| format_err(path, m))
}

/// Decodes image bytes (JPEG or PNG) into an RGB `uint8` tensor `[3, H, W]`.
pub fn decode_rgb(bytes: &[u8]) -> std::result::Result<Tensor, String> {
    if bytes.is_empty() {
        return Err("empty file: not an image".into());
    }
    let img = image::load_from_memory(bytes).map_err(|e| format!("cannot decode image: {e}"))?;
    let rgb = img.to_rgb8();
    let (w, h) = rgb.dimensions();
    if w == 0 || h == 0 {
        return Err(format!("image has no pixels ({w}x{h})"));
    }
    let t = Tensor::f_from_slice(rgb.as_raw()).map_err(|e| e.to_string())?;
    t.f_view([h as i64, w as i64, 3])
        .and_then(|t| t.f_permute([2, 0, 1]))
        .and_then(|t| t.f_contiguous())
        .map_err(|e| e.to_string())
}

/// Writes an image tensor as PNG: `uint8` `[3, H, W]` (RGB) or `[1, H, W]` / `[H, W]`
/// (grayscale). The file is written to a temporary name and renamed into place.
pub fn save_png(path: &Path, img: &Tensor) -> Result<()> {
    let img = img.to_device(Device::Cpu);
    if img.kind() != Kind::Uint8 {
        return Err(Error::InvalidArgument(format!("save_png needs a uint8 image, got {:?}", img.kind())));
    }
    let size = img.size();
    let (c, h, w) = match size.as_slice() {
        [h, w] => (1, *h, *w),
        [c, h, w] if *c == 1 || *c == 3 => (*c, *h, *w),
        _ => {
            return Err(Error::InvalidArgument(format!("save_png needs [3, H, W], [1, H, W] or [H, W], got {size:?}")))
        }
    };
    let hwc =
        img.f_reshape([c, h, w]).and_then(|t| t.f_permute([1, 2, 0])).and_then(|t| t.f_contiguous()).ctx("save_png")?;
    let data = Vec::<u8>::try_from(hwc.flatten(0, -1)).ctx("save_png")?;
    let color = if c == 3 { image::ExtendedColorType::Rgb8 } else { image::ExtendedColorType::L8 };
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name().and_then(|s| s.to_str()).unwrap_or("image"),
        std::process::id()
    ));
    let io = |source| Error::Io { path: path.display().to_string(), source };
    let file = std::fs::File::create(&tmp).map_err(io)?;
    let mut writer = std::io::BufWriter::new(file);
    let encoded = image::codecs::png::PngEncoder::new(&mut writer);
    use image::ImageEncoder;
    if let Err(e) = encoded.write_image(&data, w as u32, h as u32, color) {
        let _ = std::fs::remove_file(&tmp);
        return Err(format_err(path, format!("cannot encode PNG: {e}")));
    }
    drop(writer);
    std::fs::rename(&tmp, path).map_err(io)
}

/// torchvision's output size for `Resize(size)` with one number: the shorter side becomes
/// `size`, the longer one `int(size * long / short)` (truncated, as torchvision does).
pub fn resized_size(h: i64, w: i64, size: i64) -> (i64, i64) {
    if h <= w {
        (size, (size as f64 * w as f64 / h as f64) as i64)
    } else {
        ((size as f64 * h as f64 / w as f64) as i64, size)
    }
}

/// Resizes a `[C, H, W]` or `[N, C, H, W]` image so that its shorter side is `size`, with
/// bilinear interpolation and antialiasing (torchvision's default). Works in float32 and returns
/// float32 with the input's value range.
pub fn resize_shorter(img: &Tensor, size: i64) -> Result<Tensor> {
    resize_shorter_with(img, size, Interpolation::Bilinear)
}

/// ImageNet's per-channel mean (RGB, on [0, 1]): torchvision's normalisation.
pub const IMAGENET_MEAN: [f64; 3] = [0.485, 0.456, 0.406];
/// ImageNet's per-channel standard deviation.
pub const IMAGENET_STD: [f64; 3] = [0.229, 0.224, 0.225];

/// The interpolation of a resize (torchvision's `InterpolationMode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Interpolation {
    /// `BILINEAR` (torchvision's default), antialiased.
    #[default]
    Bilinear,
    /// `BICUBIC`, antialiased; on a `uint8` image the result is rounded and clamped to 0–255, as
    /// torchvision returns a `uint8` image.
    Bicubic,
}

/// [`resize_shorter`] with the given interpolation.
pub fn resize_shorter_with(img: &Tensor, size: i64, interpolation: Interpolation) -> Result<Tensor> {
    let s = img.size();
    if s.len() < 3 || size <= 0 {
        return Err(Error::InvalidArgument(format!(
            "resize needs a [C, H, W] image and a positive size, got {s:?} and {size}"
        )));
    }
    let (h, w) = (s[s.len() - 2], s[s.len() - 1]);
    let (nh, nw) = resized_size(h, w, size);
    match interpolation {
        Interpolation::Bilinear => resize_to(img, nh, nw),
        Interpolation::Bicubic => {
            let x = img.f_to_kind(Kind::Float).ctx("resize")?;
            let batched = s.len() == 4;
            let x = if batched { x } else { x.f_unsqueeze(0).ctx("resize")? };
            let mut y = Tensor::f_internal_upsample_bicubic2d_aa(&x, [nh, nw], false, None, None).ctx("resize")?;
            if img.kind() == Kind::Uint8 {
                y = y.f_round().and_then(|t| t.f_clamp(0.0, 255.0)).ctx("resize")?;
            }
            Ok(if batched { y } else { y.f_squeeze_dim(0).ctx("resize")? })
        }
    }
}

/// Resizes a `[C, H, W]` or `[N, C, H, W]` image to exactly `h × w` (bilinear, antialiased,
/// `align_corners=False`, as torchvision's `resize` on tensors), in float32.
pub fn resize_to(img: &Tensor, h: i64, w: i64) -> Result<Tensor> {
    let s = img.size();
    let x = img.f_to_kind(Kind::Float).ctx("resize")?;
    let batched = s.len() == 4;
    let x = if batched { x } else { x.f_unsqueeze(0).ctx("resize")? };
    if x.size()[2] == h && x.size()[3] == w {
        return Ok(if batched { x } else { x.squeeze_dim(0) });
    }
    let y = Tensor::f_internal_upsample_bilinear2d_aa(&x, [h, w], false, None, None).ctx("resize")?;
    Ok(if batched { y } else { y.squeeze_dim(0) })
}

/// torchvision's `center_crop`: offsets `int(round((H − h) / 2))` with Python's round (half to
/// even); pads with zeros first where the image is smaller than the crop.
pub fn center_crop(img: &Tensor, h: i64, w: i64) -> Result<Tensor> {
    let s = img.size();
    let n = s.len();
    if n < 2 {
        return Err(Error::InvalidArgument(format!("center_crop needs an image, got shape {s:?}")));
    }
    let (ih, iw) = (s[n - 2], s[n - 1]);
    let mut x = img.shallow_clone();
    if h > ih || w > iw {
        // torchvision pads: left/top = (crop - size) // 2, right/bottom = (crop - size + 1) // 2.
        let pl = if w > iw { (w - iw) / 2 } else { 0 };
        let pr = if w > iw { (w - iw + 1) / 2 } else { 0 };
        let pt = if h > ih { (h - ih) / 2 } else { 0 };
        let pb = if h > ih { (h - ih + 1) / 2 } else { 0 };
        x = x.f_constant_pad_nd([pl, pr, pt, pb]).ctx("center_crop")?;
    }
    let s = x.size();
    let (ih, iw) = (s[n - 2], s[n - 1]);
    let round_half_even = |v: f64| {
        let r = v.round();
        if (v - v.trunc()).abs() == 0.5 && (r as i64) % 2 != 0 {
            r - v.signum()
        } else {
            r
        }
    };
    let top = round_half_even((ih - h) as f64 / 2.0) as i64;
    let left = round_half_even((iw - w) as f64 / 2.0) as i64;
    x.f_narrow(n as i64 - 2, top, h).and_then(|t| t.f_narrow(n as i64 - 1, left, w)).ctx("center_crop")
}

/// The preprocessing a classification weight was trained with (torchvision's
/// `ImageClassification(crop_size, resize_size, mean, std)`).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Preprocess {
    /// Shorter side after resizing.
    pub resize_size: i64,
    /// Side of the central crop.
    pub crop_size: i64,
    /// Per-channel mean (RGB, on [0, 1]).
    pub mean: [f64; 3],
    /// Per-channel standard deviation.
    pub std: [f64; 3],
    /// The resize's interpolation.
    pub interpolation: Interpolation,
}

impl Preprocess {
    /// ImageNet's usual preprocessing: resize 256, crop 224, ImageNet mean and std.
    pub fn imagenet(resize_size: i64, crop_size: i64) -> Self {
        Preprocess {
            resize_size,
            crop_size,
            mean: IMAGENET_MEAN,
            std: IMAGENET_STD,
            interpolation: Interpolation::Bilinear,
        }
    }

    /// Applies it to an RGB `uint8` `[3, H, W]` image: resize, center crop, scale to [0, 1],
    /// normalise. Returns float32 `[3, crop, crop]`.
    pub fn apply(&self, img: &Tensor) -> Result<Tensor> {
        let x = resize_shorter_with(img, self.resize_size, self.interpolation)?;
        let x = center_crop(&x, self.crop_size, self.crop_size)?;
        let x = x.f_div_scalar(255.0).ctx("preprocess")?;
        let mean = Tensor::from_slice(&self.mean).to_kind(Kind::Float).view([3, 1, 1]);
        let std = Tensor::from_slice(&self.std).to_kind(Kind::Float).view([3, 1, 1]);
        x.f_sub(&mean).and_then(|t| t.f_div(&std)).ctx("preprocess")
    }
}

/// Lays out the channels of one feature map `[C, H, W]` as a grid of grayscale tiles (each
/// channel min–max scaled to 0–255, 1-pixel gaps), `cols` tiles per row; returns `uint8`
/// `[1, H', W']`, ready for [`save_png`].
pub fn feature_grid(feature: &Tensor, cols: i64) -> Result<Tensor> {
    let s = feature.size();
    if s.len() != 3 || s.iter().any(|&d| d <= 0) || cols <= 0 {
        return Err(Error::InvalidArgument(format!(
            "feature_grid needs a non-empty [C, H, W] feature map and a positive column count, got {s:?} and {cols}"
        )));
    }
    let (c, h, w) = (s[0], s[1], s[2]);
    let cols = cols.min(c);
    let rows = (c + cols - 1) / cols;
    let make = || -> std::result::Result<Tensor, tch::TchError> {
        let x = feature.f_to_device(Device::Cpu)?.f_to_kind(Kind::Float)?;
        let flat = x.f_reshape([c, -1])?;
        let lo = flat.f_amin(1, true)?.f_reshape([c, 1, 1])?;
        let hi = flat.f_amax(1, true)?.f_reshape([c, 1, 1])?;
        let range = hi.f_sub(&lo)?.f_clamp_min(1e-12)?;
        let scaled =
            x.f_sub(&lo)?.f_div(&range)?.f_mul_scalar(255.0)?.f_round()?.f_clamp(0.0, 255.0)?.f_to_kind(Kind::Uint8)?;
        let grid = Tensor::f_zeros([rows * (h + 1) - 1, cols * (w + 1) - 1], (Kind::Uint8, Device::Cpu))?;
        for i in 0..c {
            let (r, q) = (i / cols, i % cols);
            grid.f_narrow(0, r * (h + 1), h)?.f_narrow(1, q * (w + 1), w)?.f_copy_(&scaled.f_get(i)?)?;
        }
        grid.f_unsqueeze(0)
    };
    make().ctx("feature_grid")
}
