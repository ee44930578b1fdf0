"""Progress display for the slow, one-off steps of preparing a model (assemble, dequantize, save).

A rich progress bar on stderr (stdout stays clean for command output) when enabled and stderr is a
terminal; plain lines (a step's name when it starts and its time when it ends) when stderr is a file
or a pipe, where a bar would be cut at 80 columns or leave empty lines; a no-op when disabled. One
interface, so the preparation code does not branch on it.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)

PIPE_WIDTH = 320
"""Console width when the stream is a file or a pipe: rich would otherwise wrap every line at 80
columns, breaking a path across two lines of a log and folding tables."""


def make_console(stderr: bool = False) -> Console:
    """A console for stdout (or stderr) that never wraps at 80 columns when the stream is not a
    terminal (a log, a pipe, CI): there it is :data:`PIPE_WIDTH` wide and prints text unwrapped.
    A terminal keeps its real width; ``COLUMNS`` set by the user wins everywhere."""
    stream = sys.stderr if stderr else sys.stdout
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):  # a closed or odd stream
        tty = False
    if tty or os.environ.get("COLUMNS", "").strip():
        return Console(stderr=stderr)
    return Console(stderr=stderr, width=PIPE_WIDTH, soft_wrap=True)


class Step:
    """One step of a :class:`Steps` display; ``advance`` moves its bar, ``done`` completes it."""

    def __init__(
        self, progress: Progress | None, task: TaskID | None, plain: tuple[Console, str] | None = None
    ) -> None:
        self._progress = progress
        self._task = task
        self._plain = plain
        self._t0 = time.monotonic()

    def set_total(self, total: float | None) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, total=total)

    def advance(self, amount: float = 1) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task, amount)

    def done(self) -> None:
        if self._plain is not None:
            console, description = self._plain
            self._plain = None
            console.print(f"{description}: done in {time.monotonic() - self._t0:.1f} s", highlight=False)
            return
        if self._progress is not None and self._task is not None:
            task = self._progress.tasks[self._task]
            total = task.total if task.total is not None else max(task.completed, 1)
            self._progress.update(self._task, total=total, completed=total)


class Steps:
    """A context manager showing one bar per step, or nothing when ``enabled`` is false."""

    def __init__(self, enabled: bool, console: Console | None = None) -> None:
        self._progress: Progress | None = None
        self._plain: Console | None = None
        if enabled and console is None:
            console = make_console(stderr=True)
        if enabled and console is not None and not console.is_terminal:
            self._plain = console
        elif enabled:
            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("[progress.description]{task.description}"),
                BarColumn(),
                TaskProgressColumn(),
                TimeElapsedColumn(),
                console=console,
            )

    def __enter__(self) -> Steps:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def step(self, description: str, total: float | None = None) -> Step:
        """Start a step; ``total=None`` shows an indeterminate (pulsing) bar."""
        if self._plain is not None:
            self._plain.print(f"{description} ...", highlight=False)
            return Step(None, None, (self._plain, description))
        if self._progress is None:
            return Step(None, None)
        return Step(self._progress, self._progress.add_task(description, total=total))

    def log(self, message: str) -> None:
        """Print a line above the bars (nothing when disabled)."""
        if self._plain is not None:
            self._plain.print(message)
        elif self._progress is not None:
            self._progress.console.print(message)


@contextlib.contextmanager
def route_gguf_tqdm(step: Step) -> Iterator[None]:
    """Send transformers' per-tensor GGUF dequantization loop to ``step`` instead of tqdm.

    transformers wraps the loop in a plain ``tqdm`` that would garble a rich display (and cannot
    be silenced through its logging switches); the attribute is patched for the duration only.
    If a future transformers moves it, dequantization still works, just without this bar.
    """
    try:
        from transformers import modeling_gguf_pytorch_utils as gguf_utils
    except ImportError:  # pragma: no cover - depends on the transformers version
        yield
        return
    original = getattr(gguf_utils, "tqdm", None)
    if original is None:  # pragma: no cover
        yield
        return

    def _tqdm(iterable: Iterable[Any], *args: Any, **kwargs: Any) -> Iterator[Any]:
        with contextlib.suppress(TypeError):
            step.set_total(len(iterable))  # type: ignore[arg-type]
        for item in iterable:
            yield item
            step.advance()

    gguf_utils.tqdm = _tqdm
    try:
        yield
    finally:
        gguf_utils.tqdm = original


@contextlib.contextmanager
def quiet_transformers_bars() -> Iterator[None]:
    """Turn off transformers' own tqdm bars ("Loading weights", "Writing model shards") for a block."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    if was_enabled:
        hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()
