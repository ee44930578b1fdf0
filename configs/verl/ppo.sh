#!/usr/bin/env bash
# The paper's PPO baseline (GAE with a critic) on verl: TRL has no PPO trainer any more, verl does.
# Same data and reward as grpo.sh; only the advantage estimator and the critic differ.
#   PBRLSVR_REWARD_CONFIG=configs/reward.yaml bash configs/verl/ppo.sh
set -euo pipefail
MODEL=${MODEL:-meta-llama/Llama-3.1-8B-Instruct}
REWARD_PY=$(python -c "import pbrlsvr.integrations.verl as m; print(m.__file__)")
python -m verl.trainer.main_ppo \
  algorithm.adv_estimator=gae \
  data.train_files=data/pbrlsvr_train.parquet \
  data.val_files=data/pbrlsvr_val.parquet \
  data.train_batch_size=256 data.max_prompt_length=512 data.max_response_length=1024 \
  actor_rollout_ref.model.path="$MODEL" \
  actor_rollout_ref.actor.optim.lr=1e-6 \
  actor_rollout_ref.rollout.name=vllm actor_rollout_ref.rollout.n=1 \
  critic.model.path="$MODEL" critic.optim.lr=1e-5 \
  custom_reward_function.path="$REWARD_PY" custom_reward_function.name=compute_score \
  trainer.n_gpus_per_node=8 trainer.nnodes=${NNODES:-1} \
  trainer.project_name=pbrlsvr trainer.experiment_name=ppo-baseline \
  trainer.total_epochs=1 "$@"
