"""One mechanism for every pluggable kind of thing: a named :class:`Registry`, and plugin modules.

Reward components, data sources and generation backends each keep one ``Registry`` in their own
package (``rewards/components``, ``data/sources``, ``generation/backends``); the built-in entries
register themselves there exactly as a user's plugin does, so there is no second list to keep in
step. A lookup of an unknown name is a :class:`~pbrlsvr.errors.ConfigError` that names the known
entries and the closest one.

A plugin is a Python module that registers entries when imported. It is found, in this order:

- ``--plugin MODULE_OR_FILE`` on the command line (repeatable; ``pbrlsvr --plugin my_rewards score ...``);
- ``PBRLSVR_PLUGINS``: comma-separated module names or ``.py`` paths (this also reaches processes
  the CLI does not start: TRL ranks, verl's Ray workers, ``pbrlsvr serve`` under a process manager);
- installed packages' entry points in the group ``pbrlsvr.plugins`` (``[project.entry-points."pbrlsvr.plugins"]
  my_rewards = "my_rewards"``), the way pytest finds its plugins.

Environment and entry-point plugins are imported once, at the first lookup in any registry, so
library users get them without calling anything.

>>> from pbrlsvr.registry import Registry
>>> shapes = Registry("shape")
>>> @shapes.register("square")
... def square(x: float) -> float:
...     return x * x
>>> shapes.get("square")(3.0), shapes.names()
(9.0, ['square'])
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from importlib import metadata
from pathlib import Path
from typing import Generic, TypeVar, overload

from pbrlsvr.errors import ConfigError, PbrlsvrError
from pbrlsvr.hashing import digest

T = TypeVar("T")

PLUGINS_ENV = "PBRLSVR_PLUGINS"
ENTRY_POINT_GROUP = "pbrlsvr.plugins"


class PluginError(PbrlsvrError, ImportError):
    """A plugin module named by ``--plugin``, ``PBRLSVR_PLUGINS`` or an entry point cannot be imported."""


class Registry(Generic[T]):
    """Names → entries of one kind (``kind`` is what error messages call an entry).

    Args:
        kind: singular noun for messages, e.g. ``"reward component"``.
        normalize: maps a name before storing and looking up (default: lower-case, stripped).
    """

    def __init__(self, kind: str, *, normalize: Callable[[str], str] | None = None) -> None:
        self.kind = kind
        self._normalize = normalize or (lambda name: name.strip().lower())
        self._entries: dict[str, T] = {}
        self._lock = threading.Lock()

    @overload
    def register(self, name: str, entry: T, *, replace: bool = ...) -> T: ...

    @overload
    def register(self, name: str, entry: None = ..., *, replace: bool = ...) -> Callable[[T], T]: ...

    def register(self, name: str, entry: T | None = None, *, replace: bool = False) -> T | Callable[[T], T]:
        """Add ``entry`` under ``name``; without ``entry``, a decorator that adds what it decorates.

        A name taken by another entry is refused (``ValueError``) unless ``replace=True``: two
        plugins silently shadowing each other is the bug registries exist to prevent. Registering
        an equal entry again (the same function, or an equal frozen record) keeps the first, so a
        module imported twice does no harm.
        """
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"a {self.kind} needs a non-empty name, got {name!r}")
        key = self._normalize(name)

        def add(obj: T) -> T:
            with self._lock:
                current = self._entries.get(key)
                if current is not None and current == obj:
                    return current
                if current is not None and not replace:
                    raise ValueError(
                        f"{self.kind} {key!r} is already registered ({_describe(current)}); "
                        "pass replace=True to override it"
                    )
                self._entries[key] = obj
            return obj

        return add if entry is None else add(entry)

    def unregister(self, name: str) -> None:
        """Remove ``name`` (tests and plugins that replace a built-in temporarily)."""
        with self._lock:
            self._entries.pop(self._normalize(name), None)

    def get(self, name: str) -> T:
        """The entry for ``name``; an unknown name is a :class:`ConfigError` naming the known ones."""
        load_plugins_once()
        key = self._normalize(name) if isinstance(name, str) else name
        try:
            return self._entries[key]
        except (KeyError, TypeError):
            raise ConfigError(self.unknown_message(name)) from None

    def unknown_message(self, name: object) -> str:
        """``unknown <kind> 'x' (did you mean 'y'?); known: a, b, c`` (for callers that raise their own)."""
        known = self.names()
        near = did_you_mean(str(name), known) if isinstance(name, str) else None
        hint = f" (did you mean {near!r}?)" if near else ""
        plugin = f"; a plugin registers more (--plugin or {PLUGINS_ENV})"
        return f"unknown {self.kind} {name!r}{hint}; known: {', '.join(known) or 'none'}{plugin}"

    def names(self) -> list[str]:
        """Registered names in registration order (built-ins first)."""
        load_plugins_once()
        return list(self._entries)

    def registered(self) -> list[T]:
        """The entries registered so far, without importing plugins first: for checks made while
        entries register (a built-in registering during the package's own import)."""
        return list(self._entries.values())

    def items(self) -> list[tuple[str, T]]:
        load_plugins_once()
        return list(self._entries.items())

    def __contains__(self, name: object) -> bool:
        load_plugins_once()
        return isinstance(name, str) and self._normalize(name) in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {list(self._entries)})"


