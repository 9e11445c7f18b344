"""The backbone registry: name -> config dataclass. Adding a backbone = one file + one entry here.

Configs serialise as {"type": name, "params": {...}} (plain types only), so a checkpoint can
rebuild its backbone without executing code.
"""

import dataclasses

from infra.errors import ConfigError

from .aaren import AarenConfig
from .mamba import MambaConfig
from .min_gru import MinGRUConfig
from .min_lstm import MinLSTMConfig
from .s4 import S4Config
from .stack import Backbone, BackboneConfig
from .torch_rnn import GRUConfig, LSTMConfig
from .transformer import TransformerConfig

BACKBONES: dict[str, type[BackboneConfig]] = {
    "min-gru": MinGRUConfig,
    "min-lstm": MinLSTMConfig,
    "transformer": TransformerConfig,
    "s4": S4Config,
    "gru": GRUConfig,
    "lstm": LSTMConfig,
    "aaren": AarenConfig,
    "mamba": MambaConfig,
}


def backbone_config(name: str, **params) -> BackboneConfig:
    if name not in BACKBONES:
        raise ConfigError(f"unknown backbone {name!r}; expected one of {', '.join(BACKBONES)}")
    return BACKBONES[name](**params)


def build_backbone(name: str, **params) -> Backbone:
    """build_backbone("min-gru", d_model=64): fields not given keep their defaults."""
    return backbone_config(name, **params).build()


def backbone_name(config: BackboneConfig) -> str:
    return next(name for name, cls in BACKBONES.items() if type(config) is cls)


def config_to_spec(config: BackboneConfig) -> dict:
    return {"type": backbone_name(config), "params": dataclasses.asdict(config)}


def config_from_spec(spec: dict) -> BackboneConfig:
    return backbone_config(spec["type"], **spec["params"])
