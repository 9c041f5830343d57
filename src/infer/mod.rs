//! The inference fast path: any module of the registry (any [`Module`]) as a frozen,
//! eval-only TorchScript graph that libtorch optimises, in float32, bfloat16 or (on CUDA)
//! float16; and TorchScript export for serving.
//!
//! # How
//!
//! [`Frozen::new`] traces the model's eval-mode forward pass with libtorch's own tracer, into a
//! TorchScript module that mirrors the model's tree (each parameter and buffer registered under
//! its PyTorch name, as `torch.jit.trace(model, x)` builds it), then runs libtorch's
//! `torch::jit::freeze` (parameters inlined as constants; Conv+BatchNorm, Linear+BatchNorm and
//! Conv+Add/Mul folded) and, per precision and device:
//!
//! * on the CPU, one of three forms ([`CpuLayout`]), by default the fastest of them on the
//!   first input ([`CpuLayout::Auto`]: each is built, checked against the plain model's output
//!   and timed; [`Frozen::layout_trials`] keeps the times):
//!   - [`CpuLayout::OneDnn`] (float32): `torch::jit::optimize_for_inference` — convolutions and
//!     linears in oneDNN's blocked layout with prepacked weights, conv+ReLU and conv+add(+ReLU)
//!     fused into them, the activations kept in oneDNN's layout between them;
//!   - [`CpuLayout::OneDnnGraph`] (float32, bfloat16): libtorch's oneDNN Graph fuser (LLGA,
//!     what `torch.jit.enable_onednn_fusion(True)` switches on in Python), which libtorch's
//!     graph executor runs when it optimises the frozen graph after its profiling run: it
//!     compiles convolutions, matmuls, layer norms, softmax and the element-wise work around
//!     them into oneDNN Graph partitions (the shim's pass fuses only while this module warms
//!     up, on its thread: no other TorchScript module of the process is touched);
//!   - [`CpuLayout::ChannelsLast`]: the frozen graph with channels-last constants and input;
//! * bfloat16 (CPU) and float16/bfloat16 (CUDA): every floating constant cast to that type
//!   (after folding, which runs in float32) and made channels-last, the input cast and made
//!   channels-last on entry and the output cast back to float32 — all inside the graph;
//! * CUDA float32: channels-last constants and input, conv+add+ReLU fused by cuDNN.
//! * On CUDA always: cuDNN's benchmark mode picks each convolution's algorithm; and in builds
//!   made with `TCHVISION_CUDA_GRAPHS=1` and CUDA's headers (tch exposes no CUDA graphs; the
//!   shim captures one with libtorch's `at::cuda::CUDAGraph`) the whole forward is captured once
//!   per shape and replayed ([`Frozen::uses_cuda_graph`], [`Frozen::cuda_graph_note`] says why
//!   not).
//!
//! This works for every family because it needs nothing of the model but its forward pass and
//! its [`Module`] tree: no per-layer rewriting in Rust. Each form is a path Python has too
//! (`torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(model, x)))`, or the
//! frozen trace run with `torch.jit.enable_onednn_fusion(True)`), so on the same machine it
//! runs as fast as that, and its correctness rests on libtorch's passes, which PyTorch tests
//! (and on the check against the plain model that [`CpuLayout::Auto`] makes).
//!
//! # Why this way
//!
//! The other route the issue names — rewriting the Rust model's layers to call `to_mkldnn`,
//! `mkldnn_convolution` with reordered weights, `mkldnn_linear` — would have to be written for
//! every layer type and every fusion pattern of every family (~70 models), and tch exposes no
//! fused conv+add+ReLU nor prepacked weights. Folding BatchNorm into the convolution removes a
//! full pass over every activation, which matters most at batch 8; oneDNN's blocked layout
//! avoids the reorders that plain channels-last convolutions pay on CPU, and oneDNN Graph
//! fuses further (layer norm, GELU, attention's matmuls and softmax), which
//! `optimize_for_inference` leaves to aten. Which form wins depends on the model, the batch
//! and the machine: on the project's 2-core machine (AVX-512, AMX) oneDNN Graph was 1.05–1.6×
//! faster than `optimize_for_inference` on resnet50, mobilenet_v3_large, convnext_tiny and
//! vit_b_16 in float32 at batch 8, and in bfloat16 faster on the CNNs and about even on
//! vit_b_16 (either way from run to run) against the plain channels-last bfloat16 graph;
//! `optimize_for_inference` in turn is slower than torchvision's
//! eager model on convnext_tiny and vit_b_16 (its layout conversions around permutes and layer
//! norms). Hence [`CpuLayout::Auto`]: measure on the first input, as cuDNN's benchmark mode
//! does for convolution algorithms (see the README's benchmark table for one run's numbers).
//!
//! # What it holds, what it cannot do
//!
//! * A trace records what ran for one input shape: sizes the Rust code reads into Rust
//!   integers (a `view` to `[n, -1]`) are fixed in the graph. [`Optimized`] therefore keeps one
//!   [`Frozen`] per input shape (a few, least recently used first out); [`Frozen`] refuses any
//!   other shape.
//! * Building a graph costs a few plain forward passes per form (trace, freeze, the passes,
//!   oneDNN's weight layouts and partition compilation, two warm-up and two timed passes each
//!   for [`CpuLayout::Auto`]: about fifteen in all in float32). In float32, [`Optimized`]
//!   answers a shape's first call with the plain model and builds on the second
//!   ([`InferenceOptions::plain_calls`]), so a one-shot job (`tchvision run` on one input) pays
//!   nothing; in bfloat16 (CPU, [`CpuLayout::Auto`]) it answers the first call with the
//!   channels-last form alone, built without the trial, and builds Auto's choice on the second;
//!   float16 (CUDA) builds on the first call.
//! * It is eval-only: dropout off, BatchNorm on running statistics, no autograd.
//! * It is a snapshot: [`Frozen::new`] copies the weights, so loading new weights into the model
//!   afterwards does not change it (build a new one).
//! * It gives the model's output only; the outputs of inner nodes (`forward_nodes`) need the
//!   plain model (the CLI falls back to it, and says so).
//! * Outputs differ from the plain model's by rounding only: in float32 within 1e-4 of the
//!   output's largest magnitude (folding and oneDNN's summation order), in bfloat16 within 2e-2
//!   ([`CpuLayout::Auto`] checks each form on the first input; `tests/infer.rs` checks its
//!   fallbacks on every registry model and every form on one model per family).
//!
//! tch's own tracer (`CModule::create_by_tracing`) is not used: it registers no parameters, so
//! every weight becomes a constant of the graph (tch-rs issue 766 reports traced modules
//! misbehaving after a reload), a module moved with `.to()` keeps its weights where they were,
//! and Python sees an empty `state_dict()`. Our trace goes through the C++ shim
//! (`src/infer/shim.cpp`, built by build.rs against the same libtorch) with the weights
//! registered as the module's attributes, so [`export`]'s files hold each weight once, under
//! torchvision's state-dict key.
//!
//! ```no_run
//! use tch::{nn, Device, Kind, Tensor};
//! use tchvision::infer::{optimize, InferenceOptions, Precision};
//! use tchvision::models::api::Options;
//! use tchvision::nn::ModuleExt;
//! use tchvision::registry::create_model;
//! let vs = nn::VarStore::new(Device::Cpu);
//! let model = create_model("resnet50", &vs.root(), &Options::default())?;
//! model.eval();
//! let fast = optimize(model.as_dyn_module(), &InferenceOptions::default().precision(Precision::Bf16))?;
//! let x = Tensor::randn([8, 3, 224, 224], (Kind::Float, Device::Cpu));
//! let logits = fast.forward(&x)?; // float32 [8, 1000]
//! # Ok::<(), tchvision::Error>(())
//! ```

