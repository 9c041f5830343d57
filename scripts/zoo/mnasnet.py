"""Zoo cases of torchvision's MNASNet family (torchvision/models/mnasnet.py); see zoo_fixtures.py."""
STAGES = ["layers.7", "layers.8", "layers.9", "layers.11", "layers.16"]

CASES = {
    # Train mode: BN momentum 1 - 0.9997 and the in-place dropout's mask.
    "mnasnet0_5": dict(stages=STAGES, batch=2, train=True),
    "mnasnet0_75": dict(stages=STAGES, batch=2),
    "mnasnet1_0": dict(stages=STAGES),
    "mnasnet1_3": dict(stages=STAGES),
}
