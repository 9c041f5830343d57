"""Zoo case of torchvision's Inception-v3 (torchvision/models/inception.py); see zoo_fixtures.py.
At 299x303: the auxiliary head, which the train case runs, needs a Mixed_6e map of 17x17, which
takes an input of at least 299. tests/inception.rs checks the 75x75 minimum."""
CASES = {
    "inception_v3": dict(
        stages=["Conv2d_2b_3x3", "Conv2d_4a_3x3", "Mixed_5d", "Mixed_6e", "Mixed_7c"],
        input=(299, 303),
        batch=2,  # the auxiliary head's BatchNorm sees 1x1 maps: training needs a batch of 2
        train=True,
    ),
}
