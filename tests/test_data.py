"""Problem loaders: the packaged data, the shared data (when present), generic tables, bad rows."""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from pbrlsvr.data import (
    DataWarning,
    Problem,
    canonical_number,
    gsm8k_final_answer,
    load_gsm8k_translated,
    load_mgsm,
    load_problems,
    load_problems_with_report,
    problems_to_jsonl,
    read_example_model_solutions,
)
from pbrlsvr.data import hf as hf_module
from pbrlsvr.data.config import DataConfig
from pbrlsvr.data.readers import ParallelRow, lang_from_name, parallel_mismatch
from pbrlsvr.data.resources import data_dir, gsm8k_mgsm_test, mgsm_dir, msvamp_dir
from pbrlsvr.data.sources import (
    SOURCES,
    DataSource,
    describe_sources,
    register_source,
    resolve_source,
    unregister_source,
)
from pbrlsvr.errors import ConfigError, DataError
from pbrlsvr.languages import MGSM_LANGS, MSVAMP_LANGS

# --- packaged data ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mgsm() -> list[Problem]:
    return load_problems("mgsm")


def _sans_source(problems: list[Problem]) -> list[Problem]:
    return [dataclasses.replace(p, source="") for p in problems]


def _by_lang(problems: list[Problem]) -> dict[str, list[Problem]]:
    out: dict[str, list[Problem]] = {}
    for p in problems:
        out.setdefault(p.lang, []).append(p)
    return out


def test_mgsm_packaged_is_250_parallel_problems_in_11_languages(mgsm: list[Problem]) -> None:
    by_lang = _by_lang(mgsm)
    assert list(by_lang) == list(MGSM_LANGS)
    assert {lang: len(rows) for lang, rows in by_lang.items()} == dict.fromkeys(MGSM_LANGS, 250)
    expected_ids = [f"mgsm-{i:04d}" for i in range(250)]
    for rows in by_lang.values():
        assert [p.id for p in rows] == expected_ids
    assert len({p.key for p in mgsm}) == 2750
    assert {p.source for p in mgsm} == {"mgsm"}


def test_mgsm_gold_is_a_canonical_number(mgsm: list[Problem]) -> None:
    by_lang = _by_lang(mgsm)
    for lang in MGSM_LANGS:
        rows = by_lang[lang]
        assert [rows[0].gold, rows[1].gold, rows[2].gold] == ["18", "3", "70000"]
        assert rows[146].gold == "2125"  # "2,125" in the TSV
    assert all(p.gold is not None and canonical_number(p.gold) == p.gold for p in mgsm)
    sw0 = by_lang["sw"][0]
    assert sw0.question.startswith("Bata wa Janet")


def test_mgsm_question_en_is_the_english_row(mgsm: list[Problem]) -> None:
    by_lang = _by_lang(mgsm)
    english = {p.id: p.question for p in by_lang["en"]}
    assert english["mgsm-0000"].startswith("Janet’s ducks lay 16 eggs per day.")
    for p in mgsm:
        assert p.question_en == english[p.id]
    assert by_lang["de"][5].question != by_lang["de"][5].question_en


def test_mgsm_linked_to_gsm8k_solutions(mgsm: list[Problem]) -> None:
    english = _by_lang(mgsm)["en"]
    assert all(p.solution_en for p in mgsm)
    for i, p in enumerate(english):
        assert p.meta["gsm8k_id"] == f"gsm8k-test-{i:04d}"
        assert gsm8k_final_answer(p.solution_en or "") == p.gold
    assert "#### 2,125" in english[146].solution_en  # commas removed only for the gold
    # the same English solution for every language of a problem
    assert {p.solution_en for p in mgsm if p.id == "mgsm-0002"} == {english[2].solution_en}


def test_mgsm_without_linking_has_no_solution() -> None:
    problems = load_problems("mgsm", langs=["te"], link_english=False, limit=3)
    assert [p.solution_en for p in problems] == [None, None, None]
    assert problems[0].question_en is not None and problems[0].question_en.startswith("Janet")


def test_msvamp_packaged() -> None:
    problems = load_problems("msvamp")
    by_lang = _by_lang(problems)
    assert set(by_lang) == set(MSVAMP_LANGS) and "te" not in by_lang
    assert {lang: len(rows) for lang, rows in by_lang.items()} == dict.fromkeys(MSVAMP_LANGS, 1000)
    de0 = by_lang["de"][0]
    assert (de0.id, de0.gold) == ("msvamp-0000", "8")  # "8.0" in the file
    assert de0.question.startswith("Julia spielte am Montag")
    assert de0.question_en == by_lang["en"][0].question
    assert de0.meta["equation"] == "- number0 number1"
    assert [p.id for p in by_lang["th"]] == [p.id for p in by_lang["en"]]
    with pytest.raises(DataError, match=r"no file for language.*te"):
        load_problems("msvamp", langs=["te"])


