"""Generation backends by name, and the one parser of a model spec.

A *model spec* is the string a config or a flag names a model with; it selects a backend:

- ``<prefix>:<target>``: the backend registered with that prefix (``ct2:qwen2.5-coder-0.5b-instruct``,
  ``vllm:meta-llama/Llama-3.1-8B-Instruct``);
- ``<scheme>://...``: the backend registered for that URL scheme (``http://gpu-box:8000/v1#<model>``
  is the OpenAI-compatible one; the part after ``#`` fills its ``fragment`` option, the served model);
- anything else: the default backend (transformers: offline alias, ``.gguf``, folder, HF id).

:func:`parse_model_spec` turns a spec and its options into a :class:`ModelSpec`, checking the options
against what the backend's factory takes (read from its signature, so a new constructor argument
is an option with no table to update); :func:`build_generator` builds it. Every command that runs a
model (eval, pivot, the demo, the reward's LLM translator) goes through these two.

A backend is one module that registers itself, built-ins and plugins alike:

>>> from pbrlsvr.generation.backends import register_backend
>>> register_backend("echo", EchoGenerator, prefix="echo")  # doctest: +SKIP
>>> build_generator("echo:anything", answer=18)  # EchoGenerator("anything", answer=18)  # doctest: +SKIP
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pbrlsvr.errors import ConfigError
from pbrlsvr.generation.base import Generator
from pbrlsvr.registry import Registry

GeneratorFactory = Callable[..., Generator]
"""``factory(target, **options) -> Generator``: a :class:`Generator` class or a function."""


@dataclass(frozen=True)
class Backend:
    """One generation backend.

    Attributes:
        name: the registry name (``transformers``, ``ct2``, ``vllm``, ``openai``, a plugin's).
        factory: called as ``factory(target, **options)``; its keyword parameters are the options.
        prefix: a spec ``<prefix>:<target>`` selects this backend.
        schemes: URL schemes (``http``) whose URLs select this backend; the URL is the target.
        fragment: the option that the ``#...`` part of a URL fills (the OpenAI backend's ``model``).
        default: the backend of a spec that no prefix or scheme selects (there is one).
    """

    name: str
    factory: GeneratorFactory
    prefix: str | None = None
    schemes: tuple[str, ...] = ()
    fragment: str | None = None
    default: bool = False

    @property
    def signature(self) -> inspect.Signature:
        return inspect.signature(self.factory)

    @property
    def options(self) -> tuple[str, ...]:
        """What the factory takes by keyword besides the target, in its signature's order."""
        params = list(self.signature.parameters.values())[1:]
        kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        return tuple(p.name for p in params if p.kind in kinds)

    @property
    def required(self) -> tuple[str, ...]:
        """Options without a default (the OpenAI backend's served ``model``)."""
        params = list(self.signature.parameters.values())[1:]
        return tuple(
            p.name for p in params if p.name in self.options and p.default is inspect.Parameter.empty
        )

    @property
    def open_options(self) -> bool:
        """The factory also takes ``**kwargs`` (vLLM hands them to ``vllm.LLM``): any name passes."""
        return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in self.signature.parameters.values())

    @property
    def spec_form(self) -> str:
        """How a spec selects this backend: ``ct2:<model>``, ``http|https://...#<model>``, ``<model>``."""
        if self.prefix:
            return f"{self.prefix}:<model>"
        if self.schemes:
            return f"{'|'.join(self.schemes)}://..." + (f"#<{self.fragment}>" if self.fragment else "")
        return "<model>"

    def spec_text(self, target: str, served_model: str | None = None) -> str:
        """The spec string that selects this backend for ``target``."""
        if self.prefix:
            return f"{self.prefix}:{target}"
        if served_model is not None and self.fragment:
            return f"{target}#{served_model}"
        return target


BACKENDS: Registry[Backend] = Registry("generation backend")
"""Every backend, by name; built-ins register in their own modules (``ct2_backend.py``, ...)."""


