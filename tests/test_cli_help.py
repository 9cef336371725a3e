"""Every command's ``--help``, as a user types it: exit 0, and every option named in the text.

The list of commands and options is read from the command-line app itself (so a new option
without help shows up here), and checked against the options the issue promises (so an
option that disappears shows up too).
"""

from __future__ import annotations

import pytest
import typer.main
from cli_helpers import CliResult, run_cli, run_many
from splitbench.cli import with_commands

# What the issue and the README promise per command; the app may offer more.
PROMISED: dict[tuple[str, ...], tuple[str, ...]] = {
    ("sweep",): (
        "--out", "--client", "--server", "--threads", "--runs", "--network", "--inputs",
        "--splits", "--fresh", "--keep-parts", "--input-shape", "--input-names",
        "--output-names", "--retry-failed", "--timeout",
    ),
    ("split",): ("--at", "--all", "--out", "--input-shape"),
    ("inspect",): ("--input-shape", "--input-names", "--output-names"),
    ("verify",): ("--at", "--inputs", "--input-shape"),
    ("models",): (),
    ("report",): ("--network", "--settings"),
    ("compare",): ("--out", "--statistic", "--min-effect", "--network"),
    ("doctor",): (),
    ("collate",): ("--client", "--server", "--model", "--out", "--network"),
    ("devices",): ("--adb-port",),
    ("emulator", "start"): ("--port", "--serial"),
}  # fmt: skip


def _commands() -> dict[tuple[str, ...], list[str]]:
    """Every leaf command of the app with all spellings of all of its options."""
    found: dict[tuple[str, ...], list[str]] = {}

    def walk(cmd, path: tuple[str, ...]) -> None:  # type: ignore[no-untyped-def]
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in subs.items():
                walk(sub, (*path, name))
            return
        found[path] = [
            opt
            for param in cmd.params
            if param.param_type_name == "option"
            for opt in (*param.opts, *param.secondary_opts)
        ]

    walk(typer.main.get_command(with_commands()), ())
    return found


COMMANDS = _commands()


@pytest.fixture(scope="module")
def helps() -> dict[tuple[str, ...], CliResult]:
    paths = [(), *COMMANDS, ("emulator",)]
    results = run_many([[*path, "--help"] for path in paths], timeout=120)
    return dict(zip(paths, results, strict=True))


def test_every_promised_command_exists() -> None:
    assert set(PROMISED) <= set(COMMANDS), sorted(set(PROMISED) - set(COMMANDS))


def test_top_level_help_lists_every_command(helps: dict[tuple[str, ...], CliResult]) -> None:
    out = helps[()].ok().stdout
    for path in COMMANDS:
        assert path[0] in out, f"`splitbench --help` does not mention {path[0]}"
    emulator = helps[("emulator",)].ok().stdout
    assert "start" in emulator


@pytest.mark.parametrize("path", sorted(COMMANDS), ids=lambda p: "-".join(p))
def test_command_help_mentions_its_options(
    path: tuple[str, ...], helps: dict[tuple[str, ...], CliResult]
) -> None:
    result = helps[path].ok()
    text = result.stdout
    assert f"Usage: splitbench {' '.join(path)}" in text, result.describe()
    assert "--help" in text
    for opt in [*COMMANDS[path], *PROMISED.get(path, ())]:
        assert opt in COMMANDS[path], f"{' '.join(path)} has no option {opt}"
        assert opt in text, f"`splitbench {' '.join(path)} --help` does not mention {opt}"


def test_no_command_prints_usage_not_a_traceback() -> None:
    result = run_cli()
    assert "Traceback" not in result.stderr
    assert "Usage: splitbench" in result.stdout + result.stderr


def test_a_misspelt_command_is_named_with_the_closest_one() -> None:
    """`main` registers only the command on the line; a name it does not know registers all of
    them, so click can still suggest the closest."""
    result = run_cli("splt", "posenet")
    assert result.returncode == 2, result.describe()
    assert "No such command 'splt'" in result.stderr
    assert "Did you mean 'split'?" in result.stderr


def test_a_command_name_after_an_option_is_not_run_alone() -> None:
    """`splitbench --help split`: the first word is an option, so every command is registered
    and the group's help lists them all."""
    result = run_cli("--help", "split").ok()
    for path in COMMANDS:
        assert path[0] in result.stdout
