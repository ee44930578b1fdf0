#!/usr/bin/env bash
# The paper's PPO baseline (GAE with a critic) on verl 0.9.x: TRL has no PPO trainer any more, verl
# does. Same data and reward as grpo.sh; the advantage estimator and the critic differ. Verified:
# verl 0.9.1 (tests/test_verl_engine.py).
#   bash configs/verl/ppo.sh                                                  # one node
#   PBRLSVR_REWARD_URL=http://reward-host:8000 NNODES=4 bash configs/verl/ppo.sh   # many nodes
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/reward_args.sh"
MODEL=${MODEL:-meta-llama/Llama-3.1-8B-Instruct}
"${PYTHON:-python3}" -m verl.trainer.main_ppo \
  algorithm.adv_estimator=gae \
  data.train_files="$DATA_DIR/pbrlsvr_train.parquet" \
  data.val_files="$DATA_DIR/pbrlsvr_val.parquet" \
  data.train_batch_size=256 data.max_prompt_length=512 data.max_response_length=1024 \
  actor_rollout_ref.model.path="$MODEL" \
  actor_rollout_ref.actor.optim.lr=1e-6 \
  actor_rollout_ref.actor.ppo_mini_batch_size=64 \
  actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=4 \
  actor_rollout_ref.rollout.name=vllm actor_rollout_ref.rollout.n=1 \
  actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=8 \
  critic.model.path="$MODEL" critic.optim.lr=1e-5 \
  critic.ppo_mini_batch_size=64 critic.ppo_micro_batch_size_per_gpu=4 \
  "${REWARD_ARGS[@]}" \
  trainer.n_gpus_per_node=${GPUS_PER_NODE:-8} trainer.nnodes=${NNODES:-1} \
  trainer.project_name=pbrlsvr trainer.experiment_name=ppo-baseline \
  trainer.total_epochs=1 "$@"
