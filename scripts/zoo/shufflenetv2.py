"""Zoo cases of torchvision's ShuffleNet V2 family (torchvision/models/shufflenetv2.py); see
zoo_fixtures.py."""
STAGES = ["conv1", "maxpool", "stage2", "stage3", "conv5"]

CASES = {
    "shufflenet_v2_x0_5": dict(stages=STAGES, batch=2, train=True),
    "shufflenet_v2_x1_0": dict(stages=STAGES, batch=2),
    "shufflenet_v2_x1_5": dict(stages=STAGES),
    "shufflenet_v2_x2_0": dict(stages=STAGES),
}
