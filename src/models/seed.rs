//! The tutorial's first network: part of YOLO-v1 (Redmon et al. 2016, "You Only Look Once:
//! Unified, Real-Time Object Detection"), as the seed prints it.
//!
//! The seed's `Yolo_v1(num_class)` has `conv_layer1`, `conv_layer2`, `flatten`, `conn_layer1`
//! and `conn_layer2`, and says "many layers are omitted for simplicity". As printed it does not
//! run: `conv_layer2` ends with 192 channels at a quarter of the input size, while `conn_layer1`
//! expects 7·7·1024 features. We keep every module of the seed with its name, shapes and
//! initialisation, and stand in for the omitted layers with one module, `bridge`, placed between
//! `conv_layer2` and `flatten`: a 1×1 Conv2d 192→1024, BatchNorm2d(1024), LeakyReLU(0.1) and an
//! AdaptiveAvgPool2d to 7×7, which is where the paper's conv layers 3–6 end (1024 channels at
//! 7×7 for a 448×448 input). Any input from 4×4 up then runs. The paper's full detector is
//! [`crate::detection::yolo`].
//!
//! [`YourNet`] is the seed's second network: a resnet50 backbone under the same head.

use tch::{nn::Path, Tensor};

use crate::error::Result;
use crate::init::recipes;
use crate::nn::*;

/// The seed's YOLO-v1 stem, runnable (see the module docs for the `bridge`).
#[derive(Debug)]
#[allow(non_camel_case_types)]
pub struct Yolo_v1 {
    /// Conv 7×7 3→64, BatchNorm, LeakyReLU(0.1), MaxPool 2.
    pub conv_layer1: Sequential,
    /// Conv 3×3 64→192, BatchNorm, LeakyReLU(0.1), MaxPool 2.
    pub conv_layer2: Sequential,
    /// Stand-in for the omitted layers: Conv 1×1 192→1024, BatchNorm, LeakyReLU(0.1),
    /// AdaptiveAvgPool2d(7).
    pub bridge: Sequential,
    /// The seed's `Flatten`.
    pub flatten: Flatten,
    /// Linear 7·7·1024→4096, Dropout(0.5), LeakyReLU(0.1).
    pub conn_layer1: Sequential,
    /// Linear 4096→7·7·(2·5+C).
    pub conn_layer2: Sequential,
    /// C, the number of classes.
    pub num_class: i64,
}

