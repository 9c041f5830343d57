//! torchvision's AlexNet (Krizhevsky et al. 2012, "ImageNet Classification with Deep
//! Convolutional Neural Networks"), in the single-tower form of Krizhevsky 2014, "One weird
//! trick for parallelizing convolutional neural networks" (64 channels in the first
//! convolution), as `torchvision/models/alexnet.py` builds it.
//!
//! * The module tree is torchvision's: `features` (a Sequential of convolutions, in-place
//!   ReLUs and 3×3/2 max pools), `avgpool` (adaptive, to 6×6: any input of at least 63×63
//!   works) and `classifier` (Dropout, Linear 9216 → 4096, ReLU, Dropout, Linear, ReLU,
//!   Linear), so the state-dict keys (`features.0.weight`, `classifier.6.bias`, …) are its own.
//! * Initialisation is torch's default of each layer (torchvision runs no init loop), drawn in
//!   construction order: the same seed gives the same weights.
//! * The builder option is torchvision's `dropout` (0.5).

use tch::{nn::Path, Tensor};

use crate::error::Result;
use crate::models::api::{Model, ModelInfo, Options};
use crate::models::features::FeatureInfo;
use crate::models::weights::Weights;
use crate::nn::*;

/// torchvision's `AlexNet(num_classes=1000, dropout=0.5)`.
#[derive(Debug)]
pub struct AlexNet {
    /// Five convolutions with ReLUs and three max pools (stride 32 overall, 256 channels).
    pub features: Sequential,
    /// Adaptive average pool to 6×6.
    pub avgpool: AdaptiveAvgPool2d,
    /// Dropout, Linear(9216, 4096), ReLU, Dropout, Linear(4096, 4096), ReLU, Linear(4096, classes).
    pub classifier: Sequential,
    /// Outputs of the classifier.
    pub num_classes: i64,
}
crate::module!(AlexNet, [features, avgpool, classifier]);

impl AlexNet {
    /// Builds AlexNet at `p` with torch's default initialisation of every layer.
    pub fn new(p: &Path, num_classes: i64, dropout: f64) -> Result<Self> {
        let conv = |cin, cout, k, s, pad| {
            move |p: &Path| Conv2d::new(p, cin, cout, k, Conv2dConfig::default().stride(s).padding(pad))
        };
        let pool = |p: &Path| MaxPool2d::new(p, 3, PoolConfig::default().stride(2));
        let features = Sequential::builder(p / "features")
            .add(conv(3, 64, 11, 4, 2))?
            .add(ReLU::new)?
            .add(pool)?
            .add(conv(64, 192, 5, 1, 2))?
            .add(ReLU::new)?
            .add(pool)?
            .add(conv(192, 384, 3, 1, 1))?
            .add(ReLU::new)?
            .add(conv(384, 256, 3, 1, 1))?
            .add(ReLU::new)?
            .add(conv(256, 256, 3, 1, 1))?
            .add(ReLU::new)?
            .add(pool)?
            .build();
        let avgpool = AdaptiveAvgPool2d::new(&(p / "avgpool"), 6)?;
        let classifier = Sequential::builder(p / "classifier")
            .add(|p| Dropout::new(p, dropout))?
            .add(|p| Linear::new(p, 256 * 6 * 6, 4096))?
            .add(ReLU::new)?
            .add(|p| Dropout::new(p, dropout))?
            .add(|p| Linear::new(p, 4096, 4096))?
            .add(ReLU::new)?
            .add(|p| Linear::new(p, 4096, num_classes))?
            .build();
        Ok(AlexNet { features, avgpool, classifier, num_classes })
    }

    fn head(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        let x = c.call(&self.avgpool, x)?;
        let x = c.flatten(&x, 1)?;
        c.call(&self.classifier, &x)
    }

    fn forward(&self, x: &Tensor, c: &mut Ctx) -> Result<Tensor> {
        let x = c.call(&self.features, x)?;
        self.head(&x, c)
    }
}

impl Model for AlexNet {
    fn forward_features(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        Ctx::run(self, train, |c| c.call(&self.features, xs))
    }
    fn forward_head(&self, features: &Tensor, train: bool) -> Result<Tensor> {
        Ctx::run(self, train, |c| self.head(features, c))
    }
    fn feature_info(&self) -> Vec<FeatureInfo> {
        vec![
            FeatureInfo::new(64, 4, "features.1"),
            FeatureInfo::new(192, 8, "features.4"),
            FeatureInfo::new(256, 16, "features.11"),
            FeatureInfo::new(256, 32, "features.12"),
        ]
    }
    fn num_classes(&self) -> i64 {
        self.num_classes
    }
}

fn build(p: &Path, o: &Options) -> Result<Box<dyn Model>> {
    let mut dropout = 0.5;
    o.apply("dropout", &mut dropout)?;
    Ok(Box::new(AlexNet::new(p, o.num_classes.unwrap_or(1000), dropout)?))
}

/// The family's registry entries.
pub const MODELS: &[ModelInfo] = &[ModelInfo {
    options: &["dropout"],
    weights: ALEXNET_WEIGHTS,
    ..ModelInfo::classifier("alexnet", "alexnet", 61100840, build)
}];

/// torchvision's `AlexNet_Weights`.
const ALEXNET_WEIGHTS: &[Weights] = &[Weights::imagenet(
    "alexnet",
    "IMAGENET1K_V1",
    "alexnet-owt-7be5be79.pth",
    61100840,
    [56.522, 79.066],
    0.714,
    233.087,
    [256, 224],
)
.default()];
