//! torchvision's Inception-v3 (Szegedy et al. 2016, "Rethinking the Inception Architecture for
//! Computer Vision"), as `torchvision/models/inception.py` builds it (`Inception3`).
//!
//! * The module tree is torchvision's: `Conv2d_1a_3x3` … `Conv2d_4a_3x3` and two max pools, then
//!   `Mixed_5b`…`Mixed_7c` ([`InceptionA`]…[`InceptionE`]), the auxiliary head `AuxLogits`
//!   (registered after `Mixed_6e`, as torchvision registers it) when `aux_logits`, `avgpool`,
//!   `dropout`, `fc`. Every convolution is a [`BasicConv2d`] (no bias, BatchNorm eps 0.001).
//! * Any input of at least 75×75 runs in evaluation; the auxiliary head, which runs in training
//!   mode, needs a `Mixed_6e` map of at least 17×17 (an input of at least 299×299), as in
//!   torchvision. Smaller inputs are refused with an error saying so.
//! * `transform_input`, the training-mode auxiliary output ([`Inception3::forward_outputs`]) and
//!   `init_weights` are as GoogLeNet's ([`crate::models::googlenet`]); the truncated normal's
//!   std is 0.1, and 0.001 for `AuxLogits.fc` (torchvision's `stddev` attribute; the one it sets
//!   on `AuxLogits.conv1` sits on the BasicConv2d, not on its Conv2d, so that conv gets 0.1).
//! * Built from the published weights by name: `transform_input=True` (unless given), auxiliary
//!   head kept (the file has it; with `aux_logits=false` its keys are dropped), as torchvision's
//!   builder; built without them, the plain `Inception3()`.

use tch::{nn::Path, Tensor};

use crate::error::{Error, Result};
use crate::models::api::{Model, ModelInfo, Options};
use crate::models::features::FeatureInfo;
pub use crate::models::googlenet::BasicConv2d;
use crate::models::googlenet::{init_trunc_normal, training, transform_input};
use crate::models::weights::Weights;
use crate::nn::*;

fn conv(p: &Path, name: &str, cin: i64, cout: i64, k: i64) -> Result<BasicConv2d> {
    BasicConv2d::square(&(p / name), cin, cout, k, 0)
}
fn conv_pad(p: &Path, name: &str, cin: i64, cout: i64, k: i64, pad: i64) -> Result<BasicConv2d> {
    BasicConv2d::square(&(p / name), cin, cout, k, pad)
}
fn conv_s2(p: &Path, name: &str, cin: i64, cout: i64) -> Result<BasicConv2d> {
    BasicConv2d::new(&(p / name), cin, cout, 3, Conv2dConfig::default().stride(2))
}
/// A 1×7 (`wide`) or 7×1 BasicConv2d with "same" padding (and 1×3 / 3×1 for `k = 3`).
fn conv_1xk(p: &Path, name: &str, cin: i64, cout: i64, k: i64, wide: bool) -> Result<BasicConv2d> {
    let (kernel, pad) = if wide { ([1, k], [0, k / 2]) } else { ([k, 1], [k / 2, 0]) };
    BasicConv2d::new(&(p / name), cin, cout, kernel, Conv2dConfig::default().padding(pad))
}
fn avg_pool_3x3(c: &mut Ctx, x: &Tensor) -> Result<Tensor> {
    c.op("avg_pool2d", x, || x.f_avg_pool2d([3, 3], [1, 1], [1, 1], false, true, None))
}
fn max_pool_3x3_s2(c: &mut Ctx, x: &Tensor) -> Result<Tensor> {
    c.op("max_pool2d", x, || x.f_max_pool2d([3, 3], [2, 2], [0, 0], [1, 1], false))
}

