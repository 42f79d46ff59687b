"""soi-mcu: streaming STMC/SOI networks from PyTorch to int8 Cortex-M firmware, measured in simulation."""

__version__ = "0.1.0"
