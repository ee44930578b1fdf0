"""Pivot references: voting, gold filtering, the store, resume, --force, import, export, the CLI.

Real-process tests (SIGKILL, two writers) are in test_pivot_resume.py; the fake generator is in
test_pivot_fakes.py.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pbrlsvr.cli import app
from pbrlsvr.config import load_config
from pbrlsvr.data import Problem, canonical_number, load_problems, read_example_model_solutions
from pbrlsvr.errors import ConfigError
from pbrlsvr.generation.backends import BACKENDS, register_backend
from pbrlsvr.pivot import (
    EXPORT_COLUMNS,
    KeySet,
    PivotCommandConfig,
    PivotConfig,
    PivotError,
    ReferenceStore,
    Sample,
    SolutionsConfig,
    StoreError,
    StoreLockedError,
    choose_references,
    import_solutions,
    pivot_key_set,
    plan_pivot,
    read_rows,
    reference_rows,
    run_pivot,
    unique_problems,
    vote,
    write_rows,
)
from pbrlsvr.pivot.export import arrow_schema
from tests.test_pivot_fakes import FakeGenerator, fake_answer

runner = CliRunner()


def _flat(text: str) -> str:
    """CLI output with rich's line wrapping undone."""
    return " ".join(text.split())


MODELS = ["6b_finetuning", "6b_verification", "175b_finetuning", "175b_verification"]


def _samples(answers: list[str | None], pid: str = "p") -> list[Sample]:
    return [
        Sample(pid, i, f"step {i}. The answer is {a}." if a else "no idea", a, "stop", "h")
        for i, a in enumerate(answers)
    ]


@pytest.fixture(scope="module")
def mgsm_en_sw() -> list[Problem]:
    return load_problems("mgsm", langs=["en", "sw"], limit=6)


# --- voting ----------------------------------------------------------------------------------


def test_vote_majority_groups_equal_answers_and_picks_the_first_sample() -> None:
    v = vote(_samples(["7", "18", "18.00", None, "18"]))
    assert (v.answer, v.votes, v.n_samples, v.reference_index) == ("18", 3, 5, 1)
    assert v.agreement == pytest.approx(3 / 5)  # answerless samples count in the denominator
    assert v.reference == "step 1. The answer is 18."
    assert [(g.answer, g.votes) for g in v.groups] == [("18", 3), ("7", 1)]


def test_vote_ties_go_to_the_earliest_sample_deterministically() -> None:
    assert vote(_samples(["5", "6", "6", "5"])).answer == "5"
    assert vote(_samples(["6", "5", "5", "6"])).answer == "6"
    v = vote(list(reversed(_samples(["9", "4"]))))  # order of the input does not matter
    assert (v.answer, v.reference_index) == ("9", 0)


def test_vote_without_any_answer() -> None:
    v = vote(_samples([None, None]))
    assert (v.answer, v.votes, v.agreement, v.reference) == (None, 0, 0.0, None)
    assert vote([]).n_samples == 0


def _final(solution: str) -> str | None:
    """The 'A: N' line of a GSM8K model solution, parsed independently of the rewards' extractor."""
    lines = [ln for ln in solution.strip().splitlines() if ln.startswith("A:")]
    return canonical_number(lines[-1][2:].strip().lstrip("$")) if lines else None


def _num(x: str | None) -> float | None:
    try:
        return None if x is None else float(x)
    except ValueError:
        return None


