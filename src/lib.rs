//! # tchvision
//!
//! PyTorch-style vision networks on libtorch through [`tch`]: module trees that name their
//! parameters exactly as PyTorch does, layers that behave exactly like `torch.nn`'s, weight
//! initialisation with `torch.nn.init`'s formulas, and the networks of the tutorial it grew from.
//!
//! * [`nn`]: the module tree and the layers.
//! * [`ops`]: the blocks families share (`torchvision.ops.misc`).
//! * [`registry`]: every model by torchvision name.
//! * [`init`]: `torch.nn.init` and the tutorial's init recipes.
//! * [`models`]: networks: the tutorial's, torchvision's ResNet family, YOLO-v1; the registry,
//!   feature extraction and published weights.
//! * [`checkpoint`]: `.pth` (every `torch.save` format) and safetensors, read and written;
//!   partial loading with a report.
//! * [`detection`]: YOLO-v1 decoding, NMS, loss and drawing.
//! * [`imageio`]: images in and out, torchvision's ImageNet preprocessing.
//! * [`infer`]: the inference fast path (frozen TorchScript, fp32/bf16/fp16) and TorchScript
//!   export for serving.
//! * [`runtime`]: devices, and CUDA for crates that link tchvision.
//! * [`error`]: the typed errors every fallible call returns.
#![warn(missing_docs)]

pub mod checkpoint;
pub mod detection;
pub mod error;
pub mod imageio;
pub mod infer;
pub mod init;
pub mod models;
pub mod nn;
pub mod ops;
pub mod registry;
pub mod runtime;

pub use error::{Error, Result};
