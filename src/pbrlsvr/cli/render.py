"""Every table the CLI prints, in one place: the commands build results, this module shows them.

Files (``report.md``, ``compare.md``, ``results.md``) are rendered by the modules that write them;
these are the console views of the same results.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from pbrlsvr.evaluation.compare import arrow_text, delta_text
from pbrlsvr.evaluation.metrics import METRICS
from pbrlsvr.evaluation.report import LABELS, cell
from pbrlsvr.generation.progress import format_duration

if TYPE_CHECKING:
    from pbrlsvr.data.problem import Problem
    from pbrlsvr.pivot.commands import PivotOutcome


def problems_table(source: str, problems: Sequence[Problem]) -> Table:
    """``pbrlsvr data``: problems per language, with gold, English question and English solution."""
    per_lang = Counter(p.lang for p in problems)
    table = Table(title=f"{source}: {len(problems)} problems")
    for col in ("lang", "problems", "with gold", "with English", "with English solution"):
        table.add_column(col, justify="right" if col != "lang" else "left")
    for lang in per_lang:
        rows = [p for p in problems if p.lang == lang]
        table.add_row(
            lang,
            str(len(rows)),
            str(sum(p.gold is not None for p in rows)),
            str(sum(p.question_en is not None for p in rows)),
            str(sum(p.solution_en is not None for p in rows)),
        )
    return table


def eval_table(report: dict[str, Any]) -> Table:
    s = report["settings"]
    table = Table(title=f"{s['benchmark']}: {s['model']} ({report['counts']['items']} problems, %)")
    for col in ("lang", "n", "Acc", "LC", "LC&Acc"):
        table.add_column(col, justify="left" if col == "lang" else "right")
    rows = list(report["languages"].items())
    macro = report["averages"].get("macro") or {}
    if macro.get("langs"):
        rows.append(("avg (non-en)", {**macro, "n": ""}))
    if report["averages"].get("en_gap"):
        rows.append(("en − avg", {**report["averages"]["en_gap"], "n": ""}))
    for name, v in rows:
        table.add_row(
            name, str(v["n"]), cell(v, "accuracy"), cell(v, "language_consistency"), cell(v, "lc_acc")
        )
    return table


def compare_table(
    result: Mapping[str, Any], *, title: str | None = None, a_name: str = "A", b_name: str = "B"
) -> Table:
    """The comparison as a rich table for the console (``eval compare`` and the demo's summary):
    per language and the non-English average, each metric ``A → B`` and ``Δ [interval] p``.
    When no delta in the table is different from 0 its caption says so plainly."""
    table = Table(
        title=title
        or f"{b_name} = {result['b']['model']} vs {a_name} = {result['a']['model']} (%, Δ = B − A, points)"
    )
    table.add_column("lang")
    table.add_column("n", justify="right")
    for m in METRICS:
        table.add_column(f"{LABELS[m]} {a_name} → {b_name}", justify="right")
        table.add_column(f"Δ {LABELS[m]} [CI] p", justify="right")
    rows = list(result["languages"].items())
    if result.get("macro"):
        rows.append(("avg (non-en)", {**result["macro"], "n": ""}))
    deltas = []
    for name, row in rows:
        cells = [name, str(row["n"])]
        for m in METRICS:
            r = row.get(m)
            if not r:
                cells += ["n/a", "n/a"]
                continue
            deltas.append(r["delta"])
            cells += [arrow_text(r), delta_text(r) + ("*" if r["significant"] else "")]
        table.add_row(*cells)
    if deltas and all(abs(d) < 1e-12 for d in deltas):
        table.caption = f"no change: every {a_name} → {b_name} delta is 0"
    else:
        table.caption = f"* = significant at α = {result.get('alpha')}"
    return table


def demo_tables(payload: Mapping[str, Any]) -> list[Table]:
    """What the demo prints at the end: before → after per language with paired-bootstrap deltas,
    and what each step did (computed, resumed or reused) with its time."""
    s = payload["settings"]
    langs = ", ".join(s.get("langs", []))
    title = (
        f"MGSM {langs} × {s.get('eval_problems')}: {s.get('policy')} before → after "
        f"{payload['training']['steps']} GRPO steps (%, Δ = after − before, points)"
    )
    tables = [compare_table(payload["compare"], title=title, a_name="before", b_name="after")]
    steps = payload.get("steps") or {}
    if steps:
        t = Table(title="steps", title_justify="left")
        for col in ("step", "this run", "output", "time"):
            t.add_column(col, justify="right" if col == "time" else "left")
        for name, st in steps.items():
            t.add_row(
                name.replace("_", " "),
                f"{st['status']} ({st['computed_now']} now)",
                f"{st['total']} {st['unit']}",
                "n/a" if st.get("seconds") is None else format_duration(st["seconds"]),
            )
        tables.append(t)
    return tables


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _few(items: list[str], n: int = 5) -> str:
    return ", ".join(items[:n]) + (f" … (+{len(items) - n})" if len(items) > n else "")


def pivot_outcome(outcome: PivotOutcome, console: Console, err_console: Console | None = None) -> None:
    """Print the summary: malformed rows, generation or import, accuracy, agreement, the export."""
    err = err_console or console
    for issue in outcome.issues[:50]:
        err.print(f"[yellow]skipped malformed row[/] {issue}", highlight=False)
    if len(outcome.issues) > 50:
        err.print(f"... and {len(outcome.issues) - 50} more malformed rows", highlight=False)
    sel = outcome.selection
    table = Table(title=f"pivot {sel.key}", show_header=False, title_justify="left")
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("problems (unique ids)", str(len(sel.references)))
    table.add_row("problem rows (id, lang)", str(sel.rows))
    if sel.no_english:
        table.add_row("rows without an English question (skipped)", str(len(sel.no_english)))
    run = outcome.run
    if run is not None:
        table.add_row("samples expected", str(run.expected))
        table.add_row("already in the store", str(run.present_before))
        if run.deleted:
            table.add_row("deleted (--force)", str(run.deleted))
        table.add_row("generated now", str(run.generated))
        if run.duplicates or run.skipped:
            table.add_row("written meanwhile by another process", str(run.duplicates + run.skipped))
        table.add_row("failed generations (retried next run)", str(len(run.failures)))
        if run.generation_seconds > 0:
            table.add_row("generation time", f"{run.generation_seconds:.1f} s")
            table.add_row("tokens per second", f"{run.tokens_per_second:.1f}")
            table.add_row("store time / generation time", _pct(run.store_share))
    imp = outcome.imported
    if imp is not None:
        table.add_row("solutions file", str(imp.file))
        table.add_row("matched by English question", f"{imp.matched} of {imp.problems}")
        table.add_row("imported now / already stored", f"{imp.inserted} / {imp.already}")
    table.add_row("samples voted", str(sel.samples))
    if sel.generation_seconds > 0:
        rate = sel.completion_tokens / sel.generation_seconds
        table.add_row(
            "their generation time (every run)", f"{sel.generation_seconds:.1f} s, {rate:.1f} tokens/s"
        )
    cut = sum(r.vote.truncated for r in sel.references)
    if cut:
        table.add_row("samples cut at max_new_tokens (not voting; keep_truncated)", str(cut))
    judged = [r for r in sel.with_gold if r.vote.n_samples > 0]
    table.add_row(
        "pivot accuracy vs gold (voted)",
        f"{_pct(sel.accuracy)} ({sum(bool(r.correct) for r in judged)}/{len(judged)})" if judged else "n/a",
    )
    table.add_row("sample accuracy vs gold", _pct(outcome.sample_accuracy))
    table.add_row("kept references", str(len(sel.kept())))
    for reason, n in sel.dropped().items():
        table.add_row(f"dropped: {reason}", str(n))
    if outcome.output is not None:
        table.add_row("exported rows", f"{outcome.exported_rows} → {outcome.output} ({outcome.format})")
    console.print(table)
    hist = sel.agreement_histogram()
    if hist:
        width = max(hist.values())
        agree = Table(title="agreement (winning votes / samples)", title_justify="left")
        agree.add_column("agreement")
        agree.add_column("problems", justify="right")
        agree.add_column("")
        for label, n in hist.items():
            agree.add_row(label, str(n), "█" * max(1, round(30 * n / width)))
        console.print(agree)
    if run is not None and run.failures:
        shown = _few([f"{f.problem_id}#{f.index}: {f.error}" for f in run.failures], 3)
        err.print(
            f"[red]{len(run.failures)} generation(s) failed[/] (rerun to retry): {shown}", highlight=False
        )
    if run is not None and run.conflicts:
        err.print(
            f"[yellow]ids with different English questions across languages[/] (the first was used): "
            f"{_few(run.conflicts)}",
            highlight=False,
        )
    if imp is not None and imp.unmatched:
        err.print(
            f"[yellow]{len(imp.unmatched)} problem(s) not in the solutions file[/]: {_few(imp.unmatched)}",
            highlight=False,
        )


# --- `pbrlsvr list`: the registries ------------------------------------------------------------


def _origin(obj: object) -> str:
    """``built-in`` for the package's own entries, else the module that registered it (a plugin)."""
    module = getattr(obj, "__module__", "") or ""
    return "built-in" if module.startswith("pbrlsvr.") else module


def components_table() -> Table:
    """Every reward component: default weight, whether the language gate multiplies it, what it needs."""
    from pbrlsvr.rewards.components import REGISTRY

    table = Table(title="reward components (reward.weights.<name>)", title_justify="left")
    for col in ("name", "default weight", "gated", "needs", "from"):
        table.add_column(col, justify="right" if col == "default weight" else "left")
    for name, c in REGISTRY.items():
        needs = "depends on config" if callable(c.needs) else ", ".join(c.needs) or "-"
        table.add_row(name, f"{c.default_weight:g}", "yes" if c.gated else "no", needs, _origin(c.score))
    return table


def sources_table() -> Table:
    """Every data source: its task kind and what it is (``data.source`` / ``data.format``)."""
    from pbrlsvr.data.sources import source_entries

    table = Table(title="data sources (data.source, data.format, eval --benchmark)", title_justify="left")
    for col in ("name", "task", "description", "from"):
        table.add_column(col)
    for s in source_entries():
        table.add_row(s.label, s.task_label, s.description, _origin(s.load))
    return table


def backends_table() -> Table:
    """Every generation backend: the spec that selects it and the options it takes."""
    from pbrlsvr.generation.backends import BACKENDS

    table = Table(title="generation backends (model specs)", title_justify="left")
    for col in ("name", "spec", "options", "from"):
        table.add_column(col)
    for name, b in BACKENDS.items():
        options = ", ".join(b.options) + (", any other (passed on)" if b.open_options else "")
        table.add_row(name + (" (default)" if b.default else ""), b.spec_form, options, _origin(b.factory))
    return table


def languages_table() -> Table:
    """Every language: code, name, script, NLLB code, whether language ID covers it, benchmarks."""
    from pbrlsvr.languages import BUILTIN_CODES, LANGUAGES

    table = Table(title="languages", title_justify="left")
    for col in ("code", "name", "script", "NLLB", "language ID", "benchmarks", "from"):
        table.add_column(col)
    for code, lang in LANGUAGES.items():
        table.add_row(
            code,
            lang.name,
            lang.script,
            lang.nllb,
            "yes" if lang.lingua else "no",
            ", ".join(lang.benchmarks),
            "built-in" if code in BUILTIN_CODES else "plugin",
        )
    return table