mod script;

use std::cell::RefCell;
use std::path::Path;

use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use crate::error::{Error, Result, TorchResultExt};
use crate::nn::Module;

pub use script::{cuda_graphs_supported, set_allow_tf32, CudaGraph, ScriptModule};

/// The number type the fast path computes in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// float32, as the plain model.
    #[default]
    Fp32,
    /// bfloat16 (CPU and CUDA): float32's range, 8 bits of mantissa.
    Bf16,
    /// float16 (CUDA only).
    Fp16,
}

impl Precision {
    /// Every precision, by name.
    pub const ALL: [Precision; 3] = [Precision::Fp32, Precision::Bf16, Precision::Fp16];

    /// The tch kind.
    pub fn kind(self) -> Kind {
        match self {
            Precision::Fp32 => Kind::Float,
            Precision::Bf16 => Kind::BFloat16,
            Precision::Fp16 => Kind::Half,
        }
    }

    /// `fp32`, `bf16` or `fp16`.
    pub fn name(self) -> &'static str {
        match self {
            Precision::Fp32 => "fp32",
            Precision::Bf16 => "bf16",
            Precision::Fp16 => "fp16",
        }
    }
}

impl std::str::FromStr for Precision {
    type Err = Error;
    /// A name of [`Precision::name`], or torch's (`float32`, `float`, `bfloat16`, `float16`, `half`).
    fn from_str(s: &str) -> Result<Self> {
        use Precision::*;
        let torch = [("float32", Fp32), ("float", Fp32), ("bfloat16", Bf16), ("float16", Fp16), ("half", Fp16)];
        parse_name("precision", s, Precision::ALL, Precision::name, &torch)
    }
}

/// How the CPU graph is compiled (see the module docs). [`CpuLayout::Auto`], the default,
/// builds the others, checks each on the example input and keeps the fastest.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CpuLayout {
    /// Every form below that applies to the precision, each checked against the plain model on
    /// the example input and timed on it: the fastest of those within the precision's bound
    /// (float32: 1e-4 of the output's largest magnitude; bfloat16: 2e-2) is kept, or, if none
    /// is, the first that built (float32 [`CpuLayout::OneDnn`], bfloat16
    /// [`CpuLayout::ChannelsLast`]; a form whose pass fails on the example input, as oneDNN's
    /// adaptive pool on sizes it does not divide, is skipped). [`Frozen::layout_trials`] says
    /// what each took.
    #[default]
    Auto,
    /// float32: `optimize_for_inference`, oneDNN's blocked layout and prepacked weights.
    /// bfloat16: the same as [`CpuLayout::ChannelsLast`] (oneDNN's passes take float32 only).
    #[serde(rename = "onednn")]
    OneDnn,
    /// The frozen graph fused by libtorch's oneDNN Graph fuser (LLGA, what
    /// `torch.jit.enable_onednn_fusion(True)` turns on): convolutions, matmuls, norms and the
    /// element-wise operations around them compiled into oneDNN Graph partitions. In bfloat16
    /// on the channels-last bfloat16 graph.
    #[serde(rename = "onednn-graph")]
    OneDnnGraph,
    /// The frozen graph with channels-last constants and input (aten's convolutions).
    ChannelsLast,
}

