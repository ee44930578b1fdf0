"""The evaluation runner end to end with scripted generators: report, resume, compare, CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from pbrlsvr.cli import app
from pbrlsvr.data import load_benchmark, load_problems
from pbrlsvr.errors import ConfigError, DataError
from pbrlsvr.evaluation import EvalConfig, compare_runs, evaluate, read_predictions, summarize
from pbrlsvr.evaluation.store import PredictionStore
from pbrlsvr.generation.backends import ModelSpec
from pbrlsvr.generation.base import Generation, Generator, Message, ProgressFn, SamplingConfig

LANGS = ["en", "sw", "bn"]
TEXT = {
    "en": "Roger started with some balls and bought more of them. The answer is {g}.",
    "sw": "Roger alianza na mipira kadhaa na akanunua mingine zaidi. Jibu ni {g}.",
    "bn": "রজারের কাছে কিছু বল ছিল এবং সে আরও কয়েকটি কিনেছে। উত্তর হল {g}।",
}


class Scripted(Generator):
    """Answers each problem as ``policy(index, lang)`` says: (right?, language of the response)."""

    def __init__(
        self, cfg: EvalConfig, policy: Callable[[int, str], tuple[bool, str]], delay: float = 0.0
    ) -> None:
        self.name = "scripted"
        self.policy = policy
        self.delay = delay
        self.asked: list[str] = []
        self.batches: list[int] = []
        self.problems = load_benchmark(
            cfg.data.model_copy(update={"limit": None}), benchmark=cfg.benchmark, task=cfg.task
        ).problems
        self.index = {pid: i for i, pid in enumerate(dict.fromkeys(p.id for p in self.problems))}

    def _find(self, conv: Sequence[Message]) -> Any:
        content = conv[-1]["content"]
        return next(
            p for p in self.problems if content.startswith(p.question) and p.lang in content_lang(content)
        )

    def _generate(
        self, conversations: list[list[Message]], settings: SamplingConfig, progress: ProgressFn | None
    ) -> list[list[Generation]]:
        time.sleep(self.delay)
        self.batches.append(len(conversations))
        out = []
        for conv in conversations:
            p = self._find(conv)
            self.asked.append(p.key)
            right, lang = self.policy(self.index[p.id], p.lang)
            gold = int(p.gold) if right else int(p.gold) + 1
            out.append([Generation(TEXT[lang].format(g=gold), 10, 12, "stop")])
        return out


def content_lang(content: str) -> set[str]:
    """Which of the test languages a native prompt is in (from its instruction)."""
    return {
        lang for lang, word in (("en", "English"), ("sw", "Kiswahili"), ("bn", "বাংলায়")) if word in content
    }


def policy(i: int, lang: str) -> tuple[bool, str]:
    if lang == "en":
        return i % 4 != 3, "en"  # 3 of 4 right
    if lang == "sw":
        return i % 2 == 0, "sw"  # half right, always Swahili
    return True, ("en" if i % 2 else "bn")  # always right, every other answer drifts to English


def config(out: Path, **kw: Any) -> EvalConfig:
    base: dict[str, Any] = {
        "model": "scripted",
        "data": {"source": "mgsm", "langs": LANGS, "limit": 8},
        "output": out,
        "batch_size": 3,
        "consistency": {"candidates": LANGS},
        "bootstrap": {"resamples": 300},
        "plots": False,
    }
    for key, value in kw.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    return EvalConfig.model_validate(base)


def test_report_is_what_the_predictions_say(tmp_path: Path) -> None:
    cfg = config(tmp_path / "run", plots=True)
    gen = Scripted(cfg, policy)
    result = evaluate(cfg, gen)
    report = result.report
    langs = report["languages"]
    assert list(langs) == LANGS and result.generated == 24 and max(gen.batches) == 3
    assert (langs["en"]["accuracy"], langs["en"]["language_consistency"]) == (0.75, 1.0)
    assert (langs["sw"]["accuracy"], langs["sw"]["language_consistency"], langs["sw"]["lc_acc"]) == (
        0.5,
        1.0,
        0.5,
    )
    assert (langs["bn"]["accuracy"], langs["bn"]["language_consistency"], langs["bn"]["lc_acc"]) == (
        1.0,
        0.5,
        0.5,
    )
    macro, gap = report["averages"]["macro"], report["averages"]["en_gap"]
    assert macro["accuracy"] == 0.75 and macro["lc_acc"] == 0.5 and gap["accuracy"] == 0.0

    # Everything recomputed from predictions.jsonl alone equals the report.
    records = read_predictions(tmp_path / "run" / "predictions.jsonl")
    assert len(records) == 24 and len({(r["id"], r["lang"]) for r in records}) == 24
    b = report["settings"]["bootstrap"]
    again = summarize(
        records, resamples=b["resamples"], seed=b["seed"], confidence=b["confidence"], langs=LANGS
    )
    assert again["languages"] == langs and again["averages"] == report["averages"]
    for r in records:
        assert {"prompt", "response", "extracted", "gold", "lang_share", "correct", "consistent"} <= set(r)
        assert r["prompt"][-1]["role"] == "user" and r["correct"] == (r["extracted"] == r["gold"])

    s = report["settings"]
    assert s["decoding"]["temperature"] == 0.0 and s["prompt"]["template_hash"] and s["extractor_version"]
    assert s["pbrlsvr_version"] and s["model"] == "scripted" and s["consistency"]["threshold"] == 0.5
    on_disk = json.loads((tmp_path / "run" / "report.json").read_text(encoding="utf-8"))
    assert on_disk["languages"] == langs
    md = (tmp_path / "run" / "report.md").read_text(encoding="utf-8")
    assert "| sw (Swahili) | 8 | 50.0 [" in md and "en − avg" in md and "| LC&Acc |" in md
    for png in ("metrics.png", "accuracy.png"):
        assert (tmp_path / "run" / png).read_bytes()[:4] == b"\x89PNG"


def test_resume_extends_skips_and_refuses_other_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "run"
    small = config(out, data={"limit": 2})
    first = Scripted(small, policy)
    evaluate(small, first)
    assert len(first.asked) == 6
    full = config(out)
    second = Scripted(full, policy)
    result = evaluate(full, second)
    assert result.resumed == 6 and len(second.asked) == 18 and not set(first.asked) & set(second.asked)

    def no_model(*a: Any, **k: Any) -> Generator:
        raise AssertionError("nothing is left to generate; the model must not load")

    monkeypatch.setattr("pbrlsvr.evaluation.runner.make_generator", no_model)
    assert evaluate(full).generated == 0
    assert len(read_predictions(out / "predictions.jsonl")) == 24

    other = config(out, sampling={"max_new_tokens": 64})
    with pytest.raises(ConfigError, match=r"sampling\.max_new_tokens: 512 -> 64"):
        evaluate(other, Scripted(other, policy))
    forced = config(out, sampling={"max_new_tokens": 64}, force=True, data={"limit": 1})
    assert evaluate(forced, Scripted(forced, policy)).generated == 3
    assert len(read_predictions(out / "predictions.jsonl")) == 3


def test_a_torn_last_line_is_cut_and_redone(tmp_path: Path) -> None:
    cfg = config(tmp_path / "run", data={"limit": 2})
    evaluate(cfg, Scripted(cfg, policy))
    path = tmp_path / "run" / "predictions.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(lines[:-1]) + lines[-1][:40], encoding="utf-8")  # a write cut by SIGKILL
    gen = Scripted(cfg, policy)
    evaluate(cfg, gen)
    assert len(gen.asked) == 1
    records = read_predictions(path)
    assert len(records) == 6 and len({(r["id"], r["lang"]) for r in records}) == 6
    path.write_text(path.read_text(encoding="utf-8") + "{not json}\n", encoding="utf-8")
    with pytest.raises(Exception, match=r"predictions.jsonl:7"):
        evaluate(cfg, gen)


def test_one_writer_per_folder(tmp_path: Path) -> None:
    with PredictionStore(tmp_path) as _, pytest.raises(Exception, match="another evaluation"):
        PredictionStore(tmp_path).__enter__()


_KILLED_RUN = r"""
import sys, time
from pbrlsvr.evaluation import EvalConfig, evaluate
from pbrlsvr.generation.base import Generation, Generator

