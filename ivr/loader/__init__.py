"""Load menu files into the frozen model, reporting every mistake with its line.

The loader is a proof-reader, not a gatekeeper that stops at the first typo: it
reads the whole file, notes each problem as ``file:line: message`` (the line the
designer must edit), runs the checks that need the whole menu (``ivr.checks``:
doors to nowhere, unreachable nodes, loops with no way out, variables used before
they are set) over whatever could be read, and only builds a ``Menu`` when there
are no problems. ``check_menus`` adds what ``ivr check`` reports besides: the
traps a hotline must not ship (``ivr.traps``, as warnings) and the mistakes of
each menu's traffic file.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ivr.checks import Draft, check_menu, suggest
from ivr.loader.builder import MenuBuilder
from ivr.loader.fields import COMPANION_SUFFIXES
from ivr.menu import GotoMenuNode, Menu
from ivr.roster import ROSTER_FILE, Roster
from ivr.yamlread import LineDict, YamlProblem, read_text_file, read_yaml

__all__ = [
    "CheckReport",
    "MenuError",
    "check_menus",
    "find_menu_files",
    "find_roster",
    "load_line",
    "load_menu",
    "load_menus",
    "menu_file_beside",
    "suggest",
]

# Beside the menus but not a menu: the agent roster, checked by its own reader.
NOT_MENUS = frozenset({ROSTER_FILE, "agents.yml"})
TRAFFIC_SUFFIX = ".traffic.yaml"


class MenuError(Exception):
    """A menu file that cannot be used; ``problems`` are ``file:line: message``."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


class Problems:
    """The problems and warnings of one file, as (line, message) pairs."""

    def __init__(self, shown_path: str) -> None:
        self.path = shown_path
        self.items: list[tuple[int, str]] = []
        self.warnings: list[tuple[int, str]] = []

    def add(self, line: int, message: str) -> None:
        self.items.append((line, message))

    def warn(self, line: int, message: str) -> None:
        self.warnings.append((line, message))

    def lines(self) -> list[str]:
        return [text for _, _, text in self._tagged(self.items)]

    def warning_lines(self) -> list[str]:
        return [text for _, _, text in self._tagged(self.warnings, "warning: ")]

    def all_lines(self) -> list[str]:
        """Problems and warnings together, in the order of their lines."""
        tagged = self._tagged(self.items) + self._tagged(self.warnings, "warning: ")
        return [text for _, _, text in sorted(tagged, key=lambda t: t[:2])]

    def _tagged(
        self, items: list[tuple[int, str]], tag: str = ""
    ) -> list[tuple[int, int, str]]:
        """(line, 0 for a problem or 1 for a warning, text), in line order."""
        ordered = sorted(dict.fromkeys(items), key=lambda item: item[0])
        return [(line, bool(tag), f"{self.path}:{line}: {tag}{message}")
                for line, message in ordered]  # fmt: skip


@dataclass
class CheckReport:
    """Everything ``check_menus`` found, for ``ivr check`` to print.

    ``lines`` holds the problems and warnings of all files in the order to show
    them: file by file, each file's lines in order, its traffic file after it.
    """

    files: list[Path] = field(default_factory=list)
    menus: list[Menu] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    def add(self, problems: list[str]) -> None:
        self.problems.extend(problems)
        self.lines.extend(problems)