def test_voting_and_gold_filter_on_gsm8k_model_solutions() -> None:
    """The four 2021 models' solutions as four samples of one pivot: the vote, the reference and
    the gold filter agree with an independent count of their 'A: N' lines."""
    problems = load_problems("gsm8k")
    records = read_example_model_solutions()
    store = ReferenceStore(":memory:")
    report = import_solutions(problems, store, SolutionsConfig(key=",".join(MODELS), model="gsm8k-4"))
    assert (report.matched, report.inserted, report.unmatched) == (250, 1000, [])
    key = report.key
    selection = choose_references(problems, store, key, keep="agree_with_gold")
    by_id = {r.problem.id: r for r in selection.references}
    assert len(by_id) == 250
    agree_gold = 0
    for p in problems:
        rec = records[p.question]
        # (5 of the 1,000 solutions have no 'A:' line: there the extractor's last number is used)
        stored = {s.index: s.answer for s in store.samples(key, [p.id])[p.id]}
        finals = [_num(_final(rec[m]["solution"]) or stored[i]) for i, m in enumerate(MODELS)]
        counts = Counter(f for f in finals if f is not None)
        best = max(counts.values())
        winner = next(f for f in finals if f is not None and counts[f] == best)  # earliest on ties
        ref = by_id[p.id]
        assert _num(ref.vote.answer) == winner, p.id
        assert ref.vote.reference == rec[MODELS[finals.index(winner)]]["solution"]
        assert ref.vote.agreement == pytest.approx(best / 4)
        good = winner == _num(p.gold)
        agree_gold += good
        assert ref.correct is good
        assert ref.kept is good
    assert selection.accuracy == pytest.approx(agree_gold / 250)
    assert len(selection.kept()) == agree_gold
    assert sum(selection.agreement_histogram().values()) == 250


def test_imported_answers_agree_with_the_files_is_correct_flags() -> None:
    """The rewards' extractor + answers_match reproduce GSM8K's own is_correct for every solution."""
    problems = load_problems("gsm8k")
    records = read_example_model_solutions()
    for model in MODELS:
        store = ReferenceStore(":memory:")
        import_solutions(problems, store, SolutionsConfig(key=model, model=model))
        selection = choose_references(problems, store, KeySet(model, "import", model))
        for r in selection.references:
            assert r.correct is records[r.problem.question_en][model]["is_correct"], (model, r.problem.id)
    assert sum(r[m]["is_correct"] for r in records.values() for m in ["175b_verification"]) == 138


@pytest.mark.parametrize(
    ("keep", "expected"),
    [
        ("all", {"a", "b", "c", "nogold"}),
        ("agree_with_gold", {"a", "c", "nogold"}),
        ("min_agreement", {"a", "b", "nogold"}),
        ("both", {"a", "nogold"}),
    ],
)
def test_keep_rules(keep: str, expected: set[str]) -> None:
    store = ReferenceStore(":memory:")
    key = KeySet("m", "p", "s")
    rows = {"a": ["4", "4", "4"], "b": ["5", "5", "4"], "c": ["4", "5", "6"], "nogold": ["1", "1", "2"]}
    gold = {"a": "4", "b": "4", "c": "4", "nogold": None}
    problems = [Problem(pid, "en", f"q {pid}", f"q {pid}", gold[pid], "t") for pid in rows]
    for pid, answers in rows.items():
        store.add(key, [Sample(pid, i, f"The answer is {a}.", a, "stop", "x") for i, a in enumerate(answers)])
    problems.append(Problem("none", "en", "q none", "q none", "1", "t"))  # no samples at all
    sel = choose_references(problems, store, key, keep=keep, min_agreement=0.6)  # type: ignore[arg-type]
    assert set(sel.kept()) == expected
    assert sel.dropped().get("no samples") == 1
    assert sel.accuracy == pytest.approx(2 / 3)  # a and c agree with gold; b does not


def test_a_sample_cut_at_the_token_limit_never_becomes_the_reference_unless_asked() -> None:
    """The issue's case: 2 samples, the first cut at max_new_tokens after writing an answer, the
    second finished with another; the cut one must neither vote nor be the reference."""
    store = ReferenceStore(":memory:")
    key = KeySet("m", "p", "s")
    cut = "Step 1: 3 + 4 = 7. The answer is 7. Now let us double check by"
    store.add(
        key, [Sample("a", 0, cut, "7", "length", "x"), Sample("a", 1, "The answer is 8.", "8", "stop", "x")]
    )
    store.add(key, [Sample("b", 0, "The answer is 2. And then", "2", "length", "x")])
    problems = [Problem(pid, "en", f"q {pid}", f"q {pid}", "7", "t") for pid in ("a", "b")]

    sel = choose_references(problems, store, key)
    by_id = {r.problem.id: r for r in sel.references}
    assert by_id["a"].vote.answer == "8" and by_id["a"].vote.reference == "The answer is 8."
    assert by_id["a"].vote.agreement == pytest.approx(0.5)  # the cut sample still counts as a sample
    assert not by_id["b"].kept and "cut at max_new_tokens" in (by_id["b"].dropped or "")
    assert sel.truncated == 2

    opted = choose_references(problems, store, key, keep_truncated=True)
    ref = {r.problem.id: r for r in opted.references}
    assert ref["a"].vote.reference == cut and ref["b"].kept  # the old behaviour, on request
    cfg = load_config(PivotCommandConfig, overrides={"keep_truncated": True})
    assert cfg.keep_truncated and not load_config(PivotCommandConfig).keep_truncated


