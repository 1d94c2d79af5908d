"""`ivr check` as a designer runs it: exit codes, stderr lines, the summary."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from ivr.cli import main

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str):
    return CliRunner().invoke(main, ["check", *args])


def test_the_shipped_menus_are_clean():
    result = run(str(ROOT / "menus"))
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ok: 2 menu(s), ")


def test_a_broken_menu_prints_each_problem_and_exits_1(tmp_path):
    menu = tmp_path / "bad.yaml"
    menu.write_text("start: a\nnodes:\n  a: {say: Hi, next: b}\n  c: {hangup: Bye}\n")
    result = run(str(menu), "--recordings", str(tmp_path))
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines == [
        f"{menu}:3: next goes to unknown node 'b'",
        f"{menu}:4: node 'c' is never reached from start 'a'",
        "2 problems in 1 menu file(s)",
    ]


def test_an_empty_folder_is_a_usage_error(tmp_path):
    result = run(str(tmp_path))
    assert result.exit_code == 2
    assert "no menu files" in result.output


def test_help_lists_the_commands():
    result = CliRunner().invoke(main, ["--help"])
    assert (
        result.exit_code == 0 and "check" in result.output and "serve" in result.output
    )
