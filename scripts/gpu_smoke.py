"""CUDA smoke run: the training and reward code paths on a GPU, with tiny models built here.

CI and the tests never need a GPU; this script is what we run once on a GPU machine to check that
the CUDA paths work (no weights needed, nothing downloaded):

1. GRPO (TRL ``GRPOTrainer``) in bf16 on CUDA, full fine-tuning and LoRA, 2 steps each, with the
   PB-RLSVR reward whose semantic component runs a sentence-transformers encoder on CUDA. Checks:
   every component is logged, the weights change, a checkpoint is written and ``resume`` continues.
2. The transformers generation backend in bf16 on CUDA: batched greedy output equals one-at-a-time.

    python scripts/gpu_smoke.py                 # needs a CUDA device
    python scripts/gpu_smoke.py --device cpu    # the same checks on CPU (float32), for a dry run

``--no-language`` drops the language component and gate (weight 0), for machines without the
``lingua`` wheel (96 MB); language identification runs on the CPU in any case.
Prints one JSON summary line at the end; exits 1 if a check failed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.tiny_models / tests.test_train: the tiny models the tests build

REF = "Roger started with 5 balls. 2 cans of 3 balls each is 6 balls. 5 + 6 = 11. The answer is 11."


def tiny_encoder_folder(folder: Path) -> str:
    """A random 2-layer BERT saved as a plain transformers folder (sentence-transformers loads it)."""
    from tests.test_encoders import _tiny_hf_folder

    return _tiny_hf_folder(folder)


def training_rows(path: Path, n: int = 8) -> Path:
    rows = [
        {
            "id": f"msvamp-{i:04d}",
            "lang": "sw",
            "question": "roger alikuwa na mipira 5",
            "reference": REF,
            "reference_answer": "11",
        }
        for i in range(n)
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def build_reward(encoder_folder: str, device: str, language: bool) -> object:
    from pbrlsvr.rewards.config import RewardConfig
    from pbrlsvr.rewards.encoders.sentence_transformers_encoder import SentenceTransformerEncoder
    from pbrlsvr.rewards.reward import Reward

    weights = {} if language else {"language": 0.0}
    cfg = RewardConfig(
        langs=["sw"],
        weights=weights,
        language_gate=language,
        encoder={"calibration": (0.0, 1.0)},
    )
    return Reward(cfg, encoder=SentenceTransformerEncoder(encoder_folder, device=device))


def tiny_policy(device: str, dtype: object) -> tuple[object, object]:
    from tests.test_train import tiny_causal_lm

    model, tok = tiny_causal_lm()
    return model.to(device=device, dtype=dtype), tok


def grpo_check(tmp: Path, device: str, reward: object, lora: bool) -> dict[str, object]:
    import torch

    from pbrlsvr.config import load_config
    from pbrlsvr.train.config import TrainConfig
    from pbrlsvr.train.grpo import train

    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    name = "lora" if lora else "full"
    base = {
        "data": str(training_rows(tmp / "rows.jsonl")),
        "output_dir": str(tmp / name),
        "max_steps": 2,
        "num_generations": 4,
        "per_device_train_batch_size": 4,
        "max_completion_length": 16,
        "save_steps": 1,
        "learning_rate": 1e-3,
        "bf16": dtype == torch.bfloat16,
        "model": {"name": "tiny", "device": device},
        "lora": {"enabled": lora, "r": 4, "alpha": 8},
    }
    model, tok = tiny_policy(device, dtype)
    before = {k: v.detach().float().cpu().clone() for k, v in model.state_dict().items()}
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    res = train(load_config(TrainConfig, overrides=base), model=model, tokenizer=tok, reward=reward)
    seconds = time.perf_counter() - start
    records = [json.loads(x) for x in res.metrics_path.read_text().splitlines()]
    keys = set().union(*records)
    wanted = {"rewards/semantic/mean", "rewards/answer/mean", "rewards/trace/mean", "rewards/pbrlsvr/mean"}
    changed = _changed(before, res.final_dir, lora)
    # resume: two more steps from checkpoint-2 of the same run
    model2, tok2 = tiny_policy(device, dtype)
    more = load_config(TrainConfig, overrides={**base, "max_steps": 4, "resume": True})
    res2 = train(more, model=model2, tokenizer=tok2, reward=reward)
    params = next(p for p in model.parameters())
    return {
        "mode": name,
        "ok": wanted <= keys and changed and res.steps == 2 and res2.steps == 4 and bool(res2.resumed_from),
        "param_device": str(params.device),
        "param_dtype": str(params.dtype),
        "missing_metrics": sorted(wanted - keys),
        "weights_changed": changed,
        "steps": res.steps,
        "resumed_to": res2.steps,
        "seconds_2_steps": round(seconds, 2),
        "peak_cuda_mb": round(torch.cuda.max_memory_allocated() / 2**20, 1)
        if device.startswith("cuda")
        else None,
        "mean_semantic": sum(r.get("rewards/semantic/mean", 0) for r in records) / max(len(records), 1),
    }


def _changed(before: dict[str, object], final_dir: Path, lora: bool) -> bool:
    """Did training move the weights? (full: the saved model differs; LoRA: lora_B left zero)."""
    import torch
    from safetensors.torch import load_file

    files = sorted(final_dir.glob("*.safetensors"))
    if not files:
        return False
    saved = {}
    for f in files:
        saved.update(load_file(str(f)))
    if lora:  # peft initialises lora_B to zero: any non-zero B means a step changed it
        return any("lora_B" in k and bool(v.float().abs().sum() > 0) for k, v in saved.items())
    return any(
        k in before and not torch.allclose(before[k], v.float().cpu(), atol=0.0)
        for k, v in saved.items()  # type: ignore[arg-type]
    )


def generation_check(device: str) -> dict[str, object]:
    import torch

    from pbrlsvr.generation.base import SamplingConfig
    from pbrlsvr.generation.transformers_backend import TransformersGenerator

    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    pair = tiny_policy(device, dtype)
    convs = [[{"role": "user", "content": "roger had " + " ".join(["5"] * (i + 1))}] for i in range(8)]
    settings = SamplingConfig(max_new_tokens=12, temperature=0.0)
    batched = TransformersGenerator(pair, batch_size=8).generate(convs, settings)
    single = TransformersGenerator(pair, batch_size=1).generate(convs, settings)
    same = sum(a[0].text == b[0].text for a, b in zip(batched, single, strict=True))
    return {"ok": same >= 7 and all(g[0].error is None for g in batched), "identical": f"{same}/8"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--no-language", action="store_true", help="language weight 0, no gate (no lingua)")
    args = ap.parse_args()
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("no CUDA device: use --device cpu for a dry run", file=sys.stderr)
        return 2
    summary: dict[str, object] = {
        "torch": torch.__version__,
        "device": torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "cpu",
    }
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        reward = build_reward(tiny_encoder_folder(tmp / "enc"), args.device, not args.no_language)
        enc_model = reward.semantic.encoder.model  # type: ignore[attr-defined]
        summary["encoder_device"] = str(enc_model.device)
        summary["grpo"] = [grpo_check(tmp, args.device, reward, lora) for lora in (False, True)]
        summary["generation"] = generation_check(args.device)
    ok = all(g["ok"] for g in summary["grpo"]) and summary["generation"]["ok"]  # type: ignore[index, union-attr]
    summary["ok"] = ok
    print(json.dumps(summary))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
