//! YOLO-v1 (Redmon, Divvala, Girshick and Farhadi 2016, "You Only Look Once: Unified, Real-Time
//! Object Detection"): the paper's detector built from the crate's layers, in the style of the
//! tutorial's stem ([`crate::models::seed::Yolo_v1`]), and the ResNet-50 variant people train
//! today.
//!
//! # [`YoloV1`]: the paper's network (Figure 3)
//!
//! 24 convolutional layers, each followed by LeakyReLU(0.1), padding `k / 2` ("same"), grouped as
//! the seed groups them into Sequentials `conv_layer1` … `conv_layer6` (the table is
//! [`YOLO_V1_BLOCKS`]):
//!
//! | module        | layers                                                     | out (448 input) |
//! |---------------|------------------------------------------------------------|-----------------|
//! | `conv_layer1` | 7×7/2 64, maxpool 2/2                                      | 64 × 112²       |
//! | `conv_layer2` | 3×3 192, maxpool                                           | 192 × 56²       |
//! | `conv_layer3` | 1×1 128, 3×3 256, 1×1 256, 3×3 512, maxpool                | 512 × 28²       |
//! | `conv_layer4` | 4 × (1×1 256, 3×3 512), 1×1 512, 3×3 1024, maxpool         | 1024 × 14²      |
//! | `conv_layer5` | 2 × (1×1 512, 3×3 1024), 3×3 1024, 3×3/2 1024              | 1024 × 7²       |
//! | `conv_layer6` | 3×3 1024, 3×3 1024                                         | 1024 × 7²       |
//!
//! then `flatten`, `conn_layer1` = Linear(7·7·1024 → 4096), Dropout(0.5), LeakyReLU(0.1), and
//! `conn_layer2` = Linear(4096 → S·S·(B·5 + C)) with a linear output, reshaped to
//! `[N, S, S, B·5 + C]` (the per-cell layout is documented in
//! [`crate::detection::decode`](mod@crate::detection::decode): `[x, y, w, h, confidence] × B`,
//! then C class probabilities). Inside each `conv_layerK` the
//! modules are numbered as in an `nn.Sequential`: conv, (BatchNorm2d,) LeakyReLU, …, MaxPool2d;
//! so the keys are `conv_layer3.0.weight`, `conv_layer3.1.running_mean`, … With
//! [`YoloV1Config::batch_norm`] (the seed's and most reimplementations' choice; the paper has
//! none, BatchNorm came with YOLOv2) a BatchNorm2d follows every convolution; the convolutions
//! keep their bias either way, as in the seed. Weights are initialised by the seed's
//! `_initialize_weights` ([`recipes::initialize_weights`]).
//!
//! S, B, C, the hidden width of the first fully-connected layer (4096), the dropout and the
//! input size are configurable ([`YoloV1Config`]). The convolutions reduce the input 64 times,
//! so the input side must be a multiple of 64 and the fully-connected head takes
//! `(side / 64)² · 1024` features: 7·7·1024 for the paper's 448. Any other input size is refused
//! with an error naming the size the head needs.
//!
//! # [`YoloV1ResNet`]: `yolo_v1_resnet50`
//!
//! A torchvision ResNet-50 as submodule `backbone` (the complete [`ResNet`], `avgpool` and `fc`
//! included though unused, so that a torchvision `resnet50` state dict loads into it with
//! [`LoadOptions::add_prefix`](crate::checkpoint::LoadOptions::add_prefix)`("backbone.")` and no
//! unexpected keys), its `layer4` output (2048 × 14² for a 448 input) going through `neck`: 1×1
//! 2048→1024, 3×3/2 1024→1024 (14² → 7²), 3×3 1024→1024, each without bias and followed by
//! BatchNorm2d and LeakyReLU(0.1); then the same `flatten`, `conn_layer1` and `conn_layer2` as
//! [`YoloV1`]. A strided convolution rather than pooling makes the 7×7 grid, so that the head
//! keeps learnt spatial detail. Its input is normalised with ImageNet's mean and std (the
//! backbone's training), where [`YoloV1`] takes pixels scaled to `[0, 1]` as darknet does
//! ([`YoloDetector::input_normalization`]).

