# Sourced by grpo.sh, ppo.sh and gdpo.sh: what the three share, for verl >= 0.9 (verified 0.9.1).
#   REWARD_ARGS  the reward overrides;
#   DATA_ARGS    the exported Parquet files and lengths;
#   ACTOR_ARGS   the policy, its optimiser and the micro-batch sizes verl >= 0.5 asserts on start-up.
#
# The reward:
# verl reads only reward.custom_reward_function.*: the old top-level custom_reward_function.* is
# still accepted by Hydra and silently ignored, and verl's default scorer then fails on
# data_source=pbrlsvr. pkg:// makes every Ray worker import the installed package (no file path of
# this node has to exist on the others); reward_kwargs travel in the Hydra config to every worker
# on every node, unlike this shell's environment.
#   PBRLSVR_REWARD_URL set (many nodes, the default there): score on one `pbrlsvr serve`, the
#     encoder loaded once; the service holds the reward config; set PBRLSVR_TOKEN in every node's
#     environment if the service has a token.
#   unset (one node): each of the reward.num_workers reward workers builds the reward from
#     PBRLSVR_REWARD_CONFIG (default configs/reward.yaml), passed as an absolute path: on many
#     nodes it must be on a shared filesystem.
_PBRLSVR_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REWARD_WORKERS=${REWARD_WORKERS:-8}
if [[ -n "${PBRLSVR_REWARD_URL:-}" ]]; then
  REWARD_ARGS=(
    reward.custom_reward_function.path=pkg://pbrlsvr.integrations.remote_verl
    reward.custom_reward_function.name=compute_score_async
    "+reward.custom_reward_function.reward_kwargs.url=${PBRLSVR_REWARD_URL}"
    reward.num_workers="$REWARD_WORKERS"
  )
else
  REWARD_CONFIG=$(realpath -e "${PBRLSVR_REWARD_CONFIG:-$_PBRLSVR_HERE/../reward.yaml}")
  REWARD_ARGS=(
    reward.custom_reward_function.path=pkg://pbrlsvr.integrations.verl
    reward.custom_reward_function.name=compute_score
    "+reward.custom_reward_function.reward_kwargs.config=${REWARD_CONFIG}"
    reward.num_workers="$REWARD_WORKERS"
  )
fi
# Data files as absolute paths: verl's TaskRunner, which reads them, is a Ray actor.
DATA_DIR=$(realpath -m "${DATA_DIR:-data}")
DATA_ARGS=(
  data.train_files="$DATA_DIR/pbrlsvr_train.parquet"
  data.val_files="$DATA_DIR/pbrlsvr_val.parquet"
  data.train_batch_size=256 data.max_prompt_length=512 data.max_response_length=1024
)
MODEL=${MODEL:-meta-llama/Llama-3.1-8B-Instruct}
ACTOR_ARGS=(
  actor_rollout_ref.model.path="$MODEL"
  actor_rollout_ref.actor.optim.lr=1e-6
  actor_rollout_ref.actor.ppo_mini_batch_size=64
  actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=4
  actor_rollout_ref.rollout.name=vllm
  actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=8
)
TRAINER_ARGS=(
  trainer.n_gpus_per_node=${GPUS_PER_NODE:-8} trainer.nnodes=${NNODES:-1}
  trainer.project_name=pbrlsvr trainer.total_epochs=1
)
