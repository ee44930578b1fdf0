"""What every command shares: the consoles, the error handling, the options declared once, and
the one way a command builds its config (defaults < ``--config`` YAML < ``--set`` < flags)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from pydantic import BaseModel

from pbrlsvr.config import load_config, parse_set_options
from pbrlsvr.errors import PbrlsvrError
from pbrlsvr.models.progress import make_console

console = make_console()
err_console = make_console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])
C = TypeVar("C", bound=BaseModel)

# --- options more than one command takes -------------------------------------------------------

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="YAML config file for this command.")]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="Override any config key: --set data.limit=10 (repeatable)."),
]
LangsOpt = Annotated[str | None, typer.Option(help="Comma-separated ISO 639-1 codes.")]
LimitOpt = Annotated[int | None, typer.Option(help="First N problems per language.")]


DataOpt = Annotated[
    str | None,
    typer.Option(
        "--data", "--source", help="A registered source (`pbrlsvr list sources`), a file, folder or HF id."
    ),
]


def hide_flag_metavars() -> None:
    """Show no ``<bool>`` type after on/off flags (``--help``, ``--version``, ``--force``) in help.

    Typer 0.29 prints every option's type, which for a flag reads as if it took a value
    (``--force <bool>``). There is no setting for it, so the one method that renders the type
    column returns nothing for flags; options that take a value keep their ``<int>``/``<path>``.
    """
    core = getattr(typer, "core", None)
    option = getattr(core, "TyperOption", None)
    show = getattr(option, "display_type_rich", None)
    if option is None or show is None or getattr(show, "_pbrlsvr", False):
        return

    def display_type_rich(self: Any, ctx: Any) -> str | None:
        return None if getattr(self, "is_flag", False) else show(self, ctx)

    display_type_rich._pbrlsvr = True  # type: ignore[attr-defined]
    option.display_type_rich = display_type_rich


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``error: message`` on stderr and exit with ``code`` (2: the user's input was wrong)."""
    # soft_wrap: rich must not break an error (a path, a config value) at the console width; the
    # terminal wraps it for the eye, and a log or grep sees each message line whole.
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def user_errors(func: F) -> F:
    """Turn :class:`PbrlsvrError` into a one-line message and exit code 2 (bugs still trace)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except PbrlsvrError as exc:
            fail(str(exc))

    return wrapper  # type: ignore[return-value]


def with_flags(overrides: dict[str, Any], flags: Mapping[str, Any]) -> dict[str, Any]:
    """``--set`` overrides plus the flags that were given (flags win; unset flags change nothing)."""
    return {**overrides, **{k: v for k, v in flags.items() if v is not None}}


def command_config(
    model: type[C], config: Path | None, set_: list[str] | None, flags: Mapping[str, Any]
) -> C:
    """A command's config: defaults < the ``--config`` YAML < ``--set`` < the typed flags given.

    ``flags`` maps dotted config keys to flag values; ``None`` (a flag not given) changes nothing.
    """
    return load_config(model, config, with_flags(parse_set_options(set_ or []), flags))


def shared_options(**options: Any) -> Callable[[F], F]:
    """Declare options once for several commands: each ``name=Annotated[...]`` becomes a parameter
    of the decorated command (default ``None``), and their values reach it as one dict in its
    ``shared`` parameter. In ``--help`` the shared options come first, then the command's own,
    then ``--config``/``--set`` (:data:`LAST`). The pivot's three commands take ten options this way.
    """

    def decorate(func: F) -> F:
        sig = inspect.signature(func, eval_str=True)
        own = [p for p in sig.parameters.values() if p.name != "shared"]
        taken = {p.name for p in own} & set(options)
        if taken:
            raise TypeError(f"{func.__name__} declares shared options itself: {sorted(taken)}")

        def param(name: str) -> inspect.Parameter:
            return inspect.Parameter(
                name, inspect.Parameter.KEYWORD_ONLY, annotation=options[name], default=None
            )

        context = [p for p in own if p.annotation is typer.Context]
        params = [
            *(p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in context),
            *(param(n) for n in options if n not in LAST),
            *(p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own if p not in context),
            *(param(n) for n in options if n in LAST),
        ]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            shared = {name: kwargs.pop(name, None) for name in options}
            return func(*args, shared=shared, **kwargs)

        wrapper.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        del wrapper.__wrapped__  # typer must read the new signature, not the wrapped one's
        return wrapper  # type: ignore[return-value]

    return decorate


LAST = ("config", "set_")
"""Shared options listed after a command's own (``--config``, ``--set``)."""
