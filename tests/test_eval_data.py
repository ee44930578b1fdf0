"""Evaluation inputs: prompts per language, answer/letter extraction, MMLU-ProX and PolyMath loaders."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pbrlsvr.data import Benchmark, load_benchmark, resolve_source
from pbrlsvr.data.problem import Problem
from pbrlsvr.errors import ConfigError, DataError
from pbrlsvr.evaluation.config import EvalConfig
from pbrlsvr.evaluation.prompts import (
    EvalPromptConfig,
    build_conversation,
    instruction,
    native_prompt,
    template_hash,
)
from pbrlsvr.evaluation.scoring import Scorer, extract_choice
from pbrlsvr.languages import LANGUAGES
from pbrlsvr.rewards.answer import extract_final_answer


@pytest.mark.parametrize(
    ("text", "lang", "letter"),
    [
        ("首先分析选项……所以答案是 (C)", "zh", "C"),
        ("Let's think. The answer is (J).", "en", "J"),
        ("Kwa hiyo, Jibu ni B", "sw", "B"),
        ("Die Antwort ist (D).", "de", "D"),
        ("La réponse est (A).", "fr", "A"),
        ("答えは(E)です。", "ja", "E"),
        ("Ответ: (G)", "ru", "G"),
        ("... therefore option (F) is right.\n", "en", "F"),
        ("Reasoning ...\n**H**", "en", "H"),
        ("The answer is 42.", "en", None),
        ("I do not know.", "en", None),
        ("", "en", None),
    ],
)
def test_letter_extraction(text: str, lang: str, letter: str | None) -> None:
    assert extract_choice(text, lang) == letter


@pytest.mark.parametrize("lang", sorted(LANGUAGES))
def test_every_language_template_ends_with_a_phrase_the_extractor_reads(lang: str) -> None:
    """What the prompt asks the model to write is what the reward's extractor reads."""
    p = native_prompt(lang)
    assert extract_final_answer(f"... {p.phrase} 42.", lang) == "42"
    assert extract_final_answer(f"... {p.phrase} (C).", lang) == "C"
    assert extract_choice(f"... {p.phrase} (C)", lang) == "C"
    for kind in ("math", "choice"):
        text = instruction(lang, kind)
        assert p.phrase in text and "{" not in text


def test_conversations_math_choice_and_few_shot() -> None:
    cfg = EvalPromptConfig()
    q = Problem("mgsm-0000", "sw", "Janet ana bata 16 ... {x}?", None, "18", "mgsm")
    [msg] = build_conversation(q, "math", cfg)
    assert msg["role"] == "user" and msg["content"].startswith("Janet ana bata 16 ... {x}?")
    assert "Kiswahili" in msg["content"] and "Jibu ni X." in msg["content"]
    shots = build_conversation(q, "math", cfg, shots=2)
    assert [m["role"] for m in shots] == ["user", "assistant", "user", "assistant", "user"]
    assert "Jibu ni 11" in shots[1]["content"] and not shots[0]["content"].startswith("Swali")
    mc = Problem("mmlu-prox-1", "zh", "哪一个是质数？", None, "B", "x", meta={"options": ["4", "5", "6"]})
    [msg] = build_conversation(mc, "choice", EvalPromptConfig(system=None))
    assert "选项：\nA. 4\nB. 5\nC. 6" in msg["content"] and "答案是 (X)" in msg["content"]
    with pytest.raises(ConfigError, match="shots"):
        build_conversation(mc, "choice", cfg, shots=1)
    with pytest.raises(DataError, match="exemplars"):
        build_conversation(Problem("x", "ar", "?", None, "1", "x"), "math", cfg, shots=1)
    system = build_conversation(q, "math", EvalPromptConfig(system="Be brief."))
    assert system[0] == {"role": "system", "content": "Be brief."}
    custom = EvalPromptConfig(templates={"*": "Q: {question}\nA ({language}, end with {phrase}):"})
    assert build_conversation(q, "math", custom)[0]["content"].endswith("A (Swahili, end with Jibu ni):")


def test_template_hash_tracks_every_prompt_setting() -> None:
    base = template_hash(EvalPromptConfig())
    assert base == template_hash(EvalPromptConfig())
    assert base != template_hash(EvalPromptConfig(), shots=2)
    assert base != template_hash(EvalPromptConfig(system="x"))
    assert base != template_hash(EvalPromptConfig(templates={"sw": "{question}"}))


