"""Data sources for ``lookup`` nodes: CSV files and HTTP JSON services.

A lookup is the one piece of I/O a call makes, so it is fenced: a CSV file is read
once into memory (and again only when it changes on disk), and a URL is given a
time limit. Anything that goes wrong raises ``LookupFailed``, which the engine turns
into the node's ``error`` path, so a broken source never strands a caller.
"""

from __future__ import annotations

import csv
import json
import os
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping

from ivr.engine import LookupFailed, fill
from ivr.menu import CsvSource, DataSource, UrlSource

__all__ = ["Lookups"]


class Lookups:
    """Finds records in a menu's data sources; one instance serves every call."""

    def __init__(self) -> None:
        self._tables: dict[str, tuple[float, dict[str, dict[str, str]]]] = {}
        self._lock = threading.Lock()

    def __call__(
        self, source: DataSource, key: str, variables: Mapping[str, str]
    ) -> Mapping[str, str] | None:
        if isinstance(source, CsvSource):
            return self._table(source).get(key.strip())
        if isinstance(source, UrlSource):
            return _fetch(source, variables)
        raise LookupFailed(f"unknown data source kind for '{source.id}'")

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


def _fetch(source: UrlSource, variables: Mapping[str, str]) -> Mapping[str, str] | None:
    quoted = {k: urllib.parse.quote(str(v), safe="") for k, v in variables.items()}
    url = fill(source.url, quoted) or source.url
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=source.timeout_s) as response:
            body = response.read(1 << 20)
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
