"""Run verl's own ``main_ppo`` entry point on the overrides a launch script passes, up to Ray.

Runs inside the verl side venv (``tests/test_verl_engine.py`` builds it; verl pins another
transformers than this project). ``verl.trainer.main_ppo.main`` is the Hydra entry point the
scripts start: it composes ``ppo_trainer`` from the command line, applies verl's device defaults
and runs ``validate_config`` (the micro-batch assertions, the actor's and critic's dataclass
validation), then hands the config to ``run_ppo``, which would start Ray and the GPU workers. Only
``run_ppo`` is replaced here, by a function that keeps the config; the sections verl converts to
dataclasses later (algorithm, rollout) are converted too and the reward manager is resolved as
verl's reward loop resolves it, so their checks (a bad GDPO key list, a reward manager that is not
registered) run now, not on a cluster; and the reward function is loaded with verl's own loader
(a script that names it under the old top-level key leaves verl with none).

    python compose.py ARGV.json OUT.yaml     # ARGV.json: the interpreter's arguments, as the script ran it
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from omegaconf import OmegaConf


def main() -> None:
    argv_file, out = Path(sys.argv[1]), Path(sys.argv[2])
    argv = json.loads(argv_file.read_text(encoding="utf-8"))
    if argv[:2] != ["-m", "verl.trainer.main_ppo"]:
        raise SystemExit(f"the script does not start verl's main_ppo: {argv[:2]}")
    overrides = argv[2:]

    import verl.trainer.main_ppo as main_ppo
    from verl.trainer.ppo.reward import get_custom_reward_fn, resolve_reward_manager_cls
    from verl.utils.config import omega_conf_to_dataclass

    kept = {}

    def stop_before_ray(config, task_runner_class) -> None:
        kept["config"] = config

    main_ppo.run_ppo = stop_before_ray
    sys.argv = ["verl.trainer.main_ppo", *overrides]
    main_ppo.main()  # Hydra: compose, then verl's auto_set_device and validate_config
    config = kept["config"]
    omega_conf_to_dataclass(config.algorithm)  # AlgoConfig (GDPO keys and weights)
    resolve_reward_manager_cls(config)  # as verl's RewardLoopManager: the manager must be registered
    if get_custom_reward_fn(config) is None:  # verl's loader, as each reward worker runs it
        raise SystemExit(
            "reward.custom_reward_function.path is unset: verl would score data_source='pbrlsvr' with its "
            "default scorer, which raises NotImplementedError at the first step"
        )
    omega_conf_to_dataclass(config.actor_rollout_ref.rollout)  # RolloutConfig, as verl's rollout replicas do
    OmegaConf.save(config, out)
    print(f"composed and validated: {out}")


if __name__ == "__main__":
    main()