def test_scorer_uses_the_reward_extractor_and_language_id() -> None:
    scorer = Scorer("math", ["sw", "en"], threshold=0.5)
    p = Problem("a", "sw", "q", None, "1234.5", "t")
    sw = "Roger alikuwa na mipira mitano. Alinunua mikebe miwili. Jibu ni 1.234,5."
    en = "Roger had five balls. He bought two cans. The answer is 1,234.5."
    s_sw, s_en, s_none = scorer.score([p, p, p], [sw, en, "hakuna"])
    assert s_sw.correct and s_sw.consistent and s_sw.lang_share == 1.0
    assert s_en.correct and s_en.consistent is False and s_en.lang_shares["en"] == 1.0
    assert not s_none.correct and s_none.extracted is None


def _bench(cfg: EvalConfig) -> Benchmark:
    return load_benchmark(cfg.data, benchmark=cfg.benchmark, task=cfg.task)


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def _prox_row(qid: int, lang_word: str, answer: str, n_options: int = 10) -> dict[str, Any]:
    row: dict[str, Any] = {"question_id": qid, "question": f"{lang_word} question {qid}?"}
    for i in range(10):
        row[f"option_{i}"] = f"option {i}" if i < n_options else None
    row.update(
        answer=answer, answer_index="ABCDEFGHIJ".index(answer), cot_content="", category="math", src="x"
    )
    return row


def test_mmlu_prox_jsonl_in_the_hub_schema(tmp_path: Path) -> None:
    folder = tmp_path / "prox"
    folder.mkdir()
    _write_jsonl(folder / "test_sw.jsonl", [_prox_row(7, "swali", "J"), _prox_row(8, "swali", "B", 4)])
    _write_jsonl(folder / "test_zh.jsonl", [_prox_row(7, "问题", "J"), _prox_row(8, "问题", "B", 4)])
    cfg = EvalConfig(data={"source": str(folder), "langs": ["zh", "sw"]})
    assert resolve_source(cfg.data).source.name == "mmlu-prox"
    bench = _bench(cfg)
    assert bench.kind == "choice" and bench.name == "mmlu-prox" and bench.langs == ["zh", "sw"]
    first = bench.problems[0]
    assert (first.id, first.lang, first.gold) == ("mmlu-prox-7", "zh", "J")
    assert len(first.meta["options"]) == 10 and len(bench.problems[1].meta["options"]) == 4
    assert {p.id for p in bench.problems if p.lang == "sw"} == {
        p.id for p in bench.problems if p.lang == "zh"
    }
    conv = build_conversation(first, bench.kind, EvalPromptConfig())
    assert "J. option 9" in conv[-1]["content"]
    bad = _write_jsonl(
        tmp_path / "bad_sw.jsonl", [_prox_row(1, "x", "B", 10) | {"answer": "Z", "answer_index": None}]
    )
    with pytest.raises(DataError, match=r"bad_sw\.jsonl:1"):
        _bench(EvalConfig(data={"source": str(bad)}, benchmark="mmlu-prox"))


class _FakeHF:
    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        self.column_names = list(rows[0]) if rows else []

    def __iter__(self) -> Any:
        return iter(self.rows)