class Slow(Generator):
    name = "slow"
    def _generate(self, conversations, settings, progress):
        time.sleep(0.4)
        return [[Generation("Roger alianza na mipira mitano. Jibu ni 18.", 5, 9, "stop")] for _ in conversations]

cfg = EvalConfig.model_validate_json(sys.argv[1])
evaluate(cfg, Slow())
"""


def test_resume_after_sigkill_loses_nothing_and_duplicates_nothing(tmp_path: Path) -> None:
    out = tmp_path / "run"
    cfg = config(
        out,
        data={"langs": ["sw", "en"], "limit": 6},
        batch_size=2,
        plots=False,
        consistency={"candidates": ["sw", "en"]},
    )
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_RUN, cfg.model_dump_json()], cwd=tmp_path)
    path = out / "predictions.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if path.is_file() and path.read_bytes().count(b"\n") >= 2:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    before = read_predictions(path)
    kept = path.read_bytes()[: path.read_bytes().rfind(b"\n") + 1]
    assert 2 <= len(before) < 12

    gen = Scripted(cfg, lambda i, lang: (True, lang))
    result = evaluate(cfg, gen)
    done_before = {(r["id"], r["lang"]) for r in before}
    asked = {tuple(k.rsplit(":", 1)) for k in gen.asked}
    assert not asked & done_before and len(asked) == 12 - len(before)
    assert path.read_bytes().startswith(kept)  # the killed run's lines are kept as they were
    records = read_predictions(path)
    assert len(records) == 12 and len({(r["id"], r["lang"]) for r in records}) == 12
    assert result.report["counts"] == {"items": 12, "problems": 12, "missing": 0, "ignored_predictions": 0}


def test_compare_finds_a_known_delta(tmp_path: Path) -> None:
    base = {"data": {"langs": ["en", "sw"], "limit": 20}, "consistency": {"candidates": ["en", "sw"]}}
    a, b = config(tmp_path / "a", **base), config(tmp_path / "b", **base)
    evaluate(a, Scripted(a, lambda i, lang: (lang == "en" or i % 4 == 0, lang)))  # sw: 5 of 20
    evaluate(b, Scripted(b, lambda i, lang: (lang == "en" or i % 4 != 3, lang)))  # sw: 15 of 20
    result = compare_runs(tmp_path / "a", tmp_path / "b" / "report.json")
    sw, en = result["languages"]["sw"], result["languages"]["en"]
    assert (sw["accuracy"]["a"], sw["accuracy"]["b"], sw["accuracy"]["delta"]) == (0.25, 0.75, 0.5)
    assert sw["accuracy"]["significant"] and sw["accuracy"]["p_value"] < 0.01
    assert 0 < sw["accuracy"]["delta_ci"][0] <= 0.5 <= sw["accuracy"]["delta_ci"][1]
    assert (
        en["accuracy"]["delta"] == 0.0
        and en["accuracy"]["p_value"] == 1.0
        and not en["accuracy"]["significant"]
    )
    assert result["macro"]["accuracy"]["delta"] == 0.5 and result["warnings"] == []

    out = tmp_path / "cmp"
    cli = CliRunner().invoke(
        app, ["eval", "compare", str(tmp_path / "a"), str(tmp_path / "b"), "-o", str(out)]
    )
    assert cli.exit_code == 0, cli.output
    assert "+50.0" in cli.output
    assert "| sw | 20 | 25.0 → 75.0 (+50.0 [" in (out / "compare.md").read_text(encoding="utf-8")
    assert json.loads((out / "compare.json").read_text(encoding="utf-8"))["languages"]["sw"]["n"] == 20
    assert (out / "compare.png").read_bytes()[:4] == b"\x89PNG"


def test_cli_eval_with_an_injected_generator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[ModelSpec] = []
    gens: list[Scripted] = []

    def fake_factory(spec: ModelSpec) -> Generator:
        made.append(spec)
        cfg = config(tmp_path, data={"langs": ["en", "sw"]})
        gens.append(Scripted(cfg, policy))
        return gens[-1]

    monkeypatch.setattr("pbrlsvr.evaluation.runner.make_generator", fake_factory)
    yaml_cfg = tmp_path / "eval.yaml"
    yaml_cfg.write_text(
        "consistency: {candidates: [en, sw]}\nbootstrap: {resamples: 200}\nplots: false\n"
        "model_options: {device: cpu}\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    args = [
        "eval",
        "--model",
        "my-model",
        "--data",
        "mgsm",
        "--langs",
        "en,sw",
        "--limit",
        "3",
        "-o",
        str(out),
    ]
    args += ["--batch-size", "2", "--shots", "1", "--max-new-tokens", "64", "-c", str(yaml_cfg)]
    result = CliRunner().invoke(app, [*args, "--set", "sampling.seed=7"])
    assert result.exit_code == 0, result.output
    want = ModelSpec("transformers", "my-model", options={"batch_size": 2, "device": "cpu"})
    assert made == [want] and max(gens[0].batches) == 2
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    s = report["settings"]
    assert s["model"] == "my-model" and s["shots"] == 1 and s["batch_size"] == 2
    assert s["decoding"]["max_new_tokens"] == 64 and s["decoding"]["seed"] == 7
    assert report["counts"]["items"] == 6 and "sw" in result.output and "LC&Acc" in result.output
    record = read_predictions(out / "predictions.jsonl")[0]
    assert [m["role"] for m in record["prompt"]] == ["user", "assistant", "user"]

    again = CliRunner().invoke(app, [*args, "--set", "sampling.seed=8"])
    assert (
        again.exit_code == 2 and "sampling.seed: 7 -> 8" in again.output and "Traceback" not in again.output
    )
    bad = CliRunner().invoke(app, ["eval", "-o", str(out), "--set", "shotz=2"])
    assert bad.exit_code == 2 and "unknown key 'shotz'" in bad.output
    assert CliRunner().invoke(app, ["eval", "--data", "mgsm"]).exit_code == 2  # no --output
    bogus = CliRunner().invoke(app, ["eval", "-o", str(tmp_path / "o2"), "--prompt-style", "chatty"])
    assert bogus.exit_code == 2 and "prompt.style" in bogus.output and "Traceback" not in bogus.output
    # --prompt-style train: exactly the prompt `pbrlsvr train` builds
    from pbrlsvr.prompts import build_messages

    class Echo(Generator):
        name = "echo"

        def _generate(
            self, conversations: list[list[Message]], settings: SamplingConfig, progress: ProgressFn | None
        ) -> list[list[Generation]]:
            return [[Generation("Jibu ni 1.", 10, 4, "stop")] for _ in conversations]

    monkeypatch.setattr("pbrlsvr.evaluation.runner.make_generator", lambda spec: Echo())
    styled = tmp_path / "styled"
    train_args = ["eval", "--model", "my-model", "--langs", "sw", "--limit", "1", "-o", str(styled)]
    train_args += ["--prompt-style", "train", "-c", str(yaml_cfg)]
    styled_run = CliRunner().invoke(app, train_args)
    assert styled_run.exit_code == 0, styled_run.output
    first = read_predictions(styled / "predictions.jsonl")[0]
    mgsm_sw = load_problems("mgsm", langs=["sw"], limit=1)[0]
    assert first["prompt"] == build_messages(mgsm_sw.question, "sw")


def test_prompt_problems_fail_before_any_generation(tmp_path: Path) -> None:
    path = tmp_path / "probs_ar.jsonl"
    path.write_text(json.dumps({"question": "كم يساوي ٢+٢؟", "gold": "4"}) + "\n", encoding="utf-8")
    cfg = config(tmp_path / "run", data={"source": str(path), "langs": None, "limit": None}, shots=1)
    with pytest.raises(DataError, match="exemplars"):
        evaluate(cfg, Scripted.__new__(Scripted))
    assert not (tmp_path / "run" / "predictions.jsonl").exists()


def test_model_spec_offers_the_eval_batch_size_to_backends_that_take_one() -> None:
    local = EvalConfig(model="my-model", batch_size=4, model_options={"device": "cpu"}).model_spec()
    assert local == ModelSpec("transformers", "my-model", options={"device": "cpu", "batch_size": 4})
    own = EvalConfig(model="ct2:my-model", batch_size=4, model_options={"batch_size": 2}).model_spec()
    assert own == ModelSpec("ct2", "my-model", options={"batch_size": 2})
    remote = EvalConfig(model="http://h:8000/v1#org/m", batch_size=4, model_options={"batch_size": 2})
    assert remote.model_spec() == ModelSpec("openai", "http://h:8000/v1", "org/m")
    with pytest.raises(ValueError, match=r"does not take concurency \(did you mean concurrency\?\)"):
        EvalConfig(model="http://h:8000/v1#org/m", model_options={"concurency": 2})
