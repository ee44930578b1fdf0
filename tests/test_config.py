from __future__ import annotations

from pathlib import Path

import pytest

from pbrlsvr.config import (
    DataCommandConfig,
    DataConfig,
    ModelConfig,
    StrictModel,
    dump_config,
    load_config,
    parse_set_options,
)
from pbrlsvr.errors import ConfigError


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