def test_mmlu_prox_and_polymath_from_the_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Hub path, with datasets.load_dataset replaced by rows in the published schema."""
    calls: list[tuple[str, str | None, str | None]] = []

    def fake_load(dataset_id: str, subset: str | None, split: str | None) -> _FakeHF:
        calls.append((dataset_id, subset, split))
        if dataset_id == "li-lab/MMLU-ProX-Lite":
            return _FakeHF([_prox_row(i, subset or "", "ABC"[i % 3]) for i in range(5)])
        level = split or "low"
        return _FakeHF(
            [
                {"id": f"{level}-{subset}-{i}", "question": f"q{i}", "answer": "$\\frac{5}{4}$"}
                for i in range(3)
            ]
        )

    monkeypatch.setattr("pbrlsvr.data.hf._load_dataset", fake_load)
    bench = _bench(EvalConfig(data={"source": "mmlu-prox-lite", "langs": ["sw", "te"], "limit": 2}))
    assert bench.kind == "choice" and [p.key for p in bench.problems] == [
        "mmlu-prox-lite-0:sw",
        "mmlu-prox-lite-1:sw",
        "mmlu-prox-lite-0:te",
        "mmlu-prox-lite-1:te",
    ]
    assert calls[0] == ("li-lab/MMLU-ProX-Lite", "sw", "test")
    poly = _bench(EvalConfig(data={"source": "hf:Qwen/PolyMath", "langs": ["ja"], "split": "low,top"}))
    assert poly.kind == "math" and poly.name == "polymath"
    assert [p.id for p in poly.problems][:4] == [
        "polymath-low-0",
        "polymath-low-1",
        "polymath-low-2",
        "polymath-top-0",
    ]
    assert poly.problems[0].gold == "\\frac{5}{4}" and poly.problems[0].meta["level"] == "low"
    with pytest.raises(DataError, match="levels"):
        _bench(EvalConfig(data={"source": "polymath", "langs": ["ja"], "split": "easy"}))


def test_polymath_local_layout(tmp_path: Path) -> None:
    for lang in ("en", "sw"):
        (tmp_path / "poly" / lang).mkdir(parents=True)
        for level in ("low", "medium"):
            _write_jsonl(
                tmp_path / "poly" / lang / f"{level}.jsonl",
                [
                    {"id": f"{level}-{lang}-{i}", "question": f"{lang} {level} {i}", "answer": str(i)}
                    for i in range(2)
                ],
            )
    bench = _bench(EvalConfig(data={"source": str(tmp_path / "poly"), "split": "medium", "limit": 1}))
    assert bench.name == "polymath" and [p.key for p in bench.problems] == [
        "polymath-medium-0:en",
        "polymath-medium-0:sw",
    ]
    single = _bench(EvalConfig(data={"source": str(tmp_path / "poly" / "sw" / "low.jsonl")}))
    assert [p.key for p in single.problems] == ["polymath-low-0:sw", "polymath-low-1:sw"]


def test_generic_jsonl_with_column_mapping_and_gold_checks(tmp_path: Path) -> None:
    path = _write_jsonl(
        tmp_path / "mine_de.jsonl",
        [{"frage": "Wie viel ist 2+2?", "loesung": "4"}, {"frage": "Und 3+3?", "loesung": "6"}],
    )
    cfg = EvalConfig(data={"source": str(path), "columns": {"question": "frage", "gold": "loesung"}})
    bench = _bench(cfg)
    assert bench.kind == "math" and bench.langs == ["de"] and [p.gold for p in bench.problems] == ["4", "6"]
    letters = _write_jsonl(tmp_path / "mc_en.jsonl", [{"question": "A or B?", "gold": "B"}])
    assert _bench(EvalConfig(data={"source": str(letters)})).kind == "choice"
    nogold = _write_jsonl(tmp_path / "ng_en.jsonl", [{"question": "?"}])
    with pytest.raises(DataError, match="no gold answer"):
        _bench(EvalConfig(data={"source": str(nogold)}))
    with pytest.raises(DataError, match="no problems in language"):
        _bench(EvalConfig(data={"source": "mgsm", "langs": ["ar"]}))


def test_exemplar_texts_are_the_ones_the_stored_figures_were_made_with() -> None:
    """Few-shot turns, the encoders' calibration pairs and the fidelity cases all come from
    data.mgsm's one exemplar reader; pinned to the texts they were built from before."""
    from pbrlsvr.hashing import digest
    from pbrlsvr.languages import MGSM_LANGS
    from pbrlsvr.rewards.fidelity import build_cases
    from pbrlsvr.rewards.semantic import exemplar_pairs

    def ask(lang: str) -> Problem:
        return Problem("x", lang, "What is 2+2?", None, "4", "t", meta={"options": ["1", "2", "4"]})

    turns: dict[str, Any] = {}
    for lang in MGSM_LANGS:
        turns[f"{lang}/shots8"] = build_conversation(ask(lang), "math", EvalPromptConfig(), shots=8)
        turns[f"{lang}/shots8/train"] = build_conversation(
            ask(lang), "math", EvalPromptConfig(style="train"), shots=3
        )
    assert digest(turns) == "f4f7e365923593cc"
    assert digest(exemplar_pairs()) == "65420ff4d3458fff"
    assert digest([case.__dict__ for case in build_cases()]) == "88aed51ac2884860"


def test_a_named_benchmark_keeps_its_languages_a_folder_in_its_layout_does_not(tmp_path: Path) -> None:
    """Language-ID candidates: every language of a named benchmark; of a folder, those it holds,
    whichever languages are selected."""
    from pbrlsvr.data.config import DataConfig
    from pbrlsvr.data.resources import mgsm_dir
    from pbrlsvr.languages import MGSM_LANGS

    named = load_benchmark(DataConfig(source="mgsm", langs=["sw"], limit=1))
    assert (named.name, named.kind, named.languages, named.langs) == ("mgsm", "math", MGSM_LANGS, ["sw"])
    for lang in ("en", "sw", "de"):
        (tmp_path / f"mgsm_{lang}.tsv").write_bytes((mgsm_dir() / f"mgsm_{lang}.tsv").read_bytes())
    folder = load_benchmark(DataConfig(source=str(tmp_path), langs=["sw"], limit=1))
    assert (folder.name, folder.languages, folder.langs) == (str(tmp_path), ("de", "en", "sw"), ["sw"])
    assert load_benchmark(DataConfig(source="mgsm", limit=1), task="choice").kind == "choice"
