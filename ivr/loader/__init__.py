"""Load menu files into the frozen model, reporting every mistake with its line.

The loader is a proof-reader, not a gatekeeper that stops at the first typo: it
reads the whole file, notes each problem as ``file:line: message`` (the line the
designer must edit) and only builds a ``Menu`` when there are none. Checks that need
the whole menu (doors to nowhere, unreachable nodes, loops with no way out,
variables used before they are set) live in ``ivr.checks``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from ivr.checks import suggest
from ivr.loader.builder import MenuBuilder
from ivr.loader.fields import COMPANION_SUFFIXES
from ivr.menu import Menu
from ivr.yamlread import LineDict, YamlProblem, read_yaml

__all__ = ["MenuError", "find_menu_files", "load_menu", "load_menus", "suggest"]


class MenuError(Exception):
    """A menu file that cannot be used; ``problems`` are ``file:line: message``."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


class Problems:
    def __init__(self, shown_path: str) -> None:
        self.path = shown_path
        self.items: list[tuple[int, str]] = []

    def add(self, line: int, message: str) -> None:
        self.items.append((line, message))

    def lines(self) -> list[str]:
        ordered = sorted(dict.fromkeys(self.items), key=lambda item: item[0])
        return [f"{self.path}:{line}: {message}" for line, message in ordered]


def find_menu_files(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Menu files among ``paths``: files as given, folders' ``*.yaml`` sorted.

    Companion files (``NAME.calls.yaml``, ``NAME.traffic.yaml``) are left out.
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
                and p.is_file()
            )
        else:
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
    menu, problems = _load(Path(path), recordings_dir, text)
    if problems or menu is None:
        raise MenuError(problems)
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
    menus: list[Menu] = []
    problems: list[str] = []
    owners: dict[str, Menu] = {}
    for path in find_menu_files(paths):
        menu, found = _load(path, recordings_dir)
        problems.extend(found)
        if menu is None:
            continue
        clash = next((m for m in menus if m.id == menu.id), None)
        if clash is not None:
            problems.append(
                f"{_shown(path)}:1: menu id '{menu.id}' is also the id of {clash.path}"
            )
            continue
        for number in menu.numbers:
            if number in owners:
                problems.append(
                    f"{_shown(path)}:1: number '{number}' already reaches menu "
                    f"'{owners[number].id}' ({owners[number].path})"
                )
            owners.setdefault(number, menu)
        menus.append(menu)
    return menus, problems


def _shown(path: Path) -> str:
    """The path as the designer would type it: relative to here when inside."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _load(
    path: Path, recordings_dir: str | os.PathLike[str] | None, text: str | None = None
) -> tuple[Menu | None, list[str]]:
    problems = Problems(_shown(path))
    try:
        if text is None:
            text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        problems.add(1, "no such menu file")
        return None, problems.lines()
    except (OSError, UnicodeDecodeError) as error:
        problems.add(1, f"cannot read the file: {error}")
        return None, problems.lines()
    try:
        doc, yaml_problems = read_yaml(text)
    except YamlProblem as problem:
        problems.add(problem.line, problem.message)
        return None, problems.lines()
    for problem in yaml_problems:
        problems.add(problem.line, problem.message)
    if not isinstance(doc, LineDict):
        problems.add(1, "a menu file is a map with 'start' and 'nodes'")
        return None, problems.lines()
    recordings = (
        Path(recordings_dir)
        if recordings_dir is not None
        else path.resolve().parent.parent / "recordings"
    )
    builder = MenuBuilder(path, text, doc, recordings, problems)
    menu = builder.build()
    return (menu if not problems.items else None), problems.lines()
