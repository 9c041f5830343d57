//! Networks built from [`crate::nn`].
//!
//! * [`seed`]: the tutorial's first network (`Flatten` + the YOLO-v1 stem `Yolo_v1`).
//! * [`resnet`]: torchvision's ResNet family.
//! * [`api`]: the interface a family implements ([`api::Model`], [`api::ModelInfo`],
//!   [`api::Options`]); the registry of every model is [`crate::registry`].
//! * [`weights`]: torchvision's published weights, found on disk.
//! * [`features`]: outputs of named nodes in one pass, and per-stage feature info.
//! * [`fpn`]: a Feature Pyramid Network on a backbone's stages.

pub mod api;
pub mod features;
pub mod fpn;
pub mod mobilenetv2;
pub mod mobilenetv3;
pub mod resnet;
pub mod seed;
pub mod weights;
