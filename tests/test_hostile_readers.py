"""Issue 15's review of every command that reads user files: `data`, `eval --data` (the same
table readers), `pivot import --from`, `pivot export`, `export-verl`, `train --data`.

For each reader, the failure modes that sank `score`: a lone surrogate or NUL in a field, deep
nesting, NaN/Infinity/out-of-range numbers, duplicate keys, blank lines, many bad lines (time and
memory), an output that is the input, an output that is a folder. Each is one clear
``file:line: reason`` (or a refusal before work), never a traceback, and never a changed input.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import warnings
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from pbrlsvr.cli import app
from pbrlsvr.data import load_problems
from pbrlsvr.data.config import DataConfig
from pbrlsvr.data.generic import read_table
from pbrlsvr.data.gsm8k import read_example_model_solutions
from pbrlsvr.data.report import Issues
from pbrlsvr.errors import DataError
from pbrlsvr.pivot.store import ReferenceStore, StoreError


def _row(i: int, **kw: Any) -> str:
    return json.dumps({"id": f"p{i}", "lang": "sw", "question": f"Swali {i}?", "gold": "11", **kw})


HOSTILE: dict[str, tuple[str, str]] = {
    "lone surrogate": (
        '{"id": "x", "lang": "sw", "question": "Swali \\ud800", "gold": "1"}',
        "lone surrogate U+D800",
    ),
    "NUL": ('{"id": "x", "lang": "sw", "question": "a\\u0000b", "gold": "1"}', "NUL character"),
    "deep nesting": ("[" * 100_000, "nested too deeply"),
    "NaN": ('{"id": "x", "lang": "sw", "question": "q", "gold": NaN}', "NaN is not standard JSON"),
    "Infinity": ('{"id": "x", "lang": "sw", "question": "q", "gold": -Infinity}', "-Infinity"),
    "overflow": ('{"id": "x", "lang": "sw", "question": "q", "gold": 1e999}', "out of range"),
    "duplicate key": (
        '{"id": "x", "lang": "sw", "lang": "en", "question": "q", "gold": "1"}',
        "duplicate key 'lang'",
    ),
    "nested surrogate": (
        '{"id": "x", "lang": "sw", "question": "q", "gold": "1", "m": ["\\udfff"]}',
        "'m[0]'",
    ),
}


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- data / eval --data (the table readers) ------------------------------------------------------


@pytest.mark.parametrize("mode", sorted(HOSTILE))
def test_jsonl_reader_reports_each_hostile_line_by_number(tmp_path: Path, mode: str) -> None:
    line, reason = HOSTILE[mode]
    src = tmp_path / "rows.jsonl"
    src.write_text("\n".join([_row(1), "", line, _row(3)]) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=rf"rows\.jsonl:3: .*{re.escape(reason)}"):
        load_problems(DataConfig(source=str(src)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        problems = load_problems(DataConfig(source=str(src), on_error="skip"))
    assert [p.id for p in problems] == ["p1", "p3"]  # the blank line and the bad one shift nothing
    table = read_table(src, issues=Issues("skip"))  # what `eval --data` reads through
    assert [n for n, _, _ in table.rows] == [1, 4]


@pytest.mark.parametrize("mode", ["lone surrogate", "deep nesting", "NaN", "duplicate key"])
def test_json_array_reader(tmp_path: Path, mode: str) -> None:
    line, reason = HOSTILE[mode]
    src = tmp_path / "rows.json"
    if mode == "deep nesting":
        src.write_text("[" + _row(1) + ", " + line + "]", encoding="utf-8")
        with pytest.raises(DataError, match="nested too deeply"):
            read_table(src, issues=Issues("skip"))
        return
    src.write_text("[" + _row(1) + ", " + line + "]", encoding="utf-8")
    if mode in ("NaN", "duplicate key"):  # the array is one JSON document: the file fails, clearly
        with pytest.raises(DataError, match=reason):
            read_table(src, issues=Issues("skip"))
        return
    table = read_table(src, issues=Issues("skip"))
    assert [n for n, _, _ in table.rows] == [1]


def test_many_bad_lines_are_linear_in_time(tmp_path: Path) -> None:
    def seconds(n: int) -> float:
        src = tmp_path / f"bad{n}.jsonl"
        lines = [HOSTILE[m][0] for m in sorted(HOSTILE) if m != "deep nesting"] + ["[" * 1200]
        src.write_text("\n".join(lines[i % len(lines)] for i in range(n)) + "\n" + _row(1) + "\n")
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert len(load_problems(DataConfig(source=str(src), on_error="skip"))) == 1
        return time.perf_counter() - t0

    small, large = seconds(2_000), seconds(16_000)
    assert large < 8 * 3 * small + 0.5, (small, large)  # 8x the lines: ~8x the time, not 64x


def test_data_output_onto_its_input_or_a_folder_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "rows.jsonl"
    src.write_text(_row(1) + "\n" + _row(2) + "\n", encoding="utf-8")
    before = _digest(src)
    runner = CliRunner()
    result = runner.invoke(app, ["data", "--data", str(src), "-o", str(src)])
    assert result.exit_code == 2 and "is the input" in result.output and "Traceback" not in result.output
    assert _digest(src) == before
    (tmp_path / "folder").mkdir()
    result = runner.invoke(app, ["data", "--data", str(src), "-o", str(tmp_path / "folder")])
    assert result.exit_code == 2 and "existing folder" in result.output
    result = runner.invoke(app, ["data", "--data", str(src), "-o", str(tmp_path / "out.jsonl")])
    assert result.exit_code == 0, result.output


def test_data_command_reports_a_hostile_line_without_a_traceback(tmp_path: Path) -> None:
    src = tmp_path / "rows.jsonl"
    src.write_text(_row(1) + "\n" + "[" * 100_000 + "\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["data", "--data", str(src)])
    assert result.exit_code == 2 and "rows.jsonl:2: invalid JSON: nested too deeply" in result.output


# --- pivot import --from, pivot export -------------------------------------------------------------


@pytest.mark.parametrize("mode", ["lone surrogate", "deep nesting", "NaN", "duplicate key"])
def test_model_solutions_reader_names_the_line(tmp_path: Path, mode: str) -> None:
    line, reason = HOSTILE[mode]
    if mode == "lone surrogate":
        line = '{"question": "Q\\ud800", "175b_verification": {"solution": "x"}}'
    src = tmp_path / "solutions.jsonl"
    ok = json.dumps({"question": "Q?", "175b_verification": {"solution": "The answer is 1."}})
    src.write_text(ok + "\n\n" + line + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=rf"solutions\.jsonl:3: .*{re.escape(reason)}"):
        read_example_model_solutions(src)


def test_pivot_export_leaves_an_empty_or_foreign_file_alone(tmp_path: Path) -> None:
    empty = tmp_path / "refs.sqlite"
    empty.touch()
    with pytest.raises(StoreError, match="is an empty file"):
        ReferenceStore(empty, create=False)
    assert empty.stat().st_size == 0 and sorted(p.name for p in tmp_path.iterdir()) == ["refs.sqlite"]
    foreign = tmp_path / "refs.jsonl"
    foreign.write_text(_row(1) + "\n", encoding="utf-8")
    before = _digest(foreign)
    with pytest.raises(StoreError, match="not a SQLite file"):
        ReferenceStore(foreign, create=False)
    assert _digest(foreign) == before
    result = CliRunner().invoke(
        app, ["pivot", "export", "--store", str(empty), "-o", str(tmp_path / "o.jsonl")]
    )
    assert result.exit_code == 2 and "empty file" in result.output and empty.stat().st_size == 0
    with ReferenceStore(tmp_path / "real.sqlite") as store:  # a real store still opens read-only
        assert store.count() == 0
    ReferenceStore(tmp_path / "real.sqlite", create=False).close()


def test_pivot_outputs_onto_their_inputs_are_refused(tmp_path: Path) -> None:
    runner = CliRunner()
    sol = tmp_path / "solutions.jsonl"
    sol.write_text(
        json.dumps({"question": "Q?", "175b_verification": {"solution": "1"}}) + "\n", encoding="utf-8"
    )
    before = _digest(sol)
    store = tmp_path / "refs.sqlite"
    for args in (
        [
            "pivot",
            "import",
            "--data",
            "mgsm",
            "--limit",
            "1",
            "--from",
            str(sol),
            "--store",
            str(store),
            "-o",
            str(sol),
        ],
        ["pivot", "export", "--store", str(store), "-o", str(store)],
    ):
        store.touch()
        result = runner.invoke(app, args)
        assert result.exit_code == 2 and "is the input" in result.output, result.output
    assert _digest(sol) == before and store.stat().st_size == 0


# --- export-verl / train --data (train.dataset.read_rows) -------------------------------------------


def test_export_verl_output_onto_its_input_or_a_folder_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "refs.jsonl"
    src.write_text(json.dumps({"id": "p1", "lang": "sw", "question": "q", "reference": "r"}) + "\n")
    before = _digest(src)
    runner = CliRunner()
    result = runner.invoke(app, ["export-verl", "--data", str(src), "-o", str(src)])
    assert result.exit_code == 2 and "is the input" in result.output and _digest(src) == before
    (tmp_path / "folder").mkdir()
    result = runner.invoke(app, ["export-verl", "--data", str(src), "-o", str(tmp_path / "folder")])
    assert result.exit_code == 2 and "existing folder" in result.output


@pytest.mark.parametrize("mode", sorted(HOSTILE))
def test_training_rows_reader_refuses_hostile_lines(tmp_path: Path, mode: str) -> None:
    from pbrlsvr.train.dataset import read_rows

    src = tmp_path / "refs.jsonl"
    src.write_text(
        json.dumps({"id": "p1", "lang": "sw", "question": "q", "reference": "r"})
        + "\n"
        + HOSTILE[mode][0]
        + "\n"
    )
    with pytest.raises(DataError, match=r"refs\.jsonl:2") as err:
        read_rows(src)
    assert HOSTILE[mode][1] in str(err.value)
