#!/usr/bin/env bash
# GRPO with the PB-RLSVR reward on verl 0.9.x (Ray; one or many nodes). Verified: verl 0.9.1, whose
# own Hydra composition and config validation accept exactly these overrides and whose reward loop
# scores our Parquet rows through this reward (tests/test_verl_engine.py).
#   pbrlsvr export-verl --data runs/pivot/train.jsonl -o data/pbrlsvr_train.parquet
#   pbrlsvr export-verl --data runs/pivot/val.jsonl   -o data/pbrlsvr_val.parquet
#   bash configs/verl/grpo.sh                         # one node; PBRLSVR_REWARD_CONFIG=... to change the reward
#   PBRLSVR_REWARD_URL=http://reward-host:8000 NNODES=4 bash configs/verl/grpo.sh   # many nodes: `pbrlsvr serve`
# Extra Hydra overrides go last (they win): bash configs/verl/grpo.sh trainer.total_epochs=3
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
"${PYTHON:-python3}" -m verl.trainer.main_ppo \
  algorithm.adv_estimator=grpo \
  "${DATA_ARGS[@]}" "${ACTOR_ARGS[@]}" \
  actor_rollout_ref.actor.use_kl_loss=True actor_rollout_ref.actor.kl_loss_coef=0.001 \
  actor_rollout_ref.rollout.n=8 actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu=8 \
  "${REWARD_ARGS[@]}" \
  "${TRAINER_ARGS[@]}" trainer.experiment_name=grpo-pbrlsvr "$@"
