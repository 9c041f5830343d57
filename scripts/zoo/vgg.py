"""Zoo cases of torchvision's VGG family (torchvision/models/vgg.py); see zoo_fixtures.py.

VGG's adaptive pool takes any input of at least 32x32: 65x97 keeps the 130-140 M parameter
models cheap (their cost is the weights, not the convolutions)."""
_A = ["features.1", "features.4", "features.9", "features.14", "features.19", "features.20"]
_A_BN = ["features.2", "features.6", "features.13", "features.20", "features.27", "features.28"]
_B = ["features.3", "features.8", "features.13", "features.18", "features.23", "features.24"]
_B_BN = ["features.5", "features.12", "features.19", "features.26", "features.33", "features.34"]
_D = ["features.3", "features.8", "features.15", "features.22", "features.29", "features.30"]
_D_BN = ["features.5", "features.12", "features.22", "features.32", "features.42", "features.43"]
_E = ["features.3", "features.8", "features.17", "features.26", "features.35", "features.36"]
_E_BN = ["features.5", "features.12", "features.25", "features.38", "features.51", "features.52"]
_IN = (65, 97)

CASES = {
    "vgg11": dict(stages=_A, input=_IN),
    # The init_weights loop (Conv2d, BatchNorm2d and Linear branches) compared once, here.
    "vgg11_bn": dict(stages=_A_BN, input=_IN, train=True, init=True),
    "vgg13": dict(stages=_B, input=_IN),
    "vgg13_bn": dict(stages=_B_BN, input=_IN),
    "vgg16": dict(stages=_D, input=_IN),
    "vgg16_bn": dict(stages=_D_BN, input=_IN),
    "vgg19": dict(stages=_E, input=_IN),
    "vgg19_bn": dict(stages=_E_BN, input=_IN),
}