# --- config ----------------------------------------------------------------------------------


def test_config_rejects_bad_templates_and_sampling_n() -> None:
    with pytest.raises(ConfigError, match=r"\{question\}"):
        load_config(PivotCommandConfig, overrides={"pivot.prompt.template": "no slot here"})
    with pytest.raises(ConfigError, match=r"pivot\.samples"):
        load_config(PivotCommandConfig, overrides={"pivot.sampling.n": 4})
    with pytest.raises(ConfigError, match="keep"):
        load_config(PivotCommandConfig, overrides={"keep": "sometimes"})


def test_key_set_hashes_prompt_and_sampling_but_not_k() -> None:
    base = pivot_key_set(PivotConfig(model="m"))
    assert pivot_key_set(PivotConfig(model="m", samples=9, batch_size=1)) == base
    assert pivot_key_set(PivotConfig(model="m", name="nick")).model == "nick"
    hot = PivotConfig(model="m", sampling={"temperature": 1.0})
    assert pivot_key_set(hot).settings_hash != base.settings_hash
    other = PivotConfig(model="m", prompt={"template": "Q: {question}"})
    assert pivot_key_set(other).prompt_hash != base.prompt_hash
    msgs = PivotConfig(prompt={"system": "be brief", "template": "{question} {x}"}).prompt.render("2+2?")
    assert msgs == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "2+2? {x}"}]


# --- problems --------------------------------------------------------------------------------


def test_problems_are_deduplicated_by_parallel_id(mgsm_en_sw: list[Problem]) -> None:
    unique = unique_problems(mgsm_en_sw)
    assert unique.rows == 12
    assert [p.id for p in unique.problems] == [f"mgsm-{i:04d}" for i in range(6)]
    assert all(p.langs == ("en", "sw") for p in unique.problems)
    en = {p.id: p.question for p in mgsm_en_sw if p.lang == "en"}
    assert all(p.question_en == en[p.id] for p in unique.problems)
    orphan = Problem("x-1", "sw", "Swali", None, "3", "t")  # no English anywhere: skipped, reported
    english_only = Problem("x-2", "en", "What is 1+2?", None, "3", "t")  # question is the English
    unique = unique_problems([orphan, english_only])
    assert unique.no_english == ["x-1:sw"]
    assert [p.question_en for p in unique.problems] == ["What is 1+2?"]


# --- runner + store --------------------------------------------------------------------------


def _cfg(**kw: object) -> PivotConfig:
    return PivotConfig(model="fake:pivot", **{"samples": 3, "batch_size": 2, **kw})  # type: ignore[arg-type]


def test_run_commits_every_sample_and_a_rerun_generates_nothing(
    tmp_path: Path, mgsm_en_sw: list[Problem]
) -> None:
    gen = FakeGenerator()
    with ReferenceStore(tmp_path / "s.db") as store:
        report = run_pivot(mgsm_en_sw, _cfg(), store, gen)
        assert (report.problems, report.expected, report.generated, report.present_before) == (6, 18, 18, 0)
        assert gen.samples == 18 and gen.calls == 3  # 6 problems, 2 per call, n=3
        assert report.completion_tokens == 18 * 12 and report.tokens_per_second >= 0
        again = run_pivot(mgsm_en_sw, _cfg(), store, gen)
        assert (again.generated, again.present_before, gen.samples) == (0, 18, 18)
        stored = store.samples(report.key)
        q0 = unique_problems(mgsm_en_sw).problems[0]
        prompt = _cfg().prompt.render(q0.question_en)[-1]["content"]
        first = stored[q0.id]
        assert [s.index for s in first] == [0, 1, 2]
        assert [s.answer for s in first] == [str(fake_answer(prompt, 0, j)) for j in range(3)]
        assert store.integrity_check() == "ok"
    assert not gen.closed  # a generator passed in is left open


