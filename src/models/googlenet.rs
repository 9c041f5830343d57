//! torchvision's GoogLeNet (Szegedy et al. 2015, "Going Deeper with Convolutions", Inception
//! v1), as `torchvision/models/googlenet.py` builds it, and the `BasicConv2d` it shares with
//! Inception-v3.
//!
//! * The module tree is torchvision's: `conv1`, `maxpool1`, `conv2`, `conv3`, `maxpool2`,
//!   `inception3a`…`inception5b` with the max pools between them, the auxiliary heads `aux1` and
//!   `aux2` when `aux_logits`, then `avgpool`, `dropout`, `fc`. Each [`Inception`] block has
//!   `branch1` (a [`BasicConv2d`]) and `branch2`…`branch4` (Sequentials); its "5×5" branch uses
//!   a 3×3 kernel, as torchvision's (pytorch/vision#906).
//! * `transform_input` maps an input normalised with ImageNet's statistics to the (x − 0.5)/0.5
//!   normalisation the ported weights expect, channel by channel, as torchvision does.
//! * In training mode (with `aux_logits`) the auxiliary heads run after `inception4a` and
//!   `inception4d`, updating their norms and drawing their dropout as torch does;
//!   [`GoogLeNet::forward_outputs`] returns them. The module's forward, like torchvision's in
//!   eval mode, returns the logits only.
//! * `init_weights` (the default) is torchvision's: every Conv2d and Linear weight
//!   `trunc_normal_(std 0.01, a −2, b 2)`, BatchNorm weight 1 and bias 0, in `modules()` order.
//! * Built from torchvision's published weights by name, the model follows torchvision's builder
//!   (`transform_input=True`, no auxiliary heads: the file's `aux1`/`aux2` keys are dropped on
//!   load); built without them it is the plain constructor (`GoogLeNet()`: auxiliary heads on,
//!   `transform_input` off), as `models.googlenet()` then `load_state_dict` gives.

use tch::{nn::Path, Tensor};

use crate::error::{Error, Result};
use crate::init;
use crate::models::api::{Model, ModelInfo, Options};
use crate::models::features::FeatureInfo;
use crate::models::weights::Weights;
use crate::nn::*;

/// torchvision's `BasicConv2d` (GoogLeNet and Inception-v3): conv without bias → BatchNorm
/// (eps 0.001) → ReLU.
#[derive(Debug)]
pub struct BasicConv2d {
    /// The convolution.
    pub conv: Conv2d,
    /// BatchNorm2d with eps 0.001.
    pub bn: BatchNorm2d,
}
crate::module!(BasicConv2d, [conv, bn]);

impl BasicConv2d {
    /// `BasicConv2d(cin, cout, kernel_size, **kwargs)`; the config's bias is ignored (always
    /// off).
    pub fn new(p: &Path, cin: i64, cout: i64, kernel: impl Into<Pair>, cfg: Conv2dConfig) -> Result<Self> {
        Ok(BasicConv2d {
            conv: Conv2d::new(&(p / "conv"), cin, cout, kernel, cfg.bias(false))?,
            bn: BatchNorm2d::new(&(p / "bn"), cout, BatchNormConfig { eps: 0.001, ..Default::default() })?,
        })
    }

    /// A `kernel`×`kernel` BasicConv2d with `padding`.
    pub fn square(p: &Path, cin: i64, cout: i64, kernel: i64, padding: i64) -> Result<Self> {
        Self::new(p, cin, cout, kernel, Conv2dConfig::default().padding(padding))
    }

    fn forward(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        let y = c.chain(&[&self.conv, &self.bn], x)?;
        relu(c, y)
    }
}

/// `F.relu(x, inplace=True)` (node `relu`): in place unless nodes are recorded (then the
/// previous node keeps its value).
pub(crate) fn relu(c: &mut Ctx, x: Tensor) -> Result<Tensor> {
    let recording = c.is_recording();
    c.op("relu", &x, || {
        if recording {
            x.f_relu()
        } else {
            let mut x = x.shallow_clone();
            x.f_relu_()
        }
    })
}