use tch::{nn::Path, Tensor};

use crate::detection::{voc_class_names, YoloLayout};
use crate::error::{Error, Result};
use crate::imageio::{IMAGENET_MEAN, IMAGENET_STD};
use crate::init::recipes;
use crate::models::api::{Model, ModelInfo, Options, Task};
use crate::models::features::FeatureInfo;
use crate::models::resnet::{ResNet, ResNetConfig};
use crate::nn::*;

/// One layer of the paper's convolutional part.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DarknetLayer {
    /// A convolution `kernel × kernel`, `out` channels, `stride`, padding `kernel / 2`, then
    /// (optionally BatchNorm2d and) LeakyReLU(0.1).
    Conv {
        /// Kernel side.
        kernel: i64,
        /// Output channels.
        out: i64,
        /// Stride.
        stride: i64,
    },
    /// Max pooling 2×2, stride 2.
    MaxPool,
}

const fn c(kernel: i64, out: i64) -> DarknetLayer {
    DarknetLayer::Conv { kernel, out, stride: 1 }
}
const M: DarknetLayer = DarknetLayer::MaxPool;

/// The paper's 24 convolutional layers and 4 max pools, as the six Sequentials `conv_layer1` …
/// `conv_layer6` of [`YoloV1`] (see the module docs).
pub const YOLO_V1_BLOCKS: [&[DarknetLayer]; 6] = [
    &[DarknetLayer::Conv { kernel: 7, out: 64, stride: 2 }, M],
    &[c(3, 192), M],
    &[c(1, 128), c(3, 256), c(1, 256), c(3, 512), M],
    &[c(1, 256), c(3, 512), c(1, 256), c(3, 512), c(1, 256), c(3, 512), c(1, 256), c(3, 512), c(1, 512), c(3, 1024), M],
    &[c(1, 512), c(3, 1024), c(1, 512), c(3, 1024), c(3, 1024), DarknetLayer::Conv { kernel: 3, out: 1024, stride: 2 }],
    &[c(3, 1024), c(3, 1024)],
];

/// The configuration of [`YoloV1`] and [`YoloV1ResNet`].
#[derive(Clone, Debug, PartialEq)]
pub struct YoloV1Config {
    /// S: the output grid is S×S (7).
    pub grid_size: i64,
    /// B: boxes per cell (2).
    pub num_boxes: i64,
    /// C: classes (20, PASCAL VOC).
    pub num_classes: i64,
    /// Width of the first fully-connected layer (4096).
    pub hidden: i64,
    /// Dropout after the first fully-connected layer (0.5).
    pub dropout: f64,
    /// A BatchNorm2d after every convolution of [`YoloV1`] (false, as the paper; the
    /// ResNet variant's neck always has them).
    pub batch_norm: bool,
    /// Input side in pixels, a multiple of 64 (448).
    pub input_size: i64,
    /// The network predicts √w, √h (true, the paper's parametrisation).
    pub sqrt_wh: bool,
    /// Class names (`None`: PASCAL VOC's 20 when C = 20, else `class0`, `class1`, …).
    pub class_names: Option<Vec<String>>,
}

impl Default for YoloV1Config {
    fn default() -> Self {
        YoloV1Config::paper()
    }
}

impl YoloV1Config {
    /// The paper's PASCAL VOC detector: S = 7, B = 2, C = 20, 4096 hidden, dropout 0.5, 448×448
    /// input, √w/√h, no BatchNorm.
    pub fn paper() -> Self {
        YoloV1Config {
            grid_size: 7,
            num_boxes: 2,
            num_classes: 20,
            hidden: 4096,
            dropout: 0.5,
            batch_norm: false,
            input_size: 448,
            sqrt_wh: true,
            class_names: None,
        }
    }

    /// The paper's detector with a BatchNorm2d after every convolution (as the seed).
    pub fn paper_bn() -> Self {
        YoloV1Config { batch_norm: true, ..Self::paper() }
    }

