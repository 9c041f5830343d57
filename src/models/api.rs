//! The interface every model family implements and the registry lists: [`Model`],
//! [`ModelInfo`] (one registry entry), [`Options`] (torchvision's builder keyword arguments) and
//! [`Task`]. Families import this file; it imports no family (the registry, which lists the
//! families, sits above them: [`crate::registry`]).

use std::collections::BTreeMap;
use tch::{nn::Path, Tensor};

use crate::error::{Error, Result};
use crate::models::features::{FeatureInfo, NodeOutputs};
use crate::models::weights::Weights;
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

/// What a model of the registry is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    /// Image classification: the output is `[N, num_classes]` logits.
    Classification,
    /// Object detection (YOLO-v1: a `[N, S, S, B·5 + C]` grid).
    Detection,
}

/// The options of a builder: `num_classes` and the family's own keyword arguments
/// (`width_mult=0.75`, `zero_init_residual=true`, `replace_stride_with_dilation=false,true,true`),
/// as the CLI's `--option key=value` gives them. Each family lists the options it has
/// ([`ModelInfo::options`]); [`crate::registry::create_model`] refuses any other, listing those
/// it has, and the family parses each value with [`Options::get`] (a wrong type is an error
/// naming the option).
///
/// ```
/// use tchvision::models::api::Options;
/// let o = Options::default().num_classes(10).set("width_mult", 0.5).parse("dropout=0.1")?;
/// assert_eq!(o.get::<f64>("width_mult")?, Some(0.5));
/// assert_eq!(o.get::<f64>("dropout")?, Some(0.1));
/// assert!(o.check("mobilenet_v2", &["width_mult"]).is_err()); // dropout is not listed
/// # Ok::<(), tchvision::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Options {
    /// Outputs of the classifier (`num_classes`); `None` keeps the model's default.
    pub num_classes: Option<i64>,
    values: BTreeMap<String, String>,
}

impl Options {
    /// Sets `num_classes`.
    pub fn num_classes(mut self, n: i64) -> Self {
        self.num_classes = Some(n);
        self
    }

    /// Sets option `key` to `value` (formatted with `Display`; lists as `a,b,c`).
    pub fn set(mut self, key: &str, value: impl std::fmt::Display) -> Self {
        self.values.insert(key.to_string(), value.to_string());
        self
    }

    /// Adds a `key=value` option as the CLI gives it; `num_classes=N` sets
    /// [`Options::num_classes`].
    pub fn parse(mut self, kv: &str) -> Result<Self> {
        let Some((k, v)) = kv.split_once('=') else {
            return Err(Error::InvalidArgument(format!("option `{kv}`: expected key=value")));
        };
        let (k, v) = (k.trim(), v.trim());
        if k == "num_classes" {
            let n = i64::parse_opt(v).filter(|n| *n > 0).ok_or_else(|| {
                Error::InvalidArgument(format!("option num_classes: expected a positive integer, got `{v}`"))
            })?;
            self.num_classes = Some(n);
            return Ok(self);
        }
        Ok(self.set(k, v))
    }

    /// The keys set, besides `num_classes`.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }

    /// Refuses options `model` does not have (`known`), naming them and listing those it has.
    pub fn check(&self, model: &str, known: &[&str]) -> Result<()> {
        let unknown: Vec<&str> = self.keys().filter(|k| !known.contains(k)).collect();
        if unknown.is_empty() {
            return Ok(());
        }
        let mut has: Vec<&str> = vec!["num_classes"];
        has.extend_from_slice(known);
        Err(Error::InvalidArgument(format!(
            "{model} has no option {}; its options are: {}",
            unknown.join(", "),
            has.join(", ")
        )))
    }

    /// The value of option `key` parsed as `T`; `None` when it was not given.
    pub fn get<T: OptionValue>(&self, key: &str) -> Result<Option<T>> {
        match self.values.get(key) {
            None => Ok(None),
            Some(v) => T::parse_opt(v)
                .map(Some)
                .ok_or_else(|| Error::InvalidArgument(format!("option {key}: expected {}, got `{v}`", T::WHAT))),
        }
    }

