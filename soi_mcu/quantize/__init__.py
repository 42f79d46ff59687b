"""Stage 2: full-int8 .tflite export (TensorFlow's converter), its reading and matching to the spec,
and the LiteRT reference outputs the firmware must equal."""

from soi_mcu.quantize.export import TfliteArtifact, cache_dir, export_tflite
from soi_mcu.quantize.reference import litert_elu, reference_outputs
from soi_mcu.quantize.rewrite import int8_elu

__all__ = ["TfliteArtifact", "cache_dir", "export_tflite", "int8_elu", "litert_elu", "reference_outputs"]
