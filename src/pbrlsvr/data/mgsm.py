"""MGSM: the same 250 GSM8K test problems, human-translated into 10 languages plus English.

* :func:`load_mgsm`: a folder of ``mgsm_<lang>.tsv`` (``question<TAB>answer-number``, row i of
  every file is the same problem) or one such file. Ids ``mgsm-0000`` … ``mgsm-0249`` are the row
  index, parallel across languages; ``question_en`` is row i of ``mgsm_en.tsv``; gold is the
  canonical number (``"2,125"`` → ``"2125"``); with ``link_english`` each problem gets the English
  GSM8K worked solution whose question equals the English MGSM question (``solution_en``, and
  ``meta["gsm8k_id"]``). Without a path: the packaged copy.
* :func:`load_mgsm_exemplars`: MGSM's 8 few-shot exemplars × 11 languages (``exemplars.jsonl``),
  ids ``mgsm-ex-<n>``, the localised step-by-step solution in ``meta["solution"]``: the one reader
  of the exemplars (few-shot prompts, the encoders' calibration, the reward fidelity cases) and
  the one place their ``Question:`` / ``Step-by-Step Answer:`` labels are stripped.
* :func:`load_mgsm_hf`: the Hub copy ``juletxara/mgsm`` (one configuration per language); needs
  the network or the HF cache.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pbrlsvr.data.config import DataConfig
from pbrlsvr.data.gsm8k import EnglishIndex
from pbrlsvr.data.hf import load_hf_rows, require_columns
from pbrlsvr.data.problem import Problem
from pbrlsvr.data.readers import (
    DuplicateGuard,
    ParallelRow,
    canonical_number,
    iter_jsonl,
    iter_lines,
    lang_from_name,
    locate_lang_files,
    parallel_mismatch,
    select_langs,
)
from pbrlsvr.data.report import Issues, OnError
from pbrlsvr.data.resources import mgsm_dir
from pbrlsvr.data.sources import DataSource, locate, register_source
from pbrlsvr.errors import UnknownLanguageError
from pbrlsvr.languages import MGSM_LANGS, normalize_lang

logger = logging.getLogger("pbrlsvr.data")

MGSM_HF_ID = "juletxara/mgsm"


def _read_tsv(file: Path, issues: Issues) -> list[ParallelRow]:
    rows: list[ParallelRow] = []
    for line in iter_lines(file, issues):
        fields = line.text.split("\t")
        if len(fields) != 2:
            issues.add(
                file, line.number, f"expected 2 tab-separated fields (question, answer), found {len(fields)}"
            )
            continue
        question, answer = fields
        if not question.strip():
            issues.add(file, line.number, "empty question")
            continue
        gold = canonical_number(answer)
        if gold is None:
            issues.add(file, line.number, f"answer {answer.strip()!r} is not a number")
            continue
        rows.append(ParallelRow(line.index, line.number, question, gold))
    return rows


def _assemble(
    lang: str,
    rows: Iterable[ParallelRow],
    english: dict[int, ParallelRow] | None,
    links: dict[int, tuple[str, str]],
    *,
    where: str,
    unit: str,
    source: str,
    issues: Issues,
    english_where: str,
    id_prefix: str = "mgsm-",
) -> list[Problem]:
    """Rows of one language → Problems, checked against the English row of the same index."""
    out: list[Problem] = []
    for row in rows:
        en, differs = parallel_mismatch(english, lang, row.index, row.gold)
        if differs is not None and en is not None:
            issues.add(
                where,
                row.number,
                f"gold {row.gold} differs from {english_where} {unit} {en.number} gold {en.gold} "
                "(are the language files in the same row order?)",
                unit=unit,
            )
            continue
        meta: dict[str, Any] = {unit: row.number}
        solution = None
        if row.index in links:
            meta["gsm8k_id"], solution = links[row.index]
        out.append(
            Problem(
                id=f"{id_prefix}{row.index:04d}",
                lang=lang,
                question=row.question,
                question_en=en.question if en is not None else (row.question if lang == "en" else None),
                gold=row.gold,
                source=source,
                solution_en=solution,
                meta=meta,
            )
        )
    return out


def _link(english: dict[int, ParallelRow] | None, index: EnglishIndex | None) -> dict[int, tuple[str, str]]:
    """English MGSM row index → (GSM8K id, worked solution), by English question text."""
    if english is None or index is None:
        return {}
    links: dict[int, tuple[str, str]] = {}
    for i, row in english.items():
        match = index.find(row.question)
        if match is None:
            continue
        if match.gold != row.gold:
            logger.warning("MGSM row %d: gold %s differs from GSM8K's %s", i, row.gold, match.gold)
        links[i] = (index.id_of(match), match.solution)
    missing = len(english) - len(links)
    if missing:
        logger.info(
            "%d of %d MGSM problems have no GSM8K English solution in %s", missing, len(english), index.path
        )
    return links


def load_mgsm(
    path: str | Path | None = None,
    *,
    langs: list[str] | None = None,
    link_english: bool = True,
    english_index: EnglishIndex | None = None,
    issues: Issues | None = None,
    source: str | None = None,
) -> list[Problem]:
    """MGSM TSV files → problems (see the module docstring).

    Args:
        path: a folder of ``mgsm_<lang>.tsv``, one such file, or None for the packaged copy.
        langs: languages to load (canonical codes), in this order; None = every file found.
        link_english: attach the GSM8K English worked solution (``solution_en``).
        english_index: where to look those up; default the packaged 250 GSM8K test problems.
    """
    issues = issues or Issues()
    folder, files = locate_lang_files(
        path, mgsm_dir(), "mgsm_", ".tsv", name="MGSM", langs=langs, issues=issues
    )
    source = source or ("mgsm" if path is None else str(Path(path).expanduser()))

    en_file = files.get("en") or (folder / "mgsm_en.tsv")
    english: dict[int, ParallelRow] | None = None
    if en_file.is_file():
        english = {r.index: r for r in _read_tsv(en_file, issues)}
        if "en" in files:
            issues.check_file_not_empty(en_file, len(english))
    if link_english and english_index is None:
        english_index = EnglishIndex.packaged_mgsm()
    links = _link(english, english_index) if link_english else {}

    problems: list[Problem] = []
    for lang, file in files.items():
        rows = list(english.values()) if lang == "en" and english is not None else _read_tsv(file, issues)
        got = _assemble(
            lang,
            rows,
            english,
            links,
            where=str(file),
            unit="line",
            source=source,
            issues=issues,
            english_where=en_file.name,
        )
        issues.check_file_not_empty(file, len(got))
        problems.extend(got)
    return problems


# --- exemplars -----------------------------------------------------------------------------------

_LABEL = re.compile(r"^(?P<label>[^:：\n]{1,40}?)\s*[:：]\s*")


def _common_label(texts: list[str]) -> str | None:
    """The ``Label:`` every text starts with (``Question:``, ``Frage:``, ``问题：``), else None."""
    labels = {m.group("label") if (m := _LABEL.match(t)) else None for t in texts}
    if len(labels) == 1:
        return labels.pop()
    return None


def _strip_label(text: str, label: str | None) -> str:
    if label is None:
        return text
    m = _LABEL.match(text)
    return text[m.end() :] if m else text


def mgsm_exemplar_records(path: str | Path | None = None) -> list[dict[str, Any]]:
    """The exemplar file's records as written (default: the packaged copy), for fingerprints of
    what few-shot prompts are built from; :func:`load_mgsm_exemplars` gives them as problems."""
    file = Path(path).expanduser() if path is not None else mgsm_dir() / "exemplars.jsonl"
    return [rec for _, rec in iter_jsonl(file, Issues("raise"))]


def load_mgsm_exemplars(
    path: str | Path | None = None,
    *,
    langs: list[str] | None = None,
    on_error: OnError = "raise",
    issues: Issues | None = None,
    source: str | None = None,
) -> list[Problem]:
    """MGSM's ``exemplars.jsonl`` → problems ``mgsm-ex-<n>`` (the 8 few-shot exemplars).

    ``question`` is the question without its localised ``Question:`` label (kept in
    ``meta["question_prefix"]``, the raw text in ``meta["question_raw"]``); the localised
    step-by-step answer without its label is ``meta["solution"]`` (raw: ``meta["answer_cot"]``,
    label: ``meta["answer_prefix"]``); the English one is ``solution_en``.
    """
    own = issues is None
    issues = issues or Issues(on_error)
    file = Path(path).expanduser() if path is not None else mgsm_dir() / "exemplars.jsonl"
    source = source or ("mgsm-exemplars" if path is None else str(file))
    guard = DuplicateGuard(issues)
    by_lang: dict[str, list[tuple[int, int, dict[str, Any]]]] = {}
    for line, rec in iter_jsonl(file, issues):
        missing = [k for k in ("lang", "id", "question", "answer_number") if k not in rec]
        if missing:
            issues.add(file, line.number, f"missing column(s) {missing}; row has: {', '.join(rec)}")
            continue
        try:
            lang = normalize_lang(str(rec["lang"]))
        except UnknownLanguageError as exc:
            issues.add(file, line.number, str(exc))
            continue
        try:
            n = int(rec["id"])
        except (TypeError, ValueError):
            issues.add(file, line.number, f"id {rec['id']!r} is not an integer")
            continue
        if not isinstance(rec["question"], str) or not rec["question"].strip():
            issues.add(file, line.number, "empty question")
            continue
        if canonical_number(rec["answer_number"]) is None:
            issues.add(file, line.number, f"answer_number {rec['answer_number']!r} is not a number")
            continue
        if not guard.ok(f"mgsm-ex-{n}", lang, file, line.number):
            continue
        by_lang.setdefault(lang, []).append((n, line.number, rec))
    issues.check_file_not_empty(file, sum(len(v) for v in by_lang.values()))
    wanted = select_langs({lang: file for lang in by_lang}, langs, str(file))

    labels: dict[str, tuple[str | None, str | None]] = {}
    for lang, recs in by_lang.items():
        labels[lang] = (
            _common_label([r["question"] for _, _, r in recs]),
            _common_label([str(r.get("answer_cot") or "") for _, _, r in recs]),
        )
    english: dict[int, dict[str, Any]] = {n: r for n, _, r in by_lang.get("en", [])}
    q_label_en, a_label_en = labels.get("en", (None, None))

    problems: list[Problem] = []
    for lang in wanted:
        q_label, a_label = labels[lang]
        for n, number, rec in by_lang[lang]:
            en = english.get(n)
            cot = rec.get("answer_cot")
            problems.append(
                Problem(
                    id=f"mgsm-ex-{n}",
                    lang=lang,
                    question=_strip_label(rec["question"], q_label),
                    question_en=_strip_label(en["question"], q_label_en) if en else None,
                    gold=canonical_number(rec["answer_number"]),
                    source=source,
                    solution_en=_strip_label(en["answer_cot"], a_label_en)
                    if en and en.get("answer_cot")
                    else None,
                    meta={
                        "line": number,
                        "solution": _strip_label(cot, a_label) if isinstance(cot, str) else None,
                        "answer_cot": cot,
                        "equation": rec.get("equation"),
                        "question_raw": rec["question"],
                        "question_prefix": q_label,
                        "answer_prefix": a_label,
                    },
                )
            )
    if own:
        issues.warn_summary(source)
    return problems


# --- Hugging Face --------------------------------------------------------------------------------


def load_mgsm_hf(
    dataset_id: str = MGSM_HF_ID,
    *,
    langs: list[str] | None = None,
    split: str = "test",
    link_english: bool = True,
    issues: Issues | None = None,
) -> list[Problem]:
    """MGSM from the Hub: ``datasets.load_dataset(dataset_id, <lang>, split=split)`` per language.

    Columns ``question`` and ``answer_number``; ids ``mgsm-<row>`` as in :func:`load_mgsm`.
    Needs the network or the local HF cache; the packaged copy (``source: mgsm``) needs neither.
    """
    issues = issues or Issues()
    wanted = list(langs) if langs else list(MGSM_LANGS)
    source = f"hf:{dataset_id}"

    def read(lang: str) -> tuple[str, list[ParallelRow]]:
        table = load_hf_rows(dataset_id, lang, split)
        require_columns(table, {"question": "question", "gold": "answer_number"})
        rows: list[ParallelRow] = []
        for i, rec in enumerate(table):
            question, gold = rec.get("question"), canonical_number(rec.get("answer_number"))
            if not isinstance(question, str) or not question.strip():
                issues.add(table.name, i + 1, "empty question", unit="row")
            elif gold is None:
                issues.add(
                    table.name,
                    i + 1,
                    f"answer_number {rec.get('answer_number')!r} is not a number",
                    unit="row",
                )
            else:
                rows.append(ParallelRow(i, i + 1, question, gold))
        issues.check_file_not_empty(table.name, len(rows))
        return table.name, rows

    en_name, en_rows = read("en")
    english = {r.index: r for r in en_rows}
    links = _link(english, EnglishIndex.packaged_mgsm()) if link_english and split == "test" else {}
    problems: list[Problem] = []
    for lang in wanted:
        name, rows = (en_name, en_rows) if lang == "en" else read(lang)
        problems.extend(
            _assemble(
                lang,
                rows,
                english,
                links,
                where=name,
                unit="row",
                source=source,
                issues=issues,
                english_where=en_name,
                id_prefix="mgsm-" if split == "test" else f"mgsm-{split}-",
            )
        )
    return problems


# --- registered sources ----------------------------------------------------------------------


def _load(cfg: DataConfig, issues: Issues) -> list[Problem]:
    loc = locate(cfg.source)
    if loc.kind == "hf":
        return load_mgsm_hf(
            loc.value,
            langs=cfg.langs,
            split=cfg.split or "test",
            link_english=cfg.link_english,
            issues=issues,
        )
    path = None if loc.kind == "name" else loc.path
    return load_mgsm(path, langs=cfg.langs, link_english=cfg.link_english, issues=issues)


def _detect(path: Path, cfg: DataConfig) -> bool:
    files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
    return any(lang_from_name(f, "mgsm_", ".tsv") for f in files)


def _load_exemplars(cfg: DataConfig, issues: Issues) -> list[Problem]:
    loc = locate(cfg.source)
    return load_mgsm_exemplars(None if loc.kind == "name" else loc.path, langs=cfg.langs, issues=issues)


register_source(
    DataSource(
        "mgsm",
        _load,
        "MGSM test: 250 problems x 11 languages (packaged, CC BY 4.0; or juletxara/mgsm, mgsm_<lang>.tsv files)",
        hf_ids=(MGSM_HF_ID,),
        detect=_detect,
        languages=MGSM_LANGS,
        order=30,
    )
)
register_source(
    DataSource(
        "mgsm-exemplars",
        _load_exemplars,
        "MGSM few-shot exemplars: 8 x 11 languages (packaged, CC BY 4.0; or an exemplars.jsonl file)",
        detect=lambda path, cfg: path.is_file() and path.name == "exemplars.jsonl",
        languages=MGSM_LANGS,
        order=31,
    )
)