    /// Overwrites `field` with option `key` when it was given (`o.apply("dropout", &mut
    /// cfg.dropout)?`).
    pub fn apply<T: OptionValue>(&self, key: &str, field: &mut T) -> Result<()> {
        if let Some(v) = self.get(key)? {
            *field = v;
        }
        Ok(())
    }
}

/// A type an option value parses into.
pub trait OptionValue: Sized {
    /// What it is, in words, for errors.
    const WHAT: &'static str;
    /// Parses the value; `None` when it is not one.
    fn parse_opt(s: &str) -> Option<Self>;
}

impl OptionValue for i64 {
    const WHAT: &'static str = "an integer";
    fn parse_opt(s: &str) -> Option<Self> {
        s.trim().parse().ok()
    }
}
impl OptionValue for f64 {
    const WHAT: &'static str = "a number";
    fn parse_opt(s: &str) -> Option<Self> {
        s.trim().parse().ok().filter(|v: &f64| v.is_finite())
    }
}
impl OptionValue for bool {
    const WHAT: &'static str = "true or false";
    fn parse_opt(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Some(true),
            "false" | "0" | "no" => Some(false),
            _ => None,
        }
    }
}
impl OptionValue for String {
    const WHAT: &'static str = "a string";
    fn parse_opt(s: &str) -> Option<Self> {
        Some(s.to_string())
    }
}
impl<T: OptionValue> OptionValue for Vec<T> {
    const WHAT: &'static str = "a comma-separated list";
    fn parse_opt(s: &str) -> Option<Self> {
        let s = s.trim().trim_start_matches('[').trim_end_matches(']');
        if s.trim().is_empty() {
            return Some(Vec::new());
        }
        s.split(',').map(T::parse_opt).collect()
    }
}
impl<T: OptionValue + Copy, const N: usize> OptionValue for [T; N] {
    const WHAT: &'static str = "a comma-separated list of the right length";
    fn parse_opt(s: &str) -> Option<Self> {
        Vec::<T>::parse_opt(s)?.try_into().ok()
    }
}

/// A builder of the registry: the model at `p` with `options` (already checked against
/// [`ModelInfo::options`]).
pub type BuildFn = fn(&Path, &Options) -> Result<Box<dyn Model>>;

/// One entry of the registry, declared by its family next to its builder.
#[derive(Clone, Copy)]
pub struct ModelInfo {
    /// The torchvision name (`resnet50`).
    pub name: &'static str,
    /// The family (`resnet`), which names the file it lives in.
    pub family: &'static str,
    /// What it is for.
    pub task: Task,
    /// The input size `[H, W]` it is usually run at.
    pub default_input: [i64; 2],
    /// Classes when `num_classes` is not given.
    pub num_classes: i64,
    /// Parameters of the default configuration (torchvision's `num_params`).
    pub num_params: i64,
    /// The options its builder takes besides `num_classes`.
    pub options: &'static [&'static str],
    /// Its published weights (torchvision's `Weights` enum).
    pub weights: &'static [Weights],
    /// Builds it.
    pub build: BuildFn,
}

impl ModelInfo {
    /// A classifier taking `[3, 224, 224]` input, with 1000 classes and no published weights:
    /// set the rest with struct update syntax.
    pub const fn classifier(name: &'static str, family: &'static str, num_params: i64, build: BuildFn) -> Self {
        ModelInfo {
            name,
            family,
            task: Task::Classification,
            default_input: [224, 224],
            num_classes: 1000,
            num_params,
            options: &[],
            weights: &[],
            build,
        }
    }
}

impl std::fmt::Debug for ModelInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelInfo")
            .field("name", &self.name)
            .field("family", &self.family)
            .field("task", &self.task)
            .field("default_input", &self.default_input)
            .field("num_classes", &self.num_classes)
            .field("num_params", &self.num_params)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}
