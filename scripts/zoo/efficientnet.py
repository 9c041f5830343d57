"""Zoo cases of torchvision's EfficientNet family (torchvision/models/efficientnet.py); see
zoo_fixtures.py. Stages: the last stage at each stride (2, 4, 8, 16, 32). The big ones run at a
small odd input (V2 needs at least 33x33)."""
V1 = ["features.1", "features.2", "features.3", "features.5", "features.7"]
V2_S = ["features.1", "features.2", "features.3", "features.5", "features.6"]
V2_ML = ["features.1", "features.2", "features.3", "features.5", "features.7"]

CASES = {
    "efficientnet_b0": dict(stages=V1, batch=2, train=True),
    "efficientnet_b1": dict(stages=V1),
    "efficientnet_b2": dict(stages=V1, input=(129, 161)),
    "efficientnet_b3": dict(stages=V1, input=(97, 129)),
    "efficientnet_b4": dict(stages=V1, input=(97, 129)),
    "efficientnet_b5": dict(stages=V1, input=(65, 97), batch=2, train=True),  # BN momentum 0.01
    "efficientnet_b6": dict(stages=V1, input=(65, 97)),
    "efficientnet_b7": dict(stages=V1, input=(65, 97)),
    "efficientnet_v2_s": dict(stages=V2_S, batch=2, input=(97, 129), train=True),
    "efficientnet_v2_m": dict(stages=V2_ML, input=(65, 97)),
    "efficientnet_v2_l": dict(stages=V2_ML, input=(65, 97)),
}