def register_backend(
    name: str,
    factory: GeneratorFactory,
    *,
    prefix: str | None = None,
    schemes: tuple[str, ...] | list[str] = (),
    fragment: str | None = None,
    default: bool = False,
    replace: bool = False,
) -> Backend:
    """Register a backend (see :class:`Backend`); returns the entry.

    A prefix or URL scheme already used by another backend is refused (``ValueError``) unless
    ``replace=True``: the spec would otherwise select one of them silently.
    """
    backend = Backend(
        name=name.strip().lower(),
        factory=factory,
        prefix=prefix.strip().lower().rstrip(":") if prefix else None,
        schemes=tuple(s.strip().lower().removesuffix("://") for s in schemes),
        fragment=fragment,
        default=default,
    )
    if fragment and fragment not in backend.options:
        raise ValueError(f"backend {name!r}: fragment option {fragment!r} is not a parameter of its factory")
    # The entries as they stand (no plugin loading): built-ins register while pbrlsvr.generation
    # is being imported, before a plugin could import it.
    if not replace:
        for other in BACKENDS.registered():
            if other.name == backend.name:
                continue
            clash = (
                (backend.prefix and backend.prefix == other.prefix)
                or set(backend.schemes) & set(other.schemes)
                or (backend.default and other.default)
            )
            if clash:
                raise ValueError(
                    f"generation backend {name!r} would take a spec form of {other.name!r}; "
                    "pass replace=True to override it"
                )
    return BACKENDS.register(backend.name, backend, replace=replace)


def backend_names() -> list[str]:
    """Registered backends with the spec form of each (for help texts): ``ct2 (ct2:<model>)``."""
    return [f"{name} ({b.spec_form}{', default' if b.default else ''})" for name, b in BACKENDS.items()]


