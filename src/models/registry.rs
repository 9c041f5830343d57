//! Every model by torchvision name, in one table.
//!
//! [`list_models`] is the table (a [`ModelInfo`] per model: name, family, default input size,
//! default classes and the builder); [`create_model`] builds one by name, as torchvision's
//! `get_model(name, **kwargs)` and timm's `create_model`. Names are unique: the table is
//! checked when the crate compiles. The CLI and the tests iterate the table; a new family adds
//! its entries to [`MODELS`]'s list below and implements [`Model`].
//!
//! ```no_run
//! use tch::{nn, Device, Kind, Tensor};
//! use tchvision::models::registry::{create_model, ModelOptions};
//! use tchvision::models::features::NodeOutputs;
//! let vs = nn::VarStore::new(Device::Cpu);
//! let model = create_model("resnet50", &vs.root(), &ModelOptions::default().num_classes(10))?;
//! let x = Tensor::zeros([1, 3, 224, 224], (Kind::Float, Device::Cpu));
//! let (logits, nodes) = model.forward_nodes(&x, false, &["layer4"])?;
//! for info in model.feature_info() {
//!     println!("{}: {} channels at stride {}", info.module, info.num_chs, info.reduction);
//! }
//! # Ok::<(), tchvision::Error>(())
//! ```

use tch::{nn::Path, Tensor};

use crate::error::{Error, Result};
use crate::models::features::{FeatureInfo, NodeOutputs};
use crate::models::resnet::{ResNet, ResNetConfig};
use crate::nn::Module;

/// A network the registry can build: a [`Module`] that also splits into features and head and
/// describes its stages. Object safe, so the CLI works on `Box<dyn Model>`; the outputs of
/// named nodes come with every module through [`NodeOutputs`].
pub trait Model: Module {
    /// The backbone: the last feature map before the head.
    fn forward_features(&self, xs: &Tensor, train: bool) -> Result<Tensor>;

    /// The head: the model's output (logits) from [`Model::forward_features`]' output.
    fn forward_head(&self, features: &Tensor, train: bool) -> Result<Tensor>;

    /// Channels, stride and node of each stage's output, shallowest first.
    fn feature_info(&self) -> Vec<FeatureInfo>;

    /// The number of classes of the head.
    fn num_classes(&self) -> i64;

    /// One pass returning the output and each [`Model::feature_info`] stage's feature map, in
    /// order (timm's `features_only`).
    fn forward_stages(&self, xs: &Tensor, train: bool) -> Result<(Tensor, Vec<(FeatureInfo, Tensor)>)> {
        let info = self.feature_info();
        let names: Vec<&str> = info.iter().map(|i| i.module.as_str()).collect();
        let (out, maps) = self.forward_nodes(xs, train, &names)?;
        Ok((out, info.into_iter().zip(maps.into_iter().map(|(_, t)| t)).collect()))
    }
}

/// Options of [`create_model`]: torchvision's builder keyword arguments. `None` keeps the
/// model's default; a family refuses options it does not have with
/// [`Error::InvalidArgument`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModelOptions {
    /// Outputs of the classifier (`num_classes`).
    pub num_classes: Option<i64>,
    /// ResNet's `zero_init_residual`.
    pub zero_init_residual: Option<bool>,
    /// ResNet's `replace_stride_with_dilation`.
    pub replace_stride_with_dilation: Option<[bool; 3]>,
}

impl ModelOptions {
    /// Sets `num_classes`.
    pub fn num_classes(mut self, n: i64) -> Self {
        self.num_classes = Some(n);
        self
    }
    /// Sets `zero_init_residual`.
    pub fn zero_init_residual(mut self, z: bool) -> Self {
        self.zero_init_residual = Some(z);
        self
    }
    /// Sets `replace_stride_with_dilation`.
    pub fn replace_stride_with_dilation(mut self, d: [bool; 3]) -> Self {
        self.replace_stride_with_dilation = Some(d);
        self
    }

