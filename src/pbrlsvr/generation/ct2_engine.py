"""CTranslate2 as the CPU inference engine: convert a transformers causal LM, generate token ids.

Why CTranslate2 (measured on 2 CPU cores, Qwen2.5-0.5B; DESIGN.md "Generation engine" has the
table): int8 sampling at 150-170 generated tokens/s where HF ``generate`` gives 2-10, a wheel with no
torch/transformers pins (vLLM's CPU build pins transformers below what we resolve and swaps
torchvision), 3-4 GB resident instead of vLLM's 12 GB, and converting new weights takes seconds,
which is what makes it usable for GRPO rollouts.

This module is the engine boundary, in token ids; :mod:`pbrlsvr.generation.ct2_backend` puts the
chat ``Generator`` interface on it and :mod:`pbrlsvr.train.engine_rollout` the TRL rollout hook.

- :func:`convert_model` writes a CTranslate2 folder from an *in-memory* model (a plain HF model or
  a peft model, whose LoRA deltas are added to copies of the base weights). The converter deletes
  modules of the model it reads and quantizes its arrays in place, so it reads a meta-device
  shell holding copies of the live model's tensors: the trainer's model is never touched.
- :func:`converted_model_dir` converts a model spec once into ``$PBRLSVR_CACHE_DIR/ct2`` (atomic,
  locked, keyed by the source files, the quantization and the CTranslate2 version).
- :class:`CT2Engine` generates from prompt token ids: ``n`` samples per prompt, per-token
  log-probs of the sampled tokens (for importance weights), finish reasons; and reloads weights
  (:meth:`CT2Engine.load_weights`).
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pbrlsvr.errors import ConfigError, MissingDependencyError

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

logger = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'pbrlsvr[engine]'"


def engine_available() -> bool:
    """Whether CTranslate2 is installed (what ``auto`` engine choices ask), without importing it."""
    import importlib.util

    return importlib.util.find_spec("ctranslate2") is not None


def eos_ids(value: Any) -> list[int]:
    """A generation config's ``eos_token_id`` (an int, a list of ints or None) as a list."""
    values = value if isinstance(value, list | tuple) else [value]
    return [int(v) for v in values if isinstance(v, int)]


def import_ctranslate2() -> Any:
    """``ctranslate2``, or a :class:`MissingDependencyError` naming the extra that installs it."""
    try:
        import ctranslate2
    except ImportError as exc:
        raise MissingDependencyError(
            f"the CTranslate2 engine is not installed ({exc}); install it with `{INSTALL_HINT}`"
        ) from None
    return ctranslate2


def check_compute_type(compute_type: str, device: str = "cpu") -> str:
    """``compute_type`` if this CTranslate2 build runs it on ``device``, else a :class:`ConfigError`."""
    ct2 = import_ctranslate2()
    kind = "cuda" if device.startswith("cuda") else "cpu"
    supported = sorted(ct2.get_supported_compute_types(kind))
    if compute_type not in (*supported, "auto", "default"):
        raise ConfigError(
            f"compute_type {compute_type!r} is not supported by CTranslate2 on {kind}; "
            f"this build supports {', '.join(supported)}"
        )
    return compute_type


def _quantization(compute_type: str) -> str:
    """The weight format to convert to for a compute type (``auto`` keeps int8 weights)."""
    return "int8" if compute_type in ("auto", "default") else compute_type


def _unwrapped(model: Any) -> Any:
    """The transformers model under a peft wrapper (or the model itself)."""
    get_base = getattr(model, "get_base_model", None)
    return get_base() if callable(get_base) else model


def _clean_state(model: Any) -> dict[str, Any]:
    """Copies of the model's tensors under plain transformers names, LoRA merged *out of place*.

    peft's ``base_layer`` is unwrapped and every active LoRA adapter's delta is added to a copy of
    its base weight (``get_delta_weight``), so the trainer's weights are never modified: merging in
    place and unmerging (what TRL does before a vLLM push) leaves rounding residue in the base
    weights after every push.
    """
    base = _unwrapped(model)
    merged: dict[str, Any] = {}
    try:
        from peft.tuners.lora import LoraLayer
    except ImportError:  # no peft, no adapters
        LoraLayer = ()
    for name, module in base.named_modules():
        if isinstance(module, LoraLayer) and not getattr(module, "merged", False):
            adapters = [a for a in module.active_adapters if a in module.lora_A]
            if adapters:
                weight = module.get_base_layer().weight
                merged[f"{name}.weight"] = weight + sum(module.get_delta_weight(a) for a in adapters)
    state = {}
    for key, value in base.state_dict().items():
        if "lora_" in key or ".modules_to_save." in key:
            continue
        key = key.replace(".base_layer.", ".")
        # A copy (merged LoRA weights are new tensors already): the converter quantizes the arrays
        # it is given in place (measured: int8 conversion of views scaled the live weights into garbage).
        state[key] = merged[key] if key in merged else value.detach().clone()
    return state


