"""`pbrlsvr eval` and `eval compare`: per-language accuracy, language consistency, LC&Acc."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pbrlsvr.cli.common import (
    ConfigOpt,
    LangsOpt,
    LimitOpt,
    SetOpt,
    command_config,
    console,
    err_console,
    fail,
    user_errors,
)
from pbrlsvr.cli.main import app
from pbrlsvr.cli.render import eval_table

eval_app = typer.Typer(
    help=(
        "Evaluate a model per language: accuracy, language consistency, LC&Acc, with bootstrap "
        "intervals, the non-English average and the gap to English.\n\n"
        "`pbrlsvr eval --model M --data mgsm --langs en,sw,bn -o DIR` writes DIR/predictions.jsonl, "
        "report.json, report.md and plots; re-running it resumes. `pbrlsvr eval compare A B` "
        "compares two runs with paired bootstrap significance."
    ),
    add_completion=False,
    # `eval` runs on its own with options (not `eval COMMAND`); `compare` is its one subcommand.
    subcommand_metavar="| compare A B [OPTIONS]",
)
app.add_typer(eval_app, name="eval")


@eval_app.callback(invoke_without_command=True)
@user_errors
def eval_command(
    ctx: typer.Context,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            help="Model spec: alias, HF id, folder, .gguf, ct2:<model>, URL (`pbrlsvr list backends`).",
        ),
    ] = None,
    data: Annotated[
        str | None,
        typer.Option(
            "--data",
            "--source",
            help="A registered source (mgsm, msvamp, gsm8k:test, mmlu-prox, polymath, ...: `pbrlsvr list "
            "sources`), a file or folder, an HF id.",
        ),
    ] = None,
    langs: LangsOpt = None,
    limit: LimitOpt = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Output folder (resumed when it exists).")
    ] = None,
    batch_size: Annotated[int | None, typer.Option(help="Conversations per generation call.")] = None,
    shots: Annotated[
        int | None, typer.Option(help="Few-shot MGSM exemplars in the prompt's language (0-8).")
    ] = None,
    max_new_tokens: Annotated[int | None, typer.Option(help="Tokens generated per answer.")] = None,
    prompt_style: Annotated[
        str | None,
        typer.Option(
            "--prompt-style",
            help="native (per-language templates, the benchmark protocol) or train (the prompt "
            "`pbrlsvr train` uses: for before/after of a policy trained here).",
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Discard predictions made with other settings; start over.")
    ] = False,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Evaluate a model per language (greedy by default); resumable. See also `eval compare`."""
    if ctx.invoked_subcommand is not None:
        return
    from pbrlsvr.evaluation.config import EvalConfig
    from pbrlsvr.evaluation.runner import evaluate
    from pbrlsvr.generation.progress import GenerationProgress

    cfg = command_config(
        EvalConfig,
        config,
        set_,
        {
            "model": model,
            "data.source": data,
            "data.langs": langs,
            "data.limit": limit,
            "output": output,
            "batch_size": batch_size,
            "shots": shots,
            "sampling.max_new_tokens": max_new_tokens,
            "prompt.style": prompt_style,
            "force": True if force else None,
        },
    )
    if cfg.output is None:
        fail("eval needs an output folder: --output DIR (or output: in the config)")
    # Live progress on stderr: a bar in a terminal, timestamped lines in a log (items, tok/s, time left).
    with GenerationProgress(f"eval {cfg.model}", err_console) as live:
        result = evaluate(
            cfg, log=lambda msg: err_console.print(msg, highlight=False, soft_wrap=True), live=live
        )
    console.print(eval_table(result.report))
    console.print(
        f"{result.generated} generated, {result.resumed} resumed in {result.seconds:.1f} s; "
        f"report in {result.output / 'report.md'}",
        highlight=False,
        soft_wrap=True,
    )
    missing = result.report["counts"]["missing"]
    if missing:
        err_console.print(f"[yellow]{missing} problem(s) have no prediction; run again to retry them[/]")
        raise typer.Exit(1)


@eval_app.command("compare")
@user_errors
def eval_compare_command(
    a: Annotated[Path, typer.Argument(metavar="A", help="Baseline run: output folder or its report.json.")],
    b: Annotated[Path, typer.Argument(metavar="B", help="Candidate run: output folder or its report.json.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write compare.json, compare.md, compare.png here.")
    ] = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Per-language deltas (B − A) with paired bootstrap intervals and p-values."""
    from pbrlsvr.cli.render import compare_table
    from pbrlsvr.evaluation.compare import compare_runs, render_compare_markdown
    from pbrlsvr.evaluation.config import CompareConfig
    from pbrlsvr.evaluation.report import write_json, write_text

    cfg = command_config(CompareConfig, config, set_, {"a": a, "b": b, "output": output})
    result = compare_runs(cfg.a, cfg.b, cfg.bootstrap, cfg.alpha)
    table = compare_table(result)
    console.print(table)
    for warning in result["warnings"]:
        err_console.print(f"[yellow]warning:[/] {warning}", highlight=False)
    if cfg.output is not None:
        cfg.output.mkdir(parents=True, exist_ok=True)
        write_json(cfg.output / "compare.json", result)
        write_text(cfg.output / "compare.md", render_compare_markdown(result))
        if cfg.plots:
            from pbrlsvr.evaluation.plots import plot_compare

            plot_compare(result, cfg.output / "compare.png")
        console.print(f"wrote compare.json, compare.md and compare.png to {cfg.output}", soft_wrap=True)
