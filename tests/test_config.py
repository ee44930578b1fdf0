from __future__ import annotations

from pathlib import Path

import pytest

from pbrlsvr.config import StrictModel, dump_config, load_config, parse_set_options
from pbrlsvr.data.config import DataCommandConfig, DataConfig
from pbrlsvr.errors import ConfigError
from pbrlsvr.models.config import ModelConfig


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "cfg.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_yaml_then_overrides_take_precedence(tmp_path: Path) -> None:
    path = _write(tmp_path, "data:\n  source: msvamp\n  langs: [de, fr]\n  limit: 3\n")
    cfg = load_config(DataCommandConfig, path, {"data.limit": 7, "data.langs": None})
    assert cfg.data.source == "msvamp"
    assert cfg.data.limit == 7  # override wins
    assert cfg.data.langs == ["de", "fr"]  # a None override (unset flag) leaves the file's value


def test_set_options_are_parsed_as_yaml_scalars() -> None:
    parsed = parse_set_options(["data.limit=5", "data.langs=[sw, bn]", "data.split=null", "x=a=b"])
    assert parsed == {"data.limit": 5, "data.langs": ["sw", "bn"], "data.split": None, "x": "a=b"}
    cfg = load_config(DataCommandConfig, overrides=parsed | {"x": None})
    assert cfg.data.langs == ["sw", "bn"]


@pytest.mark.parametrize("bad", ["nokey", "=5", ""])
def test_malformed_set_option(bad: str) -> None:
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_set_options([bad])


def test_unknown_key_is_named(tmp_path: Path) -> None:
    path = _write(tmp_path, "data:\n  sorce: mgsm\n")
    with pytest.raises(ConfigError) as info:
        load_config(DataCommandConfig, path)
    msg = str(info.value)
    assert "unknown key 'data.sorce'" in msg
    assert "'mgsm'" in msg
    assert str(path) in msg


def test_wrong_type_names_key_value_and_expectation() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(DataCommandConfig, overrides={"data.limit": "ten"})
    msg = str(info.value)
    assert "data.limit = 'ten'" in msg
    assert "valid integer" in msg


def test_every_problem_is_listed_at_once() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(DataCommandConfig, overrides={"data.limit": 0, "data.format": "xml", "data.typo": 1})
    msg = str(info.value)
    assert "data.limit = 0" in msg and "greater than or equal to 1" in msg
    assert "data.format = 'xml'" in msg and "'jsonl'" in msg
    assert "unknown key 'data.typo'" in msg


def test_language_codes_are_validated_and_normalised() -> None:
    cfg = load_config(DataConfig, overrides={"langs": "SW, swh_Latn, jpn_Jpan,zh-CN"})
    assert cfg.langs == ["sw", "ja", "zh"]
    with pytest.raises(ConfigError, match="unknown language code 'xx'"):
        load_config(DataConfig, overrides={"langs": ["sw", "xx"]})


def test_columns_only_map_problem_fields() -> None:
    assert load_config(DataConfig, overrides={"columns": {"question": "q"}}).columns == {"question": "q"}
    with pytest.raises(ConfigError, match="unknown Problem field"):
        load_config(DataConfig, overrides={"columns": {"questoin": "q"}})


def test_yaml_errors_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(DataConfig, tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(DataConfig, _write(tmp_path, "source: [unclosed\n"))
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_config(DataConfig, _write(tmp_path, "- a\n- b\n"))
    assert load_config(DataConfig, _write(tmp_path, "")).source == "mgsm"


def test_override_into_scalar_is_rejected() -> None:
    with pytest.raises(ConfigError, match="is not a section"):
        load_config(DataCommandConfig, overrides={"output": "x.jsonl", "output.deep": 1})


def test_assignment_is_validated_and_dump_round_trips(tmp_path: Path) -> None:
    cfg = load_config(ModelConfig, overrides={"name": "smollm2-135m-instruct"})
    with pytest.raises(ValueError):
        cfg.dtype = "int3"  # type: ignore[assignment]
    path = _write(tmp_path, dump_config(cfg))
    assert load_config(ModelConfig, path) == cfg


def test_strict_model_forbids_extra() -> None:
    class Section(StrictModel):
        a: int = 1

    with pytest.raises(ConfigError, match="unknown key 'b'"):
        load_config(Section, overrides={"b": 2})


# --- hostile YAML (issue 15) -------------------------------------------------------------------


def _alias_bomb(levels: int, key: str = "langs") -> str:
    """The "billion laughs": each level is a list of nine aliases of the level below (9**levels)."""
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels + 1)]
    return "\n".join(lines) + f"\ndata:\n  {key}: *a{levels}\n"


@pytest.mark.parametrize("levels", [7, 9, 30])
def test_an_alias_bomb_is_refused_at_once(tmp_path: Path, levels: int) -> None:
    # Before: the error message printed the expanded value (7 levels: 22.8 s, 650 MB; 9: out of memory).
    import time

    t0 = time.perf_counter()
    with pytest.raises(ConfigError, match="more than 100000 values once aliases are expanded") as info:
        load_config(DataCommandConfig, _write(tmp_path, _alias_bomb(levels)))
    assert time.perf_counter() - t0 < 2.0 and len(str(info.value)) < 400


