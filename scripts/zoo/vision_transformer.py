"""Zoo cases of torchvision's Vision Transformers (torchvision/models/vision_transformer.py); see
zoo_fixtures.py. ViT takes only the image_size it is built for: every case runs at 224. The
stages are token stages (encoder layers at 1/4, 1/2, 3/4 and all of the depth). The giants
(vit_l_*, vit_h_14) are compared on seeded weights at batch 1, without the init comparison;
vit_b_16 and vit_b_32 also compare torchvision's initialisation. vit_b_32 is the train-mode
case, with dropout and attention dropout on so that their masks are compared."""


def stages(depth):
    return [f"encoder.layers.encoder_layer_{k * depth // 4 - 1}" for k in (1, 2, 3, 4)]


CASES = {
    "vit_b_16": dict(stages=stages(12), input=(224, 224), init=True),
    "vit_b_32": dict(
        stages=stages(12),
        input=(224, 224),
        batch=2,
        init=True,
        train=True,
        kwargs=dict(dropout=0.1, attention_dropout=0.1),
    ),
    "vit_l_16": dict(stages=stages(24), input=(224, 224)),
    "vit_l_32": dict(stages=stages(24), input=(224, 224)),
    "vit_h_14": dict(stages=stages(32), input=(224, 224)),
}
