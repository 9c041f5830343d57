//! Checkpoints: PyTorch `.pth` files (zip, legacy and tar formats) and safetensors, read and
//! written in pure Rust; partial loading into a module with a [`LoadReport`].
//!
//! (Being written; see the submodules.)

pub mod load;
pub mod pickle;
pub mod pth;
pub mod safetensors;
pub mod writer;

pub use load::*;
