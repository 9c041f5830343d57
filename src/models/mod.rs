//! Networks built from [`crate::nn`].
//!
//! * [`seed`]: the tutorial's first network (`Flatten` + the YOLO-v1 stem `Yolo_v1`).
//! * [`resnet`]: torchvision's ResNet family.
//!   AlexNet, VGG, SqueezeNet, ShuffleNet V2 and MNASNet families.
//! * [`alexnet`], [`vgg`], [`squeezenet`], [`shufflenetv2`], [`mnasnet`]: torchvision's
//! * [`efficientnet`]: EfficientNet B0–B7 and V2-S/M/L; [`convnext`]: ConvNeXt-T/S/B/L.
//! * [`swin_transformer`]: Swin V1 and V2; [`maxvit`]: MaxViT.
//! * [`vision_transformer`]: torchvision's Vision Transformers (ViT).
//! * [`api`]: the interface a family implements ([`api::Model`], [`api::ModelInfo`],
//!   [`api::Options`]); the registry of every model is [`crate::registry`].
//! * [`weights`]: torchvision's published weights, found on disk.
//! * [`features`]: outputs of named nodes in one pass, and per-stage feature info.
//! * [`fpn`]: a Feature Pyramid Network on a backbone's stages.

pub mod alexnet;
pub mod api;
pub mod convnext;
pub mod densenet;
pub mod efficientnet;
pub mod features;
pub mod fpn;
pub mod googlenet;
pub mod inception;
pub mod maxvit;
pub mod mnasnet;
pub mod mobilenetv2;
pub mod mobilenetv3;
pub mod regnet;
pub mod resnet;
pub mod seed;
pub mod shufflenetv2;
pub mod squeezenet;
pub mod swin_transformer;
pub mod vgg;
pub mod vision_transformer;
pub mod weights;
