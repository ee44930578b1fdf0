from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from pbrlsvr.cli import app

runner = CliRunner()


def test_help_shows_the_whole_flow() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("pivot", "train", "eval", "score", "serve", "demo", "models", "data"):
        assert command in result.output


def test_data_command_summarises_and_writes(tmp_path: Path) -> None:
    out = tmp_path / "p.jsonl"
    result = runner.invoke(
        app, ["data", "--data", "mgsm", "--langs", "sw,bn", "--limit", "4", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "8 problems" in result.output
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["lang"] for r in rows].count("sw") == 4
    assert {r["id"] for r in rows if r["lang"] == "sw"} == {r["id"] for r in rows if r["lang"] == "bn"}


def test_data_command_config_file_and_set(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("data:\n  source: msvamp\n  langs: [de]\n  limit: 50\n", encoding="utf-8")
    result = runner.invoke(app, ["data", "-c", str(cfg), "--set", "data.limit=2"])
    assert result.exit_code == 0, result.output
    assert "msvamp: 2 problems" in result.output


def test_bad_config_fails_before_work_with_a_clear_message() -> None:
    result = runner.invoke(app, ["data", "--langs", "sw,xx", "--set", "data.limt=3"])
    assert result.exit_code == 2
    assert "unknown language code 'xx'" in result.output
    assert "unknown key 'data.limt' (value 3); did you mean 'data.limit'?" in result.output
    assert "Traceback" not in result.output


def test_missing_file_is_a_user_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["data", "--data", str(tmp_path / "nope.jsonl")])
    assert result.exit_code == 2
    assert "nope.jsonl" in result.output


def test_models_list_names_the_aliases() -> None:
    result = runner.invoke(app, ["models", "list"])
    assert result.exit_code == 0, result.output
    assert "qwen2.5-coder-0.5b-instruct" in result.output
    assert "smollm2-135m-instruct" in result.output


def test_models_prepare_unknown_alias() -> None:
    result = runner.invoke(app, ["models", "prepare", "gpt-17"])
    assert result.exit_code == 2
    assert "gpt-17" in result.output


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert "pbrlsvr 0.1.0" in result.output


def test_help_shows_no_bool_metavar_and_eval_its_own_usage() -> None:
    for args in (["--help"], ["eval", "--help"], ["pivot", "--help"], ["demo", "--help"]):
        result = runner.invoke(app, args, env={"COLUMNS": "160"})
        assert result.exit_code == 0 and "<bool>" not in result.output, args
    assert "--force" in runner.invoke(app, ["eval", "--help"], env={"COLUMNS": "160"}).output
    usage = runner.invoke(app, ["eval", "--help"], env={"COLUMNS": "160"}).output
    assert "Usage: pbrlsvr eval [OPTIONS] | compare A B [OPTIONS]" in usage and "COMMAND [ARGS]" not in usage
    pivot = runner.invoke(app, ["pivot", "--help"], env={"COLUMNS": "160"}).output
    assert "Usage: pbrlsvr pivot [OPTIONS] | export [OPTIONS] | import [OPTIONS]" in pivot
    assert "<int>" in usage  # options that take a value still say what they take


def test_a_misspelt_set_key_suggests_the_right_one(tmp_path: Path) -> None:
    result = runner.invoke(app, ["eval", "-o", str(tmp_path / "e"), "--set", "sampling.max_new_token=64"])
    assert result.exit_code == 2
    assert "did you mean 'sampling.max_new_tokens'?" in result.output and "Traceback" not in result.output


def test_the_skip_reason_for_missing_development_data_says_what_it_is() -> None:
    from tests.conftest import missing_shared_data

    reason = missing_shared_data(Path("/x/shared/data"))
    assert "/x/shared/data" in reason and "not needed to use pbrlsvr" in reason and "user clone" not in reason