impl CpuLayout {
    /// Every layout, by name.
    pub const ALL: [CpuLayout; 4] =
        [CpuLayout::Auto, CpuLayout::OneDnn, CpuLayout::OneDnnGraph, CpuLayout::ChannelsLast];

    /// `auto`, `onednn`, `onednn-graph` or `channels-last`.
    pub fn name(self) -> &'static str {
        match self {
            CpuLayout::Auto => "auto",
            CpuLayout::OneDnn => "onednn",
            CpuLayout::OneDnnGraph => "onednn-graph",
            CpuLayout::ChannelsLast => "channels-last",
        }
    }

    /// The forms [`CpuLayout::Auto`] tries for `precision`, the fallback first.
    fn candidates(precision: Precision) -> &'static [CpuLayout] {
        match precision {
            Precision::Fp32 => &[CpuLayout::OneDnn, CpuLayout::OneDnnGraph, CpuLayout::ChannelsLast],
            _ => &[CpuLayout::ChannelsLast, CpuLayout::OneDnnGraph],
        }
    }
}

impl std::str::FromStr for CpuLayout {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        parse_name("CPU layout", s, CpuLayout::ALL, CpuLayout::name, &[])
    }
}

macro_rules! display_by_name {
    ($($t:ty),*) => {$(
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }
    )*};
}
display_by_name!(Precision, CpuLayout);

/// The one of `all` whose `name` is `s` (trimmed, in any case, `_` read as `-`), else the value
/// of the alias `s` is; an [`Error::Unknown`] listing `all`'s names otherwise.
fn parse_name<T: Copy, const N: usize>(
    what: &'static str,
    s: &str,
    all: [T; N],
    name: fn(T) -> &'static str,
    aliases: &[(&str, T)],
) -> Result<T> {
    let key = s.trim().to_ascii_lowercase().replace('_', "-");
    all.into_iter()
        .find(|&v| name(v) == key)
        .or_else(|| aliases.iter().find(|(a, _)| *a == key).map(|&(_, v)| v))
        .ok_or_else(|| Error::unknown(what, s, &all.map(name)))
}

/// What [`CpuLayout::Auto`] measured of one form on the example input.
#[derive(Clone, Debug, PartialEq)]
pub struct LayoutTrial {
    /// The form.
    pub layout: CpuLayout,
    /// The fastest of its timed passes, seconds; or why it could not be built or run.
    pub outcome: std::result::Result<f64, String>,
    /// Its output's difference from the plain model's, relative to the latter's largest
    /// magnitude (when it ran and the output is floating).
    pub rel_err: Option<f64>,
}

/// Options of the fast path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InferenceOptions {
    /// The number type (float32 by default).
    pub precision: Precision,
    /// Where to run; `None`: where the model's parameters are.
    pub device: Option<Device>,
    /// On CUDA, capture the forward as a CUDA graph when this build can (default true).
    pub cuda_graph: bool,
    /// How the CPU graph is compiled (float32 and bfloat16).
    pub cpu_layout: CpuLayout,
    /// How many input shapes [`Optimized`] keeps a frozen graph for (default 4).
    pub max_shapes: usize,
    /// How many calls per input shape [`Optimized`] answers before it builds the frozen graph
    /// as the options ask (default 1): in float32 with the plain model (building costs about
    /// fifteen forward passes of it with [`CpuLayout::Auto`]'s trial, which a one-shot job never
    /// earns back, and the plain model's float32 output is what the graph approximates); in
    /// bfloat16 on the CPU with [`CpuLayout::Auto`] with its first form (channels-last) built
    /// without the trial, which the next call replaces by Auto's choice. Otherwise (float16,
    /// bfloat16 with a named layout or on CUDA) the graph is built on the first call.
    pub plain_calls: usize,
}

impl Default for InferenceOptions {
    fn default() -> Self {
        InferenceOptions {
            precision: Precision::Fp32,
            device: None,
            cuda_graph: true,
            cpu_layout: CpuLayout::Auto,
            max_shapes: 4,
            plain_calls: 1,
        }
    }
}

impl InferenceOptions {
    /// Sets the precision.
    pub fn precision(mut self, p: Precision) -> Self {
        self.precision = p;
        self
    }
    /// Sets the device.
    pub fn device(mut self, d: Device) -> Self {
        self.device = Some(d);
        self
    }
    /// Sets [`InferenceOptions::plain_calls`].
    pub fn plain_calls(mut self, n: usize) -> Self {
        self.plain_calls = n;
        self
    }
    /// Turns CUDA-graph capture on or off.
    pub fn cuda_graph(mut self, on: bool) -> Self {
        self.cuda_graph = on;
        self
    }
    /// Sets how the CPU graph is compiled.
    pub fn cpu_layout(mut self, l: CpuLayout) -> Self {
        self.cpu_layout = l;
        self
    }
}

