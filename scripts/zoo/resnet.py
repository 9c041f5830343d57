"""Zoo cases of torchvision's ResNet family (torchvision/models/resnet.py); see fixtures_zoo.py."""
STAGES = ["relu", "layer1", "layer2", "layer3", "layer4"]

CASES = {
    "resnet18": dict(stages=STAGES, batch=2, train=True),
    "resnet34": dict(stages=STAGES),
    "resnet50": dict(stages=STAGES),
    "resnet101": dict(stages=STAGES, input=(97, 129)),
    "resnet152": dict(stages=STAGES, input=(97, 129)),
    "resnext50_32x4d": dict(stages=STAGES),
    "resnext101_32x8d": dict(stages=STAGES, input=(97, 129)),
    "resnext101_64x4d": dict(stages=STAGES, input=(97, 129)),
    "wide_resnet50_2": dict(stages=STAGES, input=(97, 129)),
    "wide_resnet101_2": dict(stages=STAGES, input=(97, 129)),
}