    /// For families with only `num_classes`: refuses the other options, naming `model`.
    pub fn only_num_classes(&self, model: &str) -> Result<()> {
        let mut extra = Vec::new();
        if self.zero_init_residual.is_some() {
            extra.push("zero_init_residual");
        }
        if self.replace_stride_with_dilation.is_some() {
            extra.push("replace_stride_with_dilation");
        }
        if extra.is_empty() {
            Ok(())
        } else {
            Err(Error::InvalidArgument(format!("{model} does not take {}", extra.join(", "))))
        }
    }
}

/// A builder of the registry: the model at `p` with `options`.
pub type BuildFn = fn(&Path, &ModelOptions) -> Result<Box<dyn Model>>;

/// One entry of the registry.
#[derive(Clone, Copy)]
pub struct ModelInfo {
    /// The torchvision name (`resnet50`).
    pub name: &'static str,
    /// The family (`resnet`), which names the module it lives in.
    pub family: &'static str,
    /// The input size `[H, W]` it is usually run at.
    pub default_input: [i64; 2],
    /// Classes when `num_classes` is not given.
    pub num_classes: i64,
    /// Builds it.
    pub build: BuildFn,
}

impl std::fmt::Debug for ModelInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelInfo")
            .field("name", &self.name)
            .field("family", &self.family)
            .field("default_input", &self.default_input)
            .field("num_classes", &self.num_classes)
            .finish_non_exhaustive()
    }
}

fn build_resnet(p: &Path, o: &ModelOptions, mut cfg: ResNetConfig) -> Result<Box<dyn Model>> {
    if let Some(n) = o.num_classes {
        cfg.num_classes = n;
    }
    if let Some(z) = o.zero_init_residual {
        cfg.zero_init_residual = z;
    }
    if let Some(d) = o.replace_stride_with_dilation {
        cfg.replace_stride_with_dilation = d;
    }
    Ok(Box::new(ResNet::new(p, &cfg)?))
}

macro_rules! resnet {
    ($name:ident) => {
        ModelInfo {
            name: stringify!($name),
            family: "resnet",
            default_input: [224, 224],
            num_classes: 1000,
            build: |p, o| build_resnet(p, o, ResNetConfig::$name()),
        }
    };
}

/// The table. Add a family's models here.
pub const MODELS: &[ModelInfo] = &[
    resnet!(resnet18),
    resnet!(resnet34),
    resnet!(resnet50),
    resnet!(resnet101),
    resnet!(resnet152),
    resnet!(resnext50_32x4d),
    resnet!(resnext101_32x8d),
    resnet!(resnext101_64x4d),
    resnet!(wide_resnet50_2),
    resnet!(wide_resnet101_2),
    // YOLO-v1 (src/models/yolo.rs): output [N, 7, 7, 30], not class logits.
    ModelInfo {
        name: "yolo_v1",
        family: "yolo",
        default_input: [448, 448],
        num_classes: 20,
        build: crate::models::yolo::build_yolo_v1,
    },
    ModelInfo {
        name: "yolo_v1_resnet50",
        family: "yolo",
        default_input: [448, 448],
        num_classes: 20,
        build: crate::models::yolo::build_yolo_v1_resnet50,
    },
];

const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

const fn names_unique(models: &[ModelInfo]) -> bool {
    let mut i = 0;
    while i < models.len() {
        let mut j = i + 1;
        while j < models.len() {
            if str_eq(models[i].name, models[j].name) {
                return false;
            }
            j += 1;
        }
        i += 1;
    }
    true
}

// A duplicate name does not compile.
const _: () = assert!(names_unique(MODELS), "two models of the registry share a name");

/// Every registered model, in table order.
pub fn list_models() -> &'static [ModelInfo] {
    MODELS
}

/// The names of every registered model, in table order.
pub fn model_names() -> Vec<&'static str> {
    MODELS.iter().map(|m| m.name).collect()
}

/// The entry of `name`; [`Error::Unknown`] listing the valid names otherwise.
pub fn model_info(name: &str) -> Result<&'static ModelInfo> {
    MODELS.iter().find(|m| m.name == name).ok_or_else(|| Error::unknown("model", name, &model_names()))
}

/// Builds model `name` at `p` (torchvision's `get_model(name, **kwargs)`), initialised as
/// torchvision initialises it.
pub fn create_model(name: &str, p: &Path, options: &ModelOptions) -> Result<Box<dyn Model>> {
    (model_info(name)?.build)(p, options)
}
