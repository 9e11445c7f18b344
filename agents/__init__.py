"""Sequence backbones behind one contract, and the decision model that uses them."""

from .decision_model import DecisionModel, DecisionModelConfig
from .registry import BACKBONES, backbone_config, build_backbone, config_from_spec, config_to_spec
from .stack import Backbone, BackboneConfig, reset_rows, state_tensors

__all__ = [
    "BACKBONES",
    "Backbone",
    "BackboneConfig",
    "DecisionModel",
    "DecisionModelConfig",
    "backbone_config",
    "build_backbone",
    "config_from_spec",
    "config_to_spec",
    "reset_rows",
    "state_tensors",
]
