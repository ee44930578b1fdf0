#!/usr/bin/env bash
# GRPO with the PB-RLSVR reward on verl (Ray; one or many nodes).
#   pbrlsvr export-verl --data runs/pivot/train.jsonl -o data/pbrlsvr_train.parquet
#   pbrlsvr export-verl --data runs/pivot/val.jsonl   -o data/pbrlsvr_val.parquet
#   PBRLSVR_REWARD_CONFIG=configs/reward.yaml bash configs/verl/grpo.sh
# For many reward workers, run `pbrlsvr serve` once and point custom_reward_function at
# pbrlsvr/integrations/remote_verl.py instead (one encoder for the whole cluster).
set -euo pipefail
MODEL=${MODEL:-meta-llama/Llama-3.1-8B-Instruct}
REWARD_PY=$(python -c "import pbrlsvr.integrations.verl as m; print(m.__file__)")
python -m verl.trainer.main_ppo \
  algorithm.adv_estimator=grpo \
  data.train_files=data/pbrlsvr_train.parquet \
  data.val_files=data/pbrlsvr_val.parquet \
  data.train_batch_size=256 data.max_prompt_length=512 data.max_response_length=1024 \
  actor_rollout_ref.model.path="$MODEL" \
  actor_rollout_ref.actor.optim.lr=1e-6 \
  actor_rollout_ref.actor.use_kl_loss=True actor_rollout_ref.actor.kl_loss_coef=0.001 \
  actor_rollout_ref.rollout.name=vllm actor_rollout_ref.rollout.n=8 \
  custom_reward_function.path="$REWARD_PY" custom_reward_function.name=compute_score \
  trainer.n_gpus_per_node=8 trainer.nnodes=${NNODES:-1} \
  trainer.project_name=pbrlsvr trainer.experiment_name=grpo-pbrlsvr \
  trainer.total_epochs=1 "$@"
