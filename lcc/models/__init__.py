"""Classifiers by name — ``small_cnn``, ``torchvision/<arch>``, ``timm/<name>``,
``hf/<repo id or folder>`` — with weights from local files only, and their layers.

:func:`build_model` builds one (:mod:`lcc.models._build` tells the names and the weights);
:func:`describe_layers` lists the layers ``lcc.layers`` / ``LCCCallback(layers=...)`` take
(``lcc layers MODEL`` prints it); :func:`check_layers` is the one rule for those names.
timm and transformers are optional extras, imported only when such a model is built.
"""

from lcc.models._build import (
    MODEL_NAMES,
    build_model,
    check_model_name,
    locate_weights,
    skeleton,
)
from lcc.models._huggingface import HFImageClassifier
from lcc.models._layers import LayerInfo, check_layers, describe_layers, format_layers
from lcc.models._weights import WeightsNotFoundError
from lcc.models.small_cnn import SmallCNN

__all__ = [
    "MODEL_NAMES",
    "HFImageClassifier",
    "LayerInfo",
    "SmallCNN",
    "WeightsNotFoundError",
    "build_model",
    "check_layers",
    "check_model_name",
    "describe_layers",
    "format_layers",
    "locate_weights",
    "skeleton",
]
