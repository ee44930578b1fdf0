"""DESIGN.md's "How to add ..." examples run as written and register what they say they do."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DESIGN = Path(__file__).resolve().parents[1] / "DESIGN.md"


def _examples() -> dict[str, str]:
    """The Python block of every "### How to add ..." section, by its heading."""
    text = DESIGN.read_text(encoding="utf-8")
    found = {}
    for match in re.finditer(r"^### (How to add [^\n]+)\n(.*?)(?=^##)", text, flags=re.S | re.M):
        code = re.search(r"```python\n(.*?)```", match.group(2), flags=re.S)
        assert code is not None, f"{match.group(1)!r} has no python example"
        found[match.group(1)] = code.group(1)
    return found


def test_every_kind_has_an_example() -> None:
    heads = list(_examples())
    for kind in ("reward component", "data source", "generation backend", "language"):
        assert any(kind in h for h in heads), f"no 'How to add a {kind}' in DESIGN.md: {heads}"


@pytest.mark.parametrize(
    ("kind", "registered", "cleanup"),
    [
        ("reward component", "brevity", "reward"),
        ("data source", "toy-arith", "source"),
        ("generation backend", "echo", "backend"),
        ("language", "so", "language"),
    ],
)
def test_the_example_runs_and_registers(kind: str, registered: str, cleanup: str) -> None:
    from pbrlsvr.data.sources import SOURCES, unregister_source
    from pbrlsvr.generation.backends import BACKENDS
    from pbrlsvr.languages import LANGUAGES, unregister_language
    from pbrlsvr.rewards.components import REGISTRY

    code = next(c for h, c in _examples().items() if kind in h)
    where = {"reward": REGISTRY, "source": SOURCES, "backend": BACKENDS, "language": LANGUAGES}[cleanup]
    assert registered not in where
    try:
        exec(compile(code, f"DESIGN.md: How to add a {kind}", "exec"), {})
        assert registered in where
    finally:
        if cleanup == "reward":
            REGISTRY.unregister(registered)
        elif cleanup == "source":
            unregister_source(registered)
        elif cleanup == "backend":
            BACKENDS.unregister(registered)
        else:
            unregister_language(registered)
    assert registered not in where
