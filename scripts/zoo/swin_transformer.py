"""Zoo cases of torchvision's Swin Transformers V1 and V2 (torchvision/models/swin_transformer.py);
see zoo_fixtures.py. The stages are NHWC token maps, compared as torchvision's modules output them.
Odd non-square inputs exercise the window padding, and the last stage's map (5x8 for the tiny
models) is one window high but two wide: the cyclic shift then runs along W only (V1)."""
STAGES = ["features.1", "features.3", "features.5", "features.7"]

CASES = {
    "swin_t": dict(stages=STAGES, batch=2, train=True),
    "swin_s": dict(stages=STAGES, input=(97, 129)),
    "swin_b": dict(stages=STAGES, input=(97, 129)),
    "swin_v2_t": dict(stages=STAGES, batch=2, train=True),
    "swin_v2_s": dict(stages=STAGES, input=(97, 129)),
    "swin_v2_b": dict(stages=STAGES, input=(97, 129)),
}