def test_mgsm_exemplars_packaged() -> None:
    problems = load_problems("mgsm-exemplars")
    by_lang = _by_lang(problems)
    assert {lang: len(rows) for lang, rows in by_lang.items()} == dict.fromkeys(MGSM_LANGS, 8)
    assert [p.id for p in by_lang["zh"]] == [f"mgsm-ex-{n}" for n in range(1, 9)]
    en1, fr1, ja1 = by_lang["en"][0], by_lang["fr"][0], by_lang["ja"][0]
    assert en1.question.startswith("Roger has 5 tennis balls.")  # "Question: " label stripped
    assert fr1.question.startswith("Roger a 5 balles")  # "Question : "
    assert ja1.question.startswith("ロジャーは")  # "問題："
    assert (fr1.meta["question_prefix"], ja1.meta["question_prefix"]) == ("Question", "問題")
    assert fr1.gold == "11" and fr1.question_en == en1.question
    assert en1.solution_en is not None and en1.solution_en.startswith("Roger started with 5 balls.")
    assert (
        fr1.meta["solution"].startswith("Roger a commencé") or fr1.meta["solution"] != fr1.meta["answer_cot"]
    )


def test_gsm8k_packaged_slice_and_train_not_shipped() -> None:
    problems = load_problems("gsm8k:test")
    assert len(problems) == 250 and {p.lang for p in problems} == {"en"}
    assert [p.id for p in problems[:2]] == ["gsm8k-test-0000", "gsm8k-test-0001"]
    assert [p.gold for p in problems[:3]] == ["18", "3", "70000"]
    assert problems[0].solution_en is not None and problems[0].solution_en.endswith("#### 18")
    assert load_problems("gsm8k", limit=1)[0] == problems[0]
    with pytest.raises(DataError, match="openai/gsm8k"):
        load_problems("gsm8k:train")
    solutions = read_example_model_solutions()
    assert len(solutions) == 250
    first = solutions[problems[0].question]
    assert set(first) >= {"175b_verification", "175b_finetuning", "6b_verification", "6b_finetuning"}
    assert first["175b_verification"]["is_correct"] is True


