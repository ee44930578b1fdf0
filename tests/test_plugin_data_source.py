"""A data source added from outside the package: a plugin file registers it, YAML and the CLI use it."""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pbrlsvr.cli import app
from pbrlsvr.data import SOURCES, describe_sources, unregister_source
from pbrlsvr.generation.base import Generation, Generator, Message, ProgressFn, SamplingConfig

PLUGIN = textwrap.dedent(
    '''
    """toy-arith: three sums per language, in English and German."""

    from pbrlsvr.data import DataSource, Problem, register_source

    QUESTIONS = {"en": "What is {a} plus {b}?", "de": "Was ist {a} plus {b}?"}


    def load(cfg, issues):
        problems = []
        for lang, template in QUESTIONS.items():
            for i in range(3):
                a, b = i + 1, 10 * (i + 1)
                english = QUESTIONS["en"].format(a=a, b=b)
                problems.append(
                    Problem(f"toy-{i}", lang, template.format(a=a, b=b), english, str(a + b), "toy-arith")
                )
        return problems


    register_source(DataSource("toy-arith", load, "three sums in English and German", task="math"))
    '''
)


@pytest.fixture
def plugin(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "toy_source.py"
    path.write_text(PLUGIN, encoding="utf-8")
    yield path
    unregister_source("toy-arith")


def _yaml(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_pbrlsvr_data_loads_a_plugin_source_from_yaml(plugin: Path, tmp_path: Path) -> None:
    out = tmp_path / "problems.jsonl"
    cfg = _yaml(
        tmp_path / "data.yaml", f"data: {{source: toy-arith, langs: [de, en], limit: 2}}\noutput: {out}\n"
    )
    result = CliRunner().invoke(app, ["--plugin", str(plugin), "data", "--config", str(cfg)])
    assert result.exit_code == 0, result.output
    assert "toy-arith: 4 problems" in result.output
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [(r["id"], r["lang"], r["gold"]) for r in rows] == [
        ("toy-0", "de", "11"),
        ("toy-1", "de", "22"),
        ("toy-0", "en", "11"),
        ("toy-1", "en", "22"),
    ]
    assert rows[0]["question"] == "Was ist 1 plus 10?" and rows[0]["question_en"] == "What is 1 plus 10?"
    assert ("toy-arith", "math", "three sums in English and German") in describe_sources()


PHRASES = {"What": "The answer is", "Was": "Die Antwort lautet"}


class _Adder(Generator):
    """Answers every sum right, in the prompt's language."""

    name = "adder"

    def _generate(
        self, conversations: list[list[Message]], settings: SamplingConfig, progress: ProgressFn | None
    ) -> list[list[Generation]]:
        out = []
        for conv in conversations:
            text = conv[-1]["content"]
            a, b = (int(n) for n in re.findall(r"\d+", text)[:2])
            phrase = next(p for word, p in PHRASES.items() if text.startswith(word))
            out.append([Generation(f"{a} + {b} = {a + b}. {phrase} {a + b}.", 12, 8, "stop")])
        return out


def test_pbrlsvr_eval_runs_on_a_plugin_source(
    plugin: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("pbrlsvr.evaluation.runner.make_generator", lambda spec, **options: _Adder())
    out = tmp_path / "eval"
    cfg = _yaml(
        tmp_path / "eval.yaml",
        f"""\
        model: adder
        data: {{source: toy-arith, langs: [en, de]}}
        output: {out}
        prompt: {{templates: {{"*": "{{question}}"}}}}
        consistency: {{candidates: [en, de]}}
        bootstrap: {{resamples: 200}}
        plots: false
        """,
    )
    result = CliRunner().invoke(app, ["--plugin", str(plugin), "eval", "--config", str(cfg)])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["settings"]["benchmark"] == "toy-arith" and report["settings"]["task"] == "math"
    assert report["counts"]["items"] == 6
    assert {lang: m["accuracy"] for lang, m in report["languages"].items()} == {"en": 1.0, "de": 1.0}


def test_an_unknown_source_name_exits_2_naming_the_known_ones(plugin: Path, tmp_path: Path) -> None:
    typo = _yaml(tmp_path / "typo.yaml", "data: {source: toy-arith, format: toy-arithm}\n")
    result = CliRunner().invoke(app, ["--plugin", str(plugin), "data", "--config", str(typo)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "did you mean 'toy-arith'" in result.output and "mgsm" in result.output
    missing = _yaml(tmp_path / "missing.yaml", "data: {source: toy-arithm}\n")
    result = CliRunner().invoke(app, ["--plugin", str(plugin), "data", "--config", str(missing)])
    assert result.exit_code == 2 and "did you mean 'toy-arith'" in result.output
    bench = _yaml(tmp_path / "bench.yaml", f"benchmark: toy-arithm\noutput: {tmp_path / 'e'}\n")
    result = CliRunner().invoke(app, ["--plugin", str(plugin), "eval", "--config", str(bench)])
    assert (
        result.exit_code == 2 and "did you mean 'toy-arith'" in result.output and "polymath" in result.output
    )


def test_without_the_plugin_the_name_is_unknown(tmp_path: Path) -> None:
    assert "toy-arith" not in SOURCES
    cfg = _yaml(tmp_path / "data.yaml", "data: {source: toy-arith}\n")
    result = CliRunner().invoke(app, ["data", "--config", str(cfg)])
    assert result.exit_code == 2 and "toy-arith" in result.output and "msvamp" in result.output