/// torchvision's `InceptionA` (35×35 grid): 1×1 | 1×1→5×5 | 1×1→3×3→3×3 | avg pool→1×1.
#[derive(Debug)]
#[allow(missing_docs)] // named as torchvision's attributes
pub struct InceptionA {
    pub branch1x1: BasicConv2d,
    pub branch5x5_1: BasicConv2d,
    pub branch5x5_2: BasicConv2d,
    pub branch3x3dbl_1: BasicConv2d,
    pub branch3x3dbl_2: BasicConv2d,
    pub branch3x3dbl_3: BasicConv2d,
    pub branch_pool: BasicConv2d,
}
crate::module!(
    InceptionA,
    [branch1x1, branch5x5_1, branch5x5_2, branch3x3dbl_1, branch3x3dbl_2, branch3x3dbl_3, branch_pool]
);

impl InceptionA {
    /// `InceptionA(in_channels, pool_features)`.
    pub fn new(p: &Path, cin: i64, pool_features: i64) -> Result<Self> {
        Ok(InceptionA {
            branch1x1: conv(p, "branch1x1", cin, 64, 1)?,
            branch5x5_1: conv(p, "branch5x5_1", cin, 48, 1)?,
            branch5x5_2: conv_pad(p, "branch5x5_2", 48, 64, 5, 2)?,
            branch3x3dbl_1: conv(p, "branch3x3dbl_1", cin, 64, 1)?,
            branch3x3dbl_2: conv_pad(p, "branch3x3dbl_2", 64, 96, 3, 1)?,
            branch3x3dbl_3: conv_pad(p, "branch3x3dbl_3", 96, 96, 3, 1)?,
            branch_pool: conv(p, "branch_pool", cin, pool_features, 1)?,
        })
    }

    fn forward(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        let b1 = c.call(&self.branch1x1, x)?;
        let b5 = c.chain(&[&self.branch5x5_1, &self.branch5x5_2], x)?;
        let b3 = c.chain(&[&self.branch3x3dbl_1, &self.branch3x3dbl_2, &self.branch3x3dbl_3], x)?;
        let bp = avg_pool_3x3(c, x)?;
        let bp = c.call(&self.branch_pool, &bp)?;
        c.cat(&[b1, b5, b3, bp], 1)
    }
}

/// torchvision's `InceptionB` (35→17 reduction): 3×3/2 | 1×1→3×3→3×3/2 | max pool/2.
#[derive(Debug)]
#[allow(missing_docs)]
pub struct InceptionB {
    pub branch3x3: BasicConv2d,
    pub branch3x3dbl_1: BasicConv2d,
    pub branch3x3dbl_2: BasicConv2d,
    pub branch3x3dbl_3: BasicConv2d,
}
crate::module!(InceptionB, [branch3x3, branch3x3dbl_1, branch3x3dbl_2, branch3x3dbl_3]);

impl InceptionB {
    /// `InceptionB(in_channels)`.
    pub fn new(p: &Path, cin: i64) -> Result<Self> {
        Ok(InceptionB {
            branch3x3: conv_s2(p, "branch3x3", cin, 384)?,
            branch3x3dbl_1: conv(p, "branch3x3dbl_1", cin, 64, 1)?,
            branch3x3dbl_2: conv_pad(p, "branch3x3dbl_2", 64, 96, 3, 1)?,
            branch3x3dbl_3: conv_s2(p, "branch3x3dbl_3", 96, 96)?,
        })
    }

    fn forward(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        let b3 = c.call(&self.branch3x3, x)?;
        let bd = c.chain(&[&self.branch3x3dbl_1, &self.branch3x3dbl_2, &self.branch3x3dbl_3], x)?;
        let bp = max_pool_3x3_s2(c, x)?;
        c.cat(&[b3, bd, bp], 1)
    }
}

/// torchvision's `InceptionC` (17×17 grid, factorised 7×7): 1×1 | 1×1→1×7→7×1 |
/// 1×1→7×1→1×7→7×1→1×7 | avg pool→1×1.
#[derive(Debug)]
#[allow(missing_docs)]
pub struct InceptionC {
    pub branch1x1: BasicConv2d,
    pub branch7x7_1: BasicConv2d,
    pub branch7x7_2: BasicConv2d,
    pub branch7x7_3: BasicConv2d,
    pub branch7x7dbl_1: BasicConv2d,
    pub branch7x7dbl_2: BasicConv2d,
    pub branch7x7dbl_3: BasicConv2d,
    pub branch7x7dbl_4: BasicConv2d,
    pub branch7x7dbl_5: BasicConv2d,
    pub branch_pool: BasicConv2d,
}
crate::module!(
    InceptionC,
    [
        branch1x1,
        branch7x7_1,
        branch7x7_2,
        branch7x7_3,
        branch7x7dbl_1,
        branch7x7dbl_2,
        branch7x7dbl_3,
        branch7x7dbl_4,
        branch7x7dbl_5,
        branch_pool
    ]
);

