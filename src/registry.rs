//! Every model by torchvision name: the registry lists the families, each of which declares its
//! own table of [`ModelInfo`] next to its builders (torchvision's `_api.register_model`). Names
//! are unique across families: checked when the crate compiles.
//!
//! [`list_models`] is the list; [`create_model`] builds one by name, as torchvision's
//! `get_model(name, **kwargs)` and timm's `create_model`, refusing options the model does not
//! have; [`create_model_for_weights`] builds one as torchvision's builders do when given
//! `weights=`: with the options the weights imply and their number of classes.
//!
//! Adding a family: write `src/models/<family>.rs` with its `pub const MODELS: &[ModelInfo]`
//! and add that table to [`FAMILIES`] below.
//!
//! ```no_run
//! use tch::{nn, Device, Kind, Tensor};
//! use tchvision::models::api::Options;
//! use tchvision::models::features::NodeOutputs;
//! use tchvision::registry::create_model;
//! let vs = nn::VarStore::new(Device::Cpu);
//! let model = create_model("resnet50", &vs.root(), &Options::default().num_classes(10))?;
//! let x = Tensor::zeros([1, 3, 224, 224], (Kind::Float, Device::Cpu));
//! let (logits, nodes) = model.forward_nodes(&x, false, &["layer4"])?;
//! for info in model.feature_info() {
//!     println!("{}: {} channels at stride {}", info.module, info.num_chs, info.reduction);
//! }
//! # Ok::<(), tchvision::Error>(())
//! ```

use tch::nn::Path;

use crate::error::{Error, Result};
use crate::models::api::{Model, ModelInfo, Options};
use crate::models::weights::Weights;

/// The families, each a table declared in its own file.
pub const FAMILIES: &[&[ModelInfo]] = &[
    crate::models::resnet::MODELS,
    crate::models::mobilenetv2::MODELS,
    crate::models::mobilenetv3::MODELS,
    crate::detection::yolo::MODELS,
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

const fn names_unique(families: &[&[ModelInfo]]) -> bool {
    let (mut f, mut i) = (0, 0);
    while f < families.len() {
        while i < families[f].len() {
            let name = families[f][i].name;
            let (mut g, mut j) = (f, i + 1);
            while g < families.len() {
                while j < families[g].len() {
                    if str_eq(name, families[g][j].name) {
                        return false;
                    }
                    j += 1;
                }
                g += 1;
                j = 0;
            }
            i += 1;
        }
        f += 1;
        i = 0;
    }
    true
}

// A duplicate name does not compile.
const _: () = assert!(names_unique(FAMILIES), "two models of the registry share a name");

/// Every registered model, family by family, in table order.
pub fn list_models() -> Vec<&'static ModelInfo> {
    FAMILIES.iter().flat_map(|f| f.iter()).collect()
}

/// The names of every registered model.
pub fn model_names() -> Vec<&'static str> {
    list_models().into_iter().map(|m| m.name).collect()
}

/// The entry of `name`; [`Error::Unknown`] listing the valid names otherwise.
pub fn model_info(name: &str) -> Result<&'static ModelInfo> {
    list_models().into_iter().find(|m| m.name == name).ok_or_else(|| Error::unknown("model", name, &model_names()))
}

/// Builds model `name` at `p` (torchvision's `get_model(name, **kwargs)`), initialised as
/// torchvision initialises it; an option the model does not have is refused, listing those it
/// has.
pub fn create_model(name: &str, p: &Path, options: &Options) -> Result<Box<dyn Model>> {
    let info = model_info(name)?;
    options.check(name, info.options)?;
    (info.build)(p, options)
}

/// Builds model `name` as torchvision's builder does when given `weights=w`: with the options
/// the weights imply (the user's own options win) and the weights' number of classes (a
/// different `num_classes` is refused, as torchvision refuses it).
pub fn create_model_for_weights(name: &str, p: &Path, options: &Options, w: &Weights) -> Result<Box<dyn Model>> {
    let n = w.categories().len() as i64;
    if let Some(k) = options.num_classes.filter(|k| *k != n) {
        return Err(Error::InvalidArgument(format!(
            "{name} with weights {}: num_classes {k} conflicts with the weights' {n} categories",
            w.name
        )));
    }
    let mut o = options.clone().num_classes(n);
    for (k, v) in w.overrides {
        if o.get::<String>(k)?.is_none() {
            o = o.set(k, v);
        }
    }
    create_model(name, p, &o)
}

/// The published weights `name` of `arch`: `imagenet1k_v1`, `IMAGENET1K_V2`, or `default`
/// (case-insensitive).
pub fn lookup_weights(arch: &str, name: &str) -> Result<&'static Weights> {
    let of_arch = model_info(arch)?.weights;
    if of_arch.is_empty() {
        let archs: Vec<&str> = list_models().into_iter().filter(|m| !m.weights.is_empty()).map(|m| m.name).collect();
        return Err(Error::unknown("architecture with published weights", arch, &archs));
    }
    let found = if name.eq_ignore_ascii_case("default") {
        of_arch.iter().find(|w| w.default)
    } else {
        of_arch.iter().find(|w| w.name.eq_ignore_ascii_case(name))
    };
    found.ok_or_else(|| {
        let mut names: Vec<String> = of_arch.iter().map(|w| w.name.to_ascii_lowercase()).collect();
        names.push("default".into());
        Error::unknown("weights", format!("{arch}:{name}"), &names)
    })
}

/// Every published weight of every registered model.
pub fn all_weights() -> Vec<&'static Weights> {
    list_models().into_iter().flat_map(|m| m.weights.iter()).collect()
}