/// The device of a module's first parameter or buffer (CPU for a module without tensors).
pub fn module_device(model: &dyn Module) -> Device {
    use crate::nn::ModuleExt;
    model.state_dict().first().map(|(_, t)| t.device()).unwrap_or(Device::Cpu)
}

fn check_options(options: &InferenceOptions, device: Device) -> Result<()> {
    if options.precision == Precision::Fp16 && !device.is_cuda() {
        return Err(Error::InvalidArgument("precision fp16 runs on CUDA only; on the CPU use bf16 (or fp32)".into()));
    }
    if options.max_shapes == 0 {
        return Err(Error::InvalidArgument("max_shapes must be at least 1".into()));
    }
    Ok(())
}

/// One model frozen for one input shape: a TorchScript graph that libtorch optimised, taking a
/// float32 input of that shape (cast and laid out inside) and returning float32.
#[derive(Debug)]
pub struct Frozen {
    module: ScriptModule,
    input_shape: Vec<i64>,
    device: Device,
    precision: Precision,
    graph: Option<CudaGraph>,
    cuda_graph_note: Option<String>,
    cpu_layout: Option<CpuLayout>,
    fused: bool,
    trials: Vec<LayoutTrial>,
    /// Built by [`Optimized`] for a shape's early calls without [`CpuLayout::Auto`]'s trial;
    /// the call after [`InferenceOptions::plain_calls`] replaces it.
    provisional: bool,
}

/// A CPU form [`Base::build_cpu`] made.
struct Built {
    module: ScriptModule,
    /// Whether oneDNN Graph fused part of it.
    fused: bool,
    /// How many passes on the example input building ran (checks, warm-up).
    passes: usize,
}

/// A model traced and frozen in float32 on one device, before the precision passes.
struct Base {
    frozen: Option<ScriptModule>,
    float_out: [bool; 1],
    x: Tensor,
    /// The plain model's output on `x` (when floating): what each CPU form is checked against.
    y: Option<Tensor>,
    device: Device,
    shares_model_tensors: bool,
}

impl Base {
    fn new(model: &dyn Module, example: &Tensor, device: Device) -> Result<Self> {
        let model_device = module_device(model);
        if device.is_cuda() {
            crate::runtime::ensure_cuda_loaded();
            tch::Cuda::cudnn_set_benchmark(true);
        }
        let x = example.f_to_kind(Kind::Float).ctx("converting the example input")?;
        let x = x.f_to_device(model_device).ctx("moving the example input")?;
        let (traced, y) = ScriptModule::trace_with_output(model, &x)?;
        let float_out = [y.is_floating_point()];
        let y = float_out[0].then_some(y);
        if device != model_device {
            traced.to(device, Kind::Float)?;
        }
        traced.set_training(false)?;
        let frozen = traced.freeze()?;
        Ok(Base { frozen: Some(frozen), float_out, x, y, device, shares_model_tensors: device == model_device })
    }

    /// The frozen module specialised for `options` (consuming the base's module when `last`).
    fn specialise(&mut self, model: &dyn Module, options: &InferenceOptions, last: bool) -> Result<Frozen> {
        let frozen = match (last, &self.frozen) {
            (true, _) => self.frozen.take(),
            (false, Some(f)) => Some(f.deep_clone()?),
            (false, None) => None,
        };
        let frozen = frozen.ok_or_else(|| Error::InvalidArgument("the frozen base was used up".into()))?;
        let device = self.device;
        let (built, cpu_layout, trials) = if device.is_cuda() {
            // float32: frozen, channels-last (cuDNN fuses conv+add+ReLU); float16/bfloat16 cast.
            frozen.cast_frozen(options.precision.kind(), true, &self.float_out)?;
            let x = self.x.f_to_device(device).ctx("moving the example input")?;
            (optimize_checked(frozen, &x, Fallback::Keep)?, None, Vec::new())
        } else if options.cpu_layout == CpuLayout::Auto {
            let (built, layout, trials) = self.choose_cpu(frozen, options.precision)?;
            (built, Some(layout), trials)
        } else {
            let built = self.build_cpu(frozen, options.cpu_layout, options.precision, Fallback::Keep)?;
            (built, Some(options.cpu_layout), Vec::new())
        };
        let Built { module, fused, .. } = built;
        if self.shares_model_tensors {
            // A snapshot: constants the passes left as they were still alias the model's
            // parameters (a Linear without BatchNorm, say).
            use crate::nn::ModuleExt;
            let originals: Vec<Tensor> = model.state_dict().into_iter().map(|(_, t)| t).collect();
            module.unshare_constants(&originals)?;
        }
        let mut out = Frozen {
            module,
            input_shape: self.x.size(),
            device,
            precision: options.precision,
            graph: None,
            cuda_graph_note: None,
            cpu_layout,
            fused,
            trials,
            provisional: false,
        };
        if device.is_cuda() && options.cuda_graph {
            if !cuda_graphs_supported() {
                out.cuda_graph_note = Some(
                    "this build has no CUDA-graph support (build with TCHVISION_CUDA_GRAPHS=1 and CUDA's headers)"
                        .into(),
                );
            } else {
                let xd = self.x.f_to_device(device).ctx("moving the example input")?;
                match CudaGraph::capture(&out.module, &xd) {
                    Ok(g) => out.graph = Some(g),
                    Err(e) => out.cuda_graph_note = Some(format!("CUDA-graph capture failed, running without: {e}")),
                }
            }
        }
        Ok(out)
    }
}