    /// Sets S.
    pub fn grid_size(mut self, s: i64) -> Self {
        self.grid_size = s;
        self
    }
    /// Sets B.
    pub fn num_boxes(mut self, b: i64) -> Self {
        self.num_boxes = b;
        self
    }
    /// Sets C (and forgets class names of another count).
    pub fn num_classes(mut self, c: i64) -> Self {
        self.num_classes = c;
        if self.class_names.as_ref().is_some_and(|n| n.len() as i64 != c) {
            self.class_names = None;
        }
        self
    }
    /// Sets the hidden width of the first fully-connected layer.
    pub fn hidden(mut self, h: i64) -> Self {
        self.hidden = h;
        self
    }
    /// Sets the dropout probability.
    pub fn dropout(mut self, p: f64) -> Self {
        self.dropout = p;
        self
    }
    /// With or without BatchNorm2d after each convolution.
    pub fn batch_norm(mut self, bn: bool) -> Self {
        self.batch_norm = bn;
        self
    }
    /// Sets the input side (a multiple of 64).
    pub fn input_size(mut self, side: i64) -> Self {
        self.input_size = side;
        self
    }
    /// Whether the network predicts √w, √h.
    pub fn sqrt_wh(mut self, s: bool) -> Self {
        self.sqrt_wh = s;
        self
    }
    /// Sets the class names (and C to their count).
    pub fn class_names(mut self, names: Vec<String>) -> Self {
        self.num_classes = names.len() as i64;
        self.class_names = Some(names);
        self
    }

    /// The output layout (S, B, C, √w/√h).
    pub fn layout(&self) -> YoloLayout {
        YoloLayout {
            grid_size: self.grid_size,
            num_boxes: self.num_boxes,
            num_classes: self.num_classes,
            sqrt_wh: self.sqrt_wh,
        }
    }

    /// Side of the last feature map: `input_size / 64` (7).
    pub fn feature_size(&self) -> i64 {
        self.input_size / 64
    }

    /// Inputs of the first fully-connected layer: `feature_size² · 1024` (50176).
    pub fn fc_in_features(&self) -> i64 {
        self.feature_size() * self.feature_size() * 1024
    }

    /// The class names: the configured ones, VOC's when C = 20, else `class0`, `class1`, ….
    pub fn names(&self) -> Vec<String> {
        match &self.class_names {
            Some(n) => n.clone(),
            None if self.num_classes == 20 => voc_class_names(),
            None => (0..self.num_classes).map(|i| format!("class{i}")).collect(),
        }
    }

    /// Refuses sizes that cannot build.
    pub fn validate(&self) -> Result<()> {
        self.layout().validate()?;
        let bad = |m: String| Err(Error::InvalidArgument(format!("YOLO-v1 config: {m}")));
        if self.hidden <= 0 {
            return bad(format!("hidden must be positive, got {}", self.hidden));
        }
        if self.input_size < 64 || self.input_size % 64 != 0 {
            return bad(format!(
                "input_size must be a positive multiple of 64 (the network reduces its input 64 times), got {}",
                self.input_size
            ));
        }
        if !(0.0..=1.0).contains(&self.dropout) {
            return bad(format!("dropout must be in [0, 1], got {}", self.dropout));
        }
        if let Some(n) = &self.class_names {
            if n.len() as i64 != self.num_classes {
                return bad(format!("{} class names for {} classes", n.len(), self.num_classes));
            }
        }
        Ok(())
    }
}

/// What [`crate::detection::detect_images`] needs to know about a YOLO-v1 network besides its
/// forward pass.
pub trait YoloDetector: Model {
    /// The output layout.
    fn layout(&self) -> YoloLayout;
    /// The input side in pixels (the network takes `[N, 3, side, side]`).
    fn input_size(&self) -> i64;
    /// The names of the C classes.
    fn class_names(&self) -> Vec<String>;
    /// The per-channel `(mean, std)` applied to pixels scaled to `[0, 1]`, or `None` to use the
    /// scaled pixels as they are.
    fn input_normalization(&self) -> Option<([f64; 3], [f64; 3])>;
}