fn conv_block(p: Path<'_>, cin: i64, cout: i64, k: i64) -> Result<SequentialBuilder<'_>> {
    Sequential::builder(p)
        .add(|p| Conv2d::new(p, cin, cout, k, Conv2dConfig::default().padding(k / 2)))?
        .add(|p| BatchNorm2d::new(p, cout, BatchNormConfig::default()))?
        .add(|p| LeakyReLU::new(p, 0.1))
}

/// The seed's fully-connected head: `conn_layer1` (Linear 7·7·1024→4096, Dropout 0.5,
/// LeakyReLU 0.1) and `conn_layer2` (Linear 4096→7·7·(2·5+C)).
fn conn_layers(p: &Path, num_class: i64) -> Result<(Sequential, Sequential)> {
    let conn_layer1 = Sequential::builder(p / "conn_layer1")
        .add(|p| Linear::new(p, 7 * 7 * 1024, 4096))?
        .add(|p| Dropout::new(p, 0.5))?
        .add(|p| LeakyReLU::new(p, 0.1))?
        .build();
    let conn_layer2 =
        Sequential::builder(p / "conn_layer2").add(|p| Linear::new(p, 4096, 7 * 7 * (2 * 5 + num_class)))?.build();
    Ok((conn_layer1, conn_layer2))
}

impl Yolo_v1 {
    /// Builds the network at `p` and applies the seed's `_initialize_weights`
    /// ([`recipes::initialize_weights`]).
    pub fn new(p: &Path, num_class: i64) -> Result<Self> {
        let c = num_class;
        let pool = |p: &Path| MaxPool2d::new(p, 2, PoolConfig::default().stride(2));
        let conv_layer1 = conv_block(p / "conv_layer1", 3, 64, 7)?.add(pool)?.build();
        let conv_layer2 = conv_block(p / "conv_layer2", 64, 192, 3)?.add(pool)?.build();
        let bridge = conv_block(p / "bridge", 192, 1024, 1)?.add(|p| AdaptiveAvgPool2d::new(p, 7))?.build();
        let flatten = Flatten::new(&(p / "flatten"))?;
        let (conn_layer1, conn_layer2) = conn_layers(p, c)?;
        let net = Yolo_v1 { conv_layer1, conv_layer2, bridge, flatten, conn_layer1, conn_layer2, num_class };
        recipes::initialize_weights(&net)?;
        Ok(net)
    }

    /// The seed's feature-map variant: returns `(feature, output)` with `feature` the output of
    /// `conv_layer2`.
    pub fn forward_with_feature(&self, xs: &Tensor, train: bool) -> Result<(Tensor, Tensor)> {
        Ctx::run(self, train, |c| self.forward_both(xs, c))
    }

    fn forward_both(&self, x: &Tensor, c: &mut Ctx) -> Result<(Tensor, Tensor)> {
        let feature = c.chain(&[&self.conv_layer1, &self.conv_layer2], x)?;
        let output = c.chain(&[&self.bridge, &self.flatten, &self.conn_layer1, &self.conn_layer2], &feature)?;
        Ok((feature, output))
    }

    fn forward(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        Ok(self.forward_both(x, c)?.1)
    }
}

crate::module!(Yolo_v1, [conv_layer1, conv_layer2, bridge, flatten, conn_layer1, conn_layer2]);

/// The seed's `YourNet`: a torchvision resnet50 as submodule `resnet50`, then `flatten`,
/// `conn_layer1` (Linear 7·7·1024→4096, Dropout 0.5, LeakyReLU 0.1) and `conn_layer2` (Linear
/// 4096→7·7·(2·5+20)).
///
/// As printed, its shapes don't fit: resnet50's forward ends in 1000 logits, and its last feature
/// map has 2048 channels, while `conn_layer1` wants 7·7·1024 features. We run the backbone up to
/// `layer3` (1024 channels at stride 16) and average-pool that to 7×7 with a parameterless
/// `pool` (AdaptiveAvgPool2d(7)), which gives exactly 7·7·1024 features for any input size. The
/// backbone keeps `layer4` and `fc` (unused in forward), so that a whole resnet50.pth loads into
/// it with the `resnet50.` prefix, as the seed intends.
#[derive(Debug)]
pub struct YourNet {
    /// torchvision's resnet50.
    pub resnet50: crate::models::resnet::ResNet,
    /// AdaptiveAvgPool2d(7) on layer3's output (our addition, parameterless).
    pub pool: AdaptiveAvgPool2d,
    /// The seed's `Flatten`.
    pub flatten: Flatten,
    /// Linear 7·7·1024→4096, Dropout(0.5), LeakyReLU(0.1).
    pub conn_layer1: Sequential,
    /// Linear 4096→7·7·30.
    pub conn_layer2: Sequential,
}

impl YourNet {
    /// Builds the network at `p` (the backbone with torchvision's init, the head with torch's
    /// default init).
    pub fn new(p: &Path) -> Result<Self> {
        let resnet50 =
            crate::models::resnet::ResNet::new(&(p / "resnet50"), &crate::models::resnet::ResNetConfig::resnet50())?;
        let pool = AdaptiveAvgPool2d::new(&(p / "pool"), 7)?;
        let flatten = Flatten::new(&(p / "flatten"))?;
        let (conn_layer1, conn_layer2) = conn_layers(p, 20)?;
        Ok(YourNet { resnet50, pool, flatten, conn_layer1, conn_layer2 })
    }
}

crate::module!(YourNet, [resnet50, pool, flatten, conn_layer1, conn_layer2]);

impl YourNet {
    fn forward(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        let r = &self.resnet50;
        let x =
            c.nested(r, |c| c.chain(&[&r.conv1, &r.bn1, &r.relu, &r.maxpool, &r.layer1, &r.layer2, &r.layer3], x))?;
        c.chain(&[&self.pool, &self.flatten, &self.conn_layer1, &self.conn_layer2], &x)
    }
}