impl Base {
    /// `frozen` (CPU) compiled as `layout` (not [`CpuLayout::Auto`]) for `precision`; where a
    /// pass's result fails on the example input, `fallback` says what happens.
    fn build_cpu(
        &self,
        frozen: ScriptModule,
        layout: CpuLayout,
        precision: Precision,
        fallback: Fallback,
    ) -> Result<Built> {
        let fp32 = precision == Precision::Fp32;
        match layout {
            CpuLayout::OneDnn if fp32 => optimize_checked(frozen, &self.x, fallback),
            CpuLayout::OneDnnGraph => {
                if !fp32 {
                    frozen.cast_frozen(precision.kind(), true, &self.float_out)?;
                }
                onednn_graph_checked(frozen, &self.x, fallback)
            }
            _ => {
                frozen.cast_frozen(precision.kind(), true, &self.float_out)?;
                if fp32 {
                    Ok(Built { module: frozen, fused: false, passes: 0 })
                } else {
                    optimize_checked(frozen, &self.x, fallback)
                }
            }
        }
    }

    /// [`CpuLayout::Auto`]: builds each candidate form from `frozen`, checks its output on the
    /// example input against the plain model's and times it; keeps the fastest of those within
    /// the precision's bound (float32 1e-4, bfloat16 2e-2), or, when none is, the first
    /// candidate that built. A candidate whose pass fails on the example input is a failed
    /// trial (no copy of the weights is kept to fall back on: the other candidates are the
    /// fallback); only when every candidate fails is it an error, the first candidate's.
    /// Returns the form kept, its layout and what each candidate measured.
    fn choose_cpu(&self, frozen: ScriptModule, precision: Precision) -> Result<(Built, CpuLayout, Vec<LayoutTrial>)> {
        let candidates = CpuLayout::candidates(precision);
        let bound = if precision == Precision::Fp32 { 1e-4 } else { 2e-2 };
        let mut frozen = Some(frozen);
        // (within the bound, seconds, form, layout)
        let mut best: Option<(bool, f64, Built, CpuLayout)> = None;
        let mut trials = Vec::new();
        let mut first_error = None;
        for (i, &layout) in candidates.iter().enumerate() {
            let base = match i + 1 == candidates.len() {
                true => frozen.take(),
                false => frozen.as_ref().map(|f| f.deep_clone()).transpose()?,
            };
            let base = base.ok_or_else(|| Error::InvalidArgument("the frozen base was used up".into()))?;
            let outcome = self.build_cpu(base, layout, precision, Fallback::Fail).and_then(|m| {
                // Two untimed passes in all: the executor profiles a graph's first pass and
                // optimises it on the second; building may have run them already.
                let (secs, err) = self.trial(&m.module, 2usize.saturating_sub(m.passes))?;
                Ok((m, secs, err))
            });
            let (m, secs, err) = match outcome {
                Ok(v) => v,
                Err(e) => {
                    trials.push(LayoutTrial { layout, outcome: Err(e.to_string()), rel_err: None });
                    first_error.get_or_insert(e);
                    continue;
                }
            };
            trials.push(LayoutTrial { layout, outcome: Ok(secs), rel_err: err });
            let within = err.is_none_or(|e| e <= bound);
            // Only the first candidate that built is kept outside the bound (if nothing else
            // is within).
            let first_built = trials.iter().filter(|t| t.outcome.is_ok()).count() == 1;
            if !within && !first_built {
                continue;
            }
            let better = match &best {
                None => true,
                Some((w, t, _, _)) => (within && !*w) || (within == *w && secs < *t),
            };
            if better {
                best = Some((within, secs, m, layout));
            }
        }
        let Some((_, _, built, layout)) = best else {
            return Err(first_error.unwrap_or_else(|| Error::InvalidArgument("no CPU form could be built".into())));
        };
        Ok((built, layout, trials))
    }

    /// Runs a built form on the example input: `untimed` passes first (libtorch's executor
    /// profiles a graph's first pass and optimises it on the second), then [`TRIAL_RUNS`] timed
    /// ones. Returns the fastest pass in seconds and the last output's error against the plain
    /// model's (relative to the latter's largest magnitude; none when the output is not floating).
    fn trial(&self, m: &ScriptModule, untimed: usize) -> Result<(f64, Option<f64>)> {
        for _ in 0..untimed {
            let _ = m.forward(&[&self.x])?;
        }
        let mut best = f64::INFINITY;
        let mut out = None;
        for _ in 0..TRIAL_RUNS {
            let t = std::time::Instant::now();
            let y = m.forward(&[&self.x])?;
            best = best.min(t.elapsed().as_secs_f64());
            out = Some(y);
        }
        let err = match (&self.y, out) {
            (Some(want), Some(got)) => Some(rel_err(&got, want)?),
            _ => None,
        };
        Ok((best, err))
    }
}

/// Timed passes per form in [`CpuLayout::Auto`]'s trial (the fastest counts: noise from other
/// processes only ever adds time).
const TRIAL_RUNS: usize = 2;