impl InceptionC {
    /// `InceptionC(in_channels, channels_7x7)`.
    pub fn new(p: &Path, cin: i64, c7: i64) -> Result<Self> {
        Ok(InceptionC {
            branch1x1: conv(p, "branch1x1", cin, 192, 1)?,
            branch7x7_1: conv(p, "branch7x7_1", cin, c7, 1)?,
            branch7x7_2: conv_1xk(p, "branch7x7_2", c7, c7, 7, true)?,
            branch7x7_3: conv_1xk(p, "branch7x7_3", c7, 192, 7, false)?,
            branch7x7dbl_1: conv(p, "branch7x7dbl_1", cin, c7, 1)?,
            branch7x7dbl_2: conv_1xk(p, "branch7x7dbl_2", c7, c7, 7, false)?,
            branch7x7dbl_3: conv_1xk(p, "branch7x7dbl_3", c7, c7, 7, true)?,
            branch7x7dbl_4: conv_1xk(p, "branch7x7dbl_4", c7, c7, 7, false)?,
            branch7x7dbl_5: conv_1xk(p, "branch7x7dbl_5", c7, 192, 7, true)?,
            branch_pool: conv(p, "branch_pool", cin, 192, 1)?,
        })
    }

    fn forward(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        let b1 = c.call(&self.branch1x1, x)?;
        let b7 = c.chain(&[&self.branch7x7_1, &self.branch7x7_2, &self.branch7x7_3], x)?;
        let bd = c.chain(
            &[
                &self.branch7x7dbl_1,
                &self.branch7x7dbl_2,
                &self.branch7x7dbl_3,
                &self.branch7x7dbl_4,
                &self.branch7x7dbl_5,
            ],
            x,
        )?;
        let bp = avg_pool_3x3(c, x)?;
        let bp = c.call(&self.branch_pool, &bp)?;
        c.cat(&[b1, b7, bd, bp], 1)
    }
}

/// torchvision's `InceptionD` (17→8 reduction): 1×1→3×3/2 | 1×1→1×7→7×1→3×3/2 | max pool/2.
#[derive(Debug)]
#[allow(missing_docs)]
pub struct InceptionD {
    pub branch3x3_1: BasicConv2d,
    pub branch3x3_2: BasicConv2d,
    pub branch7x7x3_1: BasicConv2d,
    pub branch7x7x3_2: BasicConv2d,
    pub branch7x7x3_3: BasicConv2d,
    pub branch7x7x3_4: BasicConv2d,
}
crate::module!(InceptionD, [branch3x3_1, branch3x3_2, branch7x7x3_1, branch7x7x3_2, branch7x7x3_3, branch7x7x3_4]);

impl InceptionD {
    /// `InceptionD(in_channels)`.
    pub fn new(p: &Path, cin: i64) -> Result<Self> {
        Ok(InceptionD {
            branch3x3_1: conv(p, "branch3x3_1", cin, 192, 1)?,
            branch3x3_2: conv_s2(p, "branch3x3_2", 192, 320)?,
            branch7x7x3_1: conv(p, "branch7x7x3_1", cin, 192, 1)?,
            branch7x7x3_2: conv_1xk(p, "branch7x7x3_2", 192, 192, 7, true)?,
            branch7x7x3_3: conv_1xk(p, "branch7x7x3_3", 192, 192, 7, false)?,
            branch7x7x3_4: conv_s2(p, "branch7x7x3_4", 192, 192)?,
        })
    }

