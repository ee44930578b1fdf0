"""``pbrlsvr eval`` on a real packaged model through the real generation factory (slow).

The model is SmolLM2-135M-Instruct by default (Qwen2.5-Coder-0.5B takes minutes per run on two
shared CPU cores); set ``PBRLSVR_EVAL_TEST_MODEL=qwen2.5-coder-0.5b-instruct`` to use Qwen.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pbrlsvr.evaluation import EvalConfig, evaluate, read_predictions, summarize

MODEL = os.environ.get("PBRLSVR_EVAL_TEST_MODEL", "smollm2-135m-instruct")


@pytest.mark.slow
@pytest.mark.integration
def test_eval_packaged_model_on_mgsm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pbrlsvr.models import list_offline_models

    info = next(i for i in list_offline_models() if i.alias == MODEL)
    if not info.installed:
        pytest.skip(f"{MODEL} is not installed: {info.pip_command}")
    from pbrlsvr.generation import build_generator  # noqa: F401 - the runner builds through it

    cfg = EvalConfig(
        model=MODEL,
        data={"source": "mgsm", "langs": ["en", "sw", "zh"], "limit": 2},
        output=tmp_path / "run",
        batch_size=6,
        sampling={"max_new_tokens": 128},
    )
    result = evaluate(cfg)
    report = result.report
    assert result.generated == 6 and report["counts"] == {
        "items": 6,
        "problems": 6,
        "missing": 0,
        "ignored_predictions": 0,
    }
    assert list(report["languages"]) == ["en", "sw", "zh"]
    assert report["settings"]["generator"] and report["settings"]["decoding"]["max_new_tokens"] == 128
    records = read_predictions(tmp_path / "run" / "predictions.jsonl")
    for r in records:
        assert r["response"].strip() and 0 < r["completion_tokens"] <= 128
        assert r["finish_reason"] in ("stop", "length") and r["prompt_tokens"] > 0
        assert r["lang_share"] is not None and r["lang_shares"]
    b = report["settings"]["bootstrap"]
    again = summarize(records, resamples=b["resamples"], seed=b["seed"], confidence=b["confidence"])
    assert again["languages"] == report["languages"]
    assert (tmp_path / "run" / "report.md").is_file() and (tmp_path / "run" / "metrics.png").is_file()

    # Resuming a finished run needs no model.
    def no_model(*a: object, **k: object) -> None:
        raise AssertionError("a finished run must not load the model again")

    monkeypatch.setattr("pbrlsvr.evaluation.runner.make_generator", no_model)
    assert evaluate(cfg).generated == 0
