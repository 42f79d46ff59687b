"""Stage 1: the model. The spec and its schedule, the offline PyTorch form, the streaming stepper,
and the models the project builds (demo, U-Net configs, scene classifier) or imports (from_torch)."""

from soi_mcu.model.offline import OfflineModel
from soi_mcu.model.spec import ModelSpec, Schedule, analyze, demo_spec, macs_by_phase
from soi_mcu.ops import (
    ACTIVATIONS,
    KINDS,
    Add,
    Concat,
    Conv,
    Duplicate,
    FreqPool,
    Layer,
    Shift,
    TConv,
    TConvFreq,
    Upsample,
    activate,
)

__all__ = ["ACTIVATIONS", "KINDS", "Add", "Concat", "Conv", "Duplicate", "FreqPool", "Layer", "ModelSpec",
           "OfflineModel", "Schedule", "Shift", "TConv", "TConvFreq", "Upsample", "activate", "analyze", "demo_spec",
           "macs_by_phase"]