fn conv_unit<'a>(
    b: SequentialBuilder<'a>,
    cin: i64,
    cout: i64,
    k: i64,
    stride: i64,
    batch_norm: bool,
    bias: bool,
) -> Result<SequentialBuilder<'a>> {
    let cfg = Conv2dConfig::default().stride(stride).padding(k / 2).bias(bias);
    let mut b = b.add(|p| Conv2d::new(p, cin, cout, k, cfg))?;
    if batch_norm {
        b = b.add(|p| BatchNorm2d::new(p, cout, BatchNormConfig::default()))?;
    }
    b.add(|p| LeakyReLU::new(p, 0.1))
}

/// `flatten`, `conn_layer1` and `conn_layer2`, shared by both networks.
fn head_layers(p: &Path, cfg: &YoloV1Config) -> Result<(Flatten, Sequential, Sequential)> {
    let flatten = Flatten::new(&(p / "flatten"))?;
    let conn_layer1 = Sequential::builder(p / "conn_layer1")
        .add(|p| Linear::new(p, cfg.fc_in_features(), cfg.hidden))?
        .add(|p| Dropout::new(p, cfg.dropout))?
        .add(|p| LeakyReLU::new(p, 0.1))?
        .build();
    let conn_layer2 =
        Sequential::builder(p / "conn_layer2").add(|p| Linear::new(p, cfg.hidden, cfg.layout().output_len()))?.build();
    Ok((flatten, conn_layer1, conn_layer2))
}

/// Runs the head `[flatten, conn_layer1, conn_layer2]` and reshapes to `[N, S, S, B·5 + C]`.
fn run_head(
    c: &mut Ctx,
    layers: [&dyn Module; 3],
    cfg: &YoloV1Config,
    x: &Tensor,
    kind: &'static str,
) -> Result<Tensor> {
    check_features(c.path(), kind, cfg, x)?;
    let x = c.chain(&layers, x)?;
    let (s, d) = (cfg.grid_size, cfg.layout().cell_len());
    c.op("reshape", &x, || x.f_reshape([-1, s, s, d]))
}

/// Checks `[N, 3, side, side]`.
fn check_input(path: &str, kind: &'static str, cfg: &YoloV1Config, xs: &Tensor) -> Result<()> {
    let size = xs.size();
    let side = cfg.input_size;
    if size.len() != 4 || size[1] != 3 || size[2] != side || size[3] != side {
        let f = cfg.feature_size();
        return Err(Error::InputShape {
            path: path.to_string(),
            kind,
            expected: format!(
                "[N, 3, {side}, {side}]: a {side}×{side} RGB input (the fully-connected head takes {f}×{f}×1024 features, which only a {side}×{side} input gives)"
            ),
            actual: size,
        });
    }
    Ok(())
}

/// Checks the feature map `[N, 1024, f, f]` entering the head.
fn check_features(path: &str, kind: &'static str, cfg: &YoloV1Config, x: &Tensor) -> Result<()> {
    let size = x.size();
    let f = cfg.feature_size();
    if size.len() != 4 || size[1..] != [1024, f, f] {
        let side = cfg.input_size;
        return Err(Error::InputShape {
            path: path.to_string(),
            kind,
            expected: format!(
                "features [N, 1024, {f}, {f}] for the fully-connected head (the output of a {side}×{side} input)"
            ),
            actual: size,
        });
    }
    Ok(())
}

/// The paper's YOLO-v1 (see the module docs).
#[derive(Debug)]
pub struct YoloV1 {
    /// 7×7/2 64, maxpool.
    pub conv_layer1: Sequential,
    /// 3×3 192, maxpool.
    pub conv_layer2: Sequential,
    /// 1×1 128, 3×3 256, 1×1 256, 3×3 512, maxpool.
    pub conv_layer3: Sequential,
    /// 4 × (1×1 256, 3×3 512), 1×1 512, 3×3 1024, maxpool.
    pub conv_layer4: Sequential,
    /// 2 × (1×1 512, 3×3 1024), 3×3 1024, 3×3/2 1024.
    pub conv_layer5: Sequential,
    /// 3×3 1024, 3×3 1024.
    pub conv_layer6: Sequential,
    /// Flatten.
    pub flatten: Flatten,
    /// Linear(f·f·1024 → hidden), Dropout, LeakyReLU(0.1).
    pub conn_layer1: Sequential,
    /// Linear(hidden → S·S·(B·5 + C)).
    pub conn_layer2: Sequential,
    /// The configuration.
    pub config: YoloV1Config,
}
crate::module!(
    YoloV1,
    [conv_layer1, conv_layer2, conv_layer3, conv_layer4, conv_layer5, conv_layer6, flatten, conn_layer1, conn_layer2]
);

