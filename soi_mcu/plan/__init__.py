"""Stage 3: the typed C plan (nodes, actions by step group and phase, buffers, memory)."""

from soi_mcu.plan.lower import CPlan, lower
from soi_mcu.plan.memory import MemoryPlan, plan_memory

__all__ = ["CPlan", "MemoryPlan", "lower", "plan_memory"]