/// max |got - want| / max |want| (0/0 = 0), in float32.
fn rel_err(got: &Tensor, want: &Tensor) -> Result<f64> {
    let max_abs = |t: &Tensor| t.f_to_kind(Kind::Float)?.f_abs()?.f_max().map(|m| m.double_value(&[]));
    let diff = got.f_to_kind(Kind::Float).and_then(|g| g.f_sub(want)).and_then(|d| max_abs(&d));
    let (diff, scale) = (diff.ctx("comparing outputs")?, max_abs(want).ctx("comparing outputs")?);
    Ok(if diff == 0.0 {
        0.0
    } else if scale == 0.0 {
        f64::INFINITY
    } else {
        diff / scale
    })
}

/// What [`optimize_checked`] and [`onednn_graph_checked`] do where the pass's result fails.
#[derive(Clone, Copy, PartialEq)]
enum Fallback {
    /// Keep the frozen graph as it was before the pass (a copy of its weights is held while
    /// the pass runs).
    Keep,
    /// Return the error (no copy is made).
    Fail,
}

/// The frozen graph warmed up under libtorch's oneDNN Graph fuser
/// ([`ScriptModule::warm_up_onednn_graph`]) on the example input, and whether it fused; where
/// the fused graph fails, `fallback` says what happens.
fn onednn_graph_checked(frozen: ScriptModule, x: &Tensor, fallback: Fallback) -> Result<Built> {
    let kept = if fallback == Fallback::Keep { Some(frozen.deep_clone()?) } else { None };
    const PASSES: usize = 2;
    match (frozen.warm_up_onednn_graph(x, PASSES), kept) {
        (Ok(fused), _) => Ok(Built { module: frozen, fused, passes: PASSES }),
        (Err(_), Some(kept)) => Ok(Built { module: kept, fused: false, passes: 0 }),
        (Err(e), None) => Err(e),
    }
}

/// `optimize_for_inference` of `frozen`, checked on the example input `x`: oneDNN lacks some
/// operations for some shapes (an adaptive average pool whose output size does not divide its
/// input, as AlexNet's and VGG's below 224 pixels), and libtorch's pass does not check; where
/// the optimised graph fails, the frozen graph as it is (still folded and inlined) is kept
/// ([`Fallback::Keep`]) or the error returned ([`Fallback::Fail`]).
fn optimize_checked(frozen: ScriptModule, x: &Tensor, fallback: Fallback) -> Result<Built> {
    // The pass rewrites a frozen module in place: keep a copy to fall back on.
    let kept = if fallback == Fallback::Keep { Some(frozen.deep_clone()?) } else { None };
    let optimized = frozen.optimize_for_inference()?;
    match (optimized.forward(&[x]), kept) {
        (Ok(_), _) => Ok(Built { module: optimized, fused: false, passes: 1 }),
        (Err(_), Some(kept)) => Ok(Built { module: kept, fused: false, passes: 0 }),
        (Err(e), None) => Err(e),
    }
}

impl Frozen {
    /// Traces `model` (eval mode) on an input shaped as `example`, freezes and optimises it
    /// for `options` (see the module docs). `example`'s values only steer the trace; its shape
    /// is the one the result accepts.
    pub fn new(model: &dyn Module, example: &Tensor, options: &InferenceOptions) -> Result<Self> {
        let mut v = Frozen::new_each(model, example, std::slice::from_ref(options))?;
        v.pop().ok_or_else(|| Error::InvalidArgument("no options given".into()))
    }

    /// One [`Frozen`] per entry of `options` (precisions, layouts), tracing and freezing once
    /// per device.
    pub fn new_each(model: &dyn Module, example: &Tensor, options: &[InferenceOptions]) -> Result<Vec<Self>> {
        let mut out: Vec<Option<Frozen>> = options.iter().map(|_| None).collect();
        Frozen::with_each(model, example, options, |i, f| {
            out[i] = Some(f);
            Ok(())
        })?;
        Ok(out.into_iter().flatten().collect())
    }

    /// As [`Frozen::new_each`], handing each form to `f` (with its index in `options`) as soon
    /// as it is built, so that only one is held at a time (besides the traced base).
    pub fn with_each(
        model: &dyn Module,
        example: &Tensor,
        options: &[InferenceOptions],
        mut f: impl FnMut(usize, Frozen) -> Result<()>,
    ) -> Result<()> {
        let model_device = module_device(model);
        let devices: Vec<Device> = options.iter().map(|o| o.device.unwrap_or(model_device)).collect();
        for (o, d) in options.iter().zip(&devices) {
            check_options(o, *d)?;
        }
        let mut done = vec![false; options.len()];
        for (i, d) in devices.iter().enumerate() {
            if done[i] {
                continue;
            }
            let mut base = Base::new(model, example, *d)?;
            let same: Vec<usize> = (i..options.len()).filter(|&j| devices[j] == *d).collect();
            for (k, &j) in same.iter().enumerate() {
                let form = base.specialise(model, &options[j], k + 1 == same.len())?;
                done[j] = true;
                f(j, form)?;
            }
        }
        Ok(())
    }