impl YoloV1 {
    /// Builds the network of `cfg` at `p` and applies the seed's `_initialize_weights`.
    pub fn new(p: &Path, cfg: &YoloV1Config) -> Result<Self> {
        cfg.validate()?;
        let mut cin = 3;
        let mut blocks = Vec::with_capacity(6);
        for (i, layers) in YOLO_V1_BLOCKS.iter().enumerate() {
            let mut b = Sequential::builder(p / format!("conv_layer{}", i + 1));
            for layer in layers.iter() {
                match *layer {
                    DarknetLayer::Conv { kernel, out, stride } => {
                        b = conv_unit(b, cin, out, kernel, stride, cfg.batch_norm, true)?;
                        cin = out;
                    }
                    DarknetLayer::MaxPool => {
                        b = b.add(|p| MaxPool2d::new(p, 2, PoolConfig::default().stride(2)))?;
                    }
                }
            }
            blocks.push(b.build());
        }
        let (flatten, conn_layer1, conn_layer2) = head_layers(p, cfg)?;
        let mut it = blocks.into_iter();
        let mut next = || it.next().expect("six blocks");
        let net = YoloV1 {
            conv_layer1: next(),
            conv_layer2: next(),
            conv_layer3: next(),
            conv_layer4: next(),
            conv_layer5: next(),
            conv_layer6: next(),
            flatten,
            conn_layer1,
            conn_layer2,
            config: cfg.clone(),
        };
        recipes::initialize_weights(&net)?;
        Ok(net)
    }

    /// The six convolutional Sequentials in order.
    pub fn conv_layers(&self) -> [&Sequential; 6] {
        [
            &self.conv_layer1,
            &self.conv_layer2,
            &self.conv_layer3,
            &self.conv_layer4,
            &self.conv_layer5,
            &self.conv_layer6,
        ]
    }

    fn features(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        let [l1, l2, l3, l4, l5, l6] = self.conv_layers();
        c.chain(&[l1, l2, l3, l4, l5, l6], x)
    }

    fn head(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        run_head(c, [&self.flatten, &self.conn_layer1, &self.conn_layer2], &self.config, x, "YoloV1")
    }

    fn forward(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        check_input(c.path(), "YoloV1", &self.config, x)?;
        let x = self.features(x, c)?;
        self.head(&x, c)
    }
}

impl Model for YoloV1 {
    /// The 24 convolutions: `[N, 1024, side/64, side/64]` (any input side from 64 up).
    fn forward_features(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        Ctx::run(self, train, |c| self.features(xs, c))
    }
    /// The fully-connected head: `[N, S, S, B·5 + C]` from `[N, 1024, 7, 7]` features.
    fn forward_head(&self, features: &Tensor, train: bool) -> Result<Tensor> {
        Ctx::run(self, train, |c| self.head(features, c))
    }
    fn feature_info(&self) -> Vec<FeatureInfo> {
        let mut out = Vec::new();
        let mut reduction = 1;
        let mut chs = 3;
        for (i, layers) in YOLO_V1_BLOCKS.iter().enumerate() {
            for l in layers.iter() {
                match *l {
                    DarknetLayer::Conv { out, stride, .. } => {
                        chs = out;
                        reduction *= stride;
                    }
                    DarknetLayer::MaxPool => reduction *= 2,
                }
            }
            out.push(FeatureInfo::new(chs, reduction, &format!("conv_layer{}", i + 1)));
        }
        out
    }
    fn num_classes(&self) -> i64 {
        self.config.num_classes
    }
}