def test_aliases_within_the_bound_still_work(tmp_path: Path) -> None:
    text = "shared: &l [sw, bn]\ndata:\n  langs: *l\n  limit: 2\n"
    from pbrlsvr.config import load_yaml_text

    assert load_yaml_text(text, "t")["data"]["langs"] == ["sw", "bn"]
    # A merged key may be overridden (YAML's intent), so it is not a duplicate.
    merged = "b: &b {x: 1, y: 2}\nc:\n  <<: *b\n  x: 3\n"
    assert load_yaml_text(merged, "t")["c"] == {"x": 3, "y": 2}
    cfg = load_config(DataCommandConfig, _write(tmp_path, "data: &d\n  langs: [sw, bn]\n  limit: 2\n"))
    assert cfg.data.langs == ["sw", "bn"] and cfg.data.limit == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("data:\n  limit: 3\ndata:\n  limit: 4\n", "found duplicate key 'data' (first on line 1)"),
        ("data: {limit: 3, limit: 4}\n", "found duplicate key 'limit'"),
        ("x: &a [*a]\n", "recursive alias"),
        ("x: " + "[" * 5000 + "\n", "nests too deeply"),
        ("data:\n  limit: *nope\n", "undefined alias"),
    ],
)
def test_hostile_yaml_is_one_clear_config_error(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")) as info:
        load_config(DataCommandConfig, _write(tmp_path, text))
    assert "<unicode string>" not in str(info.value)


def test_config_paths_that_are_not_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a folder; give a YAML file"):
        load_config(DataCommandConfig, tmp_path)
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(DataCommandConfig, tmp_path / "nope.yaml")
    big = tmp_path / "big.yaml"
    with big.open("wb") as fh:
        fh.truncate(9 * 1024 * 1024)
    with pytest.raises(ConfigError, match="a config is at most"):
        load_config(DataCommandConfig, big)
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(b"data:\n  source: caf\xe9\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(DataCommandConfig, bad)


def test_set_values_are_bounded_too() -> None:
    bomb = "[" + ", ".join(["&a0 [x, x, x, x, x, x, x, x, x]"] + ["*a0"] * 8) + "]"
    assert len(parse_set_options([f"data.langs={bomb}"])["data.langs"]) == 9  # small: fine
    deep = "&a [" + "*a, " * 3 + "*a]"
    with pytest.raises(ConfigError, match="recursive alias"):
        parse_set_options([f"data.langs={deep}"])


def test_error_messages_quote_a_bounded_excerpt(tmp_path: Path) -> None:
    huge = "x" * 100_000
    with pytest.raises(ConfigError) as info:
        load_config(DataCommandConfig, _write(tmp_path, f"data:\n  limit: {huge}\n  nope: {huge}\n"))
    text = str(info.value)
    assert len(text) < 1000 and "data.limit = 'xxxx" in text and "unknown key 'data.nope'" in text
    nested = "data:\n  langs: " + "{a: " * 50 + "1" + "}" * 50 + "\n"
    with pytest.raises(ConfigError) as info:
        load_config(DataCommandConfig, _write(tmp_path, nested))
    assert len(str(info.value)) < 1000


def test_a_misspelt_key_gets_the_closest_key_of_its_section() -> None:
    from pbrlsvr.evaluation.config import EvalConfig
    from pbrlsvr.pivot.config import PivotCommandConfig
    from pbrlsvr.train.config import TrainConfig

    with pytest.raises(ConfigError) as info:
        load_config(EvalConfig, overrides={"sampling.max_new_token": 64, "shotz": 2, "zzqqxx": 1})
    msg = str(info.value)
    assert "unknown key 'sampling.max_new_token' (value 64); did you mean 'sampling.max_new_tokens'?" in msg
    assert "unknown key 'shotz' (value 2); did you mean 'shots'?" in msg
    assert "unknown key 'zzqqxx' (value 1); check the spelling" in msg  # nothing close: no guess
    with pytest.raises(ConfigError, match=r"did you mean 'pivot\.sampling\.temperature'\?"):
        load_config(PivotCommandConfig, overrides={"pivot.sampling.temprature": 0.5})
    with pytest.raises(ConfigError, match=r"did you mean 'data\.limit'\?"):
        load_config(DataCommandConfig, overrides={"data.limt": 3})
    # reward component names come from the registry: the message names the closest and all known
    with pytest.raises(
        ConfigError,
        match=r"reward\.weights\.semantc = 0\.1: unknown reward component 'semantc' \(did you mean "
        r"'semantic'\?\); known: semantic, translation, answer, trace, language, format",
    ):
        load_config(TrainConfig, overrides={"reward.weights.semantc": 0.1})


def test_known_keys_follow_nested_sections_lists_and_dicts() -> None:
    from pydantic import BaseModel, Field

    from pbrlsvr.config import StrictModel, known_keys

    class Leaf(StrictModel):
        alpha: int = 0
        beta: int = 0

    class Root(StrictModel):
        leaf: Leaf | None = None
        leaves: list[Leaf] = Field(default_factory=list)
        named: dict[str, Leaf] = Field(default_factory=dict)

    assert known_keys(Root, ("leaf", "alpah")) == ["alpha", "beta"]
    assert known_keys(Root, ("leaves", 0, "x")) == ["alpha", "beta"]
    assert known_keys(Root, ("named", "a", "x")) == ["alpha", "beta"]
    assert known_keys(Root, ("lef",)) == ["leaf", "leaves", "named"]
    assert known_keys(Root, ("nope", "x")) == []
    assert issubclass(Root, BaseModel)