    /// Runs the frozen graph: `xs` (any float type, any device) must have the shape it was
    /// built for; the output is float32 on the frozen device.
    pub fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        if xs.size() != self.input_shape {
            return Err(Error::InvalidArgument(format!(
                "this frozen model was built for input shape {:?}, got {:?}",
                self.input_shape,
                xs.size()
            )));
        }
        let x = xs.f_to_device(self.device).ctx("moving the input")?;
        let x = if x.kind() == Kind::Float { x } else { x.f_to_kind(Kind::Float).ctx("converting the input")? };
        match &self.graph {
            Some(g) => g.replay(&x),
            None => self.module.forward(&[&x]),
        }
    }

    /// The input shape it accepts.
    pub fn input_shape(&self) -> &[i64] {
        &self.input_shape
    }

    /// Where it runs.
    pub fn device(&self) -> Device {
        self.device
    }

    /// Its precision.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// Whether the forward replays a captured CUDA graph.
    pub fn uses_cuda_graph(&self) -> bool {
        self.graph.is_some()
    }

    /// Why no CUDA graph is used on CUDA, when one was asked for.
    pub fn cuda_graph_note(&self) -> Option<&str> {
        self.cuda_graph_note.as_deref()
    }

    /// On the CPU, the form it was compiled as ([`CpuLayout::Auto`]'s choice where that was
    /// asked for); `None` on CUDA.
    pub fn cpu_layout(&self) -> Option<CpuLayout> {
        self.cpu_layout
    }

    /// Whether libtorch's oneDNN Graph fuser fused part of the graph (only ever with
    /// [`CpuLayout::OneDnnGraph`]).
    pub fn onednn_graph_fused(&self) -> bool {
        self.fused
    }

    /// What [`CpuLayout::Auto`] measured of each form (empty when a form was named).
    pub fn layout_trials(&self) -> &[LayoutTrial] {
        &self.trials
    }

    /// The TorchScript module (to print its graph, or save it).
    pub fn script(&self) -> &ScriptModule {
        &self.module
    }
}

/// The fast form of a model, for any input shape: one [`Frozen`] per shape seen, built on first
/// use (after [`InferenceOptions::plain_calls`] early calls of the shape; later calls only run).
pub struct Optimized<'m> {
    model: &'m dyn Module,
    options: InferenceOptions,
    device: Device,
    cache: RefCell<Vec<Frozen>>,
    /// Calls answered by the plain model, per input shape.
    plain: RefCell<Vec<(Vec<i64>, usize)>>,
}

impl std::fmt::Debug for Optimized<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shapes: Vec<Vec<i64>> = self.cache.borrow().iter().map(|f| f.input_shape.clone()).collect();
        f.debug_struct("Optimized").field("options", &self.options).field("shapes", &shapes).finish_non_exhaustive()
    }
}

/// The inference-optimised form of `model` (see the module docs). Checks the options; the
/// graphs are built on first use per input shape ([`Optimized::prepare`] builds one ahead).
pub fn optimize<'m>(model: &'m dyn Module, options: &InferenceOptions) -> Result<Optimized<'m>> {
    let device = options.device.unwrap_or_else(|| module_device(model));
    check_options(options, device)?;
    if device.is_cuda() && !crate::runtime::ensure_cuda_loaded() {
        return Err(Error::InvalidArgument(format!("device {device:?}: CUDA is not available on this machine")));
    }
    Ok(Optimized {
        model,
        options: options.clone(),
        device,
        cache: RefCell::new(Vec::new()),
        plain: RefCell::new(Vec::new()),
    })
}

impl<'m> Optimized<'m> {
    /// Builds the frozen graph for inputs of `shape` now (skipping the plain calls) and runs
    /// it twice so that libtorch's executor has profiled it.
    pub fn prepare(&self, shape: &[i64]) -> Result<()> {
        let x = Tensor::f_zeros(shape, (Kind::Float, self.device)).ctx("allocating an example input")?;
        {
            let mut cache = self.cache.borrow_mut();
            if !cache.iter().any(|f| f.input_shape == shape && !f.provisional) {
                cache.retain(|f| f.input_shape != shape);
                self.push(&mut cache, Frozen::new(self.model, &x, &self.options)?);
            }
        }
        for _ in 0..2 {
            let _ = self.forward(&x)?;
        }
        Ok(())
    }

