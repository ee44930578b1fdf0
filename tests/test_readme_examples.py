"""Every console example in README.md runs and prints what the README shows.

The convention (also stated in the README's Development section):

- An example is a fenced block opened with ```` ```console ````. Each line starting with ``$ `` is a
  command, run with bash in a fresh temporary folder (the blocks of one test share it, so a
  later command reads what an earlier one wrote); the lines after it, up to the next ``$ ``, are
  its expected output (stdout and stderr together, as a terminal shows them).
- ``$ cat FILE`` followed by lines *defines* FILE: the test writes those lines into FILE first,
  so the example's input is exactly what the reader sees.
- Comparison is line by line after stripping each line's leading and trailing spaces (rich
  centres a table's title in a terminal, not in a pipe), and numbers match within 1e-3 (the
  encoder's last digits may differ between CPUs). Nothing else is tolerated.
- A block preceded by ``<!-- readme-test: integration -->`` loads the packaged models (the reward's
  encoder) and is marked ``slow`` and ``integration``; the others run in every test run.
- A command may exit non-zero when the example shows an error (the config example does).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
NUMBER = re.compile(r"-?\d+\.\d+|-?\d+")
TOLERANCE = 1e-3


@dataclass
class Command:
    line: str
    expected: list[str] = field(default_factory=list)


@dataclass
class Example:
    first_line: int
    commands: list[Command]
    integration: bool


def console_examples(text: str) -> list[Example]:
    """The README's ```console blocks as commands with their expected output."""
    lines = text.splitlines()
    out: list[Example] = []
    i = 0
    while i < len(lines):
        if lines[i].strip() != "```console":
            i += 1
            continue
        marker = next((lines[j].strip() for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        start, commands = i + 1, []
        i += 1
        while i < len(lines) and lines[i].strip() != "```":
            if lines[i].startswith("$ "):
                commands.append(Command(lines[i][2:]))
            elif commands:
                commands[-1].expected.append(lines[i])
            i += 1
        out.append(Example(start, commands, marker == "<!-- readme-test: integration -->"))
        i += 1
    return out


def _same(expected: str, got: str) -> bool:
    """Equal after stripping, numbers within :data:`TOLERANCE`."""
    expected, got = expected.strip(), got.strip()
    if expected == got:
        return True
    if NUMBER.sub("#", expected) != NUMBER.sub("#", got):
        return False
    pairs = zip(NUMBER.findall(expected), NUMBER.findall(got), strict=True)
    return all(abs(float(a) - float(b)) <= TOLERANCE for a, b in pairs)


def _cat_target(command: str) -> str | None:
    m = re.fullmatch(r"cat\s+(\S+)", command.strip())
    return m.group(1) if m else None


def _examples() -> list[pytest.param]:
    params = []
    for ex in console_examples(README.read_text(encoding="utf-8")):
        marks = [pytest.mark.slow, pytest.mark.integration] if ex.integration else []
        name = f"line{ex.first_line}-" + re.sub(r"\W+", "-", ex.commands[-1].line)[:40]
        params.append(pytest.param(ex, id=name, marks=marks))
    return params


def test_the_readme_has_console_examples_and_the_convention_is_parsed() -> None:
    examples = console_examples(README.read_text(encoding="utf-8"))
    assert len(examples) >= 3 and all(ex.commands for ex in examples)
    assert any(ex.integration for ex in examples) and any(not ex.integration for ex in examples)
    sample = "x\n<!-- readme-test: integration -->\n```console\n$ cat a.txt\nhello\n$ echo 1\n1\n```\n"
    (ex,) = console_examples(sample)
    assert ex.integration and [(c.line, c.expected) for c in ex.commands] == [
        ("cat a.txt", ["hello"]),
        ("echo 1", ["1"]),
    ]
    assert _same("reward 0.94", " reward 0.9403 ") and not _same("reward 0.94", "reward 0.95")
    assert not _same("a 1", "b 1")


@pytest.mark.parametrize("example", _examples())
def test_readme_console_example(example: Example, tmp_path: Path) -> None:
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""), "HF_HUB_OFFLINE": "1"}
    env.pop("COLUMNS", None)
    for cmd in example.commands:
        tool = cmd.line.split()[0]
        if shutil.which(tool, path=env["PATH"]) is None:
            pytest.skip(f"the example uses {tool}, which is not installed here")
    for cmd in example.commands:
        target = _cat_target(cmd.line)
        if target is not None:
            (tmp_path / target).write_text("".join(line + "\n" for line in cmd.expected), encoding="utf-8")
        proc = subprocess.run(
            ["bash", "-c", cmd.line],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=600,
        )
        got = [line for line in proc.stdout.splitlines() if line.strip()]
        want = [line for line in cmd.expected if line.strip()]
        where = f"README.md line {example.first_line}: $ {cmd.line}"
        assert len(got) == len(want), f"{where}\nexpected:\n" + "\n".join(want) + "\ngot:\n" + proc.stdout
        for w, g in zip(want, got, strict=True):
            assert _same(w, g), f"{where}\nexpected: {w}\ngot:      {g}"
