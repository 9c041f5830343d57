//! A Feature Pyramid Network (Lin et al. 2017, "Feature Pyramid Networks for Object
//! Detection"), as torchvision's `FeaturePyramidNetwork`
//! (`torchvision/ops/feature_pyramid_network.py`) without extra blocks and without norm.
//!
//! For each input level `i` (shallowest first), `inner_blocks.i.0` is a 1×1 lateral conv
//! `in_channels[i] → out_channels` and `layer_blocks.i.0` a 3×3 conv (padding 1) on the merged
//! map; the top-down path upsamples (nearest) the coarser merged map to the lateral's size and
//! adds it. Both convs have a bias and are wrapped, as in torchvision, in a
//! `Conv2dNormActivation` (here with neither norm nor activation), so the keys are
//! `inner_blocks.0.0.weight`, `layer_blocks.3.0.bias`, …. Init is torchvision's:
//! kaiming_uniform (a = 1), bias 0.
//!
//! ```no_run
//! use tch::{nn, Device};
//! use tchvision::models::{api::Options, fpn::FeaturePyramidNetwork};
//! use tchvision::registry::create_model;
//! # let x = tch::Tensor::zeros([1, 3, 224, 224], (tch::Kind::Float, Device::Cpu));
//! let vs = nn::VarStore::new(Device::Cpu);
//! let backbone = create_model("resnet50", &(vs.root() / "body"), &Options::default())?;
//! let fpn = FeaturePyramidNetwork::for_stages(&(vs.root() / "fpn"), &backbone.feature_info()[1..], 256)?;
//! let (_, stages) = backbone.forward_stages(&x, false)?;
//! let maps: Vec<_> = stages.into_iter().skip(1).map(|(i, t)| (i.module, t)).collect();
//! let pyramid = fpn.forward_maps(&maps)?; // layer1..layer4 → 256 channels each
//! # Ok::<(), tchvision::Error>(())
//! ```

use tch::{nn::Path, Tensor};

use crate::error::{Error, Result};
use crate::init::{self, FanMode, Nonlinearity};
use crate::models::features::FeatureInfo;
use crate::nn::*;
use crate::ops::{conv_norm_act, ConvNormAct};

/// torchvision's `FeaturePyramidNetwork(in_channels_list, out_channels)` (no extra blocks).
#[derive(Debug)]
pub struct FeaturePyramidNetwork {
    /// The 1×1 lateral convs, one `Conv2dNormActivation` (conv only) per level, in an
    /// `nn.ModuleList` (a Sequential of class `ModuleList` here: it is never called as a whole).
    pub inner_blocks: Sequential,
    /// The 3×3 output convs, likewise.
    pub layer_blocks: Sequential,
    /// Input channels per level, shallowest first.
    pub in_channels_list: Vec<i64>,
    /// Channels of every output.
    pub out_channels: i64,
    path: String,
}

impl FeaturePyramidNetwork {
    /// The FPN at `p` over levels of `in_channels_list` channels (shallowest first), each
    /// output with `out_channels` channels.
    pub fn new(p: &Path, in_channels_list: &[i64], out_channels: i64) -> Result<Self> {
        let path = path_string(p);
        if in_channels_list.is_empty() {
            return Err(Error::InvalidArgument(format!("{path} (FeaturePyramidNetwork): no input levels")));
        }
        if in_channels_list.contains(&0) {
            return Err(Error::InvalidArgument(format!(
                "{path} (FeaturePyramidNetwork): in_channels=0 is currently not supported"
            )));
        }
        let mut inner = Sequential::subclass(p / "inner_blocks", "ModuleList");
        let mut layer = Sequential::subclass(p / "layer_blocks", "ModuleList");
        // torchvision creates inner_blocks[i] then layer_blocks[i], level by level.
        for &c in in_channels_list {
            let conv = |cin, k| ConvNormAct::new(cin, out_channels, k).norm(None).act(None);
            inner = inner.add(|p| conv_norm_act(p.clone(), conv(c, 1)))?;
            layer = layer.add(|p| conv_norm_act(p.clone(), conv(out_channels, 3)))?;
        }
        let fpn = FeaturePyramidNetwork {
            inner_blocks: inner.build(),
            layer_blocks: layer.build(),
            in_channels_list: in_channels_list.to_vec(),
            out_channels,
            path,
        };
        // torchvision: `for m in self.modules()` (pre-order), under no_grad.
        let _g = tch::no_grad_guard();
        for (_, m) in fpn.named_modules() {
            if m.kind() == ModuleKind::Conv2d {
                if let Some(mut w) = m.parameter("weight") {
                    init::kaiming_uniform_(&mut w, FanMode::FanIn, Nonlinearity::LeakyRelu(1.0))?;
                }
                if let Some(mut b) = m.parameter("bias") {
                    init::zeros_(&mut b)?;
                }
            }
        }
        Ok(fpn)
    }

