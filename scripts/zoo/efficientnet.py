"""Zoo cases of torchvision's EfficientNet family (torchvision/models/efficientnet.py); see
zoo_fixtures.py. Stages: the last stage at each stride (2, 4, 8, 16, 32). Train-mode cases:
b0 (BatchNorm defaults), b5 (eps 1e-3, momentum 0.01), v2_s (FusedMBConv). The big ones run at
a small odd input (V2 needs at least 33x33)."""
V1 = ["features.1", "features.2", "features.3", "features.5", "features.7"]
V2_S = ["features.1", "features.2", "features.3", "features.5", "features.6"]
V2_ML = ["features.1", "features.2", "features.3", "features.5", "features.7"]

CASES = {
    "efficientnet_b0": dict(stages=V1, batch=2, train=True),
    "efficientnet_b1": dict(stages=V1),
    "efficientnet_b2": dict(stages=V1, input=(129, 161)),
    "efficientnet_b3": dict(stages=V1, input=(97, 129)),
    "efficientnet_b4": dict(stages=V1, input=(97, 129)),
    "efficientnet_b5": dict(stages=V1, input=(49, 67), batch=2, train=True),
    "efficientnet_b6": dict(stages=V1, input=(49, 67)),
    "efficientnet_b7": dict(stages=V1, input=(49, 67)),
    "efficientnet_v2_s": dict(stages=V2_S, input=(65, 97), batch=2, train=True),
    "efficientnet_v2_m": dict(stages=V2_ML, input=(49, 67)),
    "efficientnet_v2_l": dict(stages=V2_ML, input=(49, 67)),
}
