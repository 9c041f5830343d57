"""Zoo cases of torchvision's AlexNet (torchvision/models/alexnet.py); see zoo_fixtures.py."""
CASES = {
    # 61 M parameters, but cheap to run: init compared too (torch's default init of each layer).
    "alexnet": dict(stages=["features.1", "features.4", "features.11", "features.12"], batch=2, train=True, init=True),
}
