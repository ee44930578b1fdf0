"""The end-to-end demo: pivot → eval → GRPO → eval → report, and a re-run that recomputes nothing.

The fast test runs the whole flow with a tiny random model saved as a folder (it stands in for both
the pivot and the policy; the reward uses the real packaged encoder and lingua). The slow test runs
the README's command, shrunk, on the packaged SmolLM2.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pbrlsvr.config import load_config
from pbrlsvr.demo import DemoConfig, run_demo
from pbrlsvr.errors import DataError


def _tiny_folder(folder: Path) -> str:
    from tests.test_train import tiny_causal_lm

    model, tok = tiny_causal_lm()
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return str(folder)


def _check_report(out: Path, langs: list[str]) -> dict:
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    md = (out / "report.md").read_text(encoding="utf-8")
    for rel in report["plots"].values():
        png = out / rel
        assert png.is_file() and png.read_bytes()[:4] == b"\x89PNG", rel
        assert f"]({rel})" in md  # every plot is shown in the report
    assert set(report["plots"]) == {"training_curves", "before_after", "compare"}
    assert set(report["compare"]["languages"]) == set(langs)
    for lang in langs:
        assert f"| {lang} (n=" in md
        for when in ("before", "after"):
            row = report[when]["languages"][lang]
            assert 0.0 <= row["accuracy"] <= 1.0 and 0.0 <= row["language_consistency"] <= 1.0
    # the training section holds the combined reward and components as logged per step
    assert "reward" in report["training"]["series"]
    assert {"semantic", "answer", "language"} <= set(report["training"]["series"])
    return report


def _tiny_demo(tmp_path: Path, **overrides: object) -> DemoConfig:
    """A demo config whose pivot and policy are one tiny random model, with small sizes."""
    model = _tiny_folder(tmp_path / "tiny")
    base = {
        "output": str(tmp_path / "demo"),
        "pivot": model,
        "policy": model,
        "train_problems": 2,
        "pivot_samples": 1,
        "eval_problems": 2,
        "max_new_tokens": 16,
        "train_completion_tokens": 16,
    }
    return load_config(DemoConfig, overrides={**base, **overrides})


def test_demo_runs_end_to_end_and_a_rerun_recomputes_nothing(tmp_path: Path) -> None:
    # keep=all: a random pivot never matches gold
    cfg = _tiny_demo(tmp_path, langs=["de", "sw"], keep="all", steps=2)
    lines: list[str] = []
    summary = run_demo(cfg, log=lines.append)
    out = cfg.output
    assert summary["computed"] == {"pivot": 2, "train_steps": 2, "eval_before": 4, "eval_after": 4}
    assert summary["report"] == str(out / "report.md")
    _check_report(out, ["de", "sw"])
    assert (out / "train" / "final" / "adapter_config.json").is_file()  # LoRA adapter
    metrics = [json.loads(x) for x in (out / "train" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in metrics if "loss" in r] == [1, 2]

    first = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert first["decoding"]["max_new_tokens"] == 16 and first["decoding"]["temperature"] == 0.0
    # the pivot's counts agree with the pivot's own summary, each named for what it counts
    pivot_summary = json.loads((out / "references.jsonl.summary.json").read_text(encoding="utf-8"))
    refs = (out / "references.jsonl").read_text(encoding="utf-8").splitlines()
    assert first["pivot"]["problem_rows"] == pivot_summary["problem_rows"] == 4  # 2 problems x 2 langs
    assert first["pivot"]["training_rows"] == pivot_summary["exported_rows"] == len(refs)
    assert "rows" not in first["pivot"]
    assert {k: v["status"] for k, v in first["steps"].items()} == dict.fromkeys(
        ["pivot", "eval_before", "train", "eval_after"], "computed"
    )
    assert all(v["seconds"] and v["seconds"] > 0 for v in first["steps"].values()), first["steps"]
    assert first["pivot"]["generation"]["generation_seconds"] > 0

    lines.clear()
    again = run_demo(cfg, log=lines.append)
    assert again["computed"] == {"pivot": 0, "train_steps": 0, "eval_before": 0, "eval_after": 0}
    assert any("already finished" in line for line in lines)
    assert again["before"] == summary["before"] and again["after"] == summary["after"]
    second = json.loads((out / "report.json").read_text(encoding="utf-8"))
    # a re-run keeps the first run's timings and counts, and says that every step was reused
    assert second["pivot"]["generation"] == first["pivot"]["generation"]
    assert second["pivot"]["this_run"]["generated"] == 0
    for name, step in second["steps"].items():
        was = first["steps"][name]
        assert step["status"] == "reused" and step["computed_now"] == 0, name
        assert (step["seconds"], step["total"]) == (was["seconds"], was["total"]), name
    for key in ("before", "after", "compare", "decoding", "training"):
        assert second[key] == first[key], key
    reused = [line for line in lines if line.strip().startswith("reused:")]
    assert len(reused) == 4, lines
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "## Steps" in md and md.count("| reused (0 now) |") == 4


def test_demo_with_no_usable_reference_says_what_to_change(tmp_path: Path) -> None:
    cfg = _tiny_demo(tmp_path, langs=["sw"])  # keep=agree_with_gold: a random pivot agrees with nothing
    with pytest.raises(DataError, match="keep=all"):
        run_demo(cfg, log=lambda _: None)


@pytest.mark.slow
@pytest.mark.integration
def test_demo_command_on_the_packaged_models(tmp_path: Path) -> None:
    """The README's main command, shrunk: SmolLM2 as pivot and policy, 2 languages, 1 step."""
    from typer.testing import CliRunner

    from pbrlsvr.cli import app

    out = tmp_path / "demo"
    args = ["demo", "-o", str(out), "--pivot", "smollm2-135m-instruct", "--policy", "smollm2-135m-instruct"]
    args += ["--langs", "de,sw", "--steps", "1", "--set", "train_problems=2", "--set", "eval_problems=2"]
    args += ["--set", "max_new_tokens=96", "--set", "train_completion_tokens=32", "--set", "keep=all"]
    # SmolLM2 rambles past 96 tokens; the default drops cut samples, which would leave no reference.
    args += ["--set", "keep_truncated=true"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    last = [line for line in result.output.splitlines() if line.strip()][-1]
    assert last.startswith("report: ") and str(out / "report.md") in last  # the last line says where
    _check_report(out, ["de", "sw"])
