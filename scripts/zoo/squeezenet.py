"""Zoo cases of torchvision's SqueezeNet family (torchvision/models/squeezenet.py); see
zoo_fixtures.py. 161x239 exercises the ceil_mode pools (odd sizes round up)."""
CASES = {
    "squeezenet1_0": dict(stages=["features.1", "features.5", "features.10", "features.12"], batch=2, train=True),
    "squeezenet1_1": dict(stages=["features.1", "features.4", "features.7", "features.12"], batch=2),
}