def find_menu_files(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Menu files among ``paths``: files as given, folders' ``*.yaml`` sorted.

    Companion files (``NAME.calls.yaml``, ``NAME.traffic.yaml``) and the agent
    roster (``agents.yaml``) are left out.
    """
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(
                p
                # By name before the first dot: shop.yaml before shop-en.yaml.
                for p in sorted(
                    path.iterdir(), key=lambda p: (p.name.split(".")[0], p.name)
                )
                if p.suffix in (".yaml", ".yml")
                and not p.name.endswith(COMPANION_SUFFIXES)
                and p.name not in NOT_MENUS
                and p.is_file()
            )
        elif path.name not in NOT_MENUS:
            found.append(path)
    return found


def load_menu(
    path: str | os.PathLike[str],
    recordings_dir: str | os.PathLike[str] | None = None,
    *,
    text: str | None = None,
) -> Menu:
    """Read and check one menu file; raise ``MenuError`` listing every problem.

    ``recordings_dir`` defaults to ``recordings/`` beside the menu's folder.
    ``text``, when given, is read as the file's content (a copy kept of an
    earlier version), with paths in it still relative to ``path``.
    """
    menu, problems, _ = _load(Path(path), recordings_dir, warn=False, text=text)
    if menu is None:
        raise MenuError(problems.lines())
    return menu


def load_menus(
    paths: Iterable[str | os.PathLike[str]],
    recordings_dir: str | os.PathLike[str] | None = None,
) -> tuple[list[Menu], list[str]]:
    """Load every menu file in ``paths`` (files or folders).

    Returns the menus that loaded cleanly and the problems of all files, so a
    caller can report everything at once. Two menus may not share an id or a
    phone number.
    """
    report = check_menus(
        paths, recordings_dir, warnings=False, companions=False, beside=False
    )
    return report.menus, report.problems


def check_menus(
    paths: Iterable[str | os.PathLike[str]],
    recordings_dir: str | os.PathLike[str] | None = None,
    *,
    warnings: bool = True,
    companions: bool = True,
    beside: bool = True,
) -> CheckReport:
    """Check every menu file in ``paths``: what ``ivr check`` reports.

    With ``warnings``, the traps of ``ivr.traps`` are reported as warnings; with
    ``companions``, each menu's traffic file (``NAME.traffic.yaml``) is checked
    against the menu. A ``goto_menu`` must name a menu checked in the same run,
    or (with ``beside``) one whose file ``ID.yaml`` lies beside the menu.
    """
    report = CheckReport(files=find_menu_files(paths))
    owners: dict[str, Menu] = {}
    drafts: list[tuple[str, Draft]] = []
    for path in report.files:
        menu, found, draft = _load(path, recordings_dir, warn=warnings)
        if draft is not None:
            drafts.append((found.path, draft))
        report.problems.extend(found.lines())
        report.warnings.extend(found.warning_lines())
        report.lines.extend(found.all_lines())
        if companions and draft is not None:
            report.add(_check_traffic(path, draft))
        if menu is None:
            continue
        clash = next((m for m in report.menus if m.id == menu.id), None)
        if clash is not None:
            report.add(
                [f"{found.path}:1: menu id '{menu.id}' is also the id of {clash.path}"]
            )
            continue
        for number in menu.numbers:
            if number in owners:
                report.add(
                    [
                        f"{found.path}:1: number '{number}' already reaches menu "
                        f"'{owners[number].id}' ({owners[number].path})"
                    ]
                )
            owners.setdefault(number, menu)
        report.menus.append(menu)
    report.add(_check_other_menus(drafts, report, beside))
    return report


def _check_other_menus(
    drafts: list[tuple[str, Draft]], report: CheckReport, beside: bool
) -> list[str]:
    """Every ``goto_menu`` must name another menu checked in the same run.

    A menu whose file could not be read counts as there (by its file name):
    its own problems are reported already. With ``beside``, so does a file
    ``ID.yaml`` beside the menu that goes to it (``ivr check`` of one file).
    """
    loaded = {menu.id for menu in report.menus}
    named = loaded | {path.name.split(".")[0] for path in report.files}
    problems = []
    for shown, draft in drafts:
        for node in draft.menu.nodes.values():
            if not isinstance(node, GotoMenuNode) or not node.menu:
                continue
            line = draft.field_lines.get((node.id, "goto_menu"), node.line)
            if node.menu == draft.menu.id:
                problems.append(
                    f"{shown}:{line}: goto_menu of node '{node.id}' names its own "
                    "menu: use a door to a node instead"
                )
            elif node.menu not in named and not (
                beside and menu_file_beside(Path(draft.menu.path), node.menu)
            ):
                problems.append(
                    f"{shown}:{line}: goto_menu of node '{node.id}' names menu "
                    f"'{node.menu}', which is not among the menus checked"
                    f"{suggest(node.menu, sorted(loaded))}"
                )
    return problems


def menu_file_beside(path: Path, menu_id: str) -> Path | None:
    """The file ``ID.yaml`` (or ``.yml``) beside menu file ``path``, if any."""
    for suffix in (".yaml", ".yml"):
        candidate = path.with_name(menu_id + suffix)
        if candidate.is_file():
            return candidate
    return None


def _check_traffic(path: Path, draft: Draft) -> list[str]:
    """The problems of the menu's traffic file, if it has one."""
    traffic = path.with_name(path.name.split(".")[0] + TRAFFIC_SUFFIX)
    if not traffic.is_file():
        return []
    from ivr.traffic import TrafficError, load_traffic  # NumPy: only when needed

    try:
        load_traffic(_shown(traffic), draft.menu, unread=draft.opaque)
    except TrafficError as error:
        return error.problems
    return []


