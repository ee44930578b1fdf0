"""Fuzz `score_jsonl` with files that mix valid lines and every failure mode of issue 15.

A seeded generator (no hypothesis dependency; every failure is reproducible from its seed) writes
files where each line is valid or hostile (broken or truncated JSON, invalid UTF-8, deep nesting,
NaN/Infinity, out-of-range numbers, duplicate keys, lone surrogates, NUL, missing or mistyped
fields, unknown languages, non-objects, the reserved result field, blank lines, CRLF, over-long
lines) and checks what a user relies on: one output line per input line, in order; every valid
line scored exactly as it is alone and its fields copied through untouched; every other line an
error or a skip; the input unchanged; no exception; an interrupted run resumed to the same bytes;
and memory that does not grow with the number of lines.
"""

from __future__ import annotations

import hashlib
import json
import random
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from pbrlsvr.rewards.config import RewardConfig
from pbrlsvr.rewards.reward import Reward, RewardItem
from pbrlsvr.rewards.score_file import ScoreInterrupted, score_jsonl
from tests.hash_encoder import HashEncoder
from tests.test_rewards_reward import REF, SW, SW_WRONG

MAX_LINE = 4096
RESPONSES = [
    SW,
    SW_WRONG,
    REF,
    "",
    "Jibu ni 11.",
    "Roger ana mipira 5.\u2028Makopo 2 × 3 = 6. 5 + 6 = 11. Jibu ni 11. 🎾",
    "  \t ",
    "Jibu ni ١١.",
]
EXTRA_VALUES: list[Any] = [
    "#### 11",
    None,
    True,
    0,
    -3.25,
    1e308,
    [1, {"a": [None]}],
    {"nested": {"deep": [1, 2, 3]}},
    "línea\u2028two",
    "a\ud800b",  # a lone surrogate in a copied-through field: kept, written escaped
]
EXTRA_KEYS = ["answer", "note", "reward", "components", "id", "gate", "line", "error", "ключ", "meta"]


def _dumps(obj: Any) -> bytes:
    text = json.dumps(obj, ensure_ascii=False)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(obj).encode("ascii")


def _valid(rng: random.Random) -> tuple[bytes, dict[str, Any]]:
    obj: dict[str, Any] = {
        "response": rng.choice(RESPONSES),
        "lang": rng.choice(["sw", "swh_Latn", "Swahili"]),
    }
    obj["reference"] = REF
    for key in rng.sample(EXTRA_KEYS, rng.randint(0, 4)):
        obj[key] = rng.choice(EXTRA_VALUES)
    if rng.random() < 0.3:
        obj["reference_answer"] = rng.choice(["11", 11, 11.0])
    items = list(obj.items())
    rng.shuffle(items)
    obj = dict(items)
    return _dumps(obj), obj


