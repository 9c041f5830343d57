//! Features as first-class outputs: the outputs of named nodes in one pass, and what each stage
//! of a network gives (channels and stride).
//!
//! * [`NodeOutputs::forward_nodes`] is torchvision's `create_feature_extractor(model,
//!   return_nodes=[...])` (`torchvision/models/feature_extraction.py`) run eagerly: one forward
//!   pass that also returns the outputs of the requested nodes. Node names are torchvision's
//!   ([`get_graph_node_names`](NodeOutputs::graph_node_names)): module paths (`conv1`,
//!   `layer2.0.conv1`, `fc`), module prefixes (`layer1`, `layer3.5`: the output of the last
//!   node inside), repeated calls (`layer1.0.relu_1`), functional steps (`layer1.0.add`,
//!   `flatten`) and the input `x`. It works for every [`Module`]: containers forward through
//!   [`Module::try_forward_rec`], and a module that does not override it is one leaf node.
//!   Each node's output is the value it computed. torchvision's extractor differs on one
//!   point: its `ReLU(inplace=True)` overwrites the output of the node it consumes, so there a
//!   node followed by an inplace ReLU (`bn1`, `layer1.0.bn2`, `layer1.0.add`) returns the
//!   ReLU's output; with the ReLUs made non-inplace it returns what we return. And
//!   torchvision lets one graph node answer one query only (asked for `layer3` and `layer3.5`
//!   together, it answers `layer3.5` with the node before); here every query gets the output
//!   of its own last node, as torchvision gives it when asked alone.
//! * [`FeatureInfo`] is timm's `feature_info` entry (`num_chs`, `reduction`, `module`), given
//!   by [`Model::feature_info`](crate::models::api::Model::feature_info).
//!
//! ```no_run
//! use tch::{nn, Device, Kind, Tensor};
//! use tchvision::models::features::NodeOutputs;
//! use tchvision::models::resnet::{ResNet, ResNetConfig};
//! use tchvision::nn::ModuleExt;
//! let vs = nn::VarStore::new(Device::Cpu);
//! let net = ResNet::new(&vs.root(), &ResNetConfig::resnet50())?;
//! net.eval();
//! let x = Tensor::zeros([1, 3, 224, 224], (Kind::Float, Device::Cpu));
//! let (logits, nodes) = net.forward_nodes(&x, false, &["layer1", "layer3.5", "avgpool"])?;
//! assert_eq!(nodes[0].1.size(), [1, 256, 56, 56]);
//! # Ok::<(), tchvision::Error>(())
//! ```

use serde::{Deserialize, Serialize};
use tch::Tensor;

use crate::error::Result;
use crate::nn::{Module, Recorder};

/// What one stage of a network outputs (timm's `feature_info` entry).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureInfo {
    /// Channels of the stage's output.
    pub num_chs: i64,
    /// Its stride relative to the input (the input's size over the map's, rounded up).
    pub reduction: i64,
    /// The node whose output it is (a [`NodeOutputs::forward_nodes`] name).
    pub module: String,
}

impl FeatureInfo {
    /// A stage with `num_chs` channels at stride `reduction`, output by node `module`.
    pub fn new(num_chs: i64, reduction: i64, module: &str) -> Self {
        FeatureInfo { num_chs, reduction, module: module.to_string() }
    }
}

/// Outputs of named nodes, for every [`Module`] (also `dyn Module` and
/// [`dyn Model`](crate::models::api::Model)).
pub trait NodeOutputs: Module {
    /// One forward pass returning the output and the outputs of `nodes`, in the order asked
    /// (see the module docs for the names). An unknown node is an
    /// [`Error::Unknown`](crate::Error::Unknown) that lists the valid names.
    fn forward_nodes<S: AsRef<str>>(
        &self,
        xs: &Tensor,
        train: bool,
        nodes: &[S],
    ) -> Result<(Tensor, Vec<(String, Tensor)>)> {
        let mut rec = Recorder::new(nodes);
        rec.record("x", xs);
        let out = self.try_forward_rec(xs, train, &mut rec, "")?;
        Ok((out, rec.into_outputs()?))
    }

    /// The names of every node a forward pass on `xs` runs, in order: torchvision's
    /// `get_graph_node_names(model)`.
    fn graph_node_names(&self, xs: &Tensor, train: bool) -> Result<Vec<String>> {
        let mut rec = Recorder::new::<&str>(&[]);
        rec.record("x", xs);
        let _ = self.try_forward_rec(xs, train, &mut rec, "")?;
        Ok(rec.node_names().to_vec())
    }
}

impl<T: Module + ?Sized> NodeOutputs for T {}
