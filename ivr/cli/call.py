"""``ivr call TARGET``: ring a menu (in process) or any TwiML webhook URL.

In a terminal the call is live: what is said and played is printed, and you
type keys (``1``, ``202611250001#``), words to say, or just Enter for silence.
Piped or in a script, ``--press``, ``--say``, ``--silence`` and ``--hangup``
are the caller's inputs, in the order given.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from ivr.caller import (
    Caller,
    CallResult,
    Gathering,
    HangUp,
    HttpTransport,
    Input,
    Press,
    Silence,
    Speak,
)
from ivr.cli import recordings_option

_INPUT_OPTIONS = {"--press": "press", "--say": "say", "--silence": "silence"}
_INPUT_OPTIONS["--hangup"] = "hangup"


class _OrderedInputs(click.Command):
    """Keeps --press/--say/--silence/--hangup in the order they were typed.

    click groups repeated options by name, which would lose the order of a
    call's inputs; so the arguments are read once more, in order, here.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ordered: list[tuple[str, str]] = []
        index = 0
        while index < len(args):
            arg = args[index]
            if arg == "--":
                break
            name, _, value = arg.partition("=")
            kind = _INPUT_OPTIONS.get(name)
            if kind in ("press", "say"):
                if not value and index + 1 < len(args) and "=" not in arg:
                    value = args[index + 1]
                    index += 1
                ordered.append((kind, value))
            elif kind:
                ordered.append((kind, ""))
            index += 1
        ctx.meta["ivr_inputs"] = ordered
        return super().parse_args(ctx, args)


def scripted_inputs(ordered: list[tuple[str, str]]) -> list[Input]:
    """The inputs of ``--press``/``--say``/``--silence``/``--hangup``, in order."""
    inputs: list[Input] = []
    for kind, value in ordered:
        if kind == "press":
            try:
                inputs.append(Press(value))
            except ValueError as error:
                raise click.BadParameter(str(error), param_hint="--press") from None
        elif kind == "say":
            inputs.append(Speak(value))
        elif kind == "silence":
            inputs.append(Silence())
        else:
            inputs.append(HangUp())
    return inputs


def format_entry(entry: dict[str, Any]) -> str:
    """One transcript entry as a line of the terminal call."""
    verb = entry["verb"]
    if verb == "Say":
        return f"  [Say] {entry['text']}"
    if verb == "Gather":
        for key in ("press", "say"):
            if key in entry:
                return f"  (you {key}) {entry[key]}"
        return "  (you hang up)" if entry.get("hangup") else "  (silence)"
    rest = {k: v for k, v in entry.items() if k != "verb"}
    details = " ".join(f"{k}={v}" for k, v in rest.items())
    return f"  [{verb}] {details}".rstrip()


def _is_terminal() -> bool:
    return sys.stdin.isatty()


def _live_input(gathering: Gathering) -> Input | None:
    modes = "keys or words" if "speech" in gathering.input else "keys"
    try:
        line = input(f"  > {modes} (Enter: silence, Ctrl-D: hang up): ")
    except EOFError:
        click.echo()
        return None
    text = line.strip()
    if not text:
        return Silence()
    if all(ch in "0123456789#*" for ch in text):
        return Press(text)
    return Speak(text)


def _summary(result: CallResult) -> str:
    text = f"outcome: {result.outcome}"
    if result.queue:
        text += f" (queue {result.queue}, {result.queue_result})"
    if result.error:
        text += f"\nerror: {result.error}"
    return text


@click.command(cls=_OrderedInputs)
@click.argument("target")
@click.option("--press", "press", multiple=True, metavar="KEYS", help="Press keys.")
@click.option("--say", "say", multiple=True, metavar="TEXT", help="Say words.")
@click.option("--silence", "silence", count=True, help="Stay silent once.")
@click.option("--hangup", "hangup", count=True, help="Hang up at that point.")
@click.option("--from", "from_number", default="+8613800000000", show_default=True)
@click.option("--to", "to_number", default=None, help="Default: the menu's number.")
@click.option(
    "--at", "at", default=None, help='Clock the app sees: "2026-11-27 23:30".'
)
@click.option("--token", default=None, help="Twilio auth token to sign requests.")
@click.option(
    "--agent-after",
    default=2,
    show_default=True,
    help="Wait rounds before an agent answers a queued call.",
)
@click.option(
    "--ahead",
    default=2,
    show_default=True,
    help="Callers ahead in a queue when this one joins.",
)
@click.option(
    "--patience",
    default=None,
    type=int,
    help="Wait rounds before the caller gives up in a queue (default: never).",
)
@click.option(
    "--dial-status",
    default="completed",
    show_default=True,
    type=click.Choice(["completed", "busy", "no-answer", "failed"]),
)
@recordings_option
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def command(
    ctx: click.Context,
    target: str,
    press: tuple[str, ...],
    say: tuple[str, ...],
    silence: int,
    hangup: int,
    from_number: str,
    to_number: str | None,
    at: str | None,
    token: str | None,
    agent_after: int,
    ahead: int,
    patience: int | None,
    dial_status: str,
    recordings: str | None,
    as_json: bool,
) -> None:
    """Call TARGET: a menu file (in process) or a TwiML webhook URL."""
    scripted = scripted_inputs(ctx.meta.get("ivr_inputs", []))
    live = not scripted and _is_terminal() and not as_json
    inputs: Any = _live_input if live else scripted
    on_event = (lambda entry: click.echo(format_entry(entry))) if live else None
    options = {
        "agent_after_rounds": agent_after,
        "patience_rounds": patience,
        "queue_ahead": ahead,
        "dial_status": dial_status,
    }
    if target.startswith(("http://", "https://")):
        if at:
            raise click.UsageError(
                "--at sets the clock of the in-process app; a URL target keeps "
                "its own clock"
            )
        caller = Caller(
            HttpTransport(),
            target,
            from_number=from_number,
            to_number=to_number or "+15005550001",
            auth_token=token,
            **options,
        )
        result = caller.call(inputs, on_event=on_event)
    else:
        result = _call_menu(
            target, inputs, on_event, from_number, to_number, at, token, options,
            recordings,
        )  # fmt: skip
    if as_json:
        click.echo(json.dumps(result.to_json(), ensure_ascii=False, indent=2))
    else:
        if not live:
            for entry in result.transcript:
                click.echo(format_entry(entry))
        click.echo(_summary(result))
    if result.outcome == "error":
        ctx.exit(1)


def _call_menu(
    path: str,
    inputs: Any,
    on_event: Any,
    from_number: str,
    to_number: str | None,
    at: str | None,
    token: str | None,
    options: dict[str, Any],
    recordings: str | None = None,
) -> CallResult:
    from ivr.loader import MenuError
    from ivr.testing.menuline import MenuLine, parse_clock

    try:
        line = MenuLine(path, auth_token=token, recordings_dir=recordings)
    except MenuError as error:
        for problem in error.problems:
            click.echo(problem, err=True)
        raise click.ClickException(f"cannot call {path}: the menu has errors") from None
    except OSError as error:
        raise click.BadParameter(str(error), param_hint="TARGET") from None
    when = None
    if at:
        try:
            when = parse_clock(at, line.timezone)
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="--at") from None
    return line.call(
        inputs,
        at=when,
        from_number=from_number,
        to_number=to_number,
        auth_token=token,
        on_event=on_event,
        **options,
    )
