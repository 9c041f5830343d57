//! The tutorial's initialisation recipes, each a few lines on [`ModuleExt::apply`].
//!
//! Apply one to a whole model or to any submodule (`recipes::weights_init_kaiming(&net.conv_layer1)`),
//! as the seed's `self.conv_layer1.apply(weights_init_kaiming)`.
//!
//! [`ModuleExt::apply`]: crate::nn::ModuleExt::apply
use super::*;
use crate::nn::{Module, ModuleExt, ModuleKind};

/// The seed's `_initialize_weights` (as in torchvision's VGG of old): Conv2d
/// N(0, 2/n) with n = kh·kw·out_channels, bias 0; BatchNorm2d weight 1, bias 0; Linear
/// N(0, 0.01²), bias 0. Visits the modules as its `for m in self.modules()` loop does.
pub fn initialize_weights<M: Module + ?Sized>(model: &M) -> Result<()> {
    for_each_module(model, |m| {
        match m.kind() {
            ModuleKind::Conv2d => {
                if let Some(mut w) = m.parameter("weight") {
                    let s = w.size();
                    let n = s[2] * s[3] * s[0];
                    normal_(&mut w, 0.0, (2.0 / n as f64).sqrt())?;
                }
                if let Some(mut b) = m.parameter("bias") {
                    zeros_(&mut b)?;
                }
            }
            ModuleKind::BatchNorm2d => affine_reset(m, 1.0)?,
            ModuleKind::Linear => {
                if let Some(mut w) = m.parameter("weight") {
                    normal_(&mut w, 0.0, 0.01)?;
                }
                if let Some(mut b) = m.parameter("bias") {
                    zeros_(&mut b)?;
                }
            }
            _ => {}
        }
        Ok(())
    })
}

/// torchvision's ResNet init: Conv2d kaiming_normal(mode fan_out, relu); BatchNorm2d and
/// GroupNorm weight 1, bias 0. Visits the modules as its `for m in self.modules()` loop does.
pub fn kaiming_fan_out<M: Module + ?Sized>(model: &M) -> Result<()> {
    for_each_module(model, |m| {
        match m.kind() {
            ModuleKind::Conv2d => {
                if let Some(mut w) = m.parameter("weight") {
                    kaiming_normal_(&mut w, FanMode::FanOut, Nonlinearity::Relu)?;
                }
            }
            ModuleKind::BatchNorm2d | ModuleKind::GroupNorm => affine_reset(m, 1.0)?,
            _ => {}
        }
        Ok(())
    })
}

/// The seed's `weights_init_kaiming`, dispatching on the class name as it does
/// (`classname.find('Conv')`): Conv: kaiming_normal(a=0, fan_in); Linear:
/// kaiming_normal(a=0, fan_out), bias 0; BatchNorm2d: weight N(1, 0.02²), bias 0.
pub fn weights_init_kaiming<M: Module + ?Sized>(model: &M) -> Result<()> {
    model.apply(|_, m| {
        let name = m.kind().name();
        if name.contains("Conv") {
            if let Some(mut w) = m.parameter("weight") {
                kaiming_normal_(&mut w, FanMode::FanIn, Nonlinearity::LeakyRelu(0.0))?;
            }
        } else if name.contains("Linear") {
            if let Some(mut w) = m.parameter("weight") {
                kaiming_normal_(&mut w, FanMode::FanOut, Nonlinearity::LeakyRelu(0.0))?;
            }
            if let Some(mut b) = m.parameter("bias") {
                zeros_(&mut b)?;
            }
        } else if name.contains("BatchNorm2d") {
            if let Some(mut w) = m.parameter("weight") {
                normal_(&mut w, 1.0, 0.02)?;
            }
            if let Some(mut b) = m.parameter("bias") {
                zeros_(&mut b)?;
            }
        }
        Ok(())
    })
}

/// The seed's `weights_init_classifier`: Linear weight N(0, 0.001²), bias 0.
pub fn weights_init_classifier<M: Module + ?Sized>(model: &M) -> Result<()> {
    model.apply(|_, m| {
        if m.kind().name().contains("Linear") {
            if let Some(mut w) = m.parameter("weight") {
                normal_(&mut w, 0.0, 0.001)?;
            }
            if let Some(mut b) = m.parameter("bias") {
                zeros_(&mut b)?;
            }
        }
        Ok(())
    })
}

/// `for m in model.modules(): f(m)` (pre-order, the parent before its children), with
/// gradients off; [`ModuleExt::apply`] is `model.apply(f)` (children first).
fn for_each_module<M, F>(model: &M, mut f: F) -> Result<()>
where
    M: Module + ?Sized,
    F: FnMut(&dyn Module) -> Result<()>,
{
    let _guard = tch::no_grad_guard();
    for (_, m) in model.named_modules() {
        f(m)?;
    }
    Ok(())
}

fn affine_reset(m: &dyn Module, weight: f64) -> Result<()> {
    if let Some(mut w) = m.parameter("weight") {
        constant_(&mut w, weight)?;
    }
    if let Some(mut b) = m.parameter("bias") {
        zeros_(&mut b)?;
    }
    Ok(())
}
