#!/usr/bin/env bash
# The paper's PPO baseline (GAE with a critic) on verl 0.9.x: TRL has no PPO trainer any more, verl
# does. Same data and reward as grpo.sh; the advantage estimator and the critic differ. Verified:
# verl 0.9.1 (tests/test_verl_engine.py).
#   bash configs/verl/ppo.sh                                                  # one node
#   PBRLSVR_REWARD_URL=http://reward-host:8000 NNODES=4 bash configs/verl/ppo.sh   # many nodes
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
"${PYTHON:-python3}" -m verl.trainer.main_ppo \
  algorithm.adv_estimator=gae \
  "${DATA_ARGS[@]}" "${ACTOR_ARGS[@]}" \
  actor_rollout_ref.rollout.n=1 \
  critic.model.path="$MODEL" critic.optim.lr=1e-5 \
  critic.ppo_mini_batch_size=64 critic.ppo_micro_batch_size_per_gpu=4 \
  "${REWARD_ARGS[@]}" \
  "${TRAINER_ARGS[@]}" trainer.experiment_name=ppo-baseline "$@"
