"""How the caller reaches a webhook: in-process WSGI or real HTTP.

Twilio only ever sees a URL. The caller does the same through a *transport*: a
function-like object that takes a method, an absolute URL, form fields and
headers and gives back the status, headers and body. ``WsgiTransport`` calls a
WSGI application directly (no socket, as fast as a function call);
``HttpTransport`` talks to any running server, ours or someone else's.
"""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["Answer", "HttpTransport", "Transport", "WsgiTransport", "request_fields"]


@dataclass(frozen=True)
class Answer:
    """A webhook's answer: HTTP status, headers (lower-case names) and body."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()


class Transport(Protocol):
    """Sends one request the way Twilio would and returns the answer."""

    def __call__(
        self,
        method: str,
        url: str,
        params: Mapping[str, str],
        headers: Mapping[str, str],
    ) -> Answer: ...


def request_fields(url: str, params: Mapping[str, str]) -> dict[str, str]:
    """The fields a request to ``url`` with ``params`` carries, as the app reads
    them: a GET carries Twilio's fields in its query string, a POST in its body
    (which win over the query's)."""
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    return {**{name: values[0] for name, values in query.items()}, **params}


def _with_query(url: str, params: Mapping[str, str]) -> str:
    if not params:
        return url
    joiner = "&" if urllib.parse.urlsplit(url).query else "?"
    return url + joiner + urllib.parse.urlencode(params)


class WsgiTransport:
    """Call a WSGI application in this process, as if over HTTP.

    The URL's scheme and host become the WSGI environ's, so the app sees the
    same absolute URL it would see behind Twilio (and signatures match).
    """

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app

    def __call__(
        self,
        method: str,
        url: str,
        params: Mapping[str, str],
        headers: Mapping[str, str],
    ) -> Answer:
        from werkzeug.test import EnvironBuilder, run_wsgi_app

        data = None
        if method == "GET":
            url = _with_query(url, params)
        else:
            data = dict(params)
        parts = urllib.parse.urlsplit(url)
        # The query goes in the path too: werkzeug's RAW_URI (what a signature
        # is checked against, as gunicorn gives it) is the path given here.
        builder = EnvironBuilder(
            path=(parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
            base_url=f"{parts.scheme}://{parts.netloc}/",
            method=method,
            headers=dict(headers),
            data=data,
        )
        try:
            environ = builder.get_environ()
        finally:
            builder.close()
        body_iter, status, answer_headers = run_wsgi_app(self.app, environ)
        try:
            body = b"".join(body_iter)
        finally:
            close = getattr(body_iter, "close", None)
            if close:
                close()
        code = int(status.split(" ", 1)[0])
        return Answer(code, {k.lower(): v for k, v in answer_headers.items()}, body)


class HttpTransport:
    """Send requests over real HTTP(S) with the standard library.

    ``timeout_s`` is Twilio's: a webhook that has not answered in 15 s fails.
    """

    def __init__(self, timeout_s: float = 15.0) -> None:
        self.timeout_s = timeout_s

    def __call__(
        self,
        method: str,
        url: str,
        params: Mapping[str, str],
        headers: Mapping[str, str],
    ) -> Answer:
        data = None
        if method == "GET":
            url = _with_query(url, params)
        else:
            data = urllib.parse.urlencode(params).encode()
        request = urllib.request.Request(url, data=data, method=method)
        for name, value in headers.items():
            request.add_header(name, value)
        if data is not None:
            request.add_header("Content-Type", "application/x-www-form-urlencoded")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                body = response.read()
                return Answer(
                    response.status,
                    {k.lower(): v for k, v in response.headers.items()},
                    body,
                )
        except urllib.error.HTTPError as error:
            body = error.read()
            return Answer(
                error.code, {k.lower(): v for k, v in error.headers.items()}, body
            )
