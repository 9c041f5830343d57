"""Zoo cases of torchvision's ConvNeXt family (torchvision/models/convnext.py); see
zoo_fixtures.py. Stages: each stage's blocks (strides 4, 8, 16, 32). ConvNeXt needs at least
32x32; the big ones run at a small odd input."""
STAGES = ["features.1", "features.3", "features.5", "features.7"]

CASES = {
    "convnext_tiny": dict(stages=STAGES, batch=2, train=True),
    "convnext_small": dict(stages=STAGES, input=(97, 129)),
    "convnext_base": dict(stages=STAGES, input=(65, 97)),
    "convnext_large": dict(stages=STAGES, input=(65, 97)),
}
