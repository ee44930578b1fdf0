"""A generation backend added from outside the package: a plugin file registers ``echo:``, and
``eval`` and ``pivot`` run it through a YAML config and the CLI, with no edit to ``src/``."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pbrlsvr.cli import app
from pbrlsvr.data import load_problems
from pbrlsvr.evaluation import read_predictions
from pbrlsvr.generation.backends import BACKENDS
from pbrlsvr.pivot import read_rows

PLUGIN = textwrap.dedent(
    '''
    """A toy backend: every conversation is answered "... The answer is <answer>." at once."""

    from pbrlsvr.generation import Generation, Generator, register_backend


    class EchoGenerator(Generator):
        def __init__(self, target: str, *, answer: int = 18, name: str | None = None) -> None:
            self.target = target
            self.answer = answer
            self.name = name or f"echo:{target}"

        def _generate(self, conversations, settings, progress):
            text = f"Echoing {self.target}. The answer is {self.answer}."
            out = [[Generation(text, 10, 8, "stop") for _ in range(settings.n)] for _ in conversations]
            if progress is not None:
                progress(len(conversations))
            return out


    register_backend("echo", EchoGenerator, prefix="echo")
    '''
)


@pytest.fixture
def plugin(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "echo_backend.py"
    path.write_text(PLUGIN, encoding="utf-8")
    yield path
    BACKENDS.unregister("echo")


def test_eval_runs_a_plugin_backend_from_yaml(tmp_path: Path, plugin: Path) -> None:
    config = tmp_path / "eval.yaml"
    config.write_text(
        "model: echo:anything\nmodel_options: {answer: 18}\n"
        "data: {source: mgsm, langs: [en], limit: 4}\nplots: false\nbootstrap: {resamples: 100}\n",
        encoding="utf-8",
    )
    out = tmp_path / "run"
    result = CliRunner().invoke(
        app, ["--plugin", str(plugin), "eval", "--config", str(config), "-o", str(out)]
    )
    assert result.exit_code == 0, result.output

    golds = [p.gold for p in load_problems("mgsm", langs=["en"], limit=4)]
    assert "18" in golds and len(set(golds)) > 1  # the toy is right on some problems, not all
    records = read_predictions(out / "predictions.jsonl")
    assert len(records) == 4
    assert {r["response"] for r in records} == {"Echoing anything. The answer is 18."}
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["settings"]["generator"] == "echo:anything"
    assert report["languages"]["en"]["accuracy"] == pytest.approx(golds.count("18") / len(golds))


def test_an_unknown_option_of_a_plugin_backend_names_what_it_takes(tmp_path: Path, plugin: Path) -> None:
    config = tmp_path / "eval.yaml"
    config.write_text("model: echo:anything\nmodel_options: {answr: 18}\n", encoding="utf-8")
    args = ["--plugin", str(plugin), "eval", "--config", str(config), "-o", str(tmp_path / "run")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    flat = " ".join(result.output.split())
    assert "does not take answr (did you mean answer?)" in flat and "it takes answer, name" in flat
    assert "Traceback" not in result.output and not (tmp_path / "run").exists()


def test_pivot_runs_a_plugin_backend_from_yaml(tmp_path: Path, plugin: Path) -> None:
    config = tmp_path / "pivot.yaml"
    config.write_text(
        f"data: {{source: mgsm, langs: [en], limit: 3}}\nstore: {tmp_path / 's.db'}\n"
        f"output: {tmp_path / 'refs.jsonl'}\n"
        "pivot:\n  model: echo:pivot\n  backend: {answer: 7}\n  samples: 2\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(app, ["--plugin", str(plugin), "pivot", "--config", str(config)])
    assert result.exit_code == 0, result.output
    rows = read_rows(tmp_path / "refs.jsonl")
    assert len(rows) == 3 and {r["reference_answer"] for r in rows} == {"7"}
    assert {r["reference"] for r in rows} == {"Echoing pivot. The answer is 7."}
    assert {r["pivot_model"] for r in rows} == {"echo:pivot"}