    fn forward(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        let b3 = c.chain(&[&self.branch3x3_1, &self.branch3x3_2], x)?;
        let b7 = c.chain(&[&self.branch7x7x3_1, &self.branch7x7x3_2, &self.branch7x7x3_3, &self.branch7x7x3_4], x)?;
        let bp = max_pool_3x3_s2(c, x)?;
        c.cat(&[b3, b7, bp], 1)
    }
}

/// torchvision's `InceptionE` (8×8 grid, expanded filter banks): 1×1 | 1×1→(1×3 ‖ 3×1) |
/// 1×1→3×3→(1×3 ‖ 3×1) | avg pool→1×1.
#[derive(Debug)]
#[allow(missing_docs)]
pub struct InceptionE {
    pub branch1x1: BasicConv2d,
    pub branch3x3_1: BasicConv2d,
    pub branch3x3_2a: BasicConv2d,
    pub branch3x3_2b: BasicConv2d,
    pub branch3x3dbl_1: BasicConv2d,
    pub branch3x3dbl_2: BasicConv2d,
    pub branch3x3dbl_3a: BasicConv2d,
    pub branch3x3dbl_3b: BasicConv2d,
    pub branch_pool: BasicConv2d,
}
crate::module!(
    InceptionE,
    [
        branch1x1,
        branch3x3_1,
        branch3x3_2a,
        branch3x3_2b,
        branch3x3dbl_1,
        branch3x3dbl_2,
        branch3x3dbl_3a,
        branch3x3dbl_3b,
        branch_pool
    ]
);

impl InceptionE {
    /// `InceptionE(in_channels)`.
    pub fn new(p: &Path, cin: i64) -> Result<Self> {
        Ok(InceptionE {
            branch1x1: conv(p, "branch1x1", cin, 320, 1)?,
            branch3x3_1: conv(p, "branch3x3_1", cin, 384, 1)?,
            branch3x3_2a: conv_1xk(p, "branch3x3_2a", 384, 384, 3, true)?,
            branch3x3_2b: conv_1xk(p, "branch3x3_2b", 384, 384, 3, false)?,
            branch3x3dbl_1: conv(p, "branch3x3dbl_1", cin, 448, 1)?,
            branch3x3dbl_2: conv_pad(p, "branch3x3dbl_2", 448, 384, 3, 1)?,
            branch3x3dbl_3a: conv_1xk(p, "branch3x3dbl_3a", 384, 384, 3, true)?,
            branch3x3dbl_3b: conv_1xk(p, "branch3x3dbl_3b", 384, 384, 3, false)?,
            branch_pool: conv(p, "branch_pool", cin, 192, 1)?,
        })
    }

    fn forward(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        let b1 = c.call(&self.branch1x1, x)?;
        let b3 = c.call(&self.branch3x3_1, x)?;
        let b3 = [c.call(&self.branch3x3_2a, &b3)?, c.call(&self.branch3x3_2b, &b3)?];
        let b3 = c.cat(&b3, 1)?;
        let bd = c.chain(&[&self.branch3x3dbl_1, &self.branch3x3dbl_2], x)?;
        let bd = [c.call(&self.branch3x3dbl_3a, &bd)?, c.call(&self.branch3x3dbl_3b, &bd)?];
        let bd = c.cat(&bd, 1)?;
        let bp = avg_pool_3x3(c, x)?;
        let bp = c.call(&self.branch_pool, &bp)?;
        c.cat(&[b1, b3, bd, bp], 1)
    }
}

/// torchvision's Inception-v3 `InceptionAux`: avg pool 5×5/3 → 1×1 (128) → 5×5 (768) →
/// adaptive average pool → flatten → `fc`.
#[derive(Debug)]
pub struct InceptionAux {
    /// 1×1 to 128 channels.
    pub conv0: BasicConv2d,
    /// 5×5 to 768 channels.
    pub conv1: BasicConv2d,
    /// 768 → num_classes.
    pub fc: Linear,
}
crate::module!(InceptionAux, [conv0, conv1, fc]);