def _shell(model: Any) -> Any:
    """A copy of the model's architecture on the meta device holding copies of the model's
    tensors: what the converter may take apart and quantize in place."""
    import torch
    from transformers import AutoModelForCausalLM

    base = _unwrapped(model)
    with torch.device("meta"):
        shell = AutoModelForCausalLM.from_config(base.config)
    missing, _ = shell.load_state_dict(_clean_state(model), assign=True, strict=False)
    if getattr(base.config, "tie_word_embeddings", False) or getattr(
        getattr(base.config, "get_text_config", lambda: None)(), "tie_word_embeddings", False
    ):
        shell.lm_head.weight = shell.get_input_embeddings().weight
        missing = [k for k in missing if k != "lm_head.weight"]
    missing = [k for k in missing if not k.endswith("rotary_emb.inv_freq")]
    if missing:
        raise RuntimeError(f"cannot map the model's weights for conversion; missing {missing[:5]}")
    return shell.eval()


def convert_model(
    model: PreTrainedModel | Any,
    tokenizer: PreTrainedTokenizerBase,
    out_dir: str | Path,
    compute_type: str = "int8",
) -> Path:
    """Write ``model`` (transformers or peft, in memory) as a CTranslate2 folder at ``out_dir``.

    A peft model's active LoRA adapters are merged into copies of their base weights
    (:func:`_clean_state`), so the folder holds the weights the trainer's forward pass uses and the
    trainer's own tensors are left bit for bit as they were.
    """
    import torch

    import_ctranslate2()
    from ctranslate2.converters import TransformersConverter

    out = Path(out_dir)
    with torch.no_grad(), tempfile.TemporaryDirectory(prefix="pbrlsvr-ct2-config-") as cfg_dir:
        shell = _shell(model)
        shell.config.save_pretrained(cfg_dir)

        class _InMemory(TransformersConverter):
            def load_model(self, model_class: Any, model_name_or_path: str, **kwargs: Any) -> Any:
                return shell

            def load_tokenizer(self, tokenizer_class: Any, model_name_or_path: str, **kw: Any) -> Any:
                return tokenizer

        # CTranslate2's converter calls gc.collect() after every layer; each walks every object
        # the process holds (a trainer holds ~450k). Frozen, they are skipped: measured on the
        # 0.5B policy + LoRA, one push 9.9 s -> 5.3-5.9 s. What the conversion itself leaves
        # behind is not frozen and is collected as usual.
        gc.freeze()
        try:
            _InMemory(cfg_dir).convert(str(out), quantization=_quantization(compute_type), force=True)
        finally:
            gc.unfreeze()
    return out


def _source_fingerprint(folder: Path) -> dict[str, Any]:
    """What identifies a source folder's weights: its path and each weight/config file's size and
    modification time (hashing gigabytes on every start would cost more than converting)."""
    files = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.suffix in (".safetensors", ".bin", ".json", ".model"):
            stat = path.stat()
            files[path.name] = [stat.st_size, int(stat.st_mtime)]
    return {"path": str(folder.resolve()), "files": files}