def _describe(obj: object) -> str:
    module = getattr(obj, "__module__", None) or type(obj).__module__
    qual = getattr(obj, "__qualname__", None) or type(obj).__qualname__
    return f"{module}.{qual}"


def did_you_mean(key: str, candidates: Sequence[str]) -> str | None:
    """The closest of ``candidates`` to a misspelt ``key`` (``max_new_token`` → ``max_new_tokens``),
    or None when none is close."""
    found = difflib.get_close_matches(key, list(candidates), n=1, cutoff=0.6)
    return found[0] if found else None


# --- plugins ---------------------------------------------------------------------------------

_loaded: dict[str, str] = {}  # spec -> module name, for specs already imported
_plugins_lock = threading.RLock()
_auto_done = False


def load_plugin(spec: str) -> str:
    """Import one plugin: a module name (``my_pkg.rewards``) or a path to a ``.py`` file.

    Idempotent per spec. Returns the module's name. Any failure is a :class:`PluginError` naming
    the spec and the cause (the plugin's own traceback is chained for debugging).
    """
    spec = spec.strip()
    if not spec:
        raise PluginError("an empty plugin name")
    with _plugins_lock:
        if spec in _loaded:
            return _loaded[spec]
        path = Path(spec).expanduser()
        try:
            if spec.endswith(".py") or os.sep in spec or path.is_file():
                if not path.is_file():
                    raise PluginError(f"plugin file not found: {spec}")
                name = f"pbrlsvr_plugin_{path.stem}_{digest(str(path.resolve()), 8)}"
                module_spec = importlib.util.spec_from_file_location(name, path)
                if module_spec is None or module_spec.loader is None:
                    raise PluginError(f"plugin {spec}: not a Python file")
                module = importlib.util.module_from_spec(module_spec)
                sys.modules[name] = module
                try:
                    module_spec.loader.exec_module(module)
                except BaseException:
                    sys.modules.pop(name, None)
                    raise
            else:
                name = importlib.import_module(spec).__name__
        except PluginError:
            raise
        except Exception as exc:
            raise PluginError(f"plugin {spec!r} failed to import: {type(exc).__name__}: {exc}") from exc
        _loaded[spec] = name
        return name


def load_plugins(specs: Iterable[str]) -> list[str]:
    """Import several plugins (see :func:`load_plugin`); returns their module names."""
    return [load_plugin(s) for s in specs]


def plugins_from_env() -> list[str]:
    """The plugin specs in ``PBRLSVR_PLUGINS`` (comma-separated; blanks ignored)."""
    return [s.strip() for s in os.environ.get(PLUGINS_ENV, "").split(",") if s.strip()]


def load_plugins_once() -> None:
    """Import the environment's and the installed entry points' plugins, once per process.

    Called by every registry lookup, so a plugin installed as a package, or named in the
    environment, is registered before anyone asks for its entries.
    """
    global _auto_done
    if _auto_done:
        return
    with _plugins_lock:
        if _auto_done:
            return
        _auto_done = True  # set first: a plugin that looks something up must not recurse
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            try:
                if ep.value not in _loaded:
                    ep.load()
                    _loaded[ep.value] = ep.module
            except Exception as exc:
                raise PluginError(
                    f"plugin entry point {ep.name!r} ({ep.value}) failed to import: {type(exc).__name__}: {exc}"
                ) from exc
        load_plugins(plugins_from_env())


def loaded_plugins() -> list[str]:
    """Module names of the plugins imported so far (recorded beside a run's outputs)."""
    return list(dict.fromkeys(_loaded.values()))