def test_more_samples_later_generates_only_the_new_indices(tmp_path: Path, mgsm_en_sw: list[Problem]) -> None:
    gen = FakeGenerator()
    with ReferenceStore(tmp_path / "s.db") as store:
        run_pivot(mgsm_en_sw, _cfg(samples=2), store, gen)
        report = run_pivot(mgsm_en_sw, _cfg(samples=3), store, gen)
        assert (report.present_before, report.generated, gen.samples) == (12, 6, 18)
        assert store.count(report.key) == 18


def test_errored_generations_are_reported_not_stored_and_retried(
    tmp_path: Path, mgsm_en_sw: list[Problem]
) -> None:
    with ReferenceStore(tmp_path / "s.db") as store:
        report = run_pivot(mgsm_en_sw, _cfg(), store, FakeGenerator(fail_first=4))
        assert len(report.failures) == 4 and report.generated == 14
        assert store.count(report.key) == 14
        assert all(f.error == "fake backend failure" for f in report.failures)
        retry = FakeGenerator()
        again = run_pivot(mgsm_en_sw, _cfg(), store, retry)
        assert (again.planned, again.generated, retry.samples, again.failures) == (4, 4, 4, [])
        assert store.count(report.key) == 18


def test_force_regenerates_only_the_selected_problems(tmp_path: Path, mgsm_en_sw: list[Problem]) -> None:
    with ReferenceStore(tmp_path / "s.db") as store:
        run_pivot(mgsm_en_sw, _cfg(), store, FakeGenerator())
        before = {
            pid: [s.created_at for s in rows] for pid, rows in store.samples(pivot_key_set(_cfg())).items()
        }
        two = [p for p in mgsm_en_sw if p.id in ("mgsm-0000", "mgsm-0001")]
        gen = FakeGenerator()
        report = run_pivot(two, _cfg(), store, gen, force=True)
        assert (report.deleted, report.generated, gen.samples) == (6, 6, 6)
        after = {pid: [s.created_at for s in rows] for pid, rows in store.samples(report.key).items()}
        assert store.count(report.key) == 18
        assert after["mgsm-0005"] == before["mgsm-0005"]
        assert after["mgsm-0000"] != before["mgsm-0000"]


def test_a_reused_id_with_another_question_is_refused(tmp_path: Path) -> None:
    with ReferenceStore(tmp_path / "s.db") as store:
        run_pivot([Problem("q-1", "en", "What is 2+2?", None, "4", "t")], _cfg(), store, FakeGenerator())
        other = [Problem("q-1", "en", "What is 3+3?", None, "6", "t")]
        with pytest.raises(PivotError, match="different English question"):
            plan_pivot(other, _cfg(), store)
        report = run_pivot(other, _cfg(), store, FakeGenerator(), force=True)  # --force replaces them
        assert report.generated == 3


def test_generator_is_built_only_when_work_is_missing(tmp_path: Path, mgsm_en_sw: list[Problem]) -> None:
    built: list[FakeGenerator] = []

    def factory(target: str) -> FakeGenerator:
        built.append(FakeGenerator(name=f"fakebuild:{target}"))
        return built[-1]

    register_backend("fakebuild", factory, prefix="fakebuild")
    try:
        cfg = PivotConfig(model="fakebuild:x", samples=2)
        with ReferenceStore(tmp_path / "s.db") as store:
            run_pivot(mgsm_en_sw, cfg, store)
            run_pivot(mgsm_en_sw, cfg, store)
    finally:
        BACKENDS.unregister("fakebuild")
    assert len(built) == 1 and built[0].closed  # built once, closed after its run


