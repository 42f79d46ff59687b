"""Stage 4: the plan rendered through templates/ into C sources (model library, harness, linker script)."""

from soi_mcu.codegen.render import GeneratedSources, c_array, c_ref, generate, generate_library, linker_script

__all__ = ["GeneratedSources", "c_array", "c_ref", "generate", "generate_library", "linker_script"]
