"""Zoo cases of torchvision's DenseNet family (torchvision/models/densenet.py); see zoo_fixtures.py.
The train case runs with drop_rate=0.2 so the per-layer F.dropout draws are compared too."""
STAGES = ["features.relu0", "features.denseblock1", "features.denseblock2", "features.denseblock3", "features.norm5"]

CASES = {
    "densenet121": dict(stages=STAGES, batch=2),
    "densenet161": dict(stages=STAGES, input=(97, 129)),
    "densenet169": dict(stages=STAGES, input=(97, 129), train=True, kwargs={"drop_rate": 0.2}),
    "densenet201": dict(stages=STAGES, input=(97, 129)),
}