def test_store_writer_waits_for_a_lock_then_fails_clearly(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    key = KeySet("m", "p", "s")
    ReferenceStore(path).close()
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    with ReferenceStore(path, busy_timeout=0.2) as store:
        t0 = time.perf_counter()
        with pytest.raises(StoreLockedError, match="locked by another writer"):
            store.add(key, _samples(["1"]))
        assert time.perf_counter() - t0 >= 0.15
        threading.Timer(0.3, holder.rollback).start()  # released while the next write waits
    with ReferenceStore(path, busy_timeout=5) as store:
        assert store.add(key, _samples(["1"])) == 1
    holder.close()


def test_store_refuses_other_files(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a usable SQLite file"):
        ReferenceStore(junk)
    with pytest.raises(StoreError, match="not found"):
        ReferenceStore(tmp_path / "missing.db", create=False)
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x)")
    with pytest.raises(StoreError, match="something else"):
        ReferenceStore(other)


def test_duplicate_inserts_are_ignored() -> None:
    store = ReferenceStore(":memory:")
    key = KeySet("m", "p", "s")
    assert store.add(key, _samples(["1", "2"])) == 2
    assert store.add(key, _samples(["9", "9", "3"])) == 1  # indices 0 and 1 exist: kept as they were
    assert [s.answer for s in store.samples(key)["p"]] == ["1", "2", "3"]


# --- export ----------------------------------------------------------------------------------


def _export_rows(tmp_path: Path, problems: list[Problem]) -> list[dict]:
    with ReferenceStore(tmp_path / "s.db") as store:
        report = run_pivot(problems, _cfg(), store, FakeGenerator())
        sel = choose_references(problems, store, report.key)
    return reference_rows(problems, sel)


def test_export_rows_one_per_problem_and_language(tmp_path: Path, mgsm_en_sw: list[Problem]) -> None:
    rows = _export_rows(tmp_path, mgsm_en_sw)
    assert len(rows) == 12
    assert [(r["id"], r["lang"]) for r in rows] == [(p.id, p.lang) for p in mgsm_en_sw]
    assert all(list(r) == list(EXPORT_COLUMNS) for r in rows)
    en = {r["id"]: r for r in rows if r["lang"] == "en"}
    for r in rows:  # the same English reference serves every language of an id
        assert r["reference"] == en[r["id"]]["reference"] and r["question_en"] == en[r["id"]]["question"]
        assert r["reference"].endswith(f"The answer is {r['reference_answer']}.")
        assert r["pivot_model"] == "fake:pivot" and r["n_samples"] == 3
        assert r["agreement"] == pytest.approx(r["votes"] / 3)


@pytest.mark.parametrize("name", ["refs.jsonl", "refs.parquet", "refs_hf"])
def test_export_round_trip(tmp_path: Path, mgsm_en_sw: list[Problem], name: str) -> None:
    rows = _export_rows(tmp_path, mgsm_en_sw)
    rows[0] = {**rows[0], "gold": None, "correct": None}  # nullable columns survive as null
    out = tmp_path / name
    kind = write_rows(rows, out)
    assert kind == {"refs.jsonl": "jsonl", "refs.parquet": "parquet", "refs_hf": "hf"}[name]
    back = read_rows(out)
    assert back == rows
    if kind == "parquet":
        import pyarrow.parquet as pq

        assert pq.read_schema(out).remove_metadata() == arrow_schema()
    write_rows(rows[:2], out)  # overwriting an export replaces it
    assert len(read_rows(out)) == 2
    write_rows([], out)  # an empty export is still a valid file or dataset
    assert read_rows(out) == []
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary leftovers


# --- CLI -------------------------------------------------------------------------------------


@pytest.fixture
def fake_backend() -> list[FakeGenerator]:
    built: list[FakeGenerator] = []

    def factory(target: str) -> FakeGenerator:
        built.append(FakeGenerator(name=f"fake:{target}", spread=2))
        return built[-1]

    register_backend("fake", factory, prefix="fake")
    yield built
    BACKENDS.unregister("fake")


def test_cli_pivot_generates_resumes_and_exports(tmp_path: Path, fake_backend: list[FakeGenerator]) -> None:
    store, out = tmp_path / "s.db", tmp_path / "refs.jsonl"
    args = ["pivot", "--data", "mgsm", "--langs", "en,sw", "--limit", "4", "--model", "fake:x"]
    args += ["--samples", "3", "--store", str(store), "--output", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "generated now" in result.output and "pivot accuracy vs gold" in result.output
    assert "agreement (winning votes / samples)" in result.output
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 8 and {r["lang"] for r in rows} == {"en", "sw"}
    assert fake_backend[0].samples == 12
    summary = json.loads((tmp_path / "refs.jsonl.summary.json").read_text(encoding="utf-8"))
    assert summary["generation"]["generated"] == 12 and summary["problems"] == 4
    # every count says what it counts, and the exported file agrees with the summary
    assert summary["problem_rows"] == 8 and summary["exported_rows"] == len(rows) and "rows" not in summary
    assert summary["stored"]["samples"] == 12
    assert "pivot:" in (tmp_path / "refs.jsonl.config.yaml").read_text(encoding="utf-8")

    again = runner.invoke(app, args)  # resumes: nothing left to generate, no generator built
    assert again.exit_code == 0, again.output
    assert len(fake_backend) == 1
    resumed = json.loads((tmp_path / "refs.jsonl.summary.json").read_text())
    assert resumed["generation"]["generated"] == 0
    assert resumed["stored"] == summary["stored"]  # the totals come from the store, not from this run

    forced = runner.invoke(app, [*args, "--force"])
    assert forced.exit_code == 0, forced.output
    assert fake_backend[-1].samples == 12

    exp = tmp_path / "refs.parquet"
    export = ["pivot", "export", "--data", "mgsm", "--langs", "sw", "--limit", "4", "--model", "fake:x"]
    export += ["--samples", "3", "--store", str(store), "-o", str(exp), "--keep", "agree_with_gold"]
    result = runner.invoke(app, export)
    assert result.exit_code == 0, result.output
    kept = read_rows(exp)
    assert all(r["correct"] for r in kept) and {r["lang"] for r in kept} <= {"sw"}


def test_cli_pivot_options_before_a_subcommand_are_refused(tmp_path: Path) -> None:
    result = runner.invoke(app, ["pivot", "--store", str(tmp_path / "s.db"), "export"])
    assert result.exit_code == 2
    assert "after the subcommand" in _flat(result.output)


def test_cli_pivot_reports_malformed_rows_by_line(tmp_path: Path, fake_backend: list[FakeGenerator]) -> None:
    data = tmp_path / "probs.jsonl"
    good = {"id": "t-1", "lang": "en", "question": "What is 2 + 2?", "gold": "4"}
    lines = [json.dumps(good), json.dumps({**good, "id": "t-2", "question": "What is 3 + 3?"}), "{not json"]
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    base = [
        "pivot",
        "--data",
        str(data),
        "--model",
        "fake:x",
        "--samples",
        "2",
        "--store",
        str(tmp_path / "s.db"),
    ]
    strict = runner.invoke(app, base)
    assert strict.exit_code == 2
    assert "probs.jsonl:3" in _flat(strict.output) and "Traceback" not in strict.output
    lenient = runner.invoke(app, [*base, "--set", "data.on_error=skip"])
    assert lenient.exit_code == 0, lenient.output
    assert "skipped malformed row" in lenient.output and "probs.jsonl:3" in _flat(lenient.output)
    assert fake_backend[-1].samples == 4  # the two good problems were still run


def test_cli_pivot_exit_code_1_when_generations_fail(tmp_path: Path) -> None:
    register_backend("flaky", lambda target: FakeGenerator(fail_first=1), prefix="flaky")
    try:
        result = runner.invoke(
            app,
            [
                "pivot",
                "--limit",
                "2",
                "--langs",
                "en",
                "--model",
                "flaky:x",
                "--store",
                str(tmp_path / "s.db"),
            ],
        )
    finally:
        BACKENDS.unregister("flaky")
    assert result.exit_code == 1
    assert "1 generation(s) failed" in _flat(result.output)


def test_cli_pivot_import_and_export_the_model_solutions(tmp_path: Path) -> None:
    store, out = tmp_path / "s.db", tmp_path / "refs.parquet"
    args = ["pivot", "import", "--data", "mgsm", "--langs", "en,sw", "--store", str(store), "-o", str(out)]
    result = runner.invoke(app, [*args, "--keep", "agree_with_gold"])
    assert result.exit_code == 0, result.output
    assert "250 of 250" in result.output and "55.2% (138/250)" in result.output
    rows = read_rows(out)
    assert len(rows) == 2 * 138 and all(r["correct"] for r in rows)
    assert {r["pivot_model"] for r in rows} == {"gpt3-175b-verification"}
    again = runner.invoke(app, ["pivot", "import", "--data", "mgsm", "--langs", "en", "--store", str(store)])
    assert again.exit_code == 0 and "0 / 250" in again.output  # idempotent
    exp = tmp_path / "all.jsonl"
    export = ["pivot", "export", "--data", "mgsm", "--langs", "en", "--model", "gpt3-175b-verification"]
    result = runner.invoke(app, [*export, "--store", str(store), "-o", str(exp)])
    assert result.exit_code == 0, result.output
    assert len(read_rows(exp)) == 250
    missing = runner.invoke(app, ["pivot", "export", "--model", "nobody", "--store", str(store)])
    assert missing.exit_code == 2 and "no samples of 'nobody'" in _flat(missing.output)


def test_cli_bad_pivot_config_fails_before_work(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["pivot", "--keep", "sometimes", "--set", "pivot.smaples=3", "--store", str(tmp_path / "s.db")]
    )
    assert result.exit_code == 2
    assert "keep" in result.output and "unknown key 'pivot.smaples'" in _flat(result.output)
    assert not (tmp_path / "s.db").exists()


def test_cli_pivot_yaml_config(tmp_path: Path, fake_backend: list[FakeGenerator]) -> None:
    cfg = tmp_path / "pivot.yaml"
    cfg.write_text(
        f"data: {{source: msvamp, langs: [de, en], limit: 3}}\nstore: {tmp_path / 's.db'}\n"
        f"output: {tmp_path / 'refs.jsonl'}\nkeep: min_agreement\nmin_agreement: 0.0\n"
        "pivot:\n  model: fake:yaml\n  samples: 2\n  batch_size: 1\n"
        "  prompt: {system: 'You are careful.', template: 'Solve: {question}'}\n"
        "  sampling: {temperature: 1.0, seed: 7}\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["pivot", "-c", str(cfg), "--set", "pivot.samples=3"])
    assert result.exit_code == 0, result.output
    assert fake_backend[0].samples == 9 and fake_backend[0].calls == 3  # samples from --set, batch 1
    rows = read_rows(tmp_path / "refs.jsonl")
    assert len(rows) == 6 and {r["n_samples"] for r in rows} == {3}
    with ReferenceStore(tmp_path / "s.db") as store:
        (info,) = store.key_sets()
    assert info.prompt == {"system": "You are careful.", "template": "Solve: {question}"}
    assert info.settings["temperature"] == 1.0 and info.settings["seed"] == 7


def test_import_the_full_gsm8k_file_links_mgsm_by_english_question(shared_data: Path) -> None:
    problems = load_problems("mgsm", langs=["en", "ja"])
    store = ReferenceStore(":memory:")
    cfg = SolutionsConfig(path=shared_data / "gsm8k" / "example_model_solutions.jsonl")
    report = import_solutions(problems, store, cfg)
    assert (report.matched, report.unmatched, report.inserted) == (250, [], 250)
    selection = choose_references(problems, store, report.key, keep="agree_with_gold")
    assert len(selection.kept()) == 138  # the same as the packaged slice


def test_a_store_busy_at_once_while_opening_is_retried_until_busy_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two writers opening a new store can get SQLITE_BUSY without SQLite's busy handler waiting
    (seen in CI): opening retries until busy_timeout, then says the store is locked."""
    from pbrlsvr.pivot import store as store_module

    real_open = store_module.ReferenceStore._open
    failures = {"left": 2}

    def busy_twice(self: object, memory: bool) -> None:
        if failures["left"]:
            failures["left"] -= 1
            raise store_module.StoreLockedError("database is locked")
        real_open(self, memory)  # type: ignore[arg-type]

    monkeypatch.setattr(store_module.ReferenceStore, "_open", busy_twice)
    with store_module.ReferenceStore(tmp_path / "a.sqlite", busy_timeout=5) as s:
        assert s.count() == 0
    assert failures["left"] == 0

    def always_busy(self: object, memory: bool) -> None:
        raise store_module.StoreLockedError("database is locked")

    monkeypatch.setattr(store_module.ReferenceStore, "_open", always_busy)
    with pytest.raises(store_module.StoreLockedError):
        store_module.ReferenceStore(tmp_path / "b.sqlite", busy_timeout=0.2)