# --- the spec -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model spec: which backend, what it runs, and its options (see :func:`parse_model_spec`).

    Attributes:
        backend: the registry name of the backend.
        target: what the backend runs: a model spec for local backends, a URL for a server.
        served_model: a server backend's model (its ``fragment`` option: the part after ``#``).
        options: keyword arguments for the backend's factory, already checked against it.
    """

    backend: str
    target: str
    served_model: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", dict(self.options))

    def __hash__(self) -> int:
        return hash((self.backend, self.target, self.served_model, tuple(sorted(self.options))))

    @property
    def entry(self) -> Backend:
        return BACKENDS.get(self.backend)

    @property
    def text(self) -> str:
        """The spec string (``ct2:<model>``, ``http://host/v1#<model>``, ``<model>``)."""
        return self.entry.spec_text(self.target, self.served_model)

    def takes(self, option: str) -> bool:
        """Whether the backend takes ``option``."""
        return option in self.entry.options or self.entry.open_options

    def with_options(self, **options: Any) -> ModelSpec:
        """A copy with ``options`` set (``None`` values dropped), checked like the parser checks."""
        return parse_model_spec(self, options)

    def with_defaults(self, **options: Any) -> ModelSpec:
        """A copy with those of ``options`` that the backend takes and this spec does not set.

        How a caller offers a setting of its own without knowing the backend: eval offers its
        ``batch_size``, which the local backends batch with and a server backend does not take.
        """
        # By name only: vLLM's **kwargs go on to vllm.LLM, which takes no batch_size.
        named = self.entry.options
        extra = {k: v for k, v in options.items() if v is not None and k not in self.options and k in named}
        return parse_model_spec(self, extra) if extra else self

    def build(self) -> Generator:
        """The :class:`Generator` (loads the model, or connects to the server, when it runs)."""
        entry = self.entry
        kwargs = dict(self.options)
        if entry.fragment and self.served_model is not None:
            kwargs[entry.fragment] = self.served_model
        return entry.factory(self.target, **kwargs)


_PREFIX = re.compile(r"^([A-Za-z][A-Za-z0-9_+.-]*):(?!//)(.*)$", re.DOTALL)
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://", re.DOTALL)


def _select(text: str, source: str) -> tuple[Backend, str, str | None]:
    """``(backend, target, fragment)`` for a stripped, non-empty spec string."""
    entries = [b for _, b in BACKENDS.items()]
    scheme = _SCHEME.match(text)
    if scheme:
        for b in entries:
            if scheme.group(1).lower() in b.schemes:
                if b.fragment:
                    url, sep, frag = text.partition("#")
                    return b, url, (frag.strip() or None) if sep else None
                return b, text, None
        known = sorted(s for b in entries for s in b.schemes)
        raise ConfigError(
            f"model spec {source!r}: no generation backend serves {scheme.group(1)}:// URLs "
            f"(known: {', '.join(known) or 'none'})"
        )
    prefix = _PREFIX.match(text)
    if prefix:
        head = prefix.group(1).lower()
        for b in entries:
            if b.prefix == head:
                target = prefix.group(2).strip()
                if not target:
                    raise ConfigError(f"model spec {source!r}: name the model after '{head}:'")
                return b, target, None
    defaults = [b for b in entries if b.default]
    if not defaults:
        raise ConfigError(f"model spec {source!r}: no default generation backend is registered")
    return defaults[-1], text, None


def parse_model_spec(
    spec: str | Mapping[str, Any] | ModelSpec, options: Mapping[str, Any] | None = None, **kw: Any
) -> ModelSpec:
    """The one parser of a model spec (see the module docstring for the forms).

    ``spec`` may also be a mapping ``{"model": <spec>, **options}`` (a config section) or a
    :class:`ModelSpec` to add options to. ``options`` and then ``kw`` override its options;
    ``None`` values are dropped, so callers can pass optional settings through.

    Raises:
        ConfigError: an empty spec, a prefix with no model, an option the backend does not take
            (naming the closest and listing what it takes), a missing required option, or a
            URL's ``#model`` that disagrees with the option it fills.
    """
    if isinstance(spec, ModelSpec):
        entry = BACKENDS.get(spec.backend)
        merged = {**spec.options, **(options or {}), **kw}
        source = spec.text
        target, fragment = spec.target, spec.served_model
    else:
        if isinstance(spec, Mapping):
            merged = dict(spec)
            if not isinstance(merged.get("model"), str):
                raise ConfigError(f"generator options {merged!r} need a 'model' string (the spec)")
            spec = merged.pop("model")
            merged = {**merged, **(options or {}), **kw}
        else:
            merged = {**(options or {}), **kw}
        if not isinstance(spec, str):
            raise ConfigError(f"a model spec must be a string, got {type(spec).__name__}")
        source = spec
        text = spec.strip()
        if not text:
            names = ", ".join(backend_names())
            raise ConfigError(
                f"empty generator spec: give a model, <prefix>:<model> or a URL; backends: {names}"
            )
        entry, target, fragment = _select(text, source)
    opts = {k: v for k, v in merged.items() if v is not None}
    _check_options(entry, opts, source)
    if entry.fragment:
        given = opts.pop(entry.fragment, None)
        if fragment and given is not None and given != fragment:
            raise ConfigError(
                f"generator spec {source!r} names model {fragment!r} but {entry.fragment}={given!r}"
            )
        fragment = fragment or given
    missing = [k for k in entry.required if k not in opts and not (k == entry.fragment and fragment)]
    if missing:
        if missing == [entry.fragment]:
            raise ConfigError(
                f"generator spec {source!r}: name the served model, as {target}#<model> "
                f"or with {entry.fragment}=..."
            )
        raise ConfigError(f"generator spec {source!r} ({entry.name} backend) needs {', '.join(missing)}")
    return ModelSpec(entry.name, target, fragment, opts)


def _check_options(entry: Backend, opts: Mapping[str, Any], source: str) -> None:
    if entry.open_options:
        return
    unknown = sorted(set(opts) - set(entry.options))
    if not unknown:
        return
    from pbrlsvr.registry import did_you_mean

    hints = [(k, did_you_mean(k, entry.options)) for k in unknown]
    named = ", ".join(f"{k} (did you mean {near}?)" if near else k for k, near in hints)
    raise ConfigError(
        f"generator spec {source!r} ({entry.name} backend) does not take {named}; "
        f"it takes {', '.join(entry.options) or 'no options'}"
    )


def build_generator(spec: str | Mapping[str, Any] | ModelSpec, **kw: Any) -> Generator:
    """A :class:`Generator` for a model spec (:func:`parse_model_spec`, then :meth:`ModelSpec.build`).

    - ``http://host:port/v1#<model>`` or ``https://...#<model>``: the OpenAI-compatible backend; the
      served model follows ``#``, or is given as ``model=`` (both must then agree). The ``#`` form
      keeps a whole remote model in one config string, and it is the generator's ``name``.
    - ``vllm:<model>``: vLLM's offline engine (needs ``pbrlsvr[vllm]``).
    - ``ct2:<model>``: CTranslate2 (needs ``pbrlsvr[engine]``), any model spec converted once (int8
      by default; ``compute_type=float32`` for fp32 numerics).
    - anything else (offline alias, ``.gguf``, folder, HF id): transformers.
    - a plugin's prefix or URL scheme: the plugin's backend.

    Keyword arguments are the backend's options; ``None`` values are dropped, and one the backend
    does not take is a :class:`ConfigError` naming what it takes.
    """
    return parse_model_spec(spec, kw).build()


def with_backend(spec: str, backend: str) -> str:
    """``spec`` run on ``backend`` when it names a plain model (the default backend), else unchanged.

    >>> with_backend("qwen2.5-coder-0.5b-instruct", "ct2")  # doctest: +SKIP
    'ct2:qwen2.5-coder-0.5b-instruct'
    """
    parsed = parse_model_spec(spec)
    if not parsed.entry.default:
        return spec
    return BACKENDS.get(backend).spec_text(parsed.target)


__all__ = [
    "BACKENDS",
    "Backend",
    "GeneratorFactory",
    "ModelSpec",
    "backend_names",
    "build_generator",
    "parse_model_spec",
    "register_backend",
    "with_backend",
]
