"""Zoo case of torchvision's GoogLeNet (torchvision/models/googlenet.py); see zoo_fixtures.py.
Built as the plain constructor (auxiliary heads on) with transform_input=True, so the train case
runs both auxiliary heads (their norms and 0.7 dropouts) and the input transform. The registry's
num_params (torchvision's, without the heads) is checked in tests/googlenet.rs."""
CASES = {
    "googlenet": dict(
        stages=["conv1", "conv3", "inception3b", "inception4e", "inception5b"],
        batch=2,
        train=True,
        kwargs={"transform_input": True},
    ),
}
