"""`pbrlsvr export-verl` and `export-openrlhf`: a pivot export in another trainer's format."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pbrlsvr.cli.common import console, user_errors
from pbrlsvr.cli.main import app


@app.command("export-verl")
@user_errors
def export_verl_command(
    data: Annotated[Path, typer.Option("--data", help="Pivot export: JSONL, Parquet or dataset folder.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="verl Parquet file to write.")],
    data_source: Annotated[str, typer.Option(help="verl data_source field.")] = "pbrlsvr",
) -> None:
    """Write a pivot export in verl's Parquet schema (use with pbrlsvr.integrations.verl.compute_score)."""
    from pbrlsvr.integrations.verl import export_verl
    from pbrlsvr.io_checks import check_output
    from pbrlsvr.train.dataset import build_rows, read_rows

    check_output(output, [data])  # -o onto --data would replace the pivot export it reads
    source = read_rows(data)
    # extra_info.question is the bare question (what a user reads back), not the rendered prompt
    questions = {(str(r.get("id")), str(r.get("lang"))): r.get("question") for r in source}
    rows = build_rows(source)
    for row in rows:
        row["question"] = questions.get((str(row["id"]), str(row["lang"]))) or row["prompt"][-1]["content"]
    n = export_verl(rows, output, data_source)
    console.print(f"wrote {n} rows to {output}", soft_wrap=True)


@app.command("export-openrlhf")
@user_errors
def export_openrlhf_command(
    data: Annotated[Path, typer.Option("--data", help="Pivot export: JSONL, Parquet or dataset folder.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="OpenRLHF JSONL prompt dataset to write.")],
) -> None:
    """Write a pivot export as OpenRLHF's prompt dataset: `input` (chat messages) and `label` (the JSON
    /get_reward reads). Train with --data.input_key input --data.label_key label --data.apply_chat_template."""
    from pbrlsvr.integrations.openrlhf import export_openrlhf
    from pbrlsvr.io_checks import check_output
    from pbrlsvr.train.dataset import build_rows, read_rows

    check_output(output, [data])  # -o onto --data would replace the pivot export it reads
    rows = read_rows(data)
    build_rows(rows)  # the checks training applies: required columns, never a test set
    n = export_openrlhf(rows, output)
    console.print(f"wrote {n} rows to {output}", soft_wrap=True)