    /// An FPN over the given stages of a backbone (e.g. `feature_info()[1..]` of a ResNet:
    /// `layer1`…`layer4`).
    pub fn for_stages(p: &Path, stages: &[FeatureInfo], out_channels: i64) -> Result<Self> {
        let chans: Vec<i64> = stages.iter().map(|s| s.num_chs).collect();
        Self::new(p, &chans, out_channels)
    }

    /// torchvision's `forward(x: OrderedDict[str, Tensor])`: the named maps, shallowest first,
    /// in; the pyramid, under the same names and in the same order, out.
    pub fn forward_maps(&self, maps: &[(String, Tensor)]) -> Result<Vec<(String, Tensor)>> {
        let n = self.in_channels_list.len();
        if maps.len() != n {
            return Err(Error::InvalidArgument(format!(
                "{} (FeaturePyramidNetwork): expected {n} feature maps, got {}",
                self.path,
                maps.len()
            )));
        }
        let inner: Vec<&dyn Module> = self.inner_blocks.iter().collect();
        let layer: Vec<&dyn Module> = self.layer_blocks.iter().collect();
        let mut last_inner = inner[n - 1].try_forward_t(&maps[n - 1].1, false)?;
        let mut results = vec![layer[n - 1].try_forward_t(&last_inner, false)?];
        for idx in (0..n - 1).rev() {
            let lateral = inner[idx].try_forward_t(&maps[idx].1, false)?;
            let size = lateral.size();
            let hw = [size[size.len() - 2], size[size.len() - 1]];
            let top_down = last_inner.f_upsample_nearest2d(hw, None, None).map_err(|e| Error::Forward {
                path: join_path(&self.path, "upsample"),
                kind: "interpolate",
                input: last_inner.size(),
                source: e.into(),
            })?;
            last_inner = lateral.f_add(&top_down).map_err(|e| Error::Forward {
                path: join_path(&self.path, "add"),
                kind: "add",
                input: lateral.size(),
                source: e.into(),
            })?;
            results.push(layer[idx].try_forward_t(&last_inner, false)?);
        }
        results.reverse();
        Ok(maps.iter().map(|(k, _)| k.clone()).zip(results).collect())
    }
}

impl Module for FeaturePyramidNetwork {
    fn kind(&self) -> ModuleKind {
        ModuleKind::Custom("FeaturePyramidNetwork")
    }
    /// An FPN takes several maps: this refuses, see [`FeaturePyramidNetwork::forward_maps`].
    fn try_forward_t(&self, _xs: &Tensor, _train: bool) -> Result<Tensor> {
        Err(Error::InvalidArgument(format!(
            "{} (FeaturePyramidNetwork): takes several feature maps, call forward_maps",
            self.path
        )))
    }
    fn named_children(&self) -> Vec<(String, &dyn Module)> {
        vec![("inner_blocks".into(), &self.inner_blocks as &dyn Module), ("layer_blocks".into(), &self.layer_blocks)]
    }
}
