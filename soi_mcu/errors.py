"""The exceptions for every failure a user can fix (the CLI prints the message as one line and exits with
the exception's exit code), and the exit codes themselves."""

from __future__ import annotations

# The CLI's exit codes (README.md, "Exit codes"): 0 ok, 1 not bit-exact (or, for analyze, does not fit),
# 2 bad input, 3 toolchain or simulator problem, 130 interrupted.
EXIT_BAD_INPUT = 2
EXIT_TOOL = 3
EXIT_INTERRUPTED = 130


class SoiError(Exception):
    """A problem with the user's input or machine, with a message that says what to do."""

    exit_code = EXIT_BAD_INPUT


class ToolError(SoiError):
    """The toolchain or the simulator failed: a program missing, a build that failed, a simulator or
    firmware run that did not finish."""

    exit_code = EXIT_TOOL


class ToolMissingError(ToolError):
    """A required external program (cross compiler, CMake, QEMU) is not installed."""


def require_tool(name: str, install_hint: str) -> str:
    """Return the path of executable `name`, or raise ToolMissingError naming how to install it."""
    import shutil

    path = shutil.which(name)
    if path is None:
        raise ToolMissingError(f"'{name}' not found on PATH; install it with: {install_hint}")
    return path


def raise_if_interrupted(returncode: int) -> None:
    """A child killed by Ctrl-C (SIGINT, or a shell's 128 + 2) was interrupted, not broken: raise
    KeyboardInterrupt so the run ends as interrupted (exit 130) rather than as a build or simulator
    failure. The child can see the terminal's SIGINT before Python does, or alone (kill -INT)."""
    import signal

    if returncode in (-signal.SIGINT, 128 + signal.SIGINT):
        raise KeyboardInterrupt
