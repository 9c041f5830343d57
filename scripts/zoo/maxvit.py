"""Zoo cases of torchvision's MaxViT (torchvision/models/maxvit.py); see zoo_fixtures.py. MaxViT
runs only at the input size it is built for (224x224 here)."""
CASES = {
    "maxvit_t": dict(stages=["stem", "blocks.0", "blocks.1", "blocks.2", "blocks.3"], input=(224, 224), batch=2, train=True),
}