impl YoloDetector for YoloV1 {
    fn layout(&self) -> YoloLayout {
        self.config.layout()
    }
    fn input_size(&self) -> i64 {
        self.config.input_size
    }
    fn class_names(&self) -> Vec<String> {
        self.config.names()
    }
    fn input_normalization(&self) -> Option<([f64; 3], [f64; 3])> {
        None
    }
}

/// YOLO-v1 on a torchvision ResNet-50 (see the module docs).
#[derive(Debug)]
pub struct YoloV1ResNet {
    /// torchvision's ResNet-50, complete (its `avgpool` and `fc` are unused).
    pub backbone: ResNet,
    /// 1×1 2048→1024, 3×3/2 1024→1024, 3×3 1024→1024; each conv without bias, BatchNorm2d,
    /// LeakyReLU(0.1).
    pub neck: Sequential,
    /// Flatten.
    pub flatten: Flatten,
    /// Linear(f·f·1024 → hidden), Dropout, LeakyReLU(0.1).
    pub conn_layer1: Sequential,
    /// Linear(hidden → S·S·(B·5 + C)).
    pub conn_layer2: Sequential,
    /// The configuration (`batch_norm` is not used: the neck always has BatchNorm).
    pub config: YoloV1Config,
}
crate::module!(YoloV1ResNet, [backbone, neck, flatten, conn_layer1, conn_layer2]);

impl YoloV1ResNet {
    /// Builds the network at `p`: the backbone initialised as torchvision initialises a
    /// ResNet-50, the neck and head with the seed's `_initialize_weights`.
    pub fn new(p: &Path, cfg: &YoloV1Config) -> Result<Self> {
        cfg.validate()?;
        let backbone = ResNet::new(&(p / "backbone"), &ResNetConfig::resnet50())?;
        let mut b = Sequential::builder(p / "neck");
        b = conv_unit(b, 2048, 1024, 1, 1, true, false)?;
        b = conv_unit(b, 1024, 1024, 3, 2, true, false)?;
        b = conv_unit(b, 1024, 1024, 3, 1, true, false)?;
        let neck = b.build();
        let (flatten, conn_layer1, conn_layer2) = head_layers(p, cfg)?;
        let net = YoloV1ResNet { backbone, neck, flatten, conn_layer1, conn_layer2, config: cfg.clone() };
        recipes::initialize_weights(&net.neck)?;
        recipes::initialize_weights(&net.conn_layer1)?;
        recipes::initialize_weights(&net.conn_layer2)?;
        Ok(net)
    }

    fn features(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        // The backbone's stem and layer1..layer4, recorded under `backbone.*`: its head is unused.
        let x = c.nested(&self.backbone, |c| self.backbone.trunk(x, c))?;
        c.call(&self.neck, &x)
    }

    fn head(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        run_head(c, [&self.flatten, &self.conn_layer1, &self.conn_layer2], &self.config, x, "YoloV1ResNet")
    }

    fn forward(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        check_input(c.path(), "YoloV1ResNet", &self.config, x)?;
        let x = self.features(x, c)?;
        self.head(&x, c)
    }
}

impl Model for YoloV1ResNet {
    /// The backbone's `layer4` and the neck: `[N, 1024, side/64, side/64]`.
    fn forward_features(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        Ctx::run(self, train, |c| self.features(xs, c))
    }
    /// The fully-connected head: `[N, S, S, B·5 + C]` from `[N, 1024, 7, 7]` features.
    fn forward_head(&self, features: &Tensor, train: bool) -> Result<Tensor> {
        Ctx::run(self, train, |c| self.head(features, c))
    }
    fn feature_info(&self) -> Vec<FeatureInfo> {
        let mut v: Vec<FeatureInfo> = self
            .backbone
            .feature_info()
            .into_iter()
            .map(|f| FeatureInfo::new(f.num_chs, f.reduction, &join_path("backbone", &f.module)))
            .collect();
        v.push(FeatureInfo::new(1024, 64, "neck"));
        v
    }
    fn num_classes(&self) -> i64 {
        self.config.num_classes
    }
}

