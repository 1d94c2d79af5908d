"""The ``ivr`` command: one subcommand a module, imported only when it runs.

Each subcommand lives in ``ivr/cli/<name>.py`` and defines a click command named
``command``. Loading lazily keeps ``ivr check`` from importing Flask or NumPy.
"""

from __future__ import annotations

import importlib
import importlib.util

import click

__all__ = ["main", "recordings_option"]

# name -> one-line help shown by `ivr --help` without importing the module.
COMMANDS = {
    "check": "Check menu files and report every mistake as file:line: message.",
    "serve": "Answer Twilio voice webhooks for the menus (production server).",
    "call": "Call a menu or any TwiML webhook from the terminal.",
    "test": "Run a menu's scenario calls, report coverage, or fuzz it.",
    "erlang": "Waits, service level and abandonment from Erlang C/A.",
    "staff": "The fewest agents that meet a service-level target.",
    "simulate": "Simulate peak-hour traffic through a menu and its queues.",
    "graph": "Draw a menu as a diagram (SVG, PNG, DOT or Mermaid).",
    "report": "What happened on the line: calls, containment, queues, from the store.",
}


# Every command that loads menus finds their recordings the same way.
recordings_option = click.option(
    "--recordings",
    type=click.Path(file_okay=False),
    default=None,
    help="Folder of audio prompts [default: recordings/ beside the menus folder].",
)


def _available(name: str) -> bool:
    return importlib.util.find_spec(f"ivr.cli.{name}") is not None


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in COMMANDS if _available(name)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS or not _available(cmd_name):
            return None
        module = importlib.import_module(f"ivr.cli.{cmd_name}")
        return module.command

    def format_commands(
        self, ctx: click.Context, formatter: click.HelpFormatter
    ) -> None:
        rows = [(name, COMMANDS[name]) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ivrkit", prog_name="ivr")
def main() -> None:
    """Design, test and run phone voice menus (IVR) on Twilio."""