impl InceptionAux {
    /// `InceptionAux(in_channels, num_classes)`.
    pub fn new(p: &Path, cin: i64, num_classes: i64) -> Result<Self> {
        Ok(InceptionAux {
            conv0: conv(p, "conv0", cin, 128, 1)?,
            conv1: conv(p, "conv1", 128, 768, 5)?,
            fc: Linear::new(&(p / "fc"), 768, num_classes)?,
        })
    }

    fn forward(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        let (h, w) = (x.size()[2], x.size()[3]);
        if h < 17 || w < 17 {
            return Err(Error::InputShape {
                path: c.path().to_string(),
                kind: "InceptionAux",
                expected: "a Mixed_6e map of at least 17×17 (an input of at least 299×299) in training mode".into(),
                actual: x.size(),
            });
        }
        let x = c.op("avg_pool2d", x, || x.f_avg_pool2d([5, 5], [3, 3], [0, 0], false, true, None))?;
        let x = c.chain(&[&self.conv0, &self.conv1], &x)?;
        let x = c.op("adaptive_avg_pool2d", &x, || x.f_adaptive_avg_pool2d([1, 1]))?;
        let x = c.flatten(&x, 1)?;
        c.call(&self.fc, &x)
    }
}

/// An Inception-v3 configuration: the arguments of torchvision's `Inception3(...)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Inception3Config {
    /// Outputs of `fc` and of the auxiliary head.
    pub num_classes: i64,
    /// Build `AuxLogits`.
    pub aux_logits: bool,
    /// Renormalise the input as GoogLeNet's `transform_input`.
    pub transform_input: bool,
    /// torchvision's truncated-normal initialisation (else the layers' defaults).
    pub init_weights: bool,
    /// Dropout before `fc`.
    pub dropout: f64,
}

impl Default for Inception3Config {
    /// torchvision's defaults: 1000 classes, auxiliary head, no input transform, `init_weights`
    /// on, dropout 0.5.
    fn default() -> Self {
        Inception3Config {
            num_classes: 1000,
            aux_logits: true,
            transform_input: false,
            init_weights: true,
            dropout: 0.5,
        }
    }
}

/// What Inception-v3's forward gives in training mode (torchvision's `InceptionOutputs`).
#[derive(Debug)]
pub struct InceptionOutputs {
    /// The main logits.
    pub logits: Tensor,
    /// `AuxLogits`' logits (training with the auxiliary head only).
    pub aux_logits: Option<Tensor>,
}

/// torchvision's `Inception3`.
#[derive(Debug)]
#[allow(non_snake_case, missing_docs)] // torchvision's attribute names
pub struct Inception3 {
    pub Conv2d_1a_3x3: BasicConv2d,
    pub Conv2d_2a_3x3: BasicConv2d,
    pub Conv2d_2b_3x3: BasicConv2d,
    pub maxpool1: MaxPool2d,
    pub Conv2d_3b_1x1: BasicConv2d,
    pub Conv2d_4a_3x3: BasicConv2d,
    pub maxpool2: MaxPool2d,
    pub Mixed_5b: InceptionA,
    pub Mixed_5c: InceptionA,
    pub Mixed_5d: InceptionA,
    pub Mixed_6a: InceptionB,
    pub Mixed_6b: InceptionC,
    pub Mixed_6c: InceptionC,
    pub Mixed_6d: InceptionC,
    pub Mixed_6e: InceptionC,
    pub AuxLogits: Option<InceptionAux>,
    pub Mixed_7a: InceptionD,
    pub Mixed_7b: InceptionE,
    pub Mixed_7c: InceptionE,
    pub avgpool: AdaptiveAvgPool2d,
    pub dropout: Dropout,
    pub fc: Linear,
    /// The configuration it was built from.
    pub config: Inception3Config,
}
crate::module!(
    Inception3,
    [
        Conv2d_1a_3x3,
        Conv2d_2a_3x3,
        Conv2d_2b_3x3,
        maxpool1,
        Conv2d_3b_1x1,
        Conv2d_4a_3x3,
        maxpool2,
        Mixed_5b,
        Mixed_5c,
        Mixed_5d,
        Mixed_6a,
        Mixed_6b,
        Mixed_6c,
        Mixed_6d,
        Mixed_6e,
        AuxLogits?,
        Mixed_7a,
        Mixed_7b,
        Mixed_7c,
        avgpool,
        dropout,
        fc
    ]
);

