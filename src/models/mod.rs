//! Networks built from [`crate::nn`].
//!
//! * [`seed`]: the tutorial's first network (`Flatten` + the YOLO-v1 stem `Yolo_v1`).
//! * [`resnet`]: torchvision's ResNet family.
//! * [`registry`]: every model by torchvision name.
//! * [`weights`]: torchvision's published weights, found on disk.
//! * [`features`]: outputs of named nodes in one pass, and per-stage feature info.
//! * [`yolo`]: YOLO-v1 as in the paper, and on a resnet50 backbone.
//! * [`fpn`]: a Feature Pyramid Network on a backbone's stages.

pub mod features;
pub mod fpn;
pub mod registry;
pub mod resnet;
pub mod seed;
pub mod weights;
pub mod yolo;
