"""Zoo cases of torchvision's RegNet family (torchvision/models/regnet.py); see zoo_fixtures.py.
The giants run at 65x97 (a 3x4 final map) on seeded weights."""
STAGES = ["stem", "trunk_output.block1", "trunk_output.block2", "trunk_output.block3", "trunk_output.block4"]

CASES = {
    "regnet_y_400mf": dict(stages=STAGES, batch=2, train=True),
    "regnet_y_800mf": dict(stages=STAGES),
    "regnet_y_1_6gf": dict(stages=STAGES),
    "regnet_y_3_2gf": dict(stages=STAGES, input=(97, 129)),
    "regnet_y_8gf": dict(stages=STAGES, input=(97, 129)),
    "regnet_y_16gf": dict(stages=STAGES, input=(65, 97)),
    "regnet_y_32gf": dict(stages=STAGES, input=(65, 97)),
    "regnet_y_128gf": dict(stages=STAGES, input=(65, 97)),
    "regnet_x_400mf": dict(stages=STAGES),
    "regnet_x_800mf": dict(stages=STAGES),
    "regnet_x_1_6gf": dict(stages=STAGES),
    "regnet_x_3_2gf": dict(stages=STAGES, input=(97, 129)),
    "regnet_x_8gf": dict(stages=STAGES, input=(97, 129)),
    "regnet_x_16gf": dict(stages=STAGES, input=(65, 97)),
    "regnet_x_32gf": dict(stages=STAGES, input=(65, 97)),
}
