"""Configuration machinery: strict sections, YAML, overrides from the CLI, one error listing every problem.

Each package keeps its own sections (``data/config.py``, ``rewards/config.py``, ``models/config.py``,
``pivot/config.py``, ``train/config.py``, ``evaluation/config.py``, ``server/config.py``), so a section
can be validated against its package's registry without this module importing any package.

Every command takes ``--config file.yaml`` and ``--set key.sub=value`` (repeatable), plus typed
flags for the common keys. The order of precedence is: defaults < YAML file < ``--set`` < flags.
A wrong key or value fails *before any work starts*, with a message naming the key, the value
given and what was expected (``ConfigError``), never a traceback from deep inside a trainer.

>>> from pbrlsvr.data.config import DataConfig
>>> cfg = load_config(DataConfig, overrides={"source": "mgsm", "langs": "sw,bn", "limit": "5"})
>>> cfg.langs, cfg.limit
(['sw', 'bn'], 5)
"""

from __future__ import annotations

import reprlib
import types
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError
from yaml.constructor import ConstructorError, SafeConstructor

from pbrlsvr.errors import ConfigError
from pbrlsvr.languages import normalize_langs
from pbrlsvr.registry import did_you_mean


class StrictModel(BaseModel):
    """Base for every config section: unknown keys are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


def validate_langs(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str | list | tuple):
        return normalize_langs(value)
    raise ValueError(f"expected a list of language codes or a comma-separated string, got {excerpt(value)}")


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
