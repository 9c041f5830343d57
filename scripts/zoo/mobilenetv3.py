"""Zoo cases of torchvision's MobileNet V3 (torchvision/models/mobilenetv3.py); see zoo_fixtures.py.
Stages: the last block before each stride-2 block, and the last conv."""
CASES = {
    "mobilenet_v3_large": dict(stages=["features.1", "features.3", "features.6", "features.12", "features.16"],
                               batch=2, train=True),
    "mobilenet_v3_small": dict(stages=["features.0", "features.1", "features.3", "features.8", "features.12"],
                               batch=2),
}