    /// The model's output for `xs` (float32, on the fast path's device): from the shape's
    /// frozen graph, built on first use — after [`InferenceOptions::plain_calls`] calls of that
    /// shape answered by the plain model (float32) or a provisional form (bfloat16, see there).
    pub fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let shape = xs.size();
        let mut cache = self.cache.borrow_mut();
        let pos = match cache.iter().position(|f| f.input_shape == shape) {
            Some(p) if !cache[p].provisional || self.count_plain_call(&shape) => p,
            Some(p) => {
                // The provisional form has served its calls: Auto's choice replaces it (built
                // first, so that a failed build leaves it in place).
                cache[p] = Frozen::new(self.model, xs, &self.options)?;
                p
            }
            None => {
                let early = self.count_plain_call(&shape);
                // The form built without Auto's trial for early calls (CPU, bfloat16).
                let untried = (!self.device.is_cuda() && self.options.cpu_layout == CpuLayout::Auto)
                    .then(|| CpuLayout::candidates(self.options.precision)[0]);
                let frozen = match (early, self.options.precision, untried) {
                    (true, Precision::Fp32, _) => {
                        drop(cache);
                        return self.plain_forward(xs);
                    }
                    (true, _, Some(layout)) => {
                        let options = self.options.clone().cpu_layout(layout);
                        Frozen { provisional: true, ..Frozen::new(self.model, xs, &options)? }
                    }
                    _ => Frozen::new(self.model, xs, &self.options)?,
                };
                self.push(&mut cache, frozen)
            }
        };
        // Most recently used last.
        let f = cache.remove(pos);
        let out = f.forward(xs);
        cache.push(f);
        out
    }

    /// Adds a shape's form to the cache (dropping the least recently used one when it is
    /// full); returns its position.
    fn push(&self, cache: &mut Vec<Frozen>, frozen: Frozen) -> usize {
        if cache.len() >= self.options.max_shapes {
            cache.remove(0);
        }
        cache.push(frozen);
        cache.len() - 1
    }

    /// Whether this call of `shape` is still one of its first [`InferenceOptions::plain_calls`]
    /// (and counts it).
    fn count_plain_call(&self, shape: &[i64]) -> bool {
        let mut plain = self.plain.borrow_mut();
        let i = match plain.iter().position(|(s, _)| s == shape) {
            Some(i) => i,
            None => {
                plain.push((shape.to_vec(), 0));
                plain.len() - 1
            }
        };
        if plain[i].1 < self.options.plain_calls {
            plain[i].1 += 1;
            true
        } else {
            false
        }
    }

    fn plain_forward(&self, xs: &Tensor) -> Result<Tensor> {
        let model_device = module_device(self.model);
        let x = xs.f_to_device(model_device).ctx("moving the input")?;
        let x = if x.kind() == Kind::Float { x } else { x.f_to_kind(Kind::Float).ctx("converting the input")? };
        let y = tch::no_grad(|| self.model.try_forward_t(&x, false))?;
        y.f_to_device(self.device).ctx("moving the output")
    }

    /// What [`CpuLayout::Auto`] measured building the graph for inputs of `shape`
    /// ([`Frozen::layout_trials`]; empty for a provisional or named form); `None` before it is
    /// built.
    pub fn layout_trials(&self, shape: &[i64]) -> Option<Vec<LayoutTrial>> {
        self.cache.borrow().iter().find(|f| f.input_shape == shape).map(|f| f.trials.clone())
    }

    /// The CPU form of the graph built for inputs of `shape` ([`Frozen::cpu_layout`]).
    pub fn cpu_layout(&self, shape: &[i64]) -> Option<CpuLayout> {
        self.cache.borrow().iter().find(|f| f.input_shape == shape).and_then(|f| f.cpu_layout)
    }

    /// Whether the frozen graph for inputs of `shape` is built.
    pub fn is_built(&self, shape: &[i64]) -> bool {
        self.cache.borrow().iter().any(|f| f.input_shape == shape)
    }

    /// Its options.
    pub fn options(&self) -> &InferenceOptions {
        &self.options
    }

    /// Where it runs.
    pub fn device(&self) -> Device {
        self.device
    }

    /// Notes about CUDA graphs of the shapes built so far (why one is not used).
    pub fn notes(&self) -> Vec<String> {
        self.cache.borrow().iter().filter_map(|f| f.cuda_graph_note().map(String::from)).collect()
    }
}

/// Options of [`export`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExportOptions {
    /// Freeze and optimise the graph (constants instead of parameters; Conv+BatchNorm folded;
    /// `precision` applied). Without it the file keeps the parameters and buffers under their
    /// state-dict keys, as `torch.jit.trace(model, x)` saves them.
    pub optimize: bool,
    /// With `optimize`: the number type inside (the file still takes and returns float32).
    /// Without `optimize` only float32 is possible.
    pub precision: Precision,
}

/// Traces `model` (eval mode) on `example` and saves it as a TorchScript file that
/// `torch.jit.load` (Python or C++), Triton's PyTorch backend and TorchServe load. Returns the
/// saved module.
pub fn export(model: &dyn Module, example: &Tensor, path: &Path, options: &ExportOptions) -> Result<ScriptModule> {
    if !options.optimize && options.precision != Precision::Fp32 {
        return Err(Error::InvalidArgument(format!(
            "precision {} needs an optimised export (--optimize): the plain export keeps the float32 parameters",
            options.precision
        )));
    }
    let device = module_device(model);
    let x = example.f_to_kind(Kind::Float).ctx("converting the example input")?;
    let x = x.f_to_device(device).ctx("moving the example input")?;
    let (traced, y) = ScriptModule::trace_with_output(model, &x)?;
    let float_out = [y.is_floating_point()];
    traced.set_training(false)?;
    let module = if options.optimize {
        if options.precision == Precision::Fp16 && !device.is_cuda() {
            return Err(Error::InvalidArgument("precision fp16 runs on CUDA only; on the CPU use bf16".into()));
        }
        let frozen = traced.freeze()?;
        if options.precision != Precision::Fp32 || device.is_cuda() {
            frozen.cast_frozen(options.precision.kind(), true, &float_out)?;
        }
        frozen
    } else {
        traced
    };
    save_atomically(&module, path)?;
    Ok(module)
}

/// Saves to a temporary file beside `path` and renames it over `path`, so a failed save
/// leaves an existing file as it was.
fn save_atomically(module: &ScriptModule, path: &Path) -> Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "model.pt".into());
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    if let Err(e) = module.save(&tmp) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, path).map_err(|source| {
        let _ = std::fs::remove_file(&tmp);
        Error::Io { path: path.display().to_string(), source }
    })
}
