"""A `train` run for tests/test_resume_exact.py, in a process of its own so it can die like a killed job.

    python -m tests.resume_driver OUT full
    python -m tests.resume_driver OUT kill-after-save N     # os._exit right after checkpoint-N is saved
    python -m tests.resume_driver OUT kill-before-save N    # os._exit at the end of step N, before its save
    python -m tests.resume_driver OUT kill-during-save N    # os._exit inside the save of checkpoint-N
    python -m tests.resume_driver OUT resume

Tiny random Llama (tests/test_train.py), LoRA, 2 prompts x 2 completions per step over 8 distinct
prompts, CTranslate2 rollouts, checkpoints every step, 4 steps. `os._exit` skips every cleanup, as
SIGKILL does; the hooks only choose the moment.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any


def main(argv: list[str]) -> None:
    out, mode = Path(argv[0]), argv[1]
    at = int(argv[2]) if len(argv) > 2 else 0

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

    if mode.startswith("kill-"):
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

    reward = Reward(RewardConfig(langs=["sw"], encoder={"calibration": (0.2, 0.9)}), encoder=HashEncoder())
    model, tokenizer = tiny_causal_lm()
    grpo.train(cfg, model=model, tokenizer=tokenizer, reward=reward)


if __name__ == "__main__":
    main(sys.argv[1:])
