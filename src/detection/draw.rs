//! Drawing detections: 2-pixel rectangles in per-class colours, and labels (`"dog 0.87"`) in a
//! built-in 5×7 bitmap font, so no font file is needed.
//!
//! A box `[x1, y1, x2, y2]` (pixels, `x2`/`y2` exclusive as in [`Detection::bbox`]) covers the
//! pixel columns `floor(x1) ..= ceil(x2) − 1` and rows `floor(y1) ..= ceil(y2) − 1`, clamped to
//! the image; its outline is the outermost 2 pixels of that range (fewer where the box is
//! thinner). The label sits on a filled rectangle of the class colour just above the box's
//! top-left corner, or just inside the box when there is no room above; its text is black or
//! white, whichever contrasts more with the colour. Glyphs are scaled by 1 on images smaller
//! than 400 pixels (the shorter side) and by 2 from there. The font covers `a-z`, `0-9`, space,
//! `.`, `-`, `_`, `:` and `?` (capitals are drawn as small letters, anything else as `?`).

use image::{Rgb, RgbImage};
use tch::{Device, Kind, Tensor};

use super::Detection;
use crate::error::{Error, Result, TorchResultExt};

/// The 5×7 glyphs: seven rows of five bits, the highest bit (0x10) the leftmost pixel.
const FONT: [(char, [u8; 7]); 42] = [
    (' ', [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]),
    ('.', [0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C]),
    ('-', [0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00]),
    ('_', [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F]),
    (':', [0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00]),
    ('?', [0x0E, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04]),
    ('0', [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E]),
    ('1', [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E]),
    ('2', [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F]),
    ('3', [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E]),
    ('4', [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02]),
    ('5', [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E]),
    ('6', [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E]),
    ('7', [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08]),
    ('8', [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E]),
    ('9', [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C]),
    ('a', [0x00, 0x00, 0x0E, 0x01, 0x0F, 0x11, 0x0F]),
    ('b', [0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x1E]),
    ('c', [0x00, 0x00, 0x0E, 0x10, 0x10, 0x11, 0x0E]),
    ('d', [0x01, 0x01, 0x0D, 0x13, 0x11, 0x11, 0x0F]),
    ('e', [0x00, 0x00, 0x0E, 0x11, 0x1F, 0x10, 0x0E]),
    ('f', [0x06, 0x09, 0x08, 0x1C, 0x08, 0x08, 0x08]),
    ('g', [0x00, 0x0F, 0x11, 0x11, 0x0F, 0x01, 0x0E]),
    ('h', [0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11]),
    ('i', [0x04, 0x00, 0x0C, 0x04, 0x04, 0x04, 0x0E]),
    ('j', [0x02, 0x00, 0x06, 0x02, 0x02, 0x12, 0x0C]),
    ('k', [0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12]),
    ('l', [0x0C, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E]),
    ('m', [0x00, 0x00, 0x1A, 0x15, 0x15, 0x11, 0x11]),
    ('n', [0x00, 0x00, 0x16, 0x19, 0x11, 0x11, 0x11]),
    ('o', [0x00, 0x00, 0x0E, 0x11, 0x11, 0x11, 0x0E]),
    ('p', [0x00, 0x00, 0x1E, 0x11, 0x1E, 0x10, 0x10]),
    ('q', [0x00, 0x00, 0x0D, 0x13, 0x0F, 0x01, 0x01]),
    ('r', [0x00, 0x00, 0x16, 0x19, 0x10, 0x10, 0x10]),
    ('s', [0x00, 0x00, 0x0E, 0x10, 0x0E, 0x01, 0x1E]),
    ('t', [0x08, 0x08, 0x1C, 0x08, 0x08, 0x09, 0x06]),
    ('u', [0x00, 0x00, 0x11, 0x11, 0x11, 0x13, 0x0D]),
    ('v', [0x00, 0x00, 0x11, 0x11, 0x11, 0x0A, 0x04]),
    ('w', [0x00, 0x00, 0x11, 0x11, 0x15, 0x15, 0x0A]),
    ('x', [0x00, 0x00, 0x11, 0x0A, 0x04, 0x0A, 0x11]),
    ('y', [0x00, 0x00, 0x11, 0x11, 0x0F, 0x01, 0x0E]),
    ('z', [0x00, 0x00, 0x1F, 0x02, 0x04, 0x08, 0x1F]),
];

