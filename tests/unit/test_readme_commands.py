"""The commands the READMEs show stay runnable: every `porto` subcommand and flag exists (as `porto … --help`
lists them), every `python -m firmware.sim` line parses, and every `make` target is defined.

What the commands then do is tests/e2e/test_readme_walkthroughs_e2e.py's business.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from firmware.sim.__main__ import parse_args
from porto_contract import cli

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
READMES = ["README.md", "porto_contract/README.md", "firmware/README.md"]
FENCE = re.compile(r"^```(?:bash|sh)\n(.*?)^```", re.MULTILINE | re.DOTALL)
ENV = re.compile(r"^[A-Z_][A-Z0-9_]*=")


def _commands() -> list[tuple[str, list[str]]]:
    """(where, argv) for each command line of each README's bash/sh blocks, continuations joined."""
    found = []
    for name in READMES:
        text = (ROOT / name).read_text(encoding="utf-8")
        for block in FENCE.findall(text):
            for line in block.replace("\\\n", " ").splitlines():
                words = shlex.split(line, comments=True)
                while words and ENV.match(words[0]):
                    words.pop(0)
                if words:
                    found.append((f"{name}: {line.strip()[:60]}", words))
    return found


COMMANDS = _commands()


def _porto(argv: list[str]) -> list[str]:
    """`uv run porto …` → the arguments after `porto`, or [] for any other command."""
    if argv[:3] == ["uv", "run", "porto"]:
        return argv[3:]
    return []


def _sim(argv: list[str]) -> list[str] | None:
    for prefix in (["uv", "run", "python", "-m", "firmware.sim"], ["python", "-m", "firmware.sim"]):
        if argv[: len(prefix)] == prefix:
            return [word for word in argv[len(prefix) :] if word != "&"]
    return None


def test_the_readmes_show_porto_simulator_and_make_commands() -> None:
    kinds = {("porto" if _porto(a) else "sim" if _sim(a) is not None else a[0]) for _, a in COMMANDS}
    assert {"porto", "sim", "make"} <= kinds


@pytest.mark.parametrize(("where", "argv"), [c for c in COMMANDS if _porto(c[1])], ids=lambda v: str(v)[:70])
def test_each_porto_command_and_flag_exists(where: str, argv: list[str]) -> None:
    words = _porto(argv)
    if words[:1] == ["--url"]:
        words = words[2:]
    command: click.Command = cli.main
    path: list[str] = []
    while isinstance(command, click.Group) and words and not words[0].startswith("-"):
        found = command.commands.get(words[0])
        assert found is not None, f"{where}: `porto {' '.join([*path, words[0]])}` does not exist"
        path.append(words.pop(0))
        command = found
    assert not isinstance(command, click.Group), f"{where}: `porto {' '.join(path)}` needs a subcommand"
    shown = CliRunner().invoke(cli.main, [*path, "--help"])
    assert shown.exit_code == 0, shown.output
    for word in words:
        if word.startswith("--"):
            flag = word.split("=", 1)[0]
            assert re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", shown.output), (
                f"{where}: `porto {' '.join(path)}` has no {flag}"
            )


@pytest.mark.parametrize(
    ("where", "argv"), [c for c in COMMANDS if _sim(c[1]) is not None], ids=lambda v: str(v)[:70]
)
def test_each_simulator_command_parses(where: str, argv: list[str]) -> None:
    args = _sim(argv)
    assert args is not None
    try:
        parse_args(args)
    except SystemExit as exit_:
        pytest.fail(f"{where}: python -m firmware.sim refuses {args} (exit {exit_.code})")


def test_each_make_target_exists() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([a-z][\w-]*):", makefile, re.MULTILINE))
    for where, argv in COMMANDS:
        if argv[0] == "make":
            wanted = [w for w in argv[1:] if "=" not in w and not w.startswith("-")]
            assert set(wanted) <= targets, f"{where}: no make target {wanted}"