def _hostile(rng: random.Random) -> tuple[bytes, str]:
    """A bad line and the kind of outcome it must get ("error" or "blank")."""
    good, obj = _valid(rng)
    kind = rng.randrange(19)
    if kind == 0:
        return good[: rng.randrange(1, len(good) - 1)], "error"  # truncated JSON
    if kind == 1:
        at = rng.randrange(len(good))
        return good[:at] + rng.choice([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xfe\xfe"]) + good[at:], "error"
    if kind == 2:
        depth = rng.randint(1100, 3000)
        return rng.choice([b"[", b'{"a":']) * depth, "error"
    if kind == 3:
        return good[:-1] + b', "x": ' + rng.choice(
            [b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-2e400"]
        ) + b"}", "error"
    if kind == 4:
        return good[:-1] + b', "lang": "en"}', "error"  # duplicate key
    if kind in (5, 6):
        field = rng.choice(["response", "reference", "lang"])
        bad = rng.choice(["\ud800", "\udfff", "\x00"])
        return _dumps({**obj, field: f"Jibu ni 11{bad}."}), "error"
    if kind == 7:
        missing = dict(obj)
        del missing[rng.choice(["response", "lang", "reference"])]
        return _dumps(missing), "error"
    if kind == 8:
        return _dumps({**obj, "lang": rng.choice(["xx", "klingon", 5, None, ["sw"]])}), "error"
    if kind == 9:
        return _dumps({**obj, "response": rng.choice([5, ["a"], {"t": 1}])}), "error"
    if kind == 10:
        return rng.choice([b"[1, 2]", b'"text"', b"42", b"null", b"true"]), "error"
    if kind == 11:
        return _dumps({**obj, "pbrlsvr": {"reward": 1.0}}), "error"  # the reserved result field
    if kind == 12:
        return rng.choice([b"", b"   ", b"\t", b"\r"]), "blank"
    if kind == 13:
        return _dumps({**obj, "padding": "x" * (MAX_LINE + rng.randint(1, 5000))}), "error"  # over-long
    if kind == 14:
        return _dumps({**obj, "reference": "   "}), "error"
    if kind == 15:
        return b"{" + b'"a": 1, ' * rng.randint(1, 50), "error"
    if kind == 16:
        return _dumps({**obj, "gold": rng.choice([[1], {"x": 1}])}), "error"
    if kind == 17:
        return b"\x00\x00\x00", "error"
    return good.replace(b'"', b"'"), "error"  # single quotes: not JSON


def _make_file(path: Path, rng: random.Random, n: int) -> list[tuple[str, dict[str, Any] | None]]:
    """Write ``n`` lines; return what each must become: ("valid", obj) / ("error"|"blank", None)."""
    expect: list[tuple[str, dict[str, Any] | None]] = []
    with open(path, "wb") as fh:
        for _ in range(n):
            if rng.random() < 0.45:
                raw, obj = _valid(rng)
                expect.append(("valid", obj))
            else:
                raw, kind = _hostile(rng)
                expect.append((kind, None))
            fh.write(raw + (b"\r\n" if rng.random() < 0.2 else b"\n"))
    return expect


@pytest.fixture(scope="module")
def reward() -> Reward:
    return Reward(RewardConfig(langs=["sw"], encoder={"calibration": (0.2, 0.9)}), encoder=HashEncoder())


class _StopAfter:
    def __init__(self, reward: Reward, batches: int) -> None:
        self.reward, self.left, self.config = reward, batches, reward.config

    def check_item(self, item: RewardItem) -> None:
        self.reward.check_item(item)

    def score_batch(self, items: Any) -> Any:
        self.left -= 1
        if self.left < 0:
            raise KeyboardInterrupt
        return self.reward.score_batch(items)


@pytest.mark.parametrize("seed", range(12))
def test_fuzzed_files_keep_every_promise(tmp_path: Path, reward: Reward, seed: int) -> None:
    rng = random.Random(seed)
    src = tmp_path / "in.jsonl"
    expect = _make_file(src, rng, rng.randint(40, 160))
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    batch = rng.choice([1, 3, 8, 64])
    out = tmp_path / "out.jsonl"
    report = score_jsonl(reward, src, out, batch_size=batch, max_line_bytes=MAX_LINE)

    assert hashlib.sha256(src.read_bytes()).hexdigest() == digest  # the input is never touched
    raw_out = out.read_bytes()
    raw_out.decode("utf-8")  # valid UTF-8, whatever the input held
    rows = [json.loads(line) for line in raw_out.splitlines()]
    assert len(rows) == len(expect) == report.lines
    for number, (row, (kind, obj)) in enumerate(zip(rows, expect, strict=True), start=1):
        res = row["pbrlsvr"]
        assert res["line"] == number, (seed, number)
        if kind == "valid":
            assert obj is not None
            assert {k: v for k, v in row.items() if k != "pbrlsvr"} == obj, (seed, number)  # untouched
            alone = reward.score_batch([RewardItem.from_mapping(obj)])[0]
            got = {k: res[k] for k in ("reward", "components", "gate", "answer", "note")}
            assert got == {**alone.to_dict(), "answer": alone.answer, "note": alone.note}, (seed, number)
        elif kind == "error":
            assert isinstance(res.get("error"), str) and res["error"] and "reward" not in res, (
                seed,
                number,
                row,
            )
        else:
            assert res == {"line": number, "skipped": "blank line"}, (seed, number)
    assert report.scored == sum(k == "valid" for k, _ in expect)
    assert report.blank == sum(k == "blank" for k, _ in expect)
    assert report.failed == sum(k == "error" for k, _ in expect)

    # Interrupted at a random batch and resumed: the same bytes, each line written once.
    resumed = tmp_path / "resumed.jsonl"
    with pytest.raises(ScoreInterrupted):
        score_jsonl(
            _StopAfter(reward, rng.randint(0, 3)),  # type: ignore[arg-type]
            src,
            resumed,
            batch_size=1,
            max_line_bytes=MAX_LINE,
        )
    score_jsonl(reward, src, resumed, batch_size=batch, max_line_bytes=MAX_LINE)
    assert resumed.read_bytes() == raw_out


def _peak_bytes(reward: Reward, src: Path, out: Path) -> int:
    tracemalloc.start()
    try:
        score_jsonl(reward, src, out, batch_size=64, force=True)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_number_of_lines(tmp_path: Path, reward: Reward) -> None:
    # Before: every bad line stayed in a pending list (and its message in the report) until the
    # end, so memory grew with the file and time grew with its square.
    rng = random.Random(99)
    pool = [_hostile(rng)[0] for _ in range(300)]
    pool = [p for p in pool if len(p) < MAX_LINE] + [_valid(rng)[0] for _ in range(10)]
    small, large = tmp_path / "small.jsonl", tmp_path / "large.jsonl"
    for path, n in ((small, 2_000), (large, 20_000)):
        with open(path, "wb") as fh:
            for i in range(n):
                fh.write(pool[i % len(pool)] + b"\n")
    peak_small = _peak_bytes(reward, small, tmp_path / "o1.jsonl")
    peak_large = _peak_bytes(reward, large, tmp_path / "o2.jsonl")
    assert peak_large < 1.5 * peak_small + 512 * 1024, (peak_small, peak_large)
    assert peak_large < 16 * 1024 * 1024
