//! Pooling modules of `torch/nn/modules/pooling.py`.

use tch::{nn::Path, Tensor};

use super::{forward_error, input_error, path_string, Module, ModuleKind, Pair};
use crate::error::{Error, Result};

/// Options shared by [`MaxPool2d`] and [`AvgPool2d`], with torch's defaults (stride = kernel).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PoolConfig {
    /// Stride; `None` means the kernel size.
    pub stride: Option<Pair>,
    /// Implicit padding on both sides (−∞ for max, 0 for average).
    pub padding: Pair,
    /// Dilation (max pooling only).
    pub dilation: Pair,
    /// Use ceil instead of floor for the output size.
    pub ceil_mode: bool,
    /// Average pooling: count the padding zeros (default true).
    pub count_include_pad: bool,
    /// Average pooling: divide by this instead of the window size.
    pub divisor_override: Option<i64>,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            stride: None,
            padding: Pair([0, 0]),
            dilation: Pair([1, 1]),
            ceil_mode: false,
            count_include_pad: true,
            divisor_override: None,
        }
    }
}

impl PoolConfig {
    /// Sets the stride.
    pub fn stride(mut self, s: impl Into<Pair>) -> Self {
        self.stride = Some(s.into());
        self
    }
    /// Sets the padding.
    pub fn padding(mut self, p: impl Into<Pair>) -> Self {
        self.padding = p.into();
        self
    }
    /// Sets the dilation.
    pub fn dilation(mut self, d: impl Into<Pair>) -> Self {
        self.dilation = d.into();
        self
    }
    /// Sets ceil mode.
    pub fn ceil_mode(mut self, c: bool) -> Self {
        self.ceil_mode = c;
        self
    }
    /// Sets count_include_pad.
    pub fn count_include_pad(mut self, c: bool) -> Self {
        self.count_include_pad = c;
        self
    }
    /// Sets divisor_override.
    pub fn divisor_override(mut self, d: Option<i64>) -> Self {
        self.divisor_override = d;
        self
    }
}

fn check_pool(path: &str, kind: ModuleKind, kernel: [i64; 2], cfg: &PoolConfig) -> Result<()> {
    let stride = cfg.stride.map(|s| s.0).unwrap_or(kernel);
    if kernel.iter().chain(&stride).chain(&cfg.dilation.0).any(|&v| v <= 0) {
        return Err(Error::InvalidArgument(format!(
            "{path} ({kind}): kernel size, stride and dilation must be positive"
        )));
    }
    if cfg.padding.0.iter().zip(&kernel).any(|(&p, &k)| p < 0 || p * 2 > k) {
        return Err(Error::InvalidArgument(format!(
            "{path} ({kind}): padding {:?} must be at most half the kernel size {kernel:?}",
            cfg.padding.0
        )));
    }
    Ok(())
}

fn check_input(path: &str, kind: ModuleKind, xs: &Tensor, min: [i64; 2]) -> Result<()> {
    let size = xs.size();
    if !(size.len() == 3 || size.len() == 4) {
        return Err(input_error(path, kind, "a 3-D [C, H, W] or 4-D [N, C, H, W] input", xs));
    }
    let (h, w) = (size[size.len() - 2], size[size.len() - 1]);
    if h < min[0] || w < min[1] {
        return Err(input_error(
            path,
            kind,
            format!("a spatial size of at least {}x{} after padding", min[0], min[1]),
            xs,
        ));
    }
    Ok(())
}

/// torch's `pooling_output_shape` (`aten/src/ATen/native/Pool.h`): the output length of a
/// pooling window over `input` (in ceil mode, a last window that starts in the right padding
/// is dropped).
fn pooled_size(input: i64, kernel: i64, pad: i64, stride: i64, dilation: i64, ceil_mode: bool) -> i64 {
    let num = input + 2 * pad - dilation * (kernel - 1) - 1 + if ceil_mode { stride - 1 } else { 0 };
    let mut out = num.div_euclid(stride) + 1;
    if ceil_mode && (out - 1) * stride >= input + pad {
        out -= 1;
    }
    out
}

/// A 3-D or 4-D input for which max/avg pooling gives a non-empty output, as torch requires.
fn check_pool_input(
    path: &str,
    kind: ModuleKind,
    xs: &Tensor,
    kernel: [i64; 2],
    stride: [i64; 2],
    cfg: &PoolConfig,
) -> Result<()> {
    check_input(path, kind, xs, [1, 1])?;
    let size = xs.size();
    let (pd, d) = (cfg.padding.0, cfg.dilation.0);
    let out: Vec<i64> = (0..2)
        .map(|i| pooled_size(size[size.len() - 2 + i], kernel[i], pd[i], stride[i], d[i], cfg.ceil_mode))
        .collect();
    if out.iter().any(|&o| o < 1) {
        return Err(input_error(
            path,
            kind,
            format!(
                "a spatial size that a {}x{} window (stride {stride:?}, padding {pd:?}, dilation {d:?}, ceil_mode {}) \
                 pools to at least 1x1, not {}x{}",
                kernel[0], kernel[1], cfg.ceil_mode, out[0], out[1]
            ),
            xs,
        ));
    }
    Ok(())
}

