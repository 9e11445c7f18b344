"""Mamba's selective scan (Gu & Dao 2023, Alg. 2): see interface.py."""

from .interface import discretised, read_out, refusal, resolve, selective_scan

__all__ = ["discretised", "read_out", "refusal", "resolve", "selective_scan"]
