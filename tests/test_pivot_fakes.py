"""Test helpers for the pivot tests (no tests here): a fake deterministic, optionally slow generator,
and a command line that runs the pivot runner with it in a subprocess (for SIGKILL and concurrent
writer tests).

    python tests/test_pivot_fakes.py --store S --count C [--delay 0.01] [--limit 20] [--samples 3]

Every completed sample appends one line to the ``--count`` file *before* the batch is committed,
so after a run the file holds how many samples that process generated.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path

from pbrlsvr.generation.base import Generation, Generator, Message, ProgressFn, SamplingConfig


def fake_answer(question: str, seed: int | None, index: int, spread: int = 3) -> int:
    """A deterministic answer in ``[1, spread]`` for one (question, seed, sample)."""
    h = hashlib.sha256(f"{question}|{seed}|{index}".encode()).digest()
    return 1 + h[0] % spread


class FakeGenerator(Generator):
    """Deterministic completions ``"... The answer is N."`` (N from :func:`fake_answer`).

    Args:
        delay: seconds slept per sample (a slow model).
        count_file: one line appended per sample generated.
        fail_first: the first this-many samples come back with ``finish_reason="error"``.
        spread: answers are drawn from ``1..spread`` (1 = every sample agrees).
    """

    def __init__(
        self,
        name: str = "fake-pivot",
        *,
        delay: float = 0.0,
        count_file: str | Path | None = None,
        fail_first: int = 0,
        spread: int = 3,
    ) -> None:
        self.name = name
        self.delay = delay
        self.count_file = Path(count_file) if count_file else None
        self.fail_left = fail_first
        self.spread = spread
        self.calls = 0
        self.samples = 0
        self.closed = False

    def _generate(
        self, conversations: list[list[Message]], settings: SamplingConfig, progress: ProgressFn | None
    ) -> list[list[Generation]]:
        self.calls += 1
        out: list[list[Generation]] = []
        for conv in conversations:
            question = conv[-1]["content"]
            gens: list[Generation] = []
            for j in range(settings.n):
                if self.delay:
                    time.sleep(self.delay)
                self.samples += 1
                if self.count_file is not None:
                    with self.count_file.open("a", encoding="utf-8") as fh:
                        fh.write("1\n")
                if self.fail_left > 0:
                    self.fail_left -= 1
                    gens.append(Generation("", 5, 0, "error", "fake backend failure"))
                    continue
                n = fake_answer(question, settings.seed, j, self.spread)
                text = f"Let me think step by step.\n{n} - 0 = {n}.\nThe answer is {n}."
                gens.append(Generation(text, 20, 12, "stop"))
            out.append(gens)
            if progress is not None:
                progress(1)
        return out

    def close(self) -> None:
        self.closed = True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--store", required=True)
    parser.add_argument("--count", required=True)
    parser.add_argument("--delay", type=float, default=0.01)
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--samples", type=int, default=3)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--busy-timeout", type=float, default=30.0)
    args = parser.parse_args(argv)

    from pbrlsvr.data import load_problems
    from pbrlsvr.pivot import PivotConfig, ReferenceStore, run_pivot

    problems = load_problems("mgsm", langs=["en", "sw"], limit=args.limit)
    cfg = PivotConfig(
        model="fake:pivot", samples=args.samples, batch_size=args.batch, busy_timeout=args.busy_timeout
    )
    generator = FakeGenerator(delay=args.delay, count_file=args.count)
    with ReferenceStore(args.store, busy_timeout=args.busy_timeout) as store:
        report = run_pivot(problems, cfg, store, generator)
    print(f"generated={report.generated} duplicates={report.duplicates} skipped={report.skipped}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
