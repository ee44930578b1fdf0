"""A language added from outside the package: one entry in a user's plugin file.

The plugin registers Somali (not shipped), and the test uses it as a user would: through the
CLI's ``--plugin`` with a YAML config, then through the library (training prompt, answer
extraction, native evaluation template). Nothing under ``src/`` is edited.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pbrlsvr.cli import app
from pbrlsvr.data.problem import Problem
from pbrlsvr.evaluation.prompts import EvalPromptConfig, build_conversation
from pbrlsvr.languages import LANGUAGES, get_language, unregister_language
from pbrlsvr.prompts import build_messages
from pbrlsvr.rewards.answer import extract_answer, extract_final_answer
from tests.test_languages import shipped_fingerprints

PLUGIN = """
from pbrlsvr.languages import Language, NativePrompt, register_language

register_language(
    Language(
        code="so",
        name="Somali",
        script="Latn",
        nllb="som_Latn",
        iso3="som",
        lingua="SOMALI",
        train_phrase="Jawaabtu waa",
        answer_phrases=("jawaabta ugu dambeysa waa", "jawaabtu waa", "jawaab:"),
        native=NativePrompt(
            "Jawaabtu waa",
            'Xalli masalahan tallaabo tallaabo. Ku qor fikradahaaga af-Soomaali oo ku dhammee "{phrase} X.", '
            "halkaas oo X uu yahay jawaabta kama dambaysta ah.",
            'Ka fikir tallaabo tallaabo af-Soomaali oo ku dhammee "{phrase} (X).", '
            "halkaas oo X uu yahay xarafka doorashada saxda ah.",
            "Doorashooyin:",
        ),
    )
)
"""

ROWS = [
    {
        "id": "so-1",
        "lang": "so",
        "question": "Cali wuxuu haystaa 3 tufaax, wuxuu helay 4 kale. Immisa?",
        "answer": "7",
    },
    {"id": "so-2", "lang": "som", "question": "Maryan waxay haysataa 5 buug. Immisa?", "answer": "5"},
]


@pytest.fixture
def plugin(tmp_path: Path) -> Iterator[Path]:
    file = tmp_path / "somali_language.py"
    file.write_text(textwrap.dedent(PLUGIN), encoding="utf-8")
    yield file
    unregister_language("so")


@pytest.fixture
def data_config(tmp_path: Path) -> tuple[Path, Path]:
    rows = tmp_path / "somali.jsonl"
    rows.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in ROWS), encoding="utf-8")
    out = tmp_path / "problems.jsonl"
    config = tmp_path / "data.yaml"
    config.write_text(f"data:\n  source: {rows}\n  langs: [so]\noutput: {out}\n", encoding="utf-8")
    return config, out


def test_a_plugin_language_is_accepted_by_the_cli_and_used_everywhere(
    plugin: Path, data_config: tuple[Path, Path]
) -> None:
    config, out = data_config
    before = shipped_fingerprints()
    response = "3 + 4 = 7. Jawaabtu waa 42. Waxaan hubiyay 2 jeer."
    assert extract_final_answer(response) == "2"  # no phrase known yet: the last number

    # Without the plugin the rows are refused: Somali is not a shipped language.
    refused = CliRunner().invoke(app, ["data", "--config", str(config)])
    assert refused.exit_code == 2 and "unknown language code 'so'" in refused.output
    assert not out.exists()

    result = CliRunner().invoke(app, ["--plugin", str(plugin), "data", "--config", str(config)])
    assert result.exit_code == 0, result.output
    problems = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [(p["id"], p["lang"], p["gold"]) for p in problems] == [("so-1", "so", "7"), ("so-2", "so", "5")]

    # The one entry reaches every reader of the language table.
    assert get_language("Somali").code == "so" and "so" in LANGUAGES
    prompt = build_messages("Cali wuxuu haystaa 3 tufaax. Immisa?", "so")[0]["content"]
    assert "in Somali" in prompt and '"Jawaabtu waa N."' in prompt

    got = extract_answer(response, "so")
    assert got is not None and (got.text, got.source) == ("42", "phrase")
    assert extract_final_answer("Jawaabta ugu dambeysa waa **18**", "so") == "18"
    assert extract_final_answer(response) == "42"  # without a language, every language's phrases

    problem = Problem("so-1", "so", "Cali wuxuu haystaa 3 tufaax. Immisa?", None, "3", "t")
    [turn] = build_conversation(problem, "math", EvalPromptConfig())
    assert turn["content"].startswith("Cali wuxuu haystaa 3 tufaax. Immisa?\n\nXalli masalahan")
    assert '"Jawaabtu waa X."' in turn["content"]
    choice = Problem("so-2", "so", "Kee?", None, "B", "t", meta={"options": ["4", "5"]})
    [turn] = build_conversation(choice, "choice", EvalPromptConfig())
    assert "Doorashooyin:\nA. 4\nB. 5" in turn["content"] and '"Jawaabtu waa (X)."' in turn["content"]

    # Adding a language changes no shipped language's prompt, template hash or extractor version.
    assert shipped_fingerprints() == before
