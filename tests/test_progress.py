"""Live generation progress: plain timestamped lines in a log, fed by the backends, seen before the end.

The pipe test is the one a user sees: `pbrlsvr eval` on a tiny model, its stdout and stderr a pipe
(as under `> log 2>&1` or CI); progress lines must arrive while the process still runs.
"""

from __future__ import annotations

import io
import os
import re
import selectors
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console

from pbrlsvr.generation.base import Generation, Generator, Message, ProgressFn, SamplingConfig
from pbrlsvr.generation.progress import GenerationProgress, format_duration

STAMP = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"


def _log_console() -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, width=320, soft_wrap=True), buf


def test_plain_lines_carry_time_counts_rate_and_time_left() -> None:
    console, buf = _log_console()
    assert not console.is_terminal
    with GenerationProgress("eval tiny", console, interval=0.06) as live:
        live.start(4, done=1)
        live.begin_batch(2)
        live.advance(1)  # a backend's callback inside the call
        time.sleep(0.02)
        live.batch_done(3, tokens=40)
        time.sleep(0.02)
        live.begin_batch(1)
        live.batch_done(4, tokens=20)
    lines = buf.getvalue().splitlines()
    assert all(re.match(rf"{STAMP} eval tiny: ", line) for line in lines), lines
    assert "started: 4 items (1 already done)" in lines[0]
    assert any("3/4 items (75%)" in line and "tok/s" in line and "left" in line for line in lines), lines
    assert "finished: 4/4 items (100%)" in lines[-1] and "tok/s" in lines[-1]
    assert live.tokens == 60 and live.done == 4


def test_the_backend_callback_cannot_count_past_the_call() -> None:
    live = GenerationProgress("x", enabled=False)
    live.start(10, done=2)
    live.begin_batch(3)
    live.advance(2)
    assert live.done == 4
    live.advance(5)  # a backend over-reporting is capped at the call's size
    assert live.done == 5
    live.batch_done(4, tokens=7)  # the runner's exact count wins
    assert live.done == 4 and live.tokens == 7


def test_a_log_gets_heartbeats_while_a_batch_runs() -> None:
    console, buf = _log_console()
    with GenerationProgress("pivot m", console, unit="samples", interval=0.2) as live:
        live.start(8)
        live.begin_batch(8)
        time.sleep(0.75)  # one long batch: nothing finishes, the log still hears from it
        live.batch_done(8, tokens=100)
    lines = buf.getvalue().splitlines()
    beats = [line for line in lines if "0/8 samples" in line and "elapsed" in line]
    assert len(beats) >= 2, lines
    assert "time left unknown" in beats[0]


def test_every_backend_progress_call_reaches_the_display() -> None:
    """The runner hands ``advance`` to any Generator; a backend calling it per finished conversation
    moves the display inside one generate call."""

    seen: list[int] = []

    class PerItem(Generator):
        name = "per-item"

        def _generate(
            self, conversations: list[list[Message]], settings: SamplingConfig, progress: ProgressFn | None
        ) -> list[list[Generation]]:
            out = []
            for _ in conversations:
                out.append([Generation("The answer is 1.", 3, 5, "stop")])
                if progress:
                    progress(1)
                    seen.append(live.done)
            return out

    live = GenerationProgress("x", enabled=False)
    live.start(3)
    live.begin_batch(3)
    PerItem().generate([[{"role": "user", "content": "q"}]] * 3, SamplingConfig(), live.advance)
    assert seen == [1, 2, 3]


def test_durations_read_at_a_glance() -> None:
    assert [format_duration(s) for s in (0, 42.4, 185, 3725)] == ["0s", "42s", "3m05s", "1h02m"]


def _tiny_model(folder: Path) -> str:
    from tests.test_train import tiny_causal_lm

    model, tok = tiny_causal_lm()
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return str(folder)


def test_piped_eval_prints_progress_before_it_finishes(tmp_path: Path) -> None:
    model = _tiny_model(tmp_path / "tiny")
    out = tmp_path / "eval"
    env = {**os.environ, "PBRLSVR_PROGRESS_INTERVAL": "0.6", "HF_HUB_OFFLINE": "1", "COLUMNS": ""}
    cmd = [sys.executable, "-m", "pbrlsvr", "eval", "--model", model, "--data", "mgsm", "--langs", "sw,de"]
    cmd += ["--limit", "3", "--batch-size", "1", "--max-new-tokens", "24", "-o", str(out)]
    cmd += ["--set", "plots=false", "--set", "bootstrap.resamples=100"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    lines: list[tuple[str, bool]] = []  # (line, the process was still running when it arrived)
    buf = b""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if not sel.select(timeout=1.0):
            if proc.poll() is not None:
                break
            continue
        chunk = os.read(proc.stdout.fileno(), 65536)
        if not chunk:
            break
        running = proc.poll() is None
        buf += chunk
        *whole, buf = buf.split(b"\n")
        lines += [(w.decode("utf-8", "replace"), running) for w in whole]
    proc.wait(timeout=60)
    text = "\n".join(line for line, _ in lines)
    assert proc.returncode == 0, text
    progress = [(line, alive) for line, alive in lines if re.match(rf"{STAMP} eval ", line)]
    assert progress, text
    # a line counting finished items arrived while the run still had work to do
    early = [line for line, alive in progress if alive and re.search(r" [1-5]/6 items", line)]
    assert early, text
    assert "\x1b[" not in text  # no terminal control codes in a log
    assert "finished: 6/6 items" in text
    # the run ends with a table whose rows are whole lines
    assert any(line.startswith("│ sw ") for line, _ in lines), text


def test_a_terminal_gets_a_bar_with_rate_and_time_left() -> None:
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=120)
    with GenerationProgress("eval tiny", console) as live:
        live.start(4)
        live.begin_batch(2)
        live.batch_done(2, tokens=30)
        live.batch_done(4, tokens=30)
    out = buf.getvalue()
    assert "eval tiny" in out and "4/4" in out and "tok/s" in out
    assert not re.search(STAMP, out)  # bars, not log lines