def find_roster(paths: Iterable[str | os.PathLike[str]]) -> Path | None:
    """The roster of ``paths``: ``agents.yaml`` in a folder given, or given itself."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir() and (path / ROSTER_FILE).is_file():
            return path / ROSTER_FILE
        if path.name == ROSTER_FILE and path.is_file():
            return path
    return None


def load_line(
    paths: Iterable[str | os.PathLike[str]],
    recordings_dir: str | os.PathLike[str] | None = None,
    menus: list[Menu] | None = None,
) -> tuple[list[Menu], Roster | None, list[str]]:
    """Menus and the agent roster of ``paths``, with the problems of every file.

    ``menus`` are the menus already loaded from ``paths``, if any. The roster is
    checked against every menu of its folder, so ``ivr check menus/agents.yaml``
    knows the queues it names.
    """
    from ivr.loader.roster import load_roster

    paths = list(paths)
    files = find_menu_files(paths)
    problems: list[str] = []
    if menus is None:
        menus, problems = load_menus(files, recordings_dir)
    roster_path = find_roster(paths)
    if roster_path is None:
        return menus, None, problems
    folder_files = find_menu_files([roster_path.parent])
    if set(folder_files) - set(files):  # the roster names menus not given
        around, _ = load_menus(folder_files, recordings_dir)
    else:
        around = menus
    loaded = {m.id for m in around}
    broken = {f.name.split(".")[0] for f in folder_files} - loaded
    roster, found = load_roster(
        roster_path, around, _shown(roster_path), unchecked=broken
    )
    return menus, roster, problems + found


def _shown(path: Path) -> str:
    """The path as the designer would type it: relative to here when inside."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


@contextmanager
def _cycle_collector_paused() -> Iterator[None]:
    """Pause Python's cycle collector while a menu is read and checked.

    Reading builds a few objects per byte of YAML and none of them form cycles
    (reference counting frees them); but the collector, triggered every few
    hundred allocations, walks every object built so far, which makes a large
    menu's load grow faster than its size (50,000 nodes: twice the time).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _load(
    path: Path,
    recordings_dir: str | os.PathLike[str] | None,
    *,
    warn: bool,
    text: str | None = None,
) -> tuple[Menu | None, Problems, Draft | None]:
    with _cycle_collector_paused():
        return _read_and_check(path, recordings_dir, warn=warn, text=text)


def _read_and_check(
    path: Path,
    recordings_dir: str | os.PathLike[str] | None,
    *,
    warn: bool,
    text: str | None = None,
) -> tuple[Menu | None, Problems, Draft | None]:
    problems = Problems(_shown(path))
    try:
        if text is None:  # else an earlier version of the file, kept
            text = read_text_file(path)
        doc, yaml_problems = read_yaml(text)
    except FileNotFoundError:
        problems.add(1, "no such menu file")
        return None, problems, None
    except OSError as error:
        problems.add(1, f"cannot read the file: {error.strerror or error}")
        return None, problems, None
    except YamlProblem as problem:
        problems.add(problem.line, problem.message)
        return None, problems, None
    for problem in yaml_problems:
        problems.add(problem.line, problem.message)
    if not isinstance(doc, LineDict):
        problems.add(1, "a menu file is a map with 'start' and 'nodes'")
        return None, problems, None
    recordings = (
        Path(recordings_dir)
        if recordings_dir is not None
        else path.resolve().parent.parent / "recordings"
    )
    draft = MenuBuilder(path, text, doc, recordings, problems).build()
    check_menu(draft, problems.add, problems.warn if warn else None)
    return (draft.menu if not problems.items else None), problems, draft