impl Inception3 {
    /// Builds the network of `cfg` at `p` and initialises it as torchvision does.
    pub fn new(p: &Path, cfg: &Inception3Config) -> Result<Self> {
        if cfg.num_classes < 0 {
            return Err(Error::InvalidArgument(format!(
                "Inception3: num_classes must be non-negative, got {}",
                cfg.num_classes
            )));
        }
        let pool = |name: &str| MaxPool2d::new(&(p / name), 3, PoolConfig::default().stride(2));
        let net = Inception3 {
            Conv2d_1a_3x3: conv_s2(p, "Conv2d_1a_3x3", 3, 32)?,
            Conv2d_2a_3x3: conv(p, "Conv2d_2a_3x3", 32, 32, 3)?,
            Conv2d_2b_3x3: conv_pad(p, "Conv2d_2b_3x3", 32, 64, 3, 1)?,
            maxpool1: pool("maxpool1")?,
            Conv2d_3b_1x1: conv(p, "Conv2d_3b_1x1", 64, 80, 1)?,
            Conv2d_4a_3x3: conv(p, "Conv2d_4a_3x3", 80, 192, 3)?,
            maxpool2: pool("maxpool2")?,
            Mixed_5b: InceptionA::new(&(p / "Mixed_5b"), 192, 32)?,
            Mixed_5c: InceptionA::new(&(p / "Mixed_5c"), 256, 64)?,
            Mixed_5d: InceptionA::new(&(p / "Mixed_5d"), 288, 64)?,
            Mixed_6a: InceptionB::new(&(p / "Mixed_6a"), 288)?,
            Mixed_6b: InceptionC::new(&(p / "Mixed_6b"), 768, 128)?,
            Mixed_6c: InceptionC::new(&(p / "Mixed_6c"), 768, 160)?,
            Mixed_6d: InceptionC::new(&(p / "Mixed_6d"), 768, 160)?,
            Mixed_6e: InceptionC::new(&(p / "Mixed_6e"), 768, 192)?,
            AuxLogits: cfg
                .aux_logits
                .then(|| InceptionAux::new(&(p / "AuxLogits"), 768, cfg.num_classes))
                .transpose()?,
            Mixed_7a: InceptionD::new(&(p / "Mixed_7a"), 768)?,
            Mixed_7b: InceptionE::new(&(p / "Mixed_7b"), 1280)?,
            Mixed_7c: InceptionE::new(&(p / "Mixed_7c"), 2048)?,
            avgpool: AdaptiveAvgPool2d::new(&(p / "avgpool"), 1)?,
            dropout: Dropout::new(&(p / "dropout"), cfg.dropout)?,
            fc: Linear::new(&(p / "fc"), 2048, cfg.num_classes)?,
            config: *cfg,
        };
        if cfg.init_weights {
            init_trunc_normal(&net, |path| if path == "AuxLogits.fc" { 0.001 } else { 0.1 })?;
        }
        Ok(net)
    }

    fn trunk(&self, x: &Tensor, c: &mut Ctx, aux: bool) -> Result<(Tensor, Option<Tensor>)> {
        if x.dim() != 4 || x.size()[2] < 75 || x.size()[3] < 75 {
            return Err(Error::InputShape {
                path: c.path().to_string(),
                kind: "Inception3",
                expected: "[N, 3, H, W] with H and W at least 75".into(),
                actual: x.size(),
            });
        }
        let x = if self.config.transform_input { transform_input(c, x)? } else { x.shallow_clone() };
        let x = c.chain(
            &[
                &self.Conv2d_1a_3x3,
                &self.Conv2d_2a_3x3,
                &self.Conv2d_2b_3x3,
                &self.maxpool1,
                &self.Conv2d_3b_1x1,
                &self.Conv2d_4a_3x3,
                &self.maxpool2,
                &self.Mixed_5b,
                &self.Mixed_5c,
                &self.Mixed_5d,
                &self.Mixed_6a,
                &self.Mixed_6b,
                &self.Mixed_6c,
                &self.Mixed_6d,
                &self.Mixed_6e,
            ],
            &x,
        )?;
        let aux = match &self.AuxLogits {
            Some(a) if aux => Some(c.call(a, &x)?),
            _ => None,
        };
        let x = c.chain(&[&self.Mixed_7a, &self.Mixed_7b, &self.Mixed_7c], &x)?;
        Ok((x, aux))
    }

