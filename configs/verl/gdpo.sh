#!/usr/bin/env bash
# GDPO on verl 0.9.x: GRPO's groups, but verl normalises each reward component within the group
# before the weighted sum, so a component with a small spread (format) is not drowned by one with a
# large spread (answer). The keys are our components' *terms* (pbrlsvr.integrations.verl_result):
# gated and zeroed exactly as in the total, so GDPO cannot pay a copied English reference through
# raw semantic similarity. Keys and weights follow configs/reward.yaml's active weights (translation
# is 0 there); change both with the reward config. Verified: verl 0.9.1 (tests/test_verl_engine.py).
#   bash configs/verl/gdpo.sh        # or PBRLSVR_REWARD_URL=http://reward-host:8000 NNODES=4 ...
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
"${PYTHON:-python3}" -m verl.trainer.main_ppo \
  algorithm.adv_estimator=gdpo \
  "+algorithm.gdpo_reward_keys=[semantic_term,answer_term,trace_term,language_term,format_term]" \
  "+algorithm.gdpo_reward_weights=[0.2,0.3,0.2,0.15,0.05]" \
  reward.reward_manager.name=gdpo \
  "${DATA_ARGS[@]}" "${ACTOR_ARGS[@]}" \
  actor_rollout_ref.actor.use_kl_loss=True actor_rollout_ref.actor.kl_loss_coef=0.001 \
  actor_rollout_ref.rollout.n=8 actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu=8 \
  "${REWARD_ARGS[@]}" \
  "${TRAINER_ARGS[@]}" trainer.experiment_name=gdpo-pbrlsvr "$@"