/// `nn.MaxPool2d(kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False)`.
#[derive(Debug)]
pub struct MaxPool2d {
    /// Window size.
    pub kernel_size: [i64; 2],
    /// Options.
    pub config: PoolConfig,
    path: String,
}

impl MaxPool2d {
    /// `nn.MaxPool2d(kernel_size, …)`.
    pub fn new(p: &Path, kernel_size: impl Into<Pair>, config: PoolConfig) -> Result<Self> {
        let path = path_string(p);
        let kernel_size = kernel_size.into().0;
        check_pool(&path, ModuleKind::MaxPool2d, kernel_size, &config)?;
        Ok(MaxPool2d { kernel_size, config, path })
    }
}

impl Module for MaxPool2d {
    fn kind(&self) -> ModuleKind {
        ModuleKind::MaxPool2d
    }
    fn try_forward_t(&self, xs: &Tensor, _train: bool) -> Result<Tensor> {
        let c = &self.config;
        let (k, d, pd) = (self.kernel_size, c.dilation.0, c.padding.0);
        let stride = c.stride.map(|s| s.0).unwrap_or(k);
        check_pool_input(&self.path, self.kind(), xs, k, stride, c)?;
        xs.f_max_pool2d(k, stride, pd, d, c.ceil_mode).map_err(forward_error(&self.path, self.kind(), xs))
    }
}

/// `nn.AvgPool2d(kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
/// divisor_override=None)`.
#[derive(Debug)]
pub struct AvgPool2d {
    /// Window size.
    pub kernel_size: [i64; 2],
    /// Options.
    pub config: PoolConfig,
    path: String,
}

impl AvgPool2d {
    /// `nn.AvgPool2d(kernel_size, …)`.
    pub fn new(p: &Path, kernel_size: impl Into<Pair>, config: PoolConfig) -> Result<Self> {
        let path = path_string(p);
        let kernel_size = kernel_size.into().0;
        check_pool(&path, ModuleKind::AvgPool2d, kernel_size, &config)?;
        if config.divisor_override == Some(0) {
            return Err(Error::InvalidArgument(format!("{path} (AvgPool2d): divisor must be not zero")));
        }
        Ok(AvgPool2d { kernel_size, config, path })
    }
}

impl Module for AvgPool2d {
    fn kind(&self) -> ModuleKind {
        ModuleKind::AvgPool2d
    }
    fn try_forward_t(&self, xs: &Tensor, _train: bool) -> Result<Tensor> {
        let c = &self.config;
        let (k, pd) = (self.kernel_size, c.padding.0);
        let stride = c.stride.map(|s| s.0).unwrap_or(k);
        // Average pooling has no dilation.
        check_pool_input(&self.path, self.kind(), xs, k, stride, &PoolConfig { dilation: Pair([1, 1]), ..*c })?;
        xs.f_avg_pool2d(k, stride, pd, c.ceil_mode, c.count_include_pad, c.divisor_override).map_err(forward_error(
            &self.path,
            self.kind(),
            xs,
        ))
    }
}

/// `nn.AdaptiveAvgPool2d(output_size)`.
#[derive(Debug)]
pub struct AdaptiveAvgPool2d {
    /// Output height and width.
    pub output_size: [i64; 2],
    path: String,
}

impl AdaptiveAvgPool2d {
    /// `nn.AdaptiveAvgPool2d(output_size)`.
    pub fn new(p: &Path, output_size: impl Into<Pair>) -> Result<Self> {
        let output_size = output_size.into().0;
        let path = path_string(p);
        if output_size.iter().any(|&v| v <= 0) {
            return Err(Error::InvalidArgument(format!(
                "{path} (AdaptiveAvgPool2d): output size must be positive, got {output_size:?}"
            )));
        }
        Ok(AdaptiveAvgPool2d { output_size, path })
    }
}

impl Module for AdaptiveAvgPool2d {
    fn kind(&self) -> ModuleKind {
        ModuleKind::AdaptiveAvgPool2d
    }
    fn try_forward_t(&self, xs: &Tensor, _train: bool) -> Result<Tensor> {
        check_input(&self.path, self.kind(), xs, [1, 1])?;
        xs.f_adaptive_avg_pool2d(self.output_size).map_err(forward_error(&self.path, self.kind(), xs))
    }
}

crate::impl_module_t!(MaxPool2d, AvgPool2d, AdaptiveAvgPool2d);
