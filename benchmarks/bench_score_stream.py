"""`pbrlsvr score` on hostile input: N bad lines vs N good (empty-response) lines, time and memory.

Why these two workloads: an empty response is the cheapest *valid* line (no encoder, no language
ID), so "good" measures the engine's own per-line cost (read, parse, validate, write); "bad" mixes
every failure mode a file can hold (broken JSON, invalid UTF-8, deep nesting, NaN, duplicate keys,
lone surrogates, NUL, missing fields, unknown languages, non-objects, a reserved field), so a
regression to per-bad-line quadratic work or per-bad-line memory shows up as a ratio far from 1.

Each run is the real command (``python -m pbrlsvr score``, a fresh process, the default reward
loaded as a user would) under ``/usr/bin/time``, so wall time and peak RSS are the user's. The
reward's load time is measured once (``score`` of a one-line file) and printed, so the scoring
time itself can be read off; each file is then also scored in this process with
``score_jsonl`` on one loaded reward (the ``engine s`` column: scoring alone, no start-up). Run on an idle machine; other jobs on the 2 cores move the numbers.

    python benchmarks/bench_score_stream.py                  # 200k lines each (the issue's bar)
    python benchmarks/bench_score_stream.py --lines 20000,200000   # memory must not grow with N
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REF = "Roger started with 5 balls. 2 cans of 3 tennis balls each is 6 tennis balls. 5 + 6 = 11. The answer is 11."


def bad_lines() -> list[bytes]:
    """One line per failure mode (the mix the bad file cycles through)."""
    item = {"response": "Jibu ni 11.", "lang": "sw", "reference": REF}
    return [
        b'{"response": "Jibu ni 11", "lang": ',  # truncated JSON
        b'{"response": "\xff\xfe", "lang": "sw", "reference": "r"}',  # invalid UTF-8
        b"[" * 1200,  # nested past the parser's recursion limit
        json.dumps({**item, "score": "NaN"}).replace('"NaN"', "NaN").encode(),  # NaN
        b'{"response": "x", "lang": "sw", "lang": "en", "reference": "r"}',  # duplicate key
        json.dumps({**item, "response": "Jibu ni 11 \ud800"}).encode(),  # lone surrogate
        json.dumps({**item, "response": "Jibu\u0000 ni 11"}).encode(),  # NUL
        json.dumps({"response": "x", "lang": "sw"}).encode(),  # missing field
        json.dumps({**item, "lang": "xx"}).encode(),  # unknown language
        b"[1, 2, 3]",  # not an object
        json.dumps({**item, "pbrlsvr": 1}).encode(),  # the reserved result field
    ]


def good_line() -> bytes:
    return json.dumps({"response": "", "lang": "sw", "reference": REF}).encode()


def write(path: Path, n: int, kind: str) -> None:
    pool = bad_lines() if kind == "bad" else [good_line()]
    with open(path, "wb") as fh:
        for i in range(n):
            fh.write(pool[i % len(pool)] + b"\n")


def run(src: Path, dst: Path) -> tuple[float, int, int]:
    """(wall seconds, peak RSS in MiB, exit code) of one `pbrlsvr score` run."""
    cmd = [
        "/usr/bin/time",
        "-f",
        "%e %M",
        sys.executable,
        "-m",
        "pbrlsvr",
        "score",
        "-i",
        str(src),
        "-o",
        str(dst),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    wall, rss_kb = proc.stderr.strip().splitlines()[-1].split()
    return float(wall), int(rss_kb) // 1024, proc.returncode


def check_output(src: Path, dst: Path) -> None:
    """One output line per input line, each naming its own line number."""
    with open(src, "rb") as a, open(dst, "rb") as b:
        n = 0
        for n, (_, out) in enumerate(zip(a, b, strict=True), start=1):
            assert json.loads(out)["pbrlsvr"]["line"] == n, (dst, n)


def engine_seconds(reward: object, src: Path, dst: Path) -> float:
    """Seconds ``score_jsonl`` takes on ``src`` with an already loaded reward."""
    import time

    from pbrlsvr.rewards.score_file import score_jsonl

    t0 = time.perf_counter()
    score_jsonl(reward, src, dst, force=True)  # type: ignore[arg-type]
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", default="200000", help="comma-separated line counts (default 200000)")
    args = ap.parse_args()
    from pbrlsvr.rewards import Reward, RewardConfig

    reward = Reward(RewardConfig())
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        write(d / "one.jsonl", 1, "good")
        load, load_rss, _ = run(d / "one.jsonl", d / "one.out.jsonl")
        print(f"reward load (1-line file): {load:.1f} s, peak RSS {load_rss} MiB")
        print(
            f"{'lines':>8} {'kind':>5} {'wall s':>8} {'- load':>8} {'engine s':>9} {'RSS MiB':>8} "
            f"{'exit':>5} {'MB in':>6}"
        )
        for n in (int(x) for x in args.lines.split(",")):
            times, engine = {}, {}
            for kind in ("good", "bad"):
                src, dst = d / f"{kind}{n}.jsonl", d / f"{kind}{n}.out.jsonl"
                write(src, n, kind)
                wall, rss, code = run(src, dst)
                check_output(src, dst)
                times[kind] = wall
                engine[kind] = engine_seconds(reward, src, d / "engine.out.jsonl")
                mb = src.stat().st_size / 1e6
                print(
                    f"{n:>8} {kind:>5} {wall:>8.1f} {wall - load:>8.1f} {engine[kind]:>9.2f} {rss:>8} "
                    f"{code:>5} {mb:>6.1f}"
                )
            ratio = times["bad"] / times["good"]
            eng = engine["bad"] / engine["good"]
            print(f"{n:>8} bad/good: {ratio:.2f}x wall (the command), {eng:.2f}x engine alone (bar: < 5x)")


if __name__ == "__main__":
    main()
