"""A `train` run for tests/test_resume_exact.py, in a process of its own so it can die like a killed job.

    python -m tests.resume_driver OUT full
    python -m tests.resume_driver OUT kill-after-save N     # os._exit right after checkpoint-N is saved
    python -m tests.resume_driver OUT kill-before-save N    # os._exit at the end of step N, before its save
    python -m tests.resume_driver OUT kill-during-save N    # os._exit inside the save of checkpoint-N
    python -m tests.resume_driver OUT resume
    python -m tests.resume_driver OUT kill-after-save N experiment   # the same, for `experiment`

Tiny random Llama (tests/test_train.py), LoRA, 2 prompts x 2 completions per step over 8 distinct
prompts, CTranslate2 rollouts, checkpoints every step, 4 steps. The experiment (tests/test_experiment.py's
tiny config, arms base and pbrlsvr, 3 steps) is killed inside its pbrlsvr arm's training.

`os._exit` skips every cleanup, as SIGKILL does; the hooks only choose the moment.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any


def main(argv: list[str]) -> None:
    out, mode = Path(argv[0]), argv[1]
    at = int(argv[2]) if len(argv) > 2 and argv[2].isdigit() else 0
    install_kill(mode, at)
    if argv[-1] == "experiment":
        run_experiment_once(out)
    else:
        run_train(out, mode)


def run_experiment_once(out: Path) -> None:
    from pbrlsvr.experiment import run_experiment
    from pbrlsvr.generation.backends import register_backend
    from tests.test_experiment import _cfg
    from tests.test_pivot_fakes import FakeGenerator

    register_backend("fake", lambda target: FakeGenerator(name=f"fake:{target}", spread=2), prefix="fake")
    cfg = _cfg(
        out,
        arms=["base", "pbrlsvr"],
        budget={
            "steps": 3,
            "prompts_per_step": 2,
            "completions_per_prompt": 2,
            "micro_batch": 2,
            "max_completion_length": 12,
            "save_steps": 1,
        },
    )
    run_experiment(cfg, log=lambda _: None)


def install_kill(mode: str, at: int) -> None:
    """Hooks that end the process (os._exit(9)) at the moment ``mode`` names."""
    import pbrlsvr.train.grpo as grpo

    if not mode.startswith("kill-"):
        return
    from transformers import Trainer

    original_progress = grpo._compact_progress

    def progress_with_hook() -> Any:
        callback = original_progress()
        if mode == "kill-after-save":

            def on_save(args: Any, state: Any, control: Any, **kw: Any) -> None:
                if state.global_step == at:
                    os._exit(9)

            callback.on_save = on_save
        elif mode == "kill-before-save":

            def on_step_end(args: Any, state: Any, control: Any, **kw: Any) -> None:
                if state.global_step == at:
                    os._exit(9)

            callback.on_step_end = on_step_end
        return callback

    grpo._compact_progress = progress_with_hook
    if mode == "kill-during-save":
        original_rng = Trainer._save_rng_state

        def torn(self: Any, output_dir: str) -> None:
            if self.state.global_step == at:
                os._exit(9)  # weights and optimizer written, no rng state, no trainer_state.json
            original_rng(self, output_dir)

        Trainer._save_rng_state = torn  # type: ignore[method-assign]


def run_train(out: Path, mode: str) -> None:

    import pbrlsvr.train.grpo as grpo
    from pbrlsvr.config import load_config
    from pbrlsvr.rewards.config import RewardConfig
    from pbrlsvr.rewards.reward import Reward
    from pbrlsvr.train.config import TrainConfig
    from tests.hash_encoder import HashEncoder
    from tests.test_rewards_reward import REF
    from tests.test_train import tiny_causal_lm
    from tests.tiny_models import WORDS as words

    data = out / "refs.jsonl"
    rows = [
        {
            "id": f"msvamp-{i:04d}",
            "lang": "sw",
            "question": " ".join(words[i % 7 : i % 7 + 3 + i % 5]),
            "reference": REF,
            "reference_answer": "11",
        }
        for i in range(8)
    ]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    cfg = load_config(
        TrainConfig,
        overrides={
            "data": str(data),
            "output_dir": str(out / "run"),
            "max_steps": 4,
            "num_generations": 2,
            "per_device_train_batch_size": 2,
            "gradient_accumulation_steps": 2,
            "max_completion_length": 12,
            "learning_rate": 0.05,
            "save_steps": 1,
            "save_total_limit": 10,
            "lora": {"enabled": True},
            "resume": mode == "resume",
        },
    )

    reward = Reward(RewardConfig(langs=["sw"], encoder={"calibration": (0.2, 0.9)}), encoder=HashEncoder())
    model, tokenizer = tiny_causal_lm()
    grpo.train(cfg, model=model, tokenizer=tokenizer, reward=reward)


if __name__ == "__main__":
    main(sys.argv[1:])
