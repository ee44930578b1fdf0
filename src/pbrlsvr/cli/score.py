"""`pbrlsvr score`: score a JSONL file of responses, streaming and resumable."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from pbrlsvr.cli.common import ConfigOpt, SetOpt, command_config, console, err_console, fail, user_errors
from pbrlsvr.cli.main import app
from pbrlsvr.config import dump_config
from pbrlsvr.rewards.config import ScoreCommandConfig


@app.command("score")
@user_errors
def score_command(
    input: Annotated[
        Path | None, typer.Option("--input", "-i", help="JSONL: response, lang, reference, ...")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="JSONL: each input line plus its result.")
    ] = None,
    batch_size: Annotated[int | None, typer.Option(help="Items scored together.")] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Discard an unfinished run's .partial instead of resuming it.")
    ] = False,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Score responses against pivot references (JSONL in, JSONL out), every component reported.

    Output line N belongs to input line N: the input object plus a "pbrlsvr" field (result_key)
    holding {line, reward, components, gate, answer, note}, or {line, error} for a line that cannot
    be scored, or {line, skipped} for a blank line; the rest is always scored. A killed or
    interrupted run resumes when the same command is run again. Exit code 1 when any line failed.
    The YAML may hold the reward under `reward:` (weights, gates, encoder, translator).
    """
    import signal

    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn

    from pbrlsvr.rewards.reward import Reward
    from pbrlsvr.rewards.score_file import (
        ScoreInterrupted,
        check_paths,
        check_resume,
        partial_paths,
        score_jsonl,
        score_settings,
    )

    cfg = command_config(
        ScoreCommandConfig,
        config,
        set_,
        {"input": input, "output": output, "batch_size": batch_size, "force": True if force else None},
    )
    if cfg.input is None or cfg.output is None:
        fail("score needs --input and --output (or input/output in the config)")
    config_copy = cfg.output.with_name(cfg.output.name + ".config.yaml")
    # Everything that can be refused is refused here, before the reward loads (seconds) and
    # before a single line is scored: bad paths, -o onto -i, an unresumable .partial.
    check_paths(cfg.input, cfg.output, also_written=(config_copy,))
    settings = score_settings(cfg.reward, result_key=cfg.result_key, max_line_bytes=cfg.max_line_bytes)
    if check_resume(cfg.input, cfg.output, settings, force=cfg.force):
        err_console.print(
            f"resuming: {partial_paths(cfg.output)[0]} holds an unfinished run of this input "
            "(--force starts over)",
            highlight=False,
            soft_wrap=True,
        )
    with console.status("loading the reward (encoder, language ID)..."):
        reward = Reward(cfg.reward)

    received: list[int] = []

    def on_term(signum: int, frame: Any) -> None:
        received.append(signum)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    columns = (BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn())
    try:
        # A bar in a terminal only: in a log it would print once, at the end, as a line of noise.
        bar = Progress(
            "[progress.description]{task.description}",
            *columns,
            console=err_console,
            disable=not err_console.is_terminal,
        )
        with bar as progress:
            task = progress.add_task("scoring", total=cfg.input.stat().st_size)
            report = score_jsonl(
                reward,
                cfg.input,
                cfg.output,
                batch_size=cfg.batch_size,
                result_key=cfg.result_key,
                max_line_bytes=cfg.max_line_bytes,
                force=cfg.force,
                settings=settings,
                on_progress=lambda done, total: progress.update(task, completed=done),
            )
    except ScoreInterrupted as exc:
        what = "SIGTERM" if received else "interrupted"
        err_console.print(
            f"{what}: {exc.written} complete lines are in {exc.partial}; run the same command again "
            "to resume after them (--force starts over)",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(143 if received else 130) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
    config_copy.write_text(dump_config(cfg), encoding="utf-8")
    for note in report.notes:
        err_console.print(note, highlight=False, soft_wrap=True)
    for number, reason in report.errors[:50]:
        err_console.print(f"[red]line {number}:[/] {reason}", highlight=False, soft_wrap=True)
    if report.failed > 50:
        err_console.print(
            f"... and {report.failed - 50} more failed lines (each is in the output with its error)",
            highlight=False,
        )
    extra = [
        f"{n} {what}"
        for n, what in (
            (report.failed, "failed"),
            (report.blank, "blank"),
            (report.resumed, "taken from the unfinished run"),
        )
        if n
    ]
    console.print(
        f"scored {report.scored} of {report.lines} lines into {cfg.output}"
        + (f" ({', '.join(extra)})" if extra else ""),
        highlight=False,
        soft_wrap=True,
    )
    if not report.ok:
        raise typer.Exit(1)
