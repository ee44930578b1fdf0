"""`pbrlsvr experiment`: matched-budget arms (base, accuracy, PB-RLSVR, ...) from one YAML.

The question a researcher asks first: does the PB-RLSVR reward make a policy reason better in the
target languages than plain RL on the same budget, without target-language labels? One config
names the policy, the pivot, the training data, the languages, the evaluation sets, the budget
and the arms; every arm trains on the same rows, in the same order, with the same seed, steps,
group size, lengths and learning rate. Only the reward differs.

Stages (each resumable; ``<output>/state.json`` records what is finished, so a half-done
experiment reports what it has and says what it lacks):

1. **pivot**: the pivot model answers each training problem's *English* question (``samples``
   votes); references are kept by the pivot's own agreement, never by gold, so the
   ``pbrlsvr`` arm sees no label. Its accuracy against gold is reported.
2. **train** (per training arm): GRPO on TRL with the arm's reward (:data:`ARMS`), CTranslate2
   rollouts on CPU, checkpoints for resume;
3. **eval** (per arm, right after its training, per evaluation set): greedy, the training prompt,
   fsynced predictions. Arm by arm, so a sitting that ends early keeps whole arms.
4. **report**: ``results.md`` / ``results.json`` / ``plots/``: per language Acc, LC, LC&Acc with
   intervals for every arm, paired deltas vs ``base`` and vs ``accuracy`` with p-values, the gap to
   English, the reward curves, the machine, the commit and wall times
   (:mod:`pbrlsvr.experiment.report`).
"""

from __future__ import annotations

from pbrlsvr.experiment.config import (
    ARMS,
    ArmConfig,
    BudgetConfig,
    EvalSetConfig,
    ExperimentConfig,
    ExperimentPivotConfig,
    load_experiment_config,
)
from pbrlsvr.experiment.report import write_results
from pbrlsvr.experiment.runner import (
    State,
    arm_train_config,
    eval_config,
    git_commit,
    machine_info,
    pivot_config,
    run_experiment,
)

__all__ = [
    "ARMS",
    "ArmConfig",
    "BudgetConfig",
    "EvalSetConfig",
    "ExperimentConfig",
    "ExperimentPivotConfig",
    "State",
    "arm_train_config",
    "eval_config",
    "git_commit",
    "load_experiment_config",
    "machine_info",
    "pivot_config",
    "run_experiment",
    "write_results",
]
