"""Data sources for ``lookup`` nodes: CSV files and HTTP JSON services.

A lookup is the one piece of I/O a call makes, so it is fenced: a CSV file is read
once into memory (and again only when it changes on disk), and a URL source is
fenced three ways, like a shop that keeps one slow supplier from blocking the
whole counter:

- a **deadline**: the whole lookup (connecting, the request, every byte of the
  answer) takes at most the source's ``timeout``; a source that drips one byte a
  second never holds a caller longer;
- a **bulkhead**: at most ``per_source`` lookups of one source are in flight in a
  process; a caller who would be one more is sent on at once, so a hung source
  ties up a few of a worker's threads, never all of them, and calls that do not
  use it go on;
- a **circuit breaker**: after ``failures`` failed lookups in a row the source is
  not called for ``open_s`` seconds (callers take the node's ``error`` path at
  once); then one lookup probes it, and its answer closes the breaker or opens it
  again. The log says so once each way, not once per caller.

Anything that goes wrong raises ``LookupFailed``, which the engine turns into the
node's ``error`` path, so a broken source never strands a caller.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

from ivr.engine import LookupFailed, fill
from ivr.menu import CsvSource, DataSource, UrlSource

__all__ = ["Breaker", "Lookups"]

log = logging.getLogger(__name__)

MAX_ANSWER_BYTES = 1 << 20  # a record is a few hundred bytes


class Breaker:
    """Whether to call a source now, from how its last lookups went.

    *Closed* (normal): every lookup goes through; ``failures`` in a row open it.
    *Open*: none goes through for ``open_s`` seconds. Then *half-open*: one lookup
    (the probe) goes through at a time; a success closes the breaker, a failure
    opens it again.
    """

    def __init__(
        self,
        name: str,
        *,
        failures: int = 5,
        open_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.failures = failures
        self.open_s = open_s
        self.clock = clock
        self.in_a_row = 0
        self.open_until: float | None = None
        self._probing = False
        self._lock = threading.Lock()

    @property
    def state(self) -> str:
        if self.open_until is None:
            return "closed"
        return "open" if self.clock() < self.open_until else "half-open"

    def allow(self) -> bool:
        """Whether a lookup may call the source now (takes the probe if half-open)."""
        with self._lock:
            state = self.state
            if state == "closed":
                return True
            if state == "open" or self._probing:
                return False
            self._probing = True
            return True

    def succeeded(self) -> None:
        with self._lock:
            if self.open_until is not None:
                log.warning("data source '%s' answers again", self.name)
            self.in_a_row, self.open_until, self._probing = 0, None, False

    def failed(self, reason: str) -> None:
        with self._lock:
            self.in_a_row += 1
            probe_failed = self._probing
            self._probing = False
            if probe_failed or (
                self.open_until is None and self.in_a_row >= self.failures
            ):
                if not probe_failed:
                    log.warning(
                        "data source '%s' failed %d times in a row (%s); callers "
                        "take the error path without calling it, and it is "
                        "tried again every %.0f s",
                        self.name,
                        self.in_a_row,
                        reason,
                        self.open_s,
                    )
                self.open_until = self.clock() + self.open_s


class Lookups:
    """Finds records in a menu's data sources; one instance serves every call.

    ``per_source``, ``failures`` and ``open_s`` set the bulkhead and the breaker
    of each URL source (see the module's docstring); ``clock`` is for tests.
    """

    def __init__(
        self,
        *,
        per_source: int = 2,
        failures: int = 5,
        open_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_source = per_source
        self.failures = failures
        self.open_s = open_s
        self.clock = clock
        self._tables: dict[str, tuple[float, dict[str, dict[str, str]]]] = {}
        self._lock = threading.Lock()
        self._fences: dict[tuple[str, str], tuple[threading.Semaphore, Breaker]] = {}

    def __call__(
        self, source: DataSource, key: str, variables: Mapping[str, str]
    ) -> Mapping[str, str] | None:
        if isinstance(source, CsvSource):
            return self._table(source).get(key.strip())
        if isinstance(source, UrlSource):
            return self._fetch(source, variables)
        raise LookupFailed(f"unknown data source kind for '{source.id}'")

    def breaker(self, source: UrlSource) -> Breaker:
        return self._fence(source)[1]

    def _fence(self, source: UrlSource) -> tuple[threading.Semaphore, Breaker]:
        key = (source.id, source.url)
        fence = self._fences.get(key)
        if fence is None:
            with self._lock:
                fence = self._fences.get(key)
                if fence is None:
                    breaker = Breaker(
                        source.id,
                        failures=self.failures,
                        open_s=self.open_s,
                        clock=self.clock,
                    )
                    fence = (threading.BoundedSemaphore(self.per_source), breaker)
                    self._fences[key] = fence
        return fence

    def _fetch(
        self, source: UrlSource, variables: Mapping[str, str]
    ) -> Mapping[str, str] | None:
        slots, breaker = self._fence(source)
        if not breaker.allow():
            raise LookupFailed(f"{source.id}: failing, not called for a while")
        if not slots.acquire(blocking=False):
            if breaker.state == "half-open":
                breaker.failed("its probe found it still busy")
            raise LookupFailed(
                f"{source.id}: {self.per_source} lookups already wait for it"
            )
        quoted = {k: urllib.parse.quote(str(v), safe="") for k, v in variables.items()}
        url = fill(source.url, quoted) or source.url
        outcome: dict[str, Any] = {}
        done = threading.Event()
        deadline = time.monotonic() + source.timeout_s

        def fetch() -> None:
            try:
                outcome["record"] = _fetch(source, url, deadline)
            except BaseException as error:  # handed to the caller below
                outcome["error"] = error
            finally:
                slots.release()  # only now: a hung fetch keeps its slot
                done.set()

        # The request runs beside the caller, who waits until the deadline and
        # no longer (name resolution, for one, is not bounded by socket time-outs).
        threading.Thread(
            target=fetch, name=f"ivr-lookup-{source.id}", daemon=True
        ).start()
        if not done.wait(source.timeout_s):
            breaker.failed(f"no answer within {source.timeout_s:g} s")
            raise LookupFailed(f"{source.id}: no answer within {source.timeout_s:g} s")
        error = outcome.get("error")
        if error is not None:
            breaker.failed(str(error))
            if isinstance(error, LookupFailed):
                raise error
            raise LookupFailed(f"{source.id}: {error}") from error
        breaker.succeeded()
        return outcome["record"]

    def _table(self, source: CsvSource) -> dict[str, dict[str, str]]:
        try:
            mtime = os.stat(source.path).st_mtime
        except OSError as error:
            raise LookupFailed(f"cannot read {source.path}: {error}") from error
        cached = self._tables.get(source.path)
        if cached is not None and cached[0] == mtime:
            return cached[1]
        with self._lock:
            try:
                with open(source.path, newline="", encoding="utf-8-sig") as handle:
                    rows = list(csv.DictReader(handle))
            except (OSError, csv.Error, UnicodeDecodeError) as error:
                raise LookupFailed(f"cannot read {source.path}: {error}") from error
            table = {}
            for row in rows:
                clean = {
                    (k or "").strip(): (v or "").strip()
                    for k, v in row.items()
                    if k is not None
                }
                table.setdefault(clean.get(source.key, ""), clean)
            self._tables[source.path] = (mtime, table)
            return table


def _fetch(source: UrlSource, url: str, deadline: float) -> Mapping[str, str] | None:
    """GET ``url`` and read its JSON record, all before ``deadline``."""
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        remaining = max(deadline - time.monotonic(), 0.001)
        with urllib.request.urlopen(request, timeout=remaining) as response:
            body = _read_before(response, deadline, source.id)
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise LookupFailed(f"{source.id}: HTTP {error.code}") from error
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        raise LookupFailed(f"{source.id}: {error}") from error
    try:
        record = json.loads(body)
    except ValueError as error:
        raise LookupFailed(f"{source.id}: the answer is not JSON") from error
    if record is None or record == {}:
        return None
    if not isinstance(record, dict):
        raise LookupFailed(f"{source.id}: the answer is not a JSON object")
    return {str(k): "" if v is None else str(v) for k, v in record.items()}


def _read_before(response: Any, deadline: float, name: str) -> bytes:
    """The answer's body, read a chunk at a time while the deadline allows."""
    parts: list[bytes] = []
    size = 0
    while True:
        if time.monotonic() > deadline:
            raise LookupFailed(f"{name}: the answer came too slowly")
        chunk = response.read1(65536)
        if not chunk:
            return b"".join(parts)
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            raise LookupFailed(f"{name}: the answer is over {MAX_ANSWER_BYTES} bytes")
        parts.append(chunk)