/// Glyph width and height in font pixels, and the gap between glyphs.
const GLYPH_W: u32 = 5;
const GLYPH_H: u32 = 7;
const GAP: u32 = 1;

/// The 5×7 bitmap of `ch` (capitals as small letters; characters outside the font as `?`).
pub fn glyph(ch: char) -> [u8; 7] {
    let ch = ch.to_ascii_lowercase();
    FONT.iter()
        .find(|(c, _)| *c == ch)
        .or_else(|| FONT.iter().find(|(c, _)| *c == '?'))
        .map(|(_, g)| *g)
        .unwrap_or([0; 7])
}

/// The colour of class `index`: 20 distinct colours, then hues spaced by the golden angle.
pub fn class_color(index: usize) -> [u8; 3] {
    const PALETTE: [[u8; 3]; 20] = [
        [230, 25, 75],
        [60, 180, 75],
        [255, 225, 25],
        [0, 130, 200],
        [245, 130, 48],
        [145, 30, 180],
        [70, 240, 240],
        [240, 50, 230],
        [210, 245, 60],
        [250, 190, 212],
        [0, 128, 128],
        [220, 190, 255],
        [170, 110, 40],
        [255, 250, 200],
        [128, 0, 0],
        [170, 255, 195],
        [128, 128, 0],
        [255, 215, 180],
        [0, 0, 128],
        [128, 128, 128],
    ];
    if let Some(c) = PALETTE.get(index) {
        return *c;
    }
    // HSV with s = 0.8, v = 0.95 and hue stepping by the golden angle.
    let h = (index as f64 * 137.507_764).rem_euclid(360.0) / 60.0;
    let (s, v) = (0.8, 0.95);
    let c = v * s;
    let x = c * (1.0 - ((h % 2.0) - 1.0).abs());
    let (r, g, b) = match h as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = v - c;
    let to = |u: f64| ((u + m) * 255.0).round() as u8;
    [to(r), to(g), to(b)]
}

/// The label drawn for a detection: `"dog 0.87"` (the score with two decimals).
pub fn label(det: &Detection) -> String {
    format!("{} {:.2}", det.class_name, det.score)
}

/// The size in pixels of `text` drawn at `scale`: `(width, height)`.
pub fn text_size(text: &str, scale: u32) -> (u32, u32) {
    let n = text.chars().count() as u32;
    if n == 0 {
        return (0, 0);
    }
    ((n * (GLYPH_W + GAP) - GAP) * scale, GLYPH_H * scale)
}

/// Draws `text` with its top-left corner at `(x, y)`, `scale` image pixels per font pixel;
/// pixels outside the image are skipped.
pub fn draw_text(image: &mut RgbImage, x: i64, y: i64, text: &str, scale: u32, color: [u8; 3]) {
    let s = scale.max(1) as i64;
    for (i, ch) in text.chars().enumerate() {
        let g = glyph(ch);
        let gx = x + i as i64 * (GLYPH_W + GAP) as i64 * s;
        for (row, bits) in g.iter().enumerate() {
            for col in 0..GLYPH_W as i64 {
                if bits & (0x10 >> col) != 0 {
                    fill_rect(
                        image,
                        gx + col * s,
                        y + row as i64 * s,
                        gx + (col + 1) * s,
                        y + (row as i64 + 1) * s,
                        color,
                    );
                }
            }
        }
    }
}

/// Fills the pixels `x0 ≤ x < x1`, `y0 ≤ y < y1`, clipped to the image.
fn fill_rect(image: &mut RgbImage, x0: i64, y0: i64, x1: i64, y1: i64, color: [u8; 3]) {
    let (w, h) = (image.width() as i64, image.height() as i64);
    for y in y0.max(0)..y1.min(h) {
        for x in x0.max(0)..x1.min(w) {
            image.put_pixel(x as u32, y as u32, Rgb(color));
        }
    }
}