    fn head(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        let x = c.chain(&[&self.avgpool, &self.dropout], x)?;
        let x = c.flatten(&x, 1)?;
        c.call(&self.fc, &x)
    }

    fn outputs(&self, x: &Tensor, c: &mut Ctx) -> Result<InceptionOutputs> {
        let aux = training(c, &self.Conv2d_1a_3x3.bn);
        let (x, aux_logits) = self.trunk(x, c, aux)?;
        Ok(InceptionOutputs { logits: self.head(&x, c)?, aux_logits })
    }

    fn forward(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        Ok(self.outputs(x, c)?.logits)
    }

    /// The forward with the auxiliary logits (torchvision's `InceptionOutputs` in training
    /// mode); `train = false` forces evaluation (no auxiliary logits).
    pub fn forward_outputs(&self, xs: &Tensor, train: bool) -> Result<InceptionOutputs> {
        Ctx::run(self, train, |c| self.outputs(xs, c))
    }
}

impl Model for Inception3 {
    fn forward_features(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        Ctx::run(self, train, |c| Ok(self.trunk(xs, c, false)?.0))
    }
    fn forward_head(&self, features: &Tensor, train: bool) -> Result<Tensor> {
        Ctx::run(self, train, |c| self.head(features, c))
    }
    fn feature_info(&self) -> Vec<FeatureInfo> {
        vec![
            FeatureInfo::new(64, 2, "Conv2d_2b_3x3"),
            FeatureInfo::new(192, 4, "Conv2d_4a_3x3"),
            FeatureInfo::new(288, 8, "Mixed_5d"),
            FeatureInfo::new(768, 16, "Mixed_6e"),
            FeatureInfo::new(2048, 32, "Mixed_7c"),
        ]
    }
    fn num_classes(&self) -> i64 {
        self.config.num_classes
    }
}

fn build(p: &Path, o: &Options) -> Result<Box<dyn Model>> {
    let mut cfg = Inception3Config::default();
    cfg.num_classes = o.num_classes.unwrap_or(cfg.num_classes);
    o.apply("aux_logits", &mut cfg.aux_logits)?;
    o.apply("transform_input", &mut cfg.transform_input)?;
    o.apply("init_weights", &mut cfg.init_weights)?;
    o.apply("dropout", &mut cfg.dropout)?;
    Ok(Box::new(Inception3::new(p, &cfg)?))
}

/// The family's registry entry.
pub const MODELS: &[ModelInfo] = &[ModelInfo {
    options: &["aux_logits", "transform_input", "init_weights", "dropout"],
    weights: INCEPTION_V3_WEIGHTS,
    default_input: [299, 299],
    ..ModelInfo::classifier("inception_v3", "inception", 27161264, build)
}];

/// torchvision's `Inception_V3_Weights`. Its builder, given weights, builds with
/// `transform_input=True` (unless given) and `init_weights=False`, loads the file (which has
/// `AuxLogits`) and drops the head only when `aux_logits=False` was asked for.
const INCEPTION_V3_WEIGHTS: &[Weights] = &[Weights::imagenet(
    "inception_v3",
    "IMAGENET1K_V1",
    "inception_v3_google-0cc3c7bd.pth",
    27161264,
    [77.294, 93.45],
    5.713,
    103.903,
    [342, 299],
)
.default()
.overrides(&[("transform_input", "true"), ("init_weights", "false")])
.drop(&[r"^AuxLogits\."])];
