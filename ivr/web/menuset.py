"""The menus a server answers with, and reloading them without a bad edit taking
the line down.

Think of the menus in a restaurant's window: a new edition goes up only once it is
proof-read; a page with a typo leaves the previous edition of that page up, and
the rest of the new edition goes up beside it. Here each menu *file* is a page:

- a file that loads cleanly is served as it now is, and a copy of its text is
  kept in ``instance/menus-good/`` (its *last good version*);
- a file with problems is served as its last good version: the one this process
  serves (a reload), else the kept copy (a restart: one broken file no longer
  stops every menu from starting); its problems are reported;
- a file that never loaded cleanly is left out, with its problems.

A ``MenuSet`` is one immutable value, swapped whole: a call sees the old menus or
the new ones, never half of each.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ivr.loader import MenuError, find_menu_files, load_line, load_menu, load_menus
from ivr.menu import Menu
from ivr.roster import Roster

__all__ = ["LastGood", "MenuSet", "load_menu_set"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MenuSet:
    """The menus served: by id, by number called, and the default one.

    ``problems`` are what the load that made it found (``file:line: message``,
    and a line per file saying which version is served instead).
    """

    menus: dict[str, Menu]
    by_number: dict[str, Menu]
    default: Menu
    problems: tuple[str, ...] = ()
    roster: Roster | None = None  # the agents (menus/agents.yaml), if any

    def by_path(self) -> dict[Path, Menu]:
        return {_key(menu.path): menu for menu in self.menus.values()}


class LastGood:
    """The text of each menu file's last version that loaded cleanly, on disk."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)

    def _file(self, path: Path) -> Path:
        name = hashlib.sha256(str(path).encode()).hexdigest()[:24]
        return self.folder / f"{name}.yaml"

    def get(self, path: Path) -> str | None:
        try:
            return self._file(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None

    def keep(self, path: Path, text: str) -> None:
        """Keep ``text`` as the last good version of ``path`` (atomically)."""
        target = self._file(path)
        if self.get(path) == text:
            return
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(dir=self.folder, prefix=".keep-")
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.replace(temporary, target)
        except OSError as error:
            log.warning("cannot keep the last good version of %s: %s", path, error)


def load_menu_set(
    paths: Sequence[str | os.PathLike[str]],
    recordings_dir: str | os.PathLike[str] | None,
    *,
    default_id: str | None = None,
    previous: MenuSet | None = None,
    last_good: LastGood | None = None,
) -> MenuSet:
    """Load the menu files in ``paths``, falling back file by file (see above).

    Raises ``MenuError`` when no menu can be served at all, or the configured
    default menu is not among them.
    """
    files = [_key(path) for path in find_menu_files(paths)]
    before = {path: _text(path) for path in files}
    fresh, problems = load_menus(paths, recordings_dir)
    by_path = {_key(menu.path): menu for menu in fresh}
    if last_good is not None:
        for path in by_path:
            text = before.get(path)
            if text is not None and text == _text(path):  # unchanged while loading
                last_good.keep(path, text)
    kept = previous.by_path() if previous is not None else {}
    chosen: list[Menu] = []
    for path in files:
        if path in by_path:
            chosen.append(by_path[path])
            continue
        older = kept.get(path) or _from_copy(path, recordings_dir, last_good)
        shown = _shown(path)
        if older is None:
            problems.append(f"{shown}: has problems and never loaded: not served")
        else:
            problems.append(f"{shown}: has problems: its last good version is served")
            chosen.append(older)
    menus, by_number = _index(chosen, problems)
    if not menus:
        raise MenuError(problems or [f"no menu files in {', '.join(map(str, paths))}"])
    default_id = default_id or next(iter(menus))
    if default_id not in menus:
        problems.append(f"DEFAULT_MENU '{default_id}' is not a loaded menu")
        raise MenuError(problems)
    roster = _roster(paths, recordings_dir, list(menus.values()), previous, problems)
    return MenuSet(menus, by_number, menus[default_id], tuple(problems), roster)


def _roster(
    paths: Sequence[str | os.PathLike[str]],
    recordings_dir: str | os.PathLike[str] | None,
    menus: list[Menu],
    previous: MenuSet | None,
    problems: list[str],
) -> Roster | None:
    """The agent roster beside the menus; with problems, the one served until now
    (none on a first start: the agent line is off until the file is fixed)."""
    _, roster, found = load_line(paths, recordings_dir, menus=menus)
    if not found:
        return roster
    problems.extend(found)
    older = previous.roster if previous is not None else None
    if older is not None:
        problems.append(f"{older.path}: has problems: the agents served stay")
    return older


def _index(
    chosen: Iterable[Menu], problems: list[str]
) -> tuple[dict[str, Menu], dict[str, Menu]]:
    """By id and number; an older version that clashes with a fresh menu yields."""
    menus: dict[str, Menu] = {}
    by_number: dict[str, Menu] = {}
    for menu in chosen:
        clash = menu.id in menus or any(n in by_number for n in menu.numbers)
        if clash:
            problems.append(
                f"{_shown(_key(menu.path))}: its last good version clashes with "
                f"another menu (id '{menu.id}' or a number): not served"
            )
            continue
        menus[menu.id] = menu
        by_number.update({number: menu for number in menu.numbers})
    return menus, by_number


def _from_copy(
    path: Path,
    recordings_dir: str | os.PathLike[str] | None,
    last_good: LastGood | None,
) -> Menu | None:
    text = last_good.get(path) if last_good is not None else None
    if text is None:
        return None
    try:
        return load_menu(path, recordings_dir, text=text)
    except MenuError:  # e.g. a data file it names is gone since
        return None


def _key(path: str | os.PathLike[str]) -> Path:
    return Path(path).resolve()


def _text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