impl YoloDetector for YoloV1ResNet {
    fn layout(&self) -> YoloLayout {
        self.config.layout()
    }
    fn input_size(&self) -> i64 {
        self.config.input_size
    }
    fn class_names(&self) -> Vec<String> {
        self.config.names()
    }
    fn input_normalization(&self) -> Option<([f64; 3], [f64; 3])> {
        Some((IMAGENET_MEAN, IMAGENET_STD))
    }
}

/// `yolo_v1`: the paper's detector ([`YoloV1Config::paper`]).
pub fn yolo_v1(p: &Path, cfg: &YoloV1Config) -> Result<YoloV1> {
    YoloV1::new(p, cfg)
}

/// `yolo_v1_resnet50`: YOLO-v1's head on a torchvision ResNet-50.
pub fn yolo_v1_resnet50(p: &Path, cfg: &YoloV1Config) -> Result<YoloV1ResNet> {
    YoloV1ResNet::new(p, cfg)
}

/// The names of the YOLO-v1 detectors: the registry's detection entries ([`MODELS`]).
pub const DETECTORS: [&str; 2] = [MODELS[0].name, MODELS[1].name];

/// Builds detector `name` ([`DETECTORS`]) with `cfg` (the registry's builder of these entries,
/// with the detector's own configuration).
pub fn create_detector(name: &str, p: &Path, cfg: &YoloV1Config) -> Result<Box<dyn YoloDetector>> {
    match name {
        "yolo_v1" => Ok(Box::new(YoloV1::new(p, cfg)?)),
        "yolo_v1_resnet50" => Ok(Box::new(YoloV1ResNet::new(p, cfg)?)),
        other => Err(Error::unknown("detector", other, &DETECTORS)),
    }
}

fn build(p: &Path, o: &Options, name: &str) -> Result<Box<dyn Model>> {
    let cfg = YoloV1Config::paper().num_classes(o.num_classes.unwrap_or(20));
    Ok(create_detector(name, p, &cfg)?)
}

/// The detectors' registry entries (their output is a `[N, S, S, B·5 + C]` grid, not logits).
pub const MODELS: &[ModelInfo] = &[
    ModelInfo {
        task: Task::Detection,
        default_input: [448, 448],
        num_classes: 20,
        ..ModelInfo::classifier("yolo_v1", "yolo", 271703550, |p, o| build(p, o, "yolo_v1"))
    },
    ModelInfo {
        task: Task::Detection,
        default_input: [448, 448],
        num_classes: 20,
        ..ModelInfo::classifier("yolo_v1_resnet50", "yolo", 258082278, |p, o| build(p, o, "yolo_v1_resnet50"))
    },
];

/// Loads a checkpoint file into a detector built by [`create_detector`]:
///
/// * a state dict of the whole detector (the keys of `model.state_dict()`) loads strictly;
/// * into a model with a `backbone` (`yolo_v1_resnet50`), a file without `backbone.` keys but
///   with a ResNet's (`layer4.…`), such as torchvision's `resnet50-*.pth`, loads non-strictly
///   with the prefix `backbone.` added: the backbone gets its weights, the neck and head keep
///   their initialisation (listed as missing in the returned report).
pub fn load_detector_weights(
    model: &dyn YoloDetector,
    path: &std::path::Path,
    device: tch::Device,
) -> Result<crate::checkpoint::LoadReport> {
    use crate::checkpoint::{self, LoadOptions, ReadOptions};
    let ckpt = checkpoint::read(path, &ReadOptions { device, ..ReadOptions::default() })?;
    let has_backbone = model.named_children().iter().any(|(n, _)| n == "backbone");
    let file_has_prefix = ckpt.tensors.iter().any(|(k, _)| k.starts_with("backbone."));
    let looks_like_resnet = ckpt.tensors.iter().any(|(k, _)| k.starts_with("layer4."));
    let opts = if has_backbone && !file_has_prefix && looks_like_resnet {
        LoadOptions::partial().add_prefix("backbone.")
    } else {
        LoadOptions::strict()
    };
    checkpoint::load_state_dict(model, ckpt.tensors, &opts).map_err(|e| match e {
        Error::StrictLoad(s) => Error::StrictLoad(format!("{}: {s}", path.display())),
        e => e,
    })
}
