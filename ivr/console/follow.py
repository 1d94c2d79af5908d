"""Menus that follow their files: an edit goes live without a restart.

A ``MenuFollower`` keeps the *signature* of the files the menus come from
(each menu file, the agent roster, and the folders themselves, whose times
change when a file is added or removed): their modification time, size and
inode (CSV data is read at lookup time and follows its file already). When
the signature changes it reloads the server's menus through
``Runtime.reload`` (the same reload as ``SIGHUP``): a file that loads
cleanly is served as it now is, a broken one keeps its last good version and
its problems are listed.

Polling, not inotify: a ``stat`` of a dozen files costs microseconds, works on
every platform and network file system, and needs nothing installed. Each
gunicorn worker runs its own follower on a background thread (a second apart),
and the console checks at every request, so the page it shows is never behind
the files.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ivr.loader import find_menu_files, find_roster

__all__ = ["MenuFollower"]

log = logging.getLogger("ivr.console")

Stamp = tuple[str, int, int, int] | tuple[str, None, None, None]


class MenuFollower:
    """Reloads ``runtime``'s menus when the files under ``paths`` change."""

    def __init__(
        self,
        runtime: Any,
        paths: Sequence[str | os.PathLike[str]],
        *,
        interval_s: float = 1.0,
    ) -> None:
        self.runtime = runtime
        self.paths = list(paths)
        self.interval_s = interval_s
        self._lock = threading.Lock()
        self._seen = self.signature()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    @property
    def version(self) -> str:
        """A short name for the files as they were last loaded."""
        text = repr(self._seen).encode()
        return hashlib.sha256(text).hexdigest()[:16]

    def signature(self) -> tuple[Stamp, ...]:
        """Modification time, size and inode of every file the menus come from."""
        files: set[Path] = set(find_menu_files(self.paths))
        roster = find_roster(self.paths)
        if roster is not None:
            files.add(roster)
        files.update(Path(p) for p in self.paths if Path(p).is_dir())
        return tuple(sorted(_stamp(path) for path in files))

    def check(self) -> bool:
        """Reload if the files changed since the last look; whether it did."""
        with self._lock:
            seen = self.signature()
            if seen == self._seen:
                return False
            # Taken before the reload: an edit made while it runs is seen next.
            self._seen = seen
            problems = self.runtime.reload()
        for problem in problems:
            log.warning("%s", problem)
        log.warning(
            "menus reloaded from their files (process %d): %d served%s",
            os.getpid(),
            len(self.runtime.menus),
            f", {len(problems)} problem(s)" if problems else "",
        )
        return True

    def reload(self) -> list[str]:
        """Reload now, whatever the files (``SIGHUP``), and take the files as
        they are as seen: the workers forked after it do not reload again."""
        with self._lock:
            self._seen = self.signature()
            return self.runtime.reload()

    def start(self) -> None:
        """Check every ``interval_s`` on a background thread (one per process)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, name="ivr-menu-follower", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.check()
            except Exception:  # a bad moment on disk must not stop following
                log.exception("following the menu files failed; trying again")


def _stamp(path: Path) -> Stamp:
    try:
        info = path.stat()
    except OSError:
        return (str(path), None, None, None)
    return (str(path), info.st_mtime_ns, info.st_size, info.st_ino)