/// torchvision's `_transform_input`: each channel `x_c · (std_c / 0.5) + (mean_c − 0.5) / 0.5`
/// (ImageNet's mean and std), node `cat`.
pub(crate) fn transform_input(c: &mut Ctx, x: &Tensor) -> Result<Tensor> {
    const MEAN: [f64; 3] = [0.485, 0.456, 0.406];
    const STD: [f64; 3] = [0.229, 0.224, 0.225];
    if x.dim() != 4 || x.size()[1] != 3 {
        return Err(Error::InputShape {
            path: c.at("transform_input"),
            kind: "transform_input",
            expected: "[N, 3, H, W]".into(),
            actual: x.size(),
        });
    }
    c.op("cat", x, || {
        let chans = (0..3)
            .map(|i| {
                x.f_select(1, i)?
                    .f_unsqueeze(1)?
                    .f_mul_scalar(STD[i as usize] / 0.5)?
                    .f_add_scalar((MEAN[i as usize] - 0.5) / 0.5)
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Tensor::f_cat(&chans, 1)
    })
}

/// The running mode of a model without a flag of its own: training when the pass allows it and
/// `probe` (one of its norms, switched with it by `train()`/`eval()`) is in training mode.
pub(crate) fn training(c: &Ctx, probe: &dyn Module) -> bool {
    c.train && probe.training_flag().is_some_and(|f| f.get())
}

/// torchvision's GoogLeNet `Inception` block: four branches concatenated on channels.
#[derive(Debug)]
pub struct Inception {
    /// 1×1.
    pub branch1: BasicConv2d,
    /// 1×1 → 3×3.
    pub branch2: Sequential,
    /// 1×1 → 3×3 (a 5×5 in the paper).
    pub branch3: Sequential,
    /// 3×3 max pool (stride 1, ceil mode) → 1×1.
    pub branch4: Sequential,
}
crate::module!(Inception, [branch1, branch2, branch3, branch4]);

impl Inception {
    /// `Inception(in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj)`.
    pub fn new(p: &Path, cin: i64, ch: [i64; 6]) -> Result<Self> {
        let [ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj] = ch;
        let pair = |p: Path, red: i64, out: i64| -> Result<Sequential> {
            Ok(Sequential::builder(p)
                .add(|p| BasicConv2d::square(p, cin, red, 1, 0))?
                .add(|p| BasicConv2d::square(p, red, out, 3, 1))?
                .build())
        };
        Ok(Inception {
            branch1: BasicConv2d::square(&(p / "branch1"), cin, ch1x1, 1, 0)?,
            branch2: pair(p / "branch2", ch3x3red, ch3x3)?,
            branch3: pair(p / "branch3", ch5x5red, ch5x5)?,
            branch4: Sequential::builder(p / "branch4")
                .add(|p| MaxPool2d::new(p, 3, PoolConfig::default().stride(1).padding(1).ceil_mode(true)))?
                .add(|p| BasicConv2d::square(p, cin, pool_proj, 1, 0))?
                .build(),
        })
    }

    fn forward(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        let outs = [
            c.call(&self.branch1, x)?,
            c.call(&self.branch2, x)?,
            c.call(&self.branch3, x)?,
            c.call(&self.branch4, x)?,
        ];
        c.cat(&outs, 1)
    }
}

/// torchvision's GoogLeNet `InceptionAux`: adaptive average pool to 4×4 → 1×1 BasicConv2d (128)
/// → flatten → `fc1` (2048 → 1024) → ReLU → dropout → `fc2`.
#[derive(Debug)]
pub struct InceptionAux {
    /// 1×1 BasicConv2d to 128 channels.
    pub conv: BasicConv2d,
    /// 2048 → 1024.
    pub fc1: Linear,
    /// 1024 → num_classes.
    pub fc2: Linear,
    /// Dropout (`dropout_aux`, 0.7 by default).
    pub dropout: Dropout,
}
crate::module!(InceptionAux, [conv, fc1, fc2, dropout]);

impl InceptionAux {
    /// `InceptionAux(in_channels, num_classes, dropout)`.
    pub fn new(p: &Path, cin: i64, num_classes: i64, dropout: f64) -> Result<Self> {
        Ok(InceptionAux {
            conv: BasicConv2d::square(&(p / "conv"), cin, 128, 1, 0)?,
            fc1: Linear::new(&(p / "fc1"), 2048, 1024)?,
            fc2: Linear::new(&(p / "fc2"), 1024, num_classes)?,
            dropout: Dropout::new(&(p / "dropout"), dropout)?,
        })
    }

    fn forward(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        let x = c.op("adaptive_avg_pool2d", x, || x.f_adaptive_avg_pool2d([4, 4]))?;
        let x = c.call(&self.conv, &x)?;
        let x = c.flatten(&x, 1)?;
        let x = c.call(&self.fc1, &x)?;
        let x = relu(c, x)?;
        c.chain(&[&self.dropout, &self.fc2], &x)
    }
}

/// A GoogLeNet configuration: the arguments of torchvision's `GoogLeNet(...)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GoogLeNetConfig {
    /// Outputs of `fc` (and of the auxiliary heads).
    pub num_classes: i64,
    /// Build the auxiliary heads `aux1` and `aux2`.
    pub aux_logits: bool,
    /// Renormalise the input (see the module docs).
    pub transform_input: bool,
    /// torchvision's truncated-normal initialisation (else the layers' defaults).
    pub init_weights: bool,
    /// Dropout before `fc`.
    pub dropout: f64,
    /// Dropout of the auxiliary heads.
    pub dropout_aux: f64,
}

impl Default for GoogLeNetConfig {
    /// torchvision's defaults: 1000 classes, auxiliary heads, no input transform,
    /// `init_weights` on, dropout 0.2 and 0.7.
    fn default() -> Self {
        GoogLeNetConfig {
            num_classes: 1000,
            aux_logits: true,
            transform_input: false,
            init_weights: true,
            dropout: 0.2,
            dropout_aux: 0.7,
        }
    }
}

/// What GoogLeNet's forward gives in training mode (torchvision's `GoogLeNetOutputs`).
#[derive(Debug)]
pub struct GoogLeNetOutputs {
    /// The main logits.
    pub logits: Tensor,
    /// `aux2`'s logits (training with auxiliary heads only).
    pub aux_logits2: Option<Tensor>,
    /// `aux1`'s logits (training with auxiliary heads only).
    pub aux_logits1: Option<Tensor>,
}

/// torchvision's `GoogLeNet`.
#[derive(Debug)]
#[allow(missing_docs)] // the layers are named as torchvision's attributes
pub struct GoogLeNet {
    pub conv1: BasicConv2d,
    pub maxpool1: MaxPool2d,
    pub conv2: BasicConv2d,
    pub conv3: BasicConv2d,
    pub maxpool2: MaxPool2d,
    pub inception3a: Inception,
    pub inception3b: Inception,
    pub maxpool3: MaxPool2d,
    pub inception4a: Inception,
    pub inception4b: Inception,
    pub inception4c: Inception,
    pub inception4d: Inception,
    pub inception4e: Inception,
    pub maxpool4: MaxPool2d,
    pub inception5a: Inception,
    pub inception5b: Inception,
    pub aux1: Option<InceptionAux>,
    pub aux2: Option<InceptionAux>,
    pub avgpool: AdaptiveAvgPool2d,
    pub dropout: Dropout,
    pub fc: Linear,
    /// The configuration it was built from.
    pub config: GoogLeNetConfig,
}
crate::module!(
    GoogLeNet,
    [
        conv1,
        maxpool1,
        conv2,
        conv3,
        maxpool2,
        inception3a,
        inception3b,
        maxpool3,
        inception4a,
        inception4b,
        inception4c,
        inception4d,
        inception4e,
        maxpool4,
        inception5a,
        inception5b,
        aux1?,
        aux2?,
        avgpool,
        dropout,
        fc
    ]
);

impl GoogLeNet {
    /// Builds the network of `cfg` at `p` and initialises it as torchvision does.
    pub fn new(p: &Path, cfg: &GoogLeNetConfig) -> Result<Self> {
        if cfg.num_classes < 0 {
            return Err(Error::InvalidArgument(format!(
                "GoogLeNet: num_classes must be non-negative, got {}",
                cfg.num_classes
            )));
        }
        let pool = |name: &str, k: i64| MaxPool2d::new(&(p / name), k, PoolConfig::default().stride(2).ceil_mode(true));
        let inc = |name: &str, cin: i64, ch: [i64; 6]| Inception::new(&(p / name), cin, ch);
        let n = cfg.num_classes;
        let net = GoogLeNet {
            conv1: BasicConv2d::new(&(p / "conv1"), 3, 64, 7, Conv2dConfig::default().stride(2).padding(3))?,
            maxpool1: pool("maxpool1", 3)?,
            conv2: BasicConv2d::square(&(p / "conv2"), 64, 64, 1, 0)?,
            conv3: BasicConv2d::square(&(p / "conv3"), 64, 192, 3, 1)?,
            maxpool2: pool("maxpool2", 3)?,
            inception3a: inc("inception3a", 192, [64, 96, 128, 16, 32, 32])?,
            inception3b: inc("inception3b", 256, [128, 128, 192, 32, 96, 64])?,
            maxpool3: pool("maxpool3", 3)?,
            inception4a: inc("inception4a", 480, [192, 96, 208, 16, 48, 64])?,
            inception4b: inc("inception4b", 512, [160, 112, 224, 24, 64, 64])?,
            inception4c: inc("inception4c", 512, [128, 128, 256, 24, 64, 64])?,
            inception4d: inc("inception4d", 512, [112, 144, 288, 32, 64, 64])?,
            inception4e: inc("inception4e", 528, [256, 160, 320, 32, 128, 128])?,
            maxpool4: pool("maxpool4", 2)?,
            inception5a: inc("inception5a", 832, [256, 160, 320, 32, 128, 128])?,
            inception5b: inc("inception5b", 832, [384, 192, 384, 48, 128, 128])?,
            aux1: cfg.aux_logits.then(|| InceptionAux::new(&(p / "aux1"), 512, n, cfg.dropout_aux)).transpose()?,
            aux2: cfg.aux_logits.then(|| InceptionAux::new(&(p / "aux2"), 528, n, cfg.dropout_aux)).transpose()?,
            avgpool: AdaptiveAvgPool2d::new(&(p / "avgpool"), 1)?,
            dropout: Dropout::new(&(p / "dropout"), cfg.dropout)?,
            fc: Linear::new(&(p / "fc"), 1024, n)?,
            config: *cfg,
        };
        if cfg.init_weights {
            init_trunc_normal(&net, |_| 0.01)?;
        }
        Ok(net)
    }

    fn trunk(&self, x: &Tensor, c: &mut Ctx, aux: bool) -> Result<(Tensor, Option<Tensor>, Option<Tensor>)> {
        let x = if self.config.transform_input { transform_input(c, x)? } else { x.shallow_clone() };
        let x = c.chain(
            &[
                &self.conv1,
                &self.maxpool1,
                &self.conv2,
                &self.conv3,
                &self.maxpool2,
                &self.inception3a,
                &self.inception3b,
                &self.maxpool3,
                &self.inception4a,
            ],
            &x,
        )?;
        let aux1 = match &self.aux1 {
            Some(a) if aux => Some(c.call(a, &x)?),
            _ => None,
        };
        let x = c.chain(&[&self.inception4b, &self.inception4c, &self.inception4d], &x)?;
        let aux2 = match &self.aux2 {
            Some(a) if aux => Some(c.call(a, &x)?),
            _ => None,
        };
        let x = c.chain(&[&self.inception4e, &self.maxpool4, &self.inception5a, &self.inception5b], &x)?;
        Ok((x, aux2, aux1))
    }

    fn head(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        let x = c.call(&self.avgpool, x)?;
        let x = c.flatten(&x, 1)?;
        c.chain(&[&self.dropout, &self.fc], &x)
    }

    fn outputs(&self, x: &Tensor, c: &mut Ctx) -> Result<GoogLeNetOutputs> {
        let aux = training(c, &self.conv1.bn);
        let (x, aux_logits2, aux_logits1) = self.trunk(x, c, aux)?;
        Ok(GoogLeNetOutputs { logits: self.head(&x, c)?, aux_logits2, aux_logits1 })
    }

    fn forward(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        Ok(self.outputs(x, c)?.logits)
    }

    /// The forward with the auxiliary logits (torchvision's `GoogLeNetOutputs` in training
    /// mode); `train = false` forces evaluation (no auxiliary logits).
    pub fn forward_outputs(&self, xs: &Tensor, train: bool) -> Result<GoogLeNetOutputs> {
        Ctx::run(self, train, |c| self.outputs(xs, c))
    }
}

/// torchvision's `init_weights` of GoogLeNet and Inception-v3: in `modules()` order, every
/// Conv2d and Linear weight `trunc_normal_(0, std(path), −2, 2)`, every BatchNorm2d weight 1 and
/// bias 0.
pub(crate) fn init_trunc_normal(net: &dyn Module, std: impl Fn(&str) -> f64) -> Result<()> {
    let _g = tch::no_grad_guard();
    for (path, m) in net.named_modules() {
        match m.kind() {
            ModuleKind::Conv2d | ModuleKind::Linear => {
                if let Some(mut w) = m.parameter("weight") {
                    init::trunc_normal_(&mut w, 0.0, std(&path), -2.0, 2.0)?;
                }
            }
            ModuleKind::BatchNorm2d => {
                if let (Some(mut w), Some(mut b)) = (m.parameter("weight"), m.parameter("bias")) {
                    init::ones_(&mut w)?;
                    init::zeros_(&mut b)?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

impl Model for GoogLeNet {
    fn forward_features(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        Ctx::run(self, train, |c| Ok(self.trunk(xs, c, false)?.0))
    }
    fn forward_head(&self, features: &Tensor, train: bool) -> Result<Tensor> {
        Ctx::run(self, train, |c| self.head(features, c))
    }
    fn feature_info(&self) -> Vec<FeatureInfo> {
        vec![
            FeatureInfo::new(64, 2, "conv1"),
            FeatureInfo::new(192, 4, "conv3"),
            FeatureInfo::new(480, 8, "inception3b"),
            FeatureInfo::new(832, 16, "inception4e"),
            FeatureInfo::new(1024, 32, "inception5b"),
        ]
    }
    fn num_classes(&self) -> i64 {
        self.config.num_classes
    }
}

fn build(p: &Path, o: &Options) -> Result<Box<dyn Model>> {
    let mut cfg = GoogLeNetConfig::default();
    cfg.num_classes = o.num_classes.unwrap_or(cfg.num_classes);
    o.apply("aux_logits", &mut cfg.aux_logits)?;
    o.apply("transform_input", &mut cfg.transform_input)?;
    o.apply("init_weights", &mut cfg.init_weights)?;
    o.apply("dropout", &mut cfg.dropout)?;
    o.apply("dropout_aux", &mut cfg.dropout_aux)?;
    Ok(Box::new(GoogLeNet::new(p, &cfg)?))
}

/// The family's registry entry.
pub const MODELS: &[ModelInfo] = &[ModelInfo {
    options: &["aux_logits", "transform_input", "init_weights", "dropout", "dropout_aux"],
    weights: GOOGLENET_WEIGHTS,
    ..ModelInfo::classifier("googlenet", "googlenet", 6624904, build)
}];

/// torchvision's `GoogLeNet_Weights`. Its builder, given weights, builds with
/// `transform_input=True` (unless given), loads the file (which has the auxiliary heads) and
/// drops the heads unless `aux_logits=True` was asked for; `init_weights` is off (the file
/// overwrites every weight anyway).
const GOOGLENET_WEIGHTS: &[Weights] = &[Weights::imagenet(
    "googlenet",
    "IMAGENET1K_V1",
    "googlenet-1378be20.pth",
    6624904,
    [69.778, 89.53],
    1.498,
    49.731,
    [256, 224],
)
.default()
.overrides(&[("transform_input", "true"), ("aux_logits", "false"), ("init_weights", "false")])
.drop(&[r"^aux[12]\."])];
