"""The one registry mechanism and the three ways a plugin arrives (--plugin, PBRLSVR_PLUGINS, entry points)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pbrlsvr import registry
from pbrlsvr.cli import app
from pbrlsvr.errors import ConfigError
from pbrlsvr.registry import PluginError, Registry, load_plugin

runner = CliRunner()

SHAPES = Registry[object]("shape")


@pytest.fixture
def fresh_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forget which plugins were imported, so env and entry-point discovery runs again."""
    monkeypatch.setattr(registry, "_auto_done", False)
    monkeypatch.setattr(registry, "_loaded", {})
    monkeypatch.delenv(registry.PLUGINS_ENV, raising=False)
    yield
    for name in list(SHAPES.names()):
        SHAPES.unregister(name)


def _plugin(tmp_path: Path, name: str, shape: str) -> Path:
    path = tmp_path / f"{name}.py"
    path.write_text(
        f"from tests.test_registry import SHAPES\nSHAPES.register({shape!r}, lambda x: x * 2)\n",
        encoding="utf-8",
    )
    return path


def test_register_get_and_the_names_in_order(fresh_plugins: None) -> None:
    @SHAPES.register("Square")
    def square(x: float) -> float:
        return x * x

    SHAPES.register("circle", abs)
    assert SHAPES.get("square") is square and SHAPES.get(" SQUARE ") is square  # names are normalised
    assert SHAPES.names() == ["square", "circle"] and "circle" in SHAPES and "oval" not in SHAPES


def test_unknown_name_is_a_config_error_naming_the_known_and_the_closest(fresh_plugins: None) -> None:
    SHAPES.register("triangle", abs)
    SHAPES.register("square", abs)
    with pytest.raises(ConfigError) as err:
        SHAPES.get("trangle")
    msg = str(err.value)
    assert "unknown shape 'trangle'" in msg and "did you mean 'triangle'" in msg
    assert "known: triangle, square" in msg and "--plugin" in msg


def test_a_taken_name_is_refused_unless_replaced_and_the_same_object_is_a_no_op(fresh_plugins: None) -> None:
    SHAPES.register("square", abs)
    SHAPES.register("square", abs)  # a module imported twice
    with pytest.raises(ValueError, match="already registered"):
        SHAPES.register("square", round)
    SHAPES.register("square", round, replace=True)
    assert SHAPES.get("square") is round
    # An equal record (a module imported twice builds a new one) keeps the first; a different one is refused.
    first = SHAPES.register("point", tuple([1, 2]))
    assert SHAPES.register("point", tuple([1, 2])) is first
    with pytest.raises(ValueError, match="already registered"):
        SHAPES.register("point", (1, 3))
    with pytest.raises(ValueError, match="non-empty name"):
        SHAPES.register("  ", abs)


def test_a_plugin_file_registers_once_and_a_broken_one_names_itself(
    tmp_path: Path, fresh_plugins: None
) -> None:
    path = _plugin(tmp_path, "shapes_plugin", "hexagon")
    load_plugin(str(path))
    load_plugin(
        str(path)
    )  # idempotent: the module is not executed twice (it would raise "already registered")
    assert SHAPES.get("hexagon")(4) == 8
    bad = tmp_path / "broken.py"
    bad.write_text("raise RuntimeError('boom')\n", encoding="utf-8")
    with pytest.raises(PluginError, match=r"broken\.py.*RuntimeError: boom"):
        load_plugin(str(bad))
    with pytest.raises(PluginError, match="not found"):
        load_plugin(str(tmp_path / "missing.py"))


def test_the_environment_names_plugins_loaded_at_the_first_lookup(
    tmp_path: Path, fresh_plugins: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _plugin(tmp_path, "env_plugin", "pentagon")
    monkeypatch.setenv(registry.PLUGINS_ENV, f" {path} ,")
    assert "pentagon" in SHAPES.names()


def test_an_installed_entry_point_is_loaded_at_the_first_lookup(
    tmp_path: Path, fresh_plugins: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A real installed distribution on sys.path, found by importlib.metadata as pip would leave it.
    (tmp_path / "ep_shapes.py").write_text(
        "from tests.test_registry import SHAPES\nSHAPES.register('octagon', abs)\n", encoding="utf-8"
    )
    info = tmp_path / "ep_shapes-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ep-shapes\nVersion: 0.1\n", encoding="utf-8")
    (info / "entry_points.txt").write_text("[pbrlsvr.plugins]\nshapes = ep_shapes\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        assert "octagon" in SHAPES
    finally:
        sys.modules.pop("ep_shapes", None)


def test_cli_plugin_option_imports_the_plugin_and_a_bad_one_exits_2(
    tmp_path: Path, fresh_plugins: None
) -> None:
    path = _plugin(tmp_path, "cli_plugin", "heptagon")
    result = runner.invoke(app, ["--plugin", str(path), "models", "list"])
    assert result.exit_code == 0, result.output
    assert SHAPES.get("heptagon")(1) == 2
    result = runner.invoke(app, ["--plugin", "no_such_plugin_module", "models", "list"])
    assert result.exit_code == 2
    assert "plugin 'no_such_plugin_module' failed to import" in result.output


def test_list_shows_every_registry_and_names_a_plugins_entries_by_their_module(tmp_path: Path) -> None:
    """`pbrlsvr --plugin FILE list` shows one entry of each kind the plugin registered, marked
    with the plugin's module, beside the built-ins; an unknown kind exits 2."""
    plugin = tmp_path / "many_things.py"
    plugin.write_text(
        "from pbrlsvr.data.sources import DataSource, register_source\n"
        "from pbrlsvr.generation.backends import register_backend\n"
        "from pbrlsvr.rewards.components import register_component\n"
        "@register_component('listed-brevity', default_weight=0.0)\n"
        "def brevity(items, context):\n"
        "    return [1.0 for _ in items]\n"
        "def load(cfg, issues):\n"
        "    return []\n"
        "register_source(DataSource('listed-toy', load, 'a toy listed by pbrlsvr list', task='math'))\n"
        "def echo(target, *, answer: int = 7):\n"
        "    raise NotImplementedError\n"
        "register_backend('listed-echo', echo, prefix='listed-echo')\n",
        encoding="utf-8",
    )
    from pbrlsvr.data.sources import unregister_source
    from pbrlsvr.generation.backends import BACKENDS
    from pbrlsvr.rewards.components import REGISTRY

    try:
        result = CliRunner(env={"COLUMNS": "250"}).invoke(app, ["--plugin", str(plugin), "list"])
        assert result.exit_code == 0, result.output
        lines = result.output.splitlines()

        def row(name: str) -> str:
            return next(line for line in lines if f" {name} " in line)

        assert "built-in" in row("semantic") and "yes" in row("semantic")  # gated
        assert "pbrlsvr_plugin_many_things" in row("listed-brevity")
        assert "a toy listed by pbrlsvr list" in row("listed-toy") and "pbrlsvr_plugin" in row("listed-toy")
        assert "listed-echo:<model>" in row("listed-echo") and "answer" in row("listed-echo")
        assert "Swahili" in row("sw")
        only = runner.invoke(app, ["list", "backends"])
        assert only.exit_code == 0 and "ct2:<model>" in only.output and "reward components" not in only.output
        bad = runner.invoke(app, ["list", "backend"])
        assert bad.exit_code == 2 and "did you mean 'backends'" in bad.output
    finally:
        REGISTRY.unregister("listed-brevity")
        unregister_source("listed-toy")
        BACKENDS.unregister("listed-echo")
