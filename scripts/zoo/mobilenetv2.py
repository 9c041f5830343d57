"""Zoo cases of torchvision's MobileNet V2 (torchvision/models/mobilenetv2.py); see zoo_fixtures.py.
Stages: the last block before each stride-2 block, and the last conv."""
CASES = {
    "mobilenet_v2": dict(stages=["features.1", "features.3", "features.6", "features.13", "features.18"],
                         batch=2, train=True),
}
