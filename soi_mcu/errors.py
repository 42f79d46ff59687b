"""One exception type for every failure a user can fix; the CLI prints its message as one line."""

from __future__ import annotations


class SoiError(Exception):
    """A problem with the user's input or machine, with a message that says what to do."""


class ToolMissingError(SoiError):
    """A required external program (cross compiler, CMake, QEMU) is not installed."""


def require_tool(name: str, install_hint: str) -> str:
    """Return the path of executable `name`, or raise ToolMissingError naming how to install it."""
    import shutil

    path = shutil.which(name)
    if path is None:
        raise ToolMissingError(f"'{name}' not found on PATH; install it with: {install_hint}")
    return path
