"""The reference store's cost and resume: store overhead vs generation time, and work redone.

Workload: the first ``--problems`` MGSM problems (English), ``--samples`` samples each, batches of
``--batch`` problems, answered by a fake generator that sleeps ``--per-sample-ms`` per sample and
returns a realistic ~1,200-character step-by-step solution ending in "The answer is N.".

Printed:

* **overhead**: the pivot runner with the SQLite store (extract answers, re-read the batch's keys,
  commit every batch) vs the same generator called on the same batches with no store, end to end;
  and the runner's own accounting split into time inside store calls (target < 2 % of generation
  time), answer extraction (the rewards' extractor, needed with or without a store) and the rest.
* **raw commits**: one sample per transaction and 32 per transaction, into a WAL file store.
* **resume**: a run that crashes mid-way (the generator raises in the middle of a batch), then the
  same run again: samples generated twice (target 0), and a third run that generates nothing.

    python benchmarks/bench_pivot_store.py                   # 100 problems × 4 samples, 20 ms each
    python benchmarks/bench_pivot_store.py --problems 25     # quick form
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from pathlib import Path

from pbrlsvr.data import load_problems
from pbrlsvr.generation.base import Generation, Generator, Message, ProgressFn, SamplingConfig
from pbrlsvr.pivot import KeySet, PivotConfig, ReferenceStore, Sample, pivot_key_set, run_pivot
from pbrlsvr.pivot.runner import plan_pivot

FILLER = (
    "First, work out how many items there are in each group. Multiply the number of groups by the "
    "items per group, then subtract what was used. "
)


class SleepGenerator(Generator):
    """Sleeps ``per_sample`` seconds per completion (a model's time); optionally crashes."""

    def __init__(self, per_sample: float, crash_after: int | None = None) -> None:
        self.name = "sleep"
        self.per_sample = per_sample
        self.crash_after = crash_after
        self.samples = 0

    def _generate(
        self, conversations: list[list[Message]], settings: SamplingConfig, progress: ProgressFn | None
    ) -> list[list[Generation]]:
        out = []
        for conv in conversations:
            n = 7 + len(conv[-1]["content"]) % 50
            texts = []
            for j in range(settings.n):
                if self.crash_after is not None and self.samples >= self.crash_after:
                    raise RuntimeError("simulated crash mid-batch")
                time.sleep(self.per_sample)
                self.samples += 1
                body = FILLER * 9 + f"{n} * 2 = {2 * n}. {2 * n} - {j % 2} = {2 * n - j % 2}."
                texts.append(Generation(f"{body}\nThe answer is {2 * n - j % 2}.", 120, 300, "stop"))
            out.append(texts)
        return out


def no_store_run(problems: list, cfg: PivotConfig, per_sample: float) -> float:
    """The same generate calls on the same batches, nothing stored: the baseline."""
    gen = SleepGenerator(per_sample)
    seen: dict[str, str] = {}
    for p in problems:
        seen.setdefault(p.id, p.question_en or p.question)
    questions = list(seen.values())
    settings = cfg.sampling.model_copy(update={"n": cfg.samples})
    t0 = time.perf_counter()
    for i in range(0, len(questions), cfg.batch_size):
        gen.generate([cfg.prompt.render(q) for q in questions[i : i + cfg.batch_size]], settings)
    return time.perf_counter() - t0


def raw_commits(folder: Path, n: int, per_commit: int) -> float:
    """Seconds per sample when committing ``per_commit`` samples per transaction."""
    key = KeySet("raw", "p", f"s{per_commit}")
    text = FILLER * 9 + "The answer is 4."
    with ReferenceStore(folder / f"raw{per_commit}.sqlite") as store:
        t0 = time.perf_counter()
        for start in range(0, n, per_commit):
            store.add(
                key, [Sample(f"q{i}", 0, text, "4", "stop", "h") for i in range(start, start + per_commit)]
            )
        took = time.perf_counter() - t0
    return took / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--problems", type=int, default=100)
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--per-sample-ms", type=float, default=20.0)
    args = parser.parse_args()
    per_sample = args.per_sample_ms / 1000
    problems = load_problems("mgsm", langs=["en"], limit=args.problems)
    cfg = PivotConfig(model="sleep", samples=args.samples, batch_size=args.batch)
    total = args.problems * args.samples
    print(
        f"workload: {args.problems} problems x {args.samples} samples = {total} samples, "
        f"batches of {args.batch} problems, {args.per_sample_ms:g} ms per sample"
    )

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        base = no_store_run(problems, cfg, per_sample)
        with ReferenceStore(folder / "bench.sqlite") as store:
            t0 = time.perf_counter()
            report = run_pivot(problems, cfg, store, SleepGenerator(per_sample))
            with_store = time.perf_counter() - t0
        share = (with_store - base) / base
        print("\n| overhead | seconds | per sample |")
        print("| --- | ---: | ---: |")
        print(f"| generation alone (no store) | {base:.3f} | {1000 * base / total:.2f} ms |")
        print(f"| pivot runner with the store | {with_store:.3f} | {1000 * with_store / total:.2f} ms |")
        print(f"| overhead, end to end | {share:+.2%} | {1000 * (with_store - base) / total:+.3f} ms |")
        print(
            f"| time in store calls / generation time | {report.store_share:.3%} | "
            f"{1000 * report.store_seconds / total:.3f} ms |"
        )
        gen_s = report.generation_seconds
        print(
            f"| of which answer extraction (the rewards' extractor) | {report.extract_seconds / gen_s:.3%} | "
            f"{1000 * report.extract_seconds / total:.3f} ms |"
        )
        other = with_store - gen_s - report.store_seconds - report.extract_seconds
        print(
            f"| of which planning, rest of the loop | {other / gen_s:.3%} | {1000 * other / total:.3f} ms |"
        )
        print(
            f"store overhead target < 2 % of generation time: {'met' if report.store_share < 0.02 else 'NOT met'}"
        )

        one = raw_commits(folder, 1000, 1)
        many = raw_commits(folder, 3200, 32)
        print("\n| raw commits (WAL, synchronous=NORMAL) | per sample |")
        print("| --- | ---: |")
        print(f"| 1 sample per transaction | {1000 * one:.3f} ms |")
        print(f"| 32 samples per transaction | {1000 * many:.3f} ms |")

        path = folder / "resume.sqlite"
        crash_at = total // 2 + args.samples // 2  # in the middle of a batch
        with ReferenceStore(path) as store:
            crashed = SleepGenerator(per_sample / 10, crash_after=crash_at)
            with contextlib.suppress(RuntimeError):
                run_pivot(problems, cfg, store, crashed)
            committed = store.count(pivot_key_set(cfg))
            missing = plan_pivot(problems, cfg, store).missing
            second = SleepGenerator(per_sample / 10)
            run_pivot(problems, cfg, store, second)
            third = SleepGenerator(per_sample / 10)
            run_pivot(problems, cfg, store, third)
            final = store.count(pivot_key_set(cfg))
        print("\n| resume after a crash mid-batch | samples |")
        print("| --- | ---: |")
        print(f"| generated before the crash | {crashed.samples} |")
        print(f"| committed before the crash | {committed} |")
        print(f"| lost in flight | {crashed.samples - committed} |")
        print(f"| missing, planned by the rerun | {missing} |")
        print(f"| generated by the rerun | {second.samples} |")
        print(f"| work redone (rerun - missing) | {second.samples - missing} |")
        print(f"| generated by a third run | {third.samples} |")
        print(f"| stored at the end / expected | {final} / {total} |")
        print(
            f"target 0 redone: {'met' if second.samples == missing and third.samples == 0 and final == total else 'NOT met'}"
        )


if __name__ == "__main__":
    main()