/// The pixel range `[left, right] × [top, bottom]` (inclusive) a box covers, or `None` when it
/// covers no pixel of the image.
fn pixel_range(bbox: &[f32; 4], width: u32, height: u32) -> Option<(i64, i64, i64, i64)> {
    if bbox.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let left = (bbox[0].floor() as i64).max(0);
    let top = (bbox[1].floor() as i64).max(0);
    let right = (bbox[2].ceil() as i64 - 1).min(width as i64 - 1);
    let bottom = (bbox[3].ceil() as i64 - 1).min(height as i64 - 1);
    (left <= right && top <= bottom).then_some((left, top, right, bottom))
}

/// Draws every detection on `image`: a 2-pixel outline in the class's colour ([`class_color`])
/// and a label (see the module docs). Later detections are drawn over earlier ones.
pub fn draw_detections(image: &mut RgbImage, detections: &[Detection]) {
    let (w, h) = (image.width(), image.height());
    let scale = if w.min(h) >= 400 { 2 } else { 1 };
    for det in detections {
        let Some((l, t, r, b)) = pixel_range(&det.bbox, w, h) else { continue };
        let color = class_color(det.class_index);
        let th = 2;
        fill_rect(image, l, t, r + 1, (t + th).min(b + 1), color);
        fill_rect(image, l, (b + 1 - th).max(t), r + 1, b + 1, color);
        fill_rect(image, l, t, (l + th).min(r + 1), b + 1, color);
        fill_rect(image, (r + 1 - th).max(l), t, r + 1, b + 1, color);

        let text = label(det);
        let (tw, tht) = text_size(&text, scale);
        let pad = scale as i64;
        let (bw, bh) = (tw as i64 + 2 * pad, tht as i64 + 2 * pad);
        let by = if t >= bh { t - bh } else { t };
        fill_rect(image, l, by, l + bw, by + bh, color);
        let luma = 0.299 * color[0] as f64 + 0.587 * color[1] as f64 + 0.114 * color[2] as f64;
        let ink = if luma > 140.0 { [0, 0, 0] } else { [255, 255, 255] };
        draw_text(image, l + pad, by + pad, &text, scale, ink);
    }
}

/// Draws detections on an RGB image tensor, uint8 `[3, H, W]` (any device), and returns the
/// drawn copy (uint8 `[3, H, W]` on the same device); see [`draw_detections`].
pub fn draw_detections_on_tensor(image: &Tensor, detections: &[Detection]) -> Result<Tensor> {
    let mut img = tensor_to_rgb_image(image)?;
    draw_detections(&mut img, detections);
    rgb_image_to_tensor(&img)?.f_to_device(image.device()).ctx("draw_detections_on_tensor")
}

/// A uint8 `[3, H, W]` tensor as an [`RgbImage`].
pub fn tensor_to_rgb_image(image: &Tensor) -> Result<RgbImage> {
    let size = image.size();
    if size.len() != 3 || size[0] != 3 || image.kind() != Kind::Uint8 {
        return Err(Error::InvalidArgument(format!(
            "expected an RGB image tensor, uint8 [3, H, W]; got {:?} of shape {size:?}",
            image.kind()
        )));
    }
    let (h, w) = (size[1], size[2]);
    let hwc = image
        .f_to_device(Device::Cpu)
        .and_then(|t| t.f_permute([1, 2, 0]))
        .and_then(|t| t.f_contiguous())
        .and_then(|t| t.f_flatten(0, -1))
        .ctx("converting an image tensor")?;
    let data = Vec::<u8>::try_from(hwc).map_err(|e| Error::torch("converting an image tensor", e))?;
    RgbImage::from_raw(w as u32, h as u32, data)
        .ok_or_else(|| Error::InvalidArgument(format!("image of {w}×{h} pixels does not fit in an RgbImage")))
}

/// An [`RgbImage`] as a uint8 `[3, H, W]` tensor on the CPU.
pub fn rgb_image_to_tensor(image: &RgbImage) -> Result<Tensor> {
    let (w, h) = (image.width() as i64, image.height() as i64);
    Tensor::f_from_slice(image.as_raw())
        .and_then(|t| t.f_reshape([h, w, 3]))
        .and_then(|t| t.f_permute([2, 0, 1]))
        .and_then(|t| t.f_contiguous())
        .ctx("converting an image to a tensor")
}
