# Sourced by the scripts: where tchvision keeps its Python environment.
TORCH_VERSION=2.11.0
TORCHVISION_VERSION=0.26.0
TCHVISION_CACHE="${TCHVISION_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tchvision}"
TCHVISION_VENV="$TCHVISION_CACHE/venv-torch${TORCH_VERSION}-torchvision${TORCHVISION_VERSION}"
TCHVISION_PY="$TCHVISION_VENV/bin/python"