def test_packaged_licences_are_shipped() -> None:
    assert "Creative Commons Attribution 4.0" in (mgsm_dir() / "LICENSE").read_text(encoding="utf-8")
    assert "MIT License" in (gsm8k_mgsm_test().parent / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in (msvamp_dir() / "LICENSE").read_text(encoding="utf-8")
    assert "MathOctopus" in (msvamp_dir() / "NOTICE").read_text(encoding="utf-8")
    assert (data_dir() / "README.md").is_file()
    assert not (data_dir() / "gsm8k_translated").exists()


def test_langs_and_limit_keep_the_same_ids() -> None:
    problems = load_problems("mgsm", langs=["sw", "bn"], limit=4)
    assert [p.lang for p in problems] == ["sw"] * 4 + ["bn"] * 4
    assert [p.id for p in problems[:4]] == [p.id for p in problems[4:]] == [f"mgsm-{i:04d}" for i in range(4)]
    cfg = DataConfig(source="msvamp", langs="zh,de", limit=2)
    assert [(p.lang, p.id) for p in load_problems(cfg)] == [
        ("zh", "msvamp-0000"),
        ("zh", "msvamp-0001"),
        ("de", "msvamp-0000"),
        ("de", "msvamp-0001"),
    ]


def test_unknown_language_codes_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown language code 'xx'"):
        load_problems("mgsm", langs=["sw", "xx"])
    bad = tmp_path / "mgsm"
    bad.mkdir()
    shutil.copy(mgsm_dir() / "mgsm_en.tsv", bad / "mgsm_en.tsv")
    shutil.copy(mgsm_dir() / "mgsm_de.tsv", bad / "mgsm_xx.tsv")
    with pytest.raises(DataError, match=r"mgsm_xx\.tsv: file name has unknown language code 'xx'"):
        load_problems(str(bad))
    with pytest.warns(DataWarning, match="skipped 1 malformed"):
        report = load_problems_with_report(str(bad), on_error="skip")
    assert {p.lang for p in report.problems} == {"en"}
    assert [(Path(i.file).name, i.line) for i in report.issues] == [("mgsm_xx.tsv", None)]


def test_source_not_found_names_it(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nope\.jsonl"):
        load_problems(str(tmp_path / "nope.jsonl"))
    with pytest.raises(DataError, match=r"not a built-in name.*did you mean 'mgsm'.*msvamp"):
        load_problems("mgsmx")


def test_canonical_number() -> None:
    cases = {"18": "18", "2,125": "2125", "8.0": "8", " 0.50 ": "0.5", "-3": "-3", "1e3": "1000"}
    assert {k: canonical_number(k) for k in cases} == cases
    assert [canonical_number(x) for x in ("1,5", "B", "", None, True)] == [None] * 5
    assert canonical_number(70000) == "70000" and canonical_number(2.5) == "2.5"
    assert gsm8k_final_answer("so 2+1=3\n#### 1,000") == "1000"
    assert gsm8k_final_answer("no final line") is None


def _head(src: Path, dst: Path, n: int) -> None:
    dst.write_bytes(b"\n".join(src.read_bytes().split(b"\n")[:n]) + b"\n")


def test_each_format_loads_the_same_from_a_folder_and_from_its_file(tmp_path: Path) -> None:
    """Folders and files share one loader per format; a GSM8K folder reads its <split>.jsonl."""
    for fmt, name, src in [
        ("mgsm", "mgsm_de.tsv", mgsm_dir() / "mgsm_de.tsv"),
        ("msvamp", "msvamp_de.jsonl", msvamp_dir() / "msvamp_de.jsonl"),
    ]:
        folder = tmp_path / fmt
        folder.mkdir()
        _head(src, folder / name, 4)
        from_folder = load_problems(str(folder))
        assert len(from_folder) >= 3 and {p.lang for p in from_folder} == {"de"}
        assert _sans_source(from_folder) == _sans_source(load_problems(str(folder / name)))
        assert from_folder == load_problems(str(folder), format=fmt)

    translated = tmp_path / "translated"
    translated.mkdir()
    rows = [
        {
            "question_en": "Tom has 2 apples and buys 3. How many?",
            "question": "Tom hat 2 Äpfel und kauft 3.",
            "lang": "de",
            "answer": "5",
        },
        {
            "question_en": "A box holds 4 pens. How many in 2 boxes?",
            "question": "Eine Schachtel hat 4 Stifte.",
            "lang": "de",
            "answer": "8",
        },
    ]
    (translated / "train_de.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )
    from_folder = load_problems(str(translated))
    assert [p.gold for p in from_folder] == ["5", "8"]
    assert _sans_source(from_folder) == _sans_source(load_problems(str(translated / "train_de.jsonl")))

    gsm = tmp_path / "gsm8k"
    gsm.mkdir()
    _head(gsm8k_mgsm_test(), gsm / "test.jsonl", 3)
    lines = gsm8k_mgsm_test().read_bytes().split(b"\n")
    (gsm / "train.jsonl").write_bytes(b"\n".join(lines[3:5]) + b"\n")
    test = load_problems(str(gsm))  # the default split is test
    assert [p.id for p in test] == ["gsm8k-test-0000", "gsm8k-test-0001", "gsm8k-test-0002"]
    assert _sans_source(test) == _sans_source(load_problems(str(gsm / "test.jsonl")))
    train = load_problems(str(gsm), split="train", format="gsm8k")
    assert [p.id for p in train] == ["gsm8k-train-0000", "gsm8k-train-0001"]
    assert _sans_source(train) == _sans_source(load_problems(str(gsm / "train.jsonl"), format="gsm8k"))
    with pytest.raises(DataError, match="as 'csv'"):
        load_problems(str(gsm), format="csv")  # a table format cannot read a folder


# --- shared data (development only) -----------------------------------------------------------


def test_shipped_copies_equal_the_shared_data(shared_data: Path) -> None:
    for name in [f"mgsm_{lang}.tsv" for lang in MGSM_LANGS] + ["exemplars.jsonl", "LICENSE"]:
        assert (mgsm_dir() / name).read_bytes() == (shared_data / "mgsm" / name).read_bytes(), name
    for lang in MSVAMP_LANGS:
        name = f"msvamp_{lang}.jsonl"
        assert (msvamp_dir() / name).read_bytes() == (shared_data / "msvamp" / name).read_bytes(), name
    gsm = shared_data / "gsm8k"
    assert (gsm8k_mgsm_test().parent / "LICENSE").read_bytes() == (gsm / "LICENSE").read_bytes()
    for shipped, full in (
        ("test_mgsm250.jsonl", "test.jsonl"),
        ("example_model_solutions_mgsm250.jsonl", "example_model_solutions.jsonl"),
    ):
        head = (gsm / full).read_bytes().split(b"\n")[:250]
        assert (gsm8k_mgsm_test().parent / shipped).read_bytes() == b"\n".join(head) + b"\n"


def test_shared_mgsm_folder_loads_like_the_packaged(shared_data: Path, mgsm: list[Problem]) -> None:
    problems = load_problems(str(shared_data / "mgsm"), langs=["th"])
    packaged = [p for p in mgsm if p.lang == "th"]
    assert _sans_source(problems) == _sans_source(packaged)  # ids, questions, golds, solutions
    assert problems[0].source == str(shared_data / "mgsm")


def test_shared_gsm8k_full_files(shared_data: Path) -> None:
    test = load_problems(str(shared_data / "gsm8k" / "test.jsonl"))
    assert len(test) == 1319 and test[249].id == "gsm8k-test-0249"
    assert _sans_source(test[:250]) == _sans_source(load_problems("gsm8k:test"))
    train = load_problems(str(shared_data / "gsm8k" / "train.jsonl"), limit=3)
    assert [p.id for p in train] == ["gsm8k-train-0000", "gsm8k-train-0001", "gsm8k-train-0002"]
    assert train[0].gold == "72"


def test_shared_gsm8k_translated_counts_and_linkage(shared_data: Path) -> None:
    problems = load_problems(str(shared_data / "gsm8k_translated"))
    counts = Counter(p.lang for p in problems)
    assert counts == {"de": 7464, "es": 7468, "fr": 7464, "ja": 7466, "ru": 7360, "sw": 7469, "zh": 7363}
    assert all(7360 <= n <= 7469 for n in counts.values())
    # every row linked to GSM8K train (one needs whitespace normalisation: GSM8K has U+2028)
    assert all(p.id.startswith("gsm8k-train-") and not p.id.startswith("gsm8k-train-h") for p in problems)
    assert all(p.solution_en is not None and gsm8k_final_answer(p.solution_en) == p.gold for p in problems)
    train = {p.id: p for p in load_problems(str(shared_data / "gsm8k" / "train.jsonl"))}
    sample = [p for p in problems if p.id in ("gsm8k-train-0000", "gsm8k-train-2381")]
    assert len(sample) == 14
    for p in sample:
        assert p.solution_en == train[p.id].solution_en
    de0 = next(p for p in problems if p.lang == "de")
    assert de0.question_en == train["gsm8k-train-0000"].question


def test_gsm8k_translated_without_english_uses_stable_hash_ids(shared_data: Path, tmp_path: Path) -> None:
    for lang in ("de", "sw"):
        lines = (shared_data / "gsm8k_translated" / f"train_{lang}.jsonl").read_bytes().split(b"\n")[:5]
        (tmp_path / f"train_{lang}.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    problems = load_gsm8k_translated(tmp_path)
    de = [p.id for p in problems if p.lang == "de"]
    assert de == [p.id for p in problems if p.lang == "sw"]
    assert all(i.startswith("gsm8k-train-h") for i in de) and len(set(de)) == 5
    assert de == [p.id for p in load_gsm8k_translated(tmp_path, langs=["de"])]  # stable
    assert all(p.solution_en is None for p in problems)


# --- generic tables ----------------------------------------------------------------------------


def _write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text(
        "".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in rows),
        encoding="utf-8",
    )
    return path


def test_generic_jsonl_with_column_mapping(tmp_path: Path) -> None:
    path = _write_jsonl(
        tmp_path / "probs.jsonl",
        [
            {
                "uid": "a",
                "language": "de",
                "text": "Wie viel ist 2+2?",
                "english": "What is 2+2?",
                "ans": "4",
            },
            {
                "uid": "b",
                "language": "Swahili",
                "text": "2+3 ni ngapi?",
                "english": "What is 2+3?",
                "ans": 5.0,
            },
            {"uid": "c", "language": "en", "text": "Pick one", "ans": "B", "extra": 7},
        ],
    )
    columns = {"id": "uid", "lang": "language", "question": "text", "question_en": "english", "gold": "ans"}
    problems = load_problems(str(path), columns=columns)
    assert [(p.id, p.lang, p.gold) for p in problems] == [
        ("a", "de", "4"),
        ("b", "sw", "5"),
        ("c", "en", "B"),
    ]
    assert problems[0].question_en == "What is 2+2?" and problems[2].question_en == "Pick one"
    assert problems[2].meta["extra"] == 7 and problems[0].source == str(path)
    with pytest.raises(DataError, match=r"'answer' \(mapped to gold\) not found; columns: uid, language"):
        load_problems(str(path), columns={**columns, "gold": "answer"})


def test_generic_csv_lang_from_config_and_row_ids(tmp_path: Path) -> None:
    path = tmp_path / "set.csv"
    path.write_text('q,a\n"Zwei plus zwei,\nwie viel?",4\nDrei mal drei?,"1,000"\n', encoding="utf-8")
    problems = load_problems(str(path), columns={"question": "q", "gold": "a"}, lang="de")
    assert [(p.id, p.lang, p.gold, p.question_en) for p in problems] == [
        ("set-00000", "de", "4", None),
        ("set-00001", "de", "1000", None),
    ]
    assert problems[0].question == "Zwei plus zwei,\nwie viel?"
    assert problems[1].meta["line"] == 4  # the quoted newline makes row 2 start on line 4
    with pytest.raises(DataError, match=r"the language is unknown"):
        load_problems(str(path), columns={"question": "q"})
    with pytest.raises(DataError, match=r"no question column.*columns: q, a"):
        load_problems(str(path), lang="de")


def test_generic_tsv_lang_from_file_name(tmp_path: Path) -> None:
    path = tmp_path / "quiz_fr.tsv"
    path.write_text("question\tgold\nDeux plus deux ?\t4\n", encoding="utf-8")
    problems = load_problems(str(path))
    assert [(p.id, p.lang, p.gold) for p in problems] == [("quiz-00000", "fr", "4")]


def test_generic_parquet_with_hash_ids_across_languages(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "prompt": ["Wie viel ist 2+2?", "2+2 ni ngapi?", "Wie viel ist 3+3?"],
            "lg": ["de", "sw", "de"],
            "en": ["What is 2+2?", "What is 2+2?", "What is 3+3?"],
            "target": [4, 4, 6],
        }
    )
    path = tmp_path / "mix.parquet"
    pq.write_table(table, path)
    columns = {"question": "prompt", "lang": "lg", "question_en": "en", "gold": "target"}
    problems = load_problems(str(path), columns=columns)
    # grouped by language, in the order languages first appear
    assert [(p.lang, p.gold, p.meta["row"]) for p in problems] == [
        ("de", "4", 1),
        ("de", "6", 3),
        ("sw", "4", 2),
    ]
    assert problems[0].id == problems[2].id != problems[1].id
    with pytest.raises(
        DataError, match=r"'question_text' \(mapped to question\) not found; columns: prompt, lg"
    ):
        load_problems(str(path), columns={**columns, "question": "question_text"})


def test_problems_to_jsonl_round_trips(tmp_path: Path) -> None:
    problems = load_problems("mgsm", langs=["ja", "en"], limit=3)
    out = tmp_path / "sub" / "p.jsonl"
    assert problems_to_jsonl(problems, out) == 6
    again = load_problems(str(out))
    assert again == problems
    assert again[0].meta["gsm8k_id"] == "gsm8k-test-0000"


# --- malformed input ---------------------------------------------------------------------------


def _mgsm_folder(tmp_path: Path, de_lines: list[bytes]) -> Path:
    folder = tmp_path / "mgsm"
    folder.mkdir()
    en = (mgsm_dir() / "mgsm_en.tsv").read_bytes().split(b"\n")[:6]
    (folder / "mgsm_en.tsv").write_bytes(b"\n".join(en) + b"\n")
    (folder / "mgsm_de.tsv").write_bytes(b"\n".join(de_lines) + b"\n")
    return folder


def test_malformed_mgsm_rows_raise_with_line_or_are_skipped(tmp_path: Path) -> None:
    de = (mgsm_dir() / "mgsm_de.tsv").read_bytes().split(b"\n")[:6]
    de[2] = de[2] + b"\textra"  # line 3: three fields
    de[3] = b"Caf\xe9 kostet 5?\t" + de[3].split(b"\t")[1]  # line 4: Latin-1, not UTF-8
    de[4] = b"   \t" + de[4].split(b"\t")[1]  # line 5: empty question
    folder = _mgsm_folder(tmp_path, de)
    with pytest.raises(DataError, match=r"mgsm_de\.tsv:3: expected 2 tab-separated fields .*found 3"):
        load_problems(str(folder), langs=["de"])
    with pytest.warns(DataWarning, match="skipped 3 malformed row"):
        report = load_problems_with_report(str(folder), langs=["de"], on_error="skip")
    assert [(Path(i.file).name, i.line) for i in report.issues] == [
        ("mgsm_de.tsv", 3),
        ("mgsm_de.tsv", 4),
        ("mgsm_de.tsv", 5),
    ]
    assert "invalid UTF-8" in report.issues[1].reason and report.issues[2].reason == "empty question"
    # the rows after the bad ones keep their parallel ids and English questions
    assert [p.id for p in report.problems] == ["mgsm-0000", "mgsm-0001", "mgsm-0005"]
    assert report.problems[2].question_en == load_problems("mgsm", langs=["en"])[5].question
    assert report.counts() == {"de": 3} and not report.ok


def test_mgsm_rows_out_of_order_are_caught(tmp_path: Path) -> None:
    de = (mgsm_dir() / "mgsm_de.tsv").read_bytes().split(b"\n")[:6]
    de[0], de[1] = de[1], de[0]
    folder = _mgsm_folder(tmp_path, de)
    with pytest.raises(DataError, match=r"mgsm_de\.tsv:1: gold 3 differs from mgsm_en\.tsv line 1 gold 18"):
        load_mgsm(folder, langs=["de"])


def test_parallel_mismatch_checks_a_row_against_the_english_row_of_its_index() -> None:
    english = {0: ParallelRow(0, 1, "Tom has 2 apples.", "2"), 1: ParallelRow(1, 2, "Ann has 3 pens.", "3")}
    assert parallel_mismatch(english, "de", 0, "2") == (english[0], None)
    assert parallel_mismatch(english, "de", 0, "3") == (english[0], "gold")
    assert parallel_mismatch(english, "fr", 1, "3", query="ann  has 3 pens.") == (english[1], "English query")
    assert parallel_mismatch(english, "fr", 1, "3", query=" Ann has\n3 pens. ") == (english[1], None)
    assert parallel_mismatch(english, "fr", 1, "4", query="other") == (english[1], "gold")  # gold first
    assert parallel_mismatch(english, "en", 0, "99") == (english[0], None)  # English is not checked
    assert parallel_mismatch(english, "de", 7, "2") == (None, None)  # no English row
    assert parallel_mismatch(None, "de", 0, "2") == (None, None)


def test_parallel_mismatch_messages_are_each_formats_own(tmp_path: Path) -> None:
    de = (mgsm_dir() / "mgsm_de.tsv").read_bytes().split(b"\n")[:3]
    de[0], de[1] = de[1], de[0]
    with pytest.warns(DataWarning, match="skipped 2"):
        report = load_problems_with_report(str(_mgsm_folder(tmp_path, de)), langs=["de"], on_error="skip")
    assert report.issues[0].reason == (
        "gold 3 differs from mgsm_en.tsv line 1 gold 18 (are the language files in the same row order?)"
    )
    folder = tmp_path / "msvamp"
    folder.mkdir()
    en = (msvamp_dir() / "msvamp_en.jsonl").read_bytes().split(b"\n")[:2]
    fr = [json.loads(x) for x in (msvamp_dir() / "msvamp_fr.jsonl").read_bytes().split(b"\n")[:2]]
    fr[1]["query"] = "a different english question"  # same gold, another English query
    (folder / "msvamp_en.jsonl").write_bytes(b"\n".join(en) + b"\n")
    _write_jsonl(folder / "msvamp_fr.jsonl", fr)
    with pytest.warns(DataWarning, match="skipped 1"):
        report = load_problems_with_report(str(folder), langs=["fr"], on_error="skip")
    assert [p.id for p in report.problems] == ["msvamp-0000"]
    assert report.issues[0].reason == (
        "English query differs from msvamp_en.jsonl:2 (are the language files in the same line order?)"
    )


def test_malformed_jsonl_rows(tmp_path: Path) -> None:
    path = _write_jsonl(
        tmp_path / "rows.jsonl",
        [
            {"question": "What is 1+1?", "lang": "en", "gold": "2"},
            '{"question": "broken", ',
            {"lang": "en", "gold": "3"},
            {"question": "Was ist 2+2?", "lang": "xx", "gold": "4"},
            "",
            {"question": "  ", "lang": "de"},
            [1, 2],
            {"question": "Was ist 3+3?", "lang": "de", "gold": "6"},
        ],
    )
    with pytest.raises(DataError, match=r"rows\.jsonl:2: invalid JSON"):
        load_problems(str(path))
    with pytest.warns(DataWarning):
        report = load_problems_with_report(str(path), on_error="skip")
    assert [(i.line, i.reason.split(":")[0].split(" (")[0]) for i in report.issues] == [
        (2, "invalid JSON"),
        (3, "missing column(s) ['question']; row has"),
        (4, "unknown language code 'xx'; supported ISO 639-1 codes"),
        (6, "empty question"),
        (7, "expected a JSON object, got list"),
    ]
    assert [(p.id, p.lang, p.gold) for p in report.problems] == [
        ("rows-00000", "en", "2"),
        ("rows-00006", "de", "6"),
    ]
    assert str(report.issues[0]).startswith(f"{path}:2: invalid JSON")


def test_malformed_csv_rows_and_duplicate_ids(tmp_path: Path) -> None:
    path = tmp_path / "rows_de.csv"
    path.write_bytes(
        b'id,question,gold\n1,"Zeile\nzwei",2\n2,zu,viele,felder\n3,Stra\xdfe?,3\n1,Doppelt?,4\n5,Gut?,5\n'
    )
    with pytest.raises(DataError, match=r"rows_de\.csv:4: expected 3 fields"):
        load_problems(str(path))
    with pytest.warns(DataWarning, match="skipped 3"):
        report = load_problems_with_report(str(path), on_error="skip")
    assert [(i.line, i.reason[:20]) for i in report.issues] == [
        (4, "expected 3 fields (a"),
        (5, "invalid UTF-8"),
        (6, "duplicate id '1' for"),
    ]
    assert [(p.id, p.gold) for p in report.problems] == [("1", "2"), ("5", "5")]


def test_a_file_with_no_valid_row_fails_even_when_skipping(tmp_path: Path) -> None:
    path = _write_jsonl(tmp_path / "bad_en.jsonl", ["{nope", {"question": ""}])
    with pytest.raises(DataError, match=r"no valid rows \(2 malformed"):
        load_problems(str(path), on_error="skip")


def test_msvamp_misaligned_rows_are_reported(tmp_path: Path) -> None:
    for lang in ("en", "fr"):
        lines = (msvamp_dir() / f"msvamp_{lang}.jsonl").read_bytes().split(b"\n")[:4]
        if lang == "fr":
            lines[1], lines[2] = lines[2], lines[1]
        (tmp_path / f"msvamp_{lang}.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    with pytest.warns(DataWarning, match="skipped 2"):
        report = load_problems_with_report(str(tmp_path), langs=["fr"], on_error="skip")
    assert [(Path(i.file).name, i.line) for i in report.issues] == [
        ("msvamp_fr.jsonl", 2),
        ("msvamp_fr.jsonl", 3),
    ]
    assert "gold differs from msvamp_en.jsonl:2" in report.issues[0].reason
    assert [p.id for p in report.problems] == ["msvamp-0000", "msvamp-0003"]


# --- Hugging Face (no hub: the datasets call is replaced, or fails offline) -------------------


class _FakeSplit:
    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        self.column_names = list(rows[0])

    def __iter__(self) -> Any:
        return iter(self.rows)


def test_hf_mgsm_and_generic_datasets(monkeypatch: pytest.MonkeyPatch) -> None:
    mgsm = {lang: [p for p in load_problems("mgsm", langs=[lang], limit=3)] for lang in ("en", "sw")}
    calls: list[tuple[str, str | None, str | None]] = []

    def fake(dataset_id: str, subset: str | None, split: str | None) -> Any:
        calls.append((dataset_id, subset, split))
        if dataset_id == "juletxara/mgsm":
            rows = [
                {
                    "question": p.question,
                    "answer": None,
                    "answer_number": int(p.gold or 0),
                    "equation_solution": None,
                }
                for p in mgsm[subset or "en"]
            ]
            return _FakeSplit(rows)
        splits = {
            "train": _FakeSplit([{"prompt": "Was ist 1+1?", "sol": 2}]),
            "test": _FakeSplit([{"prompt": "x"}]),
        }
        return splits if split is None else splits[split]

    monkeypatch.setattr(hf_module, "_load_dataset", fake)
    problems = load_problems("hf:juletxara/mgsm", langs=["sw"])
    assert calls == [("juletxara/mgsm", "en", "test"), ("juletxara/mgsm", "sw", "test")]
    assert _sans_source(problems) == _sans_source(
        mgsm["sw"]
    )  # same ids, English questions, golds and GSM8K solutions
    assert problems[0].source == "hf:juletxara/mgsm"
    generic = load_problems(
        "org/other", split="train", lang="de", columns={"question": "prompt", "gold": "sol"}
    )
    assert [(p.id, p.lang, p.gold) for p in generic] == [("other-00000", "de", "2")]
    with pytest.raises(DataError, match="several splits"):
        load_problems("org/other", lang="de", columns={"question": "prompt"})


def test_hf_offline_is_a_clear_error() -> None:
    pytest.importorskip("datasets")
    with pytest.raises(DataError, match=r"could not load Hugging Face dataset 'juletxara/mgsm'.*built-in"):
        load_problems("hf:juletxara/mgsm", langs=["sw"])


# --- the registry of sources -----------------------------------------------------------------


def test_every_builtin_is_a_registered_source_with_its_task() -> None:
    tasks = {name.split(" ")[0]: task for name, task, _ in describe_sources()}
    assert tasks == {
        "mmlu-prox": "choice",
        "mmlu-prox-lite": "choice",
        "polymath": "math",
        "mgsm": "math",
        "mgsm-exemplars": "math",
        "msvamp": "math",
        "translated": "math",
        "gsm8k": "math",
        "jsonl": "by gold",
        "csv": "by gold",
        "parquet": "by gold",
        "hf": "by gold",
    }
    assert SOURCES.get("gsm8k:test") is SOURCES.get("gsm8k") is SOURCES.get("GSM8K:train")
    assert all(description for _, _, description in describe_sources())


@pytest.mark.parametrize(
    ("source", "columns", "expected"),
    [
        ("mgsm", {}, "mgsm"),
        ("gsm8k:test", {}, "gsm8k"),
        ("openai/gsm8k", {}, "gsm8k"),
        ("hf:juletxara/mgsm", {}, "mgsm"),
        ("hf:juletxara/mgsm", {"question": "q"}, "hf"),  # a column mapping means a generic table
        ("li-lab/MMLU-ProX-Lite", {}, "mmlu-prox-lite"),
        ("hf:Qwen/PolyMath", {}, "polymath"),
        ("org/other", {}, "hf"),
    ],
)
def test_names_and_hub_ids_resolve_to_their_source(
    source: str, columns: dict[str, str], expected: str
) -> None:
    assert resolve_source(DataConfig(source=source, columns=columns)).source.name == expected


def test_format_and_benchmark_are_checked_against_the_registry() -> None:
    with pytest.raises(ConfigError, match=r"unknown data source 'mgms' \(did you mean 'mgsm'\?\).*'parquet'"):
        load_problems(str(mgsm_dir()), format="mgms")
    assert DataConfig(format="MGSM").format == "mgsm" and DataConfig().format == "auto"
    from pbrlsvr.evaluation.config import EvalConfig

    assert EvalConfig(benchmark="math").benchmark == "math"
    assert EvalConfig(benchmark="mmlu-prox-lite").benchmark == "mmlu-prox-lite"
    with pytest.raises(ValueError, match="did you mean 'polymath'"):
        EvalConfig(benchmark="polymat")
    with pytest.raises(DataError, match="names a reader, not data"):
        load_problems("csv")
    with pytest.raises(ValueError, match="reserved"):
        register_source(DataSource("auto", lambda cfg, issues: [], "x"))


def test_a_benchmark_copy_on_disk_is_recognised_by_every_command(tmp_path: Path) -> None:
    """An MMLU-ProX folder of test_<lang>.jsonl files with split: test is MMLU-ProX, not the
    translated-GSM8K layout it also matches, in `pbrlsvr data` as in eval."""
    row = {"question_id": 3, "question": "2 + 2?", "option_0": "3", "option_1": "4", "answer": "B"}
    for lang in ("de", "sw"):
        (tmp_path / f"test_{lang}.jsonl").write_text(json.dumps(row) + "\n", encoding="utf-8")
    cfg = DataConfig(source=str(tmp_path), split="test")
    assert resolve_source(cfg).source.name == "mmlu-prox"
    problems = load_problems(cfg)
    assert [(p.id, p.lang, p.gold, p.meta["options"]) for p in problems] == [
        ("mmlu-prox-3", "de", "B", ["3", "4"]),
        ("mmlu-prox-3", "sw", "B", ["3", "4"]),
    ]
    assert resolve_source(cfg, "math").source.name == "translated"  # math: no multiple choice


def test_a_plugin_detector_never_takes_what_a_builtin_recognises(tmp_path: Path) -> None:
    seen: list[Path] = []

    def greedy(path: Path, cfg: DataConfig) -> bool:
        seen.append(path)
        return True

    register_source(DataSource("greedy", lambda cfg, issues: [], "takes everything", detect=greedy))
    try:
        assert resolve_source(DataConfig(source=str(mgsm_dir()))).source.name == "mgsm" and not seen
        other = tmp_path / "other.jsonl"
        other.write_text(json.dumps({"question": "?", "lang": "en"}) + "\n", encoding="utf-8")
        assert resolve_source(DataConfig(source=str(other))).source.name == "greedy" and seen == [other]
    finally:
        unregister_source("greedy")
    assert "greedy" not in SOURCES


@pytest.mark.parametrize(
    ("name", "lang"),
    [
        ("sw.jsonl", "sw"),
        ("test_sw.jsonl", "sw"),
        ("mmlu-prox-sw.parquet", "sw"),
        ("probs_swh_Latn.csv", "sw"),
        ("sw", "sw"),
        ("low.jsonl", None),
        ("notes.txt", None),
    ],
)
def test_language_from_a_file_name(name: str, lang: str | None) -> None:
    assert lang_from_name(Path("data") / name) == lang


def test_language_from_a_file_name_pattern() -> None:
    assert lang_from_name(Path("mgsm_sw.tsv"), "mgsm_", ".tsv") == "sw"
    assert lang_from_name(Path("mgsm_xx.tsv"), "mgsm_", ".tsv") is None
    assert lang_from_name(Path("msvamp_sw.jsonl"), "mgsm_", ".tsv") is None
