"""An output folder (`--out`) that one run owns at a time, and a report in it that never looks current
unless the run that wrote it finished.

`claimed(out_dir, "report.json")` is entered once the inputs are checked (a refused input changes
nothing) and before the first stage writes anything:

- it takes a lock on the folder (`.soi-mcu.lock`, an flock the kernel drops when the process dies, so a
  killed run never leaves the folder locked); a second run into the same folder is refused in one line
  naming the pid that holds it;
- it replaces the old report with `{"status": "running", ...}` (the old one kept under "previous"), so a
  run killed outright (SIGKILL, power) leaves a report that says so instead of the last run's figures;
- a run that fails or is interrupted leaves `{"status": "failed", "error": ...}`; a run that finishes
  writes its report (with "status": "complete") atomically, as its last step.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from soi_mcu.errors import SoiError

LOCK_NAME = ".soi-mcu.lock"


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file and a rename: a reader sees the old file or the
    new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def _lock(out_dir: Path) -> int:
    """Take the folder's lock (non-blocking) and return its file descriptor; refuse if another process holds it."""
    path = out_dir / LOCK_NAME
    while True:
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise SoiError(f"output folder {out_dir} cannot be written ({exc.strerror}); choose another --out") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise SoiError(f"output folder {out_dir} is in use by pid {holder} (another soi-mcu run); wait for it to "
                           "finish or choose another --out") from None
        # The holder unlinks the file when it is done: a lock taken on a file that was meanwhile unlinked
        # (or replaced) guards nothing, so take it again on the file now at the path.
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            return fd
        os.close(fd)


def _unlock(out_dir: Path, fd: int) -> None:
    (out_dir / LOCK_NAME).unlink(missing_ok=True)  # while still held, so no one locks the file being removed
    os.close(fd)


def _previous(path: Path) -> dict | None:
    """The last finished report at `path` (carried under "previous" through running/failed markers)."""
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError):
        return None  # none, or not one of ours: nothing worth keeping
    if not isinstance(old, dict):
        return None
    if old.get("status") in ("running", "failed"):
        return old.get("previous")
    return old  # "complete", or a report from before the status field


def _why(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    if isinstance(exc, SoiError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"  # a bug: say what it was, the traceback is on stderr


def _marker(status: str, previous: dict | None, **fields) -> str:
    data = {"status": status, **fields} | ({"previous": previous} if previous is not None else {})
    return json.dumps(data, indent=2) + "\n"


@contextmanager
def claimed(out_dir: Path, report: str, derived: tuple[str, ...] = ()) -> Iterator[Path]:
    """Own `out_dir` for one run whose result is `out_dir/report` (written by the body, atomically, as its
    last step); `derived`: files made from that report (a CSV, a plot), removed at the start so that none
    outlives the report it came from. Yields the report's path."""
    fd = _lock(out_dir)
    try:
        path = out_dir / report
        previous = _previous(path)
        started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        write_atomic(path, _marker("running", previous, pid=os.getpid(), started=started))
        for name in derived:
            (out_dir / name).unlink(missing_ok=True)
        try:
            yield path
        except BaseException as exc:
            write_atomic(path, _marker("failed", previous, error=_why(exc), started=started))
            raise
    finally:
        _unlock(out_dir, fd)


@contextmanager
def lock_only(out_dir: Path) -> Iterator[None]:
    """The folder's lock alone, for commands whose outputs are not one report (generate, analyze)."""
    fd = _lock(out_dir)
    try:
        yield
    finally:
        _unlock(out_dir, fd)
