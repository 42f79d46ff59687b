"""Where the project's data folders (templates, firmware, boards) live."""

from __future__ import annotations

from pathlib import Path

# The package runs from a checkout (pip install -e .): the data folders sit beside it.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = PROJECT_ROOT / "templates"
FIRMWARE_DIR = PROJECT_ROOT / "firmware"
BOARDS_DIR = PROJECT_ROOT / "boards"
