"""A run's outputs: checked writable before any work, one writer at a time, and a torn checkpoint
that a later resume steps over instead of dying on."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from pbrlsvr.outputs import OutputBusyError, OutputNotWritableError, hold_folder, hold_output, writable_file
from pbrlsvr.train.checkpoints import checkpoint_problem, newest_complete_checkpoint
from tests.test_train import _cfg, reward, tiny_causal_lm  # noqa: F401 - reward is a fixture


def _complete_checkpoint(folder: Path, step: int) -> Path:
    import torch
    from safetensors.torch import save_file

    folder.mkdir(parents=True)
    (folder / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    save_file({"w": torch.zeros(64, 64)}, str(folder / "adapter_model.safetensors"))
    torch.save({"state": {}}, folder / "optimizer.pt")
    torch.save({"last_epoch": step}, folder / "scheduler.pt")
    torch.save({"python": 1}, folder / "rng_state.pth")
    return folder


@pytest.mark.parametrize(
    ("tear", "reason"),
    [
        (lambda f: (f / "trainer_state.json").unlink(), "no trainer_state.json"),
        (lambda f: (f / "trainer_state.json").write_text('{"global_st'), "trainer_state.json is unreadable"),
        (lambda f: (f / "optimizer.pt").unlink(), "no optimizer.pt"),
        (lambda f: (f / "adapter_model.safetensors").unlink(), "no model or adapter weights"),
        (
            lambda f: (f / "adapter_model.safetensors").write_bytes(
                (f / "adapter_model.safetensors").read_bytes()[:5000]
            ),
            "adapter_model.safetensors is unreadable",
        ),
        (
            lambda f: (f / "rng_state.pth").write_bytes((f / "rng_state.pth").read_bytes()[:-40]),
            "rng_state.pth is truncated or not a torch archive",
        ),
    ],
)
def test_a_torn_checkpoint_is_recognised_and_the_previous_one_taken(
    tmp_path: Path, tear, reason: str
) -> None:
    older = _complete_checkpoint(tmp_path / "checkpoint-4", 4)
    newest = _complete_checkpoint(tmp_path / "checkpoint-8", 8)
    assert checkpoint_problem(newest) is None
    tear(newest)
    found, skipped = newest_complete_checkpoint(tmp_path)
    assert found == older
    assert [(p.name, why.split(" (")[0]) for p, why in skipped] == [("checkpoint-8", reason)]
    assert newest.is_dir()  # never deleted


def test_train_resumes_from_the_newest_complete_checkpoint(tmp_path: Path, reward, caplog) -> None:  # noqa: F811
    """A kill during the save of checkpoint-2 (its weights cut short): the resume takes checkpoint-1,
    says which it skipped and why, and trains on to the end."""
    from pbrlsvr.train.grpo import train

    model, tok = tiny_causal_lm()
    res = train(_cfg(tmp_path, max_steps=2), model=model, tokenizer=tok, reward=reward)
    torn = res.output_dir / "checkpoint-2" / "model.safetensors"
    torn.write_bytes(torn.read_bytes()[:1000])
    model2, tok2 = tiny_causal_lm()
    with caplog.at_level(logging.WARNING, logger="pbrlsvr.train.grpo"):
        res2 = train(_cfg(tmp_path, max_steps=3, resume=True), model=model2, tokenizer=tok2, reward=reward)
    assert res2.resumed_from is not None and res2.resumed_from.endswith("checkpoint-1")
    assert res2.steps == 3
    assert "skipping checkpoint-2 (model.safetensors is unreadable" in caplog.text
    steps = [json.loads(x)["step"] for x in res2.metrics_path.read_text().splitlines() if '"loss"' in x]
    assert steps == [1, 2, 3]  # step 2 logged once: the torn sitting's record was dropped


def test_a_second_writer_is_refused_naming_the_holder(tmp_path: Path, reward) -> None:  # noqa: F811
    import os

    from pbrlsvr.train.grpo import train

    cfg = _cfg(tmp_path, max_steps=1)
    with hold_folder(cfg.output_dir, "the training output"):
        model, tok = tiny_causal_lm()
        with pytest.raises(OutputBusyError, match=f"pid {os.getpid()}"):
            train(cfg, model=model, tokenizer=tok, reward=reward)
    assert not (cfg.output_dir / "metrics.jsonl").exists()  # nothing was written meanwhile
    # Released with its holder: the next run goes ahead.
    model, tok = tiny_causal_lm()
    assert train(cfg, model=model, tokenizer=tok, reward=reward).steps == 1


def test_the_lock_goes_with_a_killed_holder(tmp_path: Path) -> None:
    """flock is released by the kernel when its holder dies: no stale lock after kill -9."""
    import subprocess
    import sys

    lock = tmp_path / "out.lock"
    code = (
        "import sys, time; from pathlib import Path; from pbrlsvr.outputs import hold_output\n"
        f"with hold_output(Path({str(lock)!r}), 'x'):\n    print('held', flush=True); time.sleep(60)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        with pytest.raises(OutputBusyError, match=f"pid {child.pid}"), hold_output(lock, "the output"):
            pass
    finally:
        child.kill()
        child.wait()
    with hold_output(lock, "the output"):
        pass


def test_unwritable_outputs_fail_before_any_work(tmp_path: Path, reward) -> None:  # noqa: F811
    from typer.testing import CliRunner

    from pbrlsvr.cli import app
    from pbrlsvr.train.grpo import train

    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    with pytest.raises(OutputNotWritableError, match="is a file, not a folder"):
        train(_cfg(tmp_path, output_dir=str(a_file)), reward=reward)  # no model passed: none is loaded
    with pytest.raises(OutputNotWritableError, match="cannot be written"):
        train(_cfg(tmp_path, output_dir=str(a_file / "run")), reward=reward)
    with pytest.raises(OutputNotWritableError, match="is a folder, not a file"):
        writable_file(tmp_path, "the export")
    result = CliRunner().invoke(
        app, ["pivot", "--data", "msvamp", "--set", "data.limit=1", "-o", str(a_file / "refs.jsonl")]
    )
    assert result.exit_code == 2, result.output
    assert "the pivot export" in result.output and "is a file, not a folder" in result.output
    assert "Traceback" not in result.output
