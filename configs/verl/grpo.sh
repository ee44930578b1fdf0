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
source "$(dirname "${BASH_SOURCE[0]}")/reward_args.sh"
MODEL=${MODEL:-meta-llama/Llama-3.1-8B-Instruct}
"${PYTHON:-python3}" -m verl.trainer.main_ppo \
  algorithm.adv_estimator=grpo \
  data.train_files="$DATA_DIR/pbrlsvr_train.parquet" \
  data.val_files="$DATA_DIR/pbrlsvr_val.parquet" \
  data.train_batch_size=256 data.max_prompt_length=512 data.max_response_length=1024 \
  actor_rollout_ref.model.path="$MODEL" \
  actor_rollout_ref.actor.optim.lr=1e-6 \
  actor_rollout_ref.actor.ppo_mini_batch_size=64 \
  actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=4 \
  actor_rollout_ref.actor.use_kl_loss=True actor_rollout_ref.actor.kl_loss_coef=0.001 \
  actor_rollout_ref.rollout.name=vllm actor_rollout_ref.rollout.n=8 \
  actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=8 \
  actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu=8 \
  "${REWARD_ARGS[@]}" \
  trainer.n_gpus_per_node=${GPUS_PER_NODE:-8} trainer.nnodes=${NNODES:-1} \
  trainer.project_name=pbrlsvr trainer.experiment_name=grpo-pbrlsvr \
  trainer.total_epochs=1 "$@"
