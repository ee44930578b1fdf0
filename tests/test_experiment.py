"""`pbrlsvr experiment`: the arms share one budget and data order, a stopped experiment reports what
it has and resumes without redoing finished stages, and the results carry every arm's table and
the paired deltas. A tiny random model stands in for pivot and policy (real encoder and lingua)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pbrlsvr.config import load_config
from pbrlsvr.errors import ConfigError
from pbrlsvr.experiment import ExperimentConfig, run_experiment


def _train_file(path: Path) -> Path:
    rows = []
    for i in range(3):
        for lang, q in (("de", "roger hatte 5 bälle"), ("sw", "roger alikuwa na mipira 5")):
            rows.append(
                {
                    "id": f"toy-{i:04d}",
                    "lang": lang,
                    "question": q,
                    "question_en": "roger had 5 balls",
                    "gold": "11",
                }
            )
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def fake_pivot() -> object:
    """A pivot that always answers (``... The answer is N.``): a random tiny model rarely does."""
    from pbrlsvr.generation.backends import BACKENDS, register_backend
    from tests.test_pivot_fakes import FakeGenerator

    register_backend("fake", lambda target: FakeGenerator(name=f"fake:{target}", spread=2), prefix="fake")
    yield
    BACKENDS.unregister("fake")


def _cfg(tmp_path: Path, **overrides: object) -> ExperimentConfig:
    from tests.test_demo import _tiny_folder

    model = _tiny_folder(tmp_path / "tiny")
    base = {
        "output": str(tmp_path / "exp"),
        "policy": model,
        "pivot": {"model": "fake:pivot", "samples": 2, "max_new_tokens": 16, "keep": "all"},
        "train_data": {"source": str(_train_file(tmp_path / "train.jsonl"))},
        "langs": ["de", "sw"],
        "eval_sets": [{"name": "mgsm", "data": {"source": "mgsm", "langs": ["en", "de", "sw"], "limit": 3}}],
        "eval_max_new_tokens": 16,
        "budget": {
            "steps": 2,
            "prompts_per_step": 2,
            "completions_per_prompt": 2,
            "micro_batch": 2,
            "max_completion_length": 12,
            "save_steps": 1,
        },
        "arms": ["base", "accuracy", "pbrlsvr"],
        "compute_type": "float32",
    }
    return load_config(ExperimentConfig, overrides={**base, **overrides})


def test_config_names_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown arm"):
        _cfg(tmp_path, arms=["base", "ppo"])
    with pytest.raises(ConfigError, match="must include 'base'"):
        _cfg(tmp_path, arms=["accuracy"])
    with pytest.raises(ConfigError, match="whole groups"):
        _cfg(tmp_path, budget={"completions_per_prompt": 4, "micro_batch": 2, "prompts_per_step": 2})


def test_arms_share_the_budget_and_a_stopped_run_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("ctranslate2")
    from pbrlsvr.evaluation import runner

    cfg = _cfg(tmp_path)
    out = cfg.output

    # First sitting: stop the experiment at the evaluation of the last arm.
    real_evaluate = runner.evaluate

    def stop_at_last(ecfg: object, **kw: object) -> object:
        if "/arms/pbrlsvr/" in str(ecfg.output):  # type: ignore[attr-defined]
            raise KeyboardInterrupt
        return real_evaluate(ecfg, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(runner, "evaluate", stop_at_last)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(cfg, log=lambda _: None)
    state = json.loads((out / "state.json").read_text())
    assert state["pivot"]["status"] == "done" and state["train/accuracy"]["status"] == "done"
    assert state["train/pbrlsvr"]["status"] == "done" and state["eval/accuracy/mgsm"]["status"] == "done"
    assert state["eval/pbrlsvr/mgsm"]["status"] == "running"
    partial = json.loads((out / "results.json").read_text())  # written after every finished stage
    assert partial["missing_stages"] == ["eval/pbrlsvr/mgsm"] and not partial["finished"]
    assert "Unfinished" in (out / "results.md").read_text()

    # The two arms trained on the same rows, in the same order, with the same budget.
    configs = {
        arm: (out / "arms" / arm / "train" / "config.yaml").read_text() for arm in ("accuracy", "pbrlsvr")
    }
    strip = [line for line in configs["accuracy"].splitlines() if "output_dir" not in line]
    other = [line for line in configs["pbrlsvr"].splitlines() if "output_dir" not in line]
    differing = {a.split(":")[0].strip() for a, b in zip(strip, other, strict=False) if a != b}
    assert differing <= {
        "preset",
        "answer_against",
        "language_gate",
        "answer",
        "semantic",
        "trace",
        "language",
        "format",
        "translation",
    }, differing

    # Second sitting: nothing finished is redone; the rest completes.
    monkeypatch.setattr(runner, "evaluate", real_evaluate)
    calls: list[str] = []
    from pbrlsvr.train import grpo

    real = grpo.train

    def counting_train(tcfg: object, **kw: object) -> object:
        calls.append(str(tcfg.output_dir))  # type: ignore[attr-defined]
        return real(tcfg, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(grpo, "train", counting_train)
    results = run_experiment(cfg, log=lambda _: None)
    assert calls == []  # both arms were finished
    assert results["finished"] and results["missing_stages"] == []
    md = (out / "results.md").read_text()
    for arm in ("base", "accuracy", "pbrlsvr"):
        assert arm in results["eval_sets"]["mgsm"]["arms"]
    assert set(results["eval_sets"]["mgsm"]["vs_base"]) == {"accuracy", "pbrlsvr"}
    assert set(results["eval_sets"]["mgsm"]["vs_accuracy"]) == {"pbrlsvr"}
    assert "| **avg (non-en)** |" in md and "deltas vs base" in md and "deltas vs accuracy" in md
    for arm in ("accuracy", "pbrlsvr"):  # the share of groups GRPO could learn from, per arm
        assert 0.0 <= results["training"][arm]["groups_with_signal"] <= 1.0
    assert "| groups with signal |" in md
    assert "mgsm: no final answer / cut at the token limit" in md
    for rel in results["plots"]:
        assert (out / rel).read_bytes()[:4] == b"\x89PNG" and f"]({rel})" in md
    assert results["pivot"]["problems"] == 3
    assert results["meta"]["machine"]["cpus"] >= 1

    # Third sitting: a grown evaluation set. Every arm's evaluation runs again, but only the new
    # problems are generated: the earlier predictions are kept line for line.
    before = {
        arm: (out / "arms" / arm / "eval_mgsm" / "predictions.jsonl").read_text().splitlines()
        for arm in ("base", "accuracy", "pbrlsvr")
    }
    assert all(len(lines) == 9 for lines in before.values())
    grown = _cfg(
        tmp_path,
        eval_sets=[{"name": "mgsm", "data": {"source": "mgsm", "langs": ["en", "de", "sw"], "limit": 4}}],
    )
    from pbrlsvr.pivot import commands as pivot_commands

    monkeypatch.setattr(pivot_commands, "pivot_generate", lambda *a, **k: pytest.fail("pivot re-run"))
    results = run_experiment(grown, log=lambda _: None)
    assert calls == [] and results["finished"]
    for arm, lines in before.items():
        after = (out / "arms" / arm / "eval_mgsm" / "predictions.jsonl").read_text().splitlines()
        assert len(after) == 12 and after[:9] == lines
    state = json.loads((out / "state.json").read_text())
    assert state["eval/base/mgsm"]["data"]["limit"] == 4
    assert results["eval_sets"]["mgsm"]["arms"]["base"]["languages"]["de"]["n"] == 4

    # The arms trained on the pivot's references: another pivot setting is an error, not a mix.
    with pytest.raises(ConfigError, match="pivot ran with other settings"):
        run_experiment(_cfg(tmp_path, pivot={"model": "fake:pivot", "samples": 3, "keep": "all"}))


def test_commit_is_dirty_for_code_changes_but_not_for_the_runs_own_results(tmp_path: Path) -> None:
    import subprocess

    from pbrlsvr.experiment import git_commit

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "code.py").write_text("x = 1\n")
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "r.json").write_text("{}\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    (tmp_path / "results" / "r.json").write_text('{"acc": 1}\n')
    clean = git_commit(tmp_path / "results", where=tmp_path)
    assert clean is not None and not clean.endswith("-dirty")
    assert str(git_commit(where=tmp_path)).endswith("-dirty")
    (tmp_path / "code.py").write_text("x = 2\n")
    assert str(git_commit(tmp_path / "results", where=tmp_path)).endswith("-dirty")
