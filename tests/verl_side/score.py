"""Score our exported Parquet rows through verl's own reward loop, on a local Ray cluster.

Runs inside the verl side venv (``tests/test_verl_engine.py``). For each composed config (the
output of ``compose.py`` for one launch script), as verl's trainer does:

1. verl's ``RLHFDataset`` reads the Parquet file ``pbrlsvr export-verl`` wrote and verl's
   ``collate_fn`` batches it (so our schema is checked by verl's reader, not by ours);
2. the responses are tokenised with the model's tokenizer into the ``prompts`` / ``responses`` /
   ``attention_mask`` layout verl's rollout produces;
3. verl's ``RewardLoopManager`` starts ``reward.num_workers`` Ray reward workers; each loads the
   reward function with verl's custom-reward loader (``reward.custom_reward_function.*``) into the
   configured reward manager, and ``compute_rm_score`` scores the batch and gathers the per-sample
   extra info into per-key arrays, the step that needs every sample to return the same keys.

    python score.py DATA.parquet RESPONSES.json OUT.json NAME=CONFIG.yaml [NAME=CONFIG.yaml ...]

RESPONSES.json: ``[[row_index, response_text], ...]``. OUT.json, per name: the loaded function,
``rm_scores`` (the sum of each sample's token rewards), ``reward_extra_keys`` and ``extra``
(key -> one value per sample).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np


def _batch(config, parquet: str, responses: list[list], tokenizer):
    import torch
    from omegaconf import open_dict
    from tensordict import TensorDict
    from verl import DataProto
    from verl.utils.dataset.rl_dataset import RLHFDataset, collate_fn

    data_cfg = config.data.copy()
    with open_dict(data_cfg):
        # The byte-level test tokenizer makes every prompt several times longer than a real one.
        data_cfg.filter_overlong_prompts = False
    dataset = RLHFDataset(parquet, tokenizer, data_cfg)
    rows = collate_fn([dataset[int(i)] for i, _ in responses])

    prompts = [
        tokenizer.apply_chat_template(list(m), add_generation_prompt=True, tokenize=False)
        for m in rows["raw_prompt"]
    ]
    p_ids = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    r_ids = [tokenizer(t, add_special_tokens=False)["input_ids"] for _, t in responses]
    plen, rlen, pad = max(map(len, p_ids)), max(1, *map(len, r_ids)), tokenizer.pad_token_id
    n = len(responses)
    prompt_t = torch.full((n, plen), pad, dtype=torch.long)
    resp_t = torch.full((n, rlen), pad, dtype=torch.long)
    mask = torch.zeros((n, plen + rlen), dtype=torch.long)
    for i, (p, r) in enumerate(zip(p_ids, r_ids, strict=True)):  # prompts left-padded, responses right-padded
        prompt_t[i, plen - len(p) :] = torch.tensor(p)
        mask[i, plen - len(p) : plen] = 1
        if r:
            resp_t[i, : len(r)] = torch.tensor(r)
            mask[i, plen : plen + len(r)] = 1
    tensors = {"prompts": prompt_t, "responses": resp_t, "attention_mask": mask}
    non_tensor = {k: v for k, v in rows.items() if isinstance(v, np.ndarray) and v.dtype == object}
    return DataProto(batch=TensorDict(tensors, batch_size=n), non_tensor_batch=non_tensor)


def main() -> None:
    parquet, responses_file, out_file = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    configs = dict(arg.split("=", 1) for arg in sys.argv[4:])
    responses = json.loads(responses_file.read_text(encoding="utf-8"))

    import ray
    from omegaconf import OmegaConf
    from verl.experimental.reward_loop import RewardLoopManager
    from verl.trainer.constants_ppo import get_ppo_ray_runtime_env
    from verl.trainer.ppo.reward import get_custom_reward_fn
    from verl.utils import hf_tokenizer

    results = {}
    ray.init(num_cpus=2, include_dashboard=False, runtime_env=get_ppo_ray_runtime_env())
    try:
        for name, path in configs.items():
            config = OmegaConf.load(path)
            loaded = get_custom_reward_fn(config)  # what each reward worker runs, loaded here to report it
            raw_fn, kwargs = loaded.args[0], loaded.args[1]
            tokenizer = hf_tokenizer(config.actor_rollout_ref.model.path)
            data = _batch(config, parquet, responses, tokenizer)
            manager = RewardLoopManager(config)
            try:
                out = manager.compute_rm_score(data)
            finally:
                for worker in manager.reward_loop_workers:
                    ray.kill(worker)
            keys = list(out.meta_info["reward_extra_keys"])
            results[name] = {
                "loaded": f"{raw_fn.__module__}.{raw_fn.__qualname__}",
                "reward_kwargs": dict(kwargs),
                "manager": manager.reward_manager_cls.__name__,
                "workers": len(manager.reward_loop_workers),
                "rm_scores": out.batch["rm_scores"].sum(dim=-1).tolist(),
                "reward_extra_keys": keys,
                "extra": {k: [float(v) for v in out.non_tensor_batch[k]] for k in keys},
            }
            print(f"{name}: scored {len(data)} samples with {results[name]['loaded']}")
    finally:
        ray.shutdown()
    out_file.write_text(json.dumps(results, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
