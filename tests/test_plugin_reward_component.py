"""A reward component added from outside the package, as a user's plugin: one file that registers
it, a YAML config that weights it, `pbrlsvr --plugin FILE score` that reports and totals it."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from pbrlsvr.cli import app
from pbrlsvr.rewards.components import REGISTRY

REF = "Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 eggs.\nShe makes 9 * 2 = $<<9*2=18>>18.\n#### 18"
LONG = "Janet anauza mayai 16 - 3 - 4 = 9. Anapata 9 * 2 = $18. Jibu ni 18."
SHORT = "Jibu ni 18."  # the right answer without the worked steps: half the trace
PLUGIN = '''
"""A toy reward component: brevity."""

from pbrlsvr.rewards.components import register_component

LIMIT = 40


@register_component("brevity", default_weight=0.0)
def brevity(items, context):
    """1.0 for a response of at most LIMIT characters, else 0.0."""
    return [1.0 if len(item.response) <= LIMIT else 0.0 for item in items]
'''


@pytest.fixture
def plugin(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "brevity_plugin.py"
    path.write_text(textwrap.dedent(PLUGIN), encoding="utf-8")
    yield path
    REGISTRY.unregister("brevity")


def _score(plugin: Path | None, tmp_path: Path, reward: dict[str, Any], name: str) -> Any:
    cfg = tmp_path / f"{name}.yaml"
    cfg.write_text(yaml.safe_dump({"reward": reward}), encoding="utf-8")
    src = tmp_path / "in.jsonl"
    src.write_text(
        "".join(json.dumps({"response": r, "lang": "sw", "reference": REF}) + "\n" for r in (LONG, SHORT)),
        encoding="utf-8",
    )
    out = tmp_path / f"{name}.jsonl"
    args = ["--plugin", str(plugin)] if plugin is not None else []
    result = CliRunner().invoke(app, [*args, "score", "--config", str(cfg), "-i", str(src), "-o", str(out)])
    return result, out


def _rows(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line)["pbrlsvr"] for line in out.read_text(encoding="utf-8").splitlines()]


# semantic off: the test needs no encoder; the other built-ins keep their default weights
BUILT_IN = {"semantic": 0.0, "answer": 0.3, "trace": 0.2, "language": 0.15, "format": 0.05}


def test_a_plugin_component_is_scored_reported_and_weighted(plugin: Path, tmp_path: Path) -> None:
    reward = {"weights": {"semantic": 0, "brevity": 0.5}, "langs": ["sw"]}
    result, out = _score(plugin, tmp_path, reward, "with")
    assert result.exit_code == 0, result.output
    long, short = _rows(out)
    assert list(long["components"]) == ["answer", "trace", "language", "format", "brevity"]  # report order
    assert (long["components"]["brevity"], short["components"]["brevity"]) == (0.0, 1.0)
    assert (long["components"]["trace"], short["components"]["trace"]) == (1.0, 0.5)
    weights = {**BUILT_IN, "brevity": 0.5}
    for row in (long, short):  # the total is the weighted mean, the toy's term included
        expected = sum(weights[c] * v for c, v in row["components"].items()) / sum(weights.values())
        assert row["reward"] == pytest.approx(expected, abs=1e-5)
    assert short["reward"] > long["reward"]  # brevity outweighs the worked steps' trace
    saved = yaml.safe_load((tmp_path / "with.jsonl.config.yaml").read_text(encoding="utf-8"))
    assert saved["reward"]["weights"]["brevity"] == 0.5

    # the same plugin at its registered default weight (0): not computed, and the worked steps win
    result, out = _score(plugin, tmp_path, {"weights": {"semantic": 0}, "langs": ["sw"]}, "without")
    assert result.exit_code == 0, result.output
    long, short = _rows(out)
    assert "brevity" not in long["components"]
    assert long["reward"] > short["reward"]


def test_an_unknown_component_is_a_config_error_naming_the_known_ones(plugin: Path, tmp_path: Path) -> None:
    result, out = _score(plugin, tmp_path, {"weights": {"brevty": 0.5}, "langs": ["sw"]}, "typo")
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert "reward.weights.brevty" in text and "did you mean 'brevity'?" in text
    assert "known: semantic, translation, answer, trace, language, format, brevity" in text
    assert not out.exists()

    # without the plugin, its component is unknown, and the message says how to add one
    REGISTRY.unregister("brevity")
    result, _ = _score(None, tmp_path, {"weights": {"brevity": 0.5}, "langs": ["sw"]}, "noplugin")
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert "unknown reward component 'brevity'" in text and "--plugin" in text
    assert "known: semantic, translation, answer, trace, language, format;" in text
