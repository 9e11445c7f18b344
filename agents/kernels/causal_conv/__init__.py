"""Mamba's causal depthwise convolution and its SiLU (Fig. 3): see interface.py."""

from .interface import causal_conv_silu, resolve

__all__ = ["causal_conv_silu", "resolve"]