def converted_model_dir(
    spec: str,
    compute_type: str = "int8",
    *,
    trust_remote_code: bool = False,
    progress: bool = True,
) -> Path:
    """The CTranslate2 folder for a model spec (offline alias, ``.gguf``, folder, LoRA adapter
    folder, HF id), converted once into ``<cache>/ct2/`` and reused while the source is unchanged.

    The conversion loads the model through :func:`pbrlsvr.models.load_model` (so an adapter folder
    is merged into its base) and writes atomically: a killed conversion leaves nothing in use.
    """
    ct2 = import_ctranslate2()
    check_compute_type(compute_type)  # before minutes of conversion, not after
    from pbrlsvr.models import load_model, prepare_model
    from pbrlsvr.models.cache import build_once, cache_root
    from pbrlsvr.models.progress import Steps

    source = prepare_model(spec, progress=progress)
    src = Path(source)
    key: dict[str, Any] = {
        "spec": spec,
        "source": _source_fingerprint(src) if src.is_dir() else source,
        "quantization": _quantization(compute_type),
        "ctranslate2": ct2.__version__,
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    stem = "".join(c if c.isalnum() or c in "._-" else "_" for c in src.name or spec)[:60]
    dest = cache_root() / "ct2" / f"{stem}-{key['quantization']}-{digest}"

    with Steps(progress) as steps:

        def build(out_dir: Path, scratch: Path) -> dict[str, Any]:
            step = steps.step(f"Converting {spec} to CTranslate2 {key['quantization']} (once)")
            started = time.perf_counter()
            model, tokenizer = load_model(spec, dtype="float32", trust_remote_code=trust_remote_code)
            convert_model(model, tokenizer, scratch / "model", compute_type)
            for item in (scratch / "model").iterdir():
                shutil.move(str(item), out_dir / item.name)
            # The HF side of the model (tokenizer, chat template, config, generation config): what
            # the chat interface needs without loading the weights again.
            tokenizer.save_pretrained(str(out_dir / "hf"))
            _unwrapped(model).config.save_pretrained(str(out_dir / "hf"))
            generation_config = getattr(_unwrapped(model), "generation_config", None)
            if generation_config is not None:
                generation_config.save_pretrained(str(out_dir / "hf"))
            step.done()
            return {**key, "seconds": round(time.perf_counter() - started, 2)}

        return build_once(dest, build)


@dataclass(frozen=True)
class Sample:
    """One generated completion in token ids.

    ``logprobs`` are the engine's log-probabilities of each sampled token, one per token in
    ``token_ids`` (``None`` when not requested). CTranslate2 reports them *before* temperature
    (measured against the transformers model: equal at every temperature to ``log_softmax(logits)``),
    so they are the sampling distribution's only at temperature 1, GRPO's default.
    """

    token_ids: list[int]
    logprobs: list[float] | None
    finish_reason: Literal["stop", "length"]


class CT2Engine:
    """A CTranslate2 ``Generator`` addressed in token ids.

    Args:
        model_dir: a CTranslate2 folder (:func:`converted_model_dir` / :func:`convert_model`).
        tokenizer: the model's tokenizer (maps ids to the engine's token strings, EOS ids).
        device: ``cpu`` or ``cuda``/``cuda:N``.
        compute_type: ``int8`` (default: fastest on CPU), ``int8_float32``, ``float32``, ...
        threads: intra-op threads (0 = CTranslate2's default, all cores).
        eos_token_ids: extra ids that end a completion besides the tokenizer's EOS (e.g. the
            generation config's ``<|im_end|>``).
        owns_dir: delete ``model_dir`` on :meth:`close` (a folder converted for this engine only).
    """

    def __init__(
        self,
        model_dir: str | Path,
        tokenizer: PreTrainedTokenizerBase,
        *,
        device: str = "cpu",
        compute_type: str = "int8",
        threads: int = 0,
        eos_token_ids: list[int] | None = None,
        owns_dir: bool = False,
    ) -> None:
        self.ct2 = import_ctranslate2()
        self.device, _, index = device.partition(":")
        self.index = index or "0"
        self.compute_type = check_compute_type(compute_type, self.device)
        self.threads = max(0, int(threads))
        self.tokenizer = tokenizer
        ids = list(eos_token_ids or [])
        if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in ids:
            ids.append(int(tokenizer.eos_token_id))
        if not ids:
            raise ConfigError("the CTranslate2 engine needs an end-of-sequence token id")
        self.eos_token_ids = ids
        self.model_dir = Path(model_dir)
        self._owned_dirs: list[Path] = [self.model_dir] if owns_dir else []
        self.generator = self._load(self.model_dir)
        self.weight_version = 0

    def _load(self, folder: Path) -> Any:
        return self.ct2.Generator(
            str(folder),
            device=self.device,
            device_index=int(self.index),
            compute_type=self.compute_type,
            intra_threads=self.threads,
        )

    def reseed(self, seed: int) -> None:
        """Restart sampling from ``seed``.

        CTranslate2 seeds each worker thread's random generator once, when the thread starts, from
        the global seed; ``set_random_seed`` alone does not reach running threads (measured: two
        calls after the same ``set_random_seed`` gave different samples). So the seed is set and the
        model reloaded from its folder, which restarts the workers: 0.3-0.8 s for the 0.5B model
        from the page cache.
        """
        self.ct2.set_random_seed(int(seed) % (2**31))
        self.generator = None  # free the old workers and weights before loading the new ones
        self.generator = self._load(self.model_dir)

    def load_weights(self, model: Any) -> float:
        """Replace the engine's weights with ``model``'s current ones (merged LoRA included).

        Converts in memory into a fresh folder, loads it, and deletes the previous folder this
        engine made. Returns the seconds it took (the sync cost GRPO pays per push).
        """
        started = time.perf_counter()
        folder = Path(tempfile.mkdtemp(prefix="pbrlsvr-ct2-weights-"))
        try:
            convert_model(model, self.tokenizer, folder, self.compute_type)
            generator = self._load(folder)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        old = self._owned_dirs[:]
        self.generator, self.model_dir = generator, folder
        self._owned_dirs = [folder]
        for path in old:
            shutil.rmtree(path, ignore_errors=True)
        self.weight_version += 1
        return time.perf_counter() - started

    def generate(
        self,
        prompts: list[list[int]],
        *,
        n: int = 1,
        max_new_tokens: int = 256,
        temperature: float = 0.0,
        top_p: float = 1.0,
        top_k: int = 0,
        seed: int | None = 0,
        logprobs: bool = False,
        max_batch_size: int = 0,
    ) -> list[list[Sample]]:
        """``n`` completions for every prompt (token ids), in input order.

        ``temperature == 0`` is greedy (``n`` copies of one decode). With a ``seed``, sampling is
        reseeded for this call (:meth:`reseed`): the same prompts with the same settings and seed
        give the same samples. All rows of a call share one random generator, so a row's samples
        depend on which other rows share the call (:class:`~pbrlsvr.generation.ct2_backend.CT2Generator`
        adds per-conversation seeding on top). ``seed=None`` continues the current random stream.
        """
        if not prompts:
            return []
        greedy = temperature == 0
        rows = [self.tokenizer.convert_ids_to_tokens(p) for p in prompts]
        streams: dict[int, list[list[tuple[int, float]]]] = {}
        open_streams: dict[tuple[int, int], list[tuple[int, float]]] = {}

        def record(step: Any) -> bool:
            key = (step.batch_id, step.hypothesis_id)
            if key not in open_streams:
                open_streams[key] = []
                streams.setdefault(step.batch_id, []).append(open_streams[key])
            open_streams[key].append((int(step.token_id), float(step.log_prob or 0.0)))
            return False

        if seed is not None and not greedy:
            self.reseed(seed)
        results = self.generator.generate_batch(
            rows,
            max_batch_size=max_batch_size,
            max_length=max_new_tokens,
            num_hypotheses=1 if greedy else n,
            sampling_topk=1 if greedy else top_k,
            sampling_topp=top_p,
            sampling_temperature=1.0 if greedy else temperature,
            include_prompt_in_result=False,
            return_end_token=True,
            end_token=self.eos_token_ids,
            return_scores=logprobs,
            callback=record if logprobs and not greedy else None,
        )
        eos = set(self.eos_token_ids)
        out: list[list[Sample]] = []
        for b, res in enumerate(results):
            row: list[Sample] = []
            for ids in res.sequences_ids:
                ids = list(ids)
                finish: Literal["stop", "length"] = "stop" if ids and ids[-1] in eos else "length"
                if finish == "length" and len(ids) < max_new_tokens:
                    finish = "stop"
                lps = _match_stream(ids, streams.get(b, [])) if logprobs and not greedy else None
                row.append(Sample(ids, lps, finish))
            out.append(row * n if greedy else row)
        return out

    def close(self) -> None:
        """Drop the engine and the weight folders it wrote."""
        self.generator = None
        for path in self._owned_dirs:
            shutil.rmtree(path, ignore_errors=True)
        self._owned_dirs = []


def _match_stream(ids: list[int], candidates: list[list[tuple[int, float]]]) -> list[float]:
    """The per-token log-probs of a result: CTranslate2 reports hypotheses to the step callback in
    another order than it returns them, so the stream is found by its tokens. Identical samples
    have identical log-probs, so which of two equal streams is taken does not matter.

    A stream of exactly these tokens is taken first; only when there is none is a longer stream
    that *ends* with them taken (the fewest extra tokens first), in case constrained prompt tokens
    were reported before the sample. Exact matches go first because a short sample (``"18"`` + EOS)
    may end like a longer one: matched by its tail, it would take the longer sample's stream, and
    the longer sample would then find none."""
    if not ids:
        return []

    def ends_with(stream: list[tuple[int, float]]) -> bool:
        tail = stream[-len(ids) :]
        return len(tail) == len(ids) and all(t == i for (t, _), i in zip(tail, ids, strict=True))

    matches = sorted((s for s in candidates if ends_with(s)), key=len)
    if not matches:
        raise RuntimeError("CTranslate2 returned a sample its step callback never reported")
    stream = matches[0]
    candidates.remove(stream)
    return [lp for _, lp in stream[-len(ids) :]]
