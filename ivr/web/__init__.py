"""The web layer: a Flask app that answers Twilio's voice webhooks with TwiML.

``create_app`` follows Flask's app-factory pattern: defaults, then ``IVR_*``
environment variables (``IVR_MENUS``, ``IVR_PUBLIC_URL``...; ``TWILIO_AUTH_TOKEN``
under its usual name), then the ``test_config`` mapping. Menus are loaded and
checked at start and again on ``Runtime.reload``; a menu file with problems is
served as its last good version (see ``ivr.web.menuset``), and the app refuses to
start only when no menu can be served, with every problem listed.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import secrets
import tempfile
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from flask import Flask, Request
from flask.sessions import SessionInterface
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import MapAdapter
from werkzeug.wsgi import get_host

from ivr.estimate import RATE_WINDOW_S
from ivr.loader import MenuError
from ivr.lookup import Lookups
from ivr.menu import Menu, QueueNode
from ivr.roster import Roster
from ivr.store import Store
from ivr.twiml_cache import TwimlCache
from ivr.web.menuset import LastGood, MenuSet, load_menu_set
from ivr.web.sealing import MIN_SECRET_CHARS, Sealer
from ivr.web.security import Signatures

__all__ = ["ConfigError", "Runtime", "create_app"]


class ConfigError(Exception):
    """A setting the server cannot start with; the message says what to do."""


class Runtime:
    """What every request shares: the menus, the state sealer, lookups, the store.

    The menus are one ``MenuSet``, replaced whole by ``reload`` (on ``SIGHUP``, or
    when the console sees a file change): a request reads the old set or the new.
    What a webhook would otherwise work out again each time is kept here: the
    signature check's prepared token, and the TwiML documents already rendered
    (``ivr.twiml_cache``, keyed by what they are made of, menus included).
    """

    def __init__(self, app: Flask, menus: MenuSet) -> None:
        config = app.config
        self.menu_set = menus
        self._menu_paths = _menu_paths(config)
        self._last_good = _last_good(app)
        self._reloading = threading.Lock()
        self.sealer = Sealer(config["SECRET_KEY"])
        self.lookups = Lookups()
        self.clock: Callable[[], dt.datetime] = config.get("CLOCK") or (
            functools.partial(dt.datetime.now, dt.UTC)  # no Python frame per call
        )
        database = str(config["DATABASE"])
        spool = None
        if database != ":memory:":
            spool = _private_instance(app) / "spool"
        self.store = Store(
            database,
            spool_dir=spool,
            clock=lambda: self.clock().timestamp(),
            sync=bool(config.get("STORE_SYNC")),
            filer=bool(config.get("STORE_FILER")),
        )
        self.token: str | None = config.get("TWILIO_AUTH_TOKEN") or None
        self.signatures = Signatures(self.token) if self.token else None
        self.twiml = TwimlCache()
        self.public_url: str | None = config.get("PUBLIC_URL") or None
        self.expose_trace = bool(config.get("EXPOSE_TRACE"))
        self._recordings = config["RECORDINGS"]
        self._default_id = config.get("DEFAULT_MENU") or None

    @property
    def menus(self) -> dict[str, Menu]:
        return self.menu_set.menus

    @property
    def by_number(self) -> dict[str, Menu]:
        return self.menu_set.by_number

    @property
    def default(self) -> Menu:
        return self.menu_set.default

    @property
    def roster(self) -> Roster | None:
        """The agents (``menus/agents.yaml``), reloaded with the menus."""
        return self.menu_set.roster

    @property
    def agent_numbers(self) -> frozenset[str]:
        roster = self.menu_set.roster
        return frozenset(roster.numbers) if roster else frozenset()

    def is_agent_line(self, to: str | None) -> bool:
        """Whether a call to ``to`` is an agent calling the agent line."""
        return bool(to) and to in self.agent_numbers

    def on_shift(self, menu: Menu, queue: str) -> int | None:
        """Agents on shift for ``queue`` by the agent line, or None to go by the
        queue's day plan (no roster, or nobody has been on the agent line)."""
        if self.roster is None:
            return None
        counts = self.store.on_shift()
        if not counts:
            return None
        return counts.get((menu.id, queue), 0)

    def overtaking(self, menu: Menu, queue: str, priority: int) -> float | None:
        """The rate (a second) at which callers of a higher priority have joined
        ``queue`` lately, or None when no queue node of it has a higher one."""
        higher = any(
            isinstance(node, QueueNode)
            and node.queue == queue
            and node.priority > priority
            for node in menu.nodes.values()
        )
        if not higher:
            return None
        joined = self.store.higher_joined(menu.id, queue, priority, RATE_WINDOW_S)
        return joined / RATE_WINDOW_S

    def ready(self, menu: Menu, queue: str) -> int:
        """Agents free at the agent line's prompt now who serve ``queue``: the
        first callers in line will be taken as soon as they press 1."""
        if self.roster is None:
            return 0
        return self.store.ready().get((menu.id, queue), 0)

    def menu_for(self, to: str | None, menu_id: str | None = None) -> Menu:
        """The menu a call reaches: by ``?menu=``, by the number called, or default."""
        menus = self.menu_set
        if menu_id and menu_id in menus.menus:
            return menus.menus[menu_id]
        return menus.by_number.get(to or "", menus.default)

    def reload(self) -> list[str]:
        """Load the menu files again; return the problems found (none: all clean).

        A file with problems keeps its last good version serving; if nothing can
        be served at all, the menus served until now stay, whole.
        """
        with self._reloading:
            try:
                fresh = load_menu_set(
                    self._menu_paths,
                    self._recordings,
                    default_id=self._default_id,
                    previous=self.menu_set,
                    last_good=self._last_good,
                )
            except MenuError as error:
                return [*error.problems, "nothing reloaded: the menus served stay"]
            self.menu_set = fresh
            return list(fresh.problems)


def _private_instance(app: Flask) -> Path:
    """instance/, created readable by the server's user only: it holds the
    secret key, the store, its journal and the menus' last good versions."""
    os.makedirs(app.instance_path, mode=0o700, exist_ok=True)
    return Path(app.instance_path)


def _last_good(app: Flask) -> LastGood | None:
    """Where menus' last good versions are kept (throw-away apps keep none)."""
    if not app.config["KEEP_LAST_GOOD"]:
        return None
    return LastGood(_private_instance(app) / "menus-good")


def _menu_paths(config: Mapping[str, Any]) -> list[str | os.PathLike[str]]:
    paths = config["MENUS"]
    return [paths] if isinstance(paths, str | os.PathLike) else list(paths)


class _App(Flask):
    """Flask, binding each request's URL map without working out again per
    request what an earlier request to the same place already said.

    For every request Flask finds the host (werkzeug's ``get_host``), then
    werkzeug finds it again, lower-cases it, IDNA-encodes it, decodes the path,
    the script name and the query, and matches the path against every rule:
    together more Python than a webhook spends on its signature. Here an
    adapter is made once the way werkzeug's ``Map.bind_to_environ`` makes it,
    for each host, script name, path and method (a few hundred kept: they are
    the client's to choose), and each request gets a copy with its own query;
    the rule it matched is kept with it (``_Adapter``). Anything this shortcut
    does not cover (``SERVER_NAME``, ``TRUSTED_HOSTS``, host or subdomain
    matching, a WebSocket upgrade, a host IDNA refuses) goes Flask's own way.
    """

    MAX_BOUND = 256

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._bound: dict[tuple[Any, ...], _Bound] = {}

    def create_url_adapter(self, request: Request | None) -> MapAdapter | None:
        config = self.config
        url_map = self.url_map
        if (
            request is None
            or config["SERVER_NAME"] is not None
            or config["TRUSTED_HOSTS"] is not None
            or url_map.host_matching
            or self.subdomain_matching
            or "HTTP_UPGRADE" in request.environ
        ):
            return super().create_url_adapter(request)
        if url_map._remap:  # rules added since: werkzeug sorts them in
            self._bound.clear()  # and every kept match is forgotten
        environ = request.environ
        key = (
            environ["wsgi.url_scheme"],
            environ.get("HTTP_HOST"),
            environ.get("SERVER_NAME"),
            environ.get("SERVER_PORT"),
            environ.get("SCRIPT_NAME"),
            environ.get("PATH_INFO"),
            environ["REQUEST_METHOD"],
        )
        bound = self._bound.get(key)
        if bound is None:
            bound = self._bind(environ)
            if bound is None:
                return super().create_url_adapter(request)  # werkzeug's BadHost
            if len(self._bound) >= self.MAX_BOUND:
                self._bound.clear()
            self._bound[key] = bound
        request.host = bound.host  # type: ignore[misc]  # as Flask sets it
        adapter = _Adapter.__new__(_Adapter)
        adapter.__dict__.update(bound.adapter)
        adapter.ivr_bound = bound
        query = environ.get("QUERY_STRING")
        adapter.query_args = None if query is None else _wsgi_text(query)
        return adapter

    def _bind(self, environ: dict[str, Any]) -> _Bound | None:
        """The adapter werkzeug's ``bind_to_environ`` would make for a request
        to this place (its query left out); None for a host IDNA refuses."""
        host = get_host(environ)
        name, colon, port = host.lower().partition(":")
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError:
            return None
        script_name = environ.get("SCRIPT_NAME")
        path_info = environ.get("PATH_INFO")
        url_map = self.url_map
        made = MapAdapter(
            url_map,
            f"{name}{colon}{port}",
            "/" if script_name is None else _wsgi_text(script_name),
            url_map.default_subdomain or "",
            environ["wsgi.url_scheme"],
            "/" if path_info is None else _wsgi_text(path_info),
            environ["REQUEST_METHOD"],
            None,
        )
        return _Bound(host, vars(made))


class _Bound:
    """A place requests are made to (host, path, method): the adapter werkzeug
    makes for it, and the rule it matched once matched."""

    __slots__ = ("adapter", "host", "match")

    def __init__(self, host: str, adapter: dict[str, Any]) -> None:
        self.host = host
        self.adapter = adapter
        self.match: tuple[Any, dict[str, Any]] | None = None


class _Adapter(MapAdapter):
    """werkzeug's adapter, remembering the rule its place matched.

    The URL map does not change once the app serves (Flask refuses new routes
    after the first request), so the rule a host, path and method matched
    before is the rule they match again: found once, not by werkzeug's state
    machine for every request. Only plain matches are kept (a redirect, a 404
    or a 405 is raised by werkzeug each time); ``_App.create_url_adapter``
    forgets them all if rules are added to the map directly all the same.
    """

    ivr_bound: _Bound

    def match(  # type: ignore[override]
        self,
        path_info: str | None = None,
        method: str | None = None,
        return_rule: bool = False,
        query_args: Any = None,
        websocket: bool | None = None,
    ) -> tuple[Any, Mapping[str, Any]]:
        if path_info is not None or method is not None or websocket is not None:
            return super().match(path_info, method, return_rule, query_args, websocket)
        bound = self.ivr_bound
        known = bound.match
        if known is None:
            known = bound.match = super().match(return_rule=True, query_args=query_args)
        rule, args = known
        return (rule if return_rule else rule.endpoint), dict(args)


def _wsgi_text(value: str) -> str:
    """A WSGI string (bytes as latin-1) as text, as werkzeug decodes it."""
    if value.isascii():
        return value
    return value.encode("latin1").decode(errors="replace")


class _NoSessions(SessionInterface):
    """Webhooks carry their state in URLs; Flask's cookie session is never used."""

    def open_session(self, app: Flask, request: object) -> None:
        return None

    def save_session(self, app: Flask, session: object, response: object) -> None:
        return None


def _checked_key(key: object, where: str) -> str:
    """``key`` as text if it is long enough to keep call state unforgeable."""
    text = str(key).strip()
    if len(text) < MIN_SECRET_CHARS:
        what = "is empty" if not text else f"has only {len(text)} characters"
        raise ConfigError(
            f"{where} {what}; the secret key that seals call state needs at "
            f"least {MIN_SECRET_CHARS} (make one with: python3 -c 'import "
            f"secrets; print(secrets.token_urlsafe(32))')"
        )
    return text


def _secret_key(app: Flask) -> str:
    """A secret shared by all workers: from config, else a file in instance/.

    The file is written whole under a temporary name, then linked into place,
    which fails if it exists: a process starting beside another reads either no
    file or the complete key, never an empty one, and never replaces a key that
    another process already uses.
    """
    configured = app.config["SECRET_KEY"]
    if configured is not None:
        return _checked_key(configured, "IVR_SECRET_KEY")
    path = _private_instance(app) / "secret.key"
    if not path.exists():
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".secret.key-")
        try:
            with os.fdopen(fd, "w") as handle:  # mkstemp: 0600
                handle.write(secrets.token_urlsafe(32) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process made it first: use theirs
        finally:
            os.unlink(temporary)
    return _checked_key(path.read_text(), str(path))


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the webhook app for the configured menus."""
    # instance/ in the working folder; tests give their own (INSTANCE_PATH).
    instance = (test_config or {}).get("INSTANCE_PATH") or "instance"
    app = _App(__name__, instance_path=os.path.abspath(instance))
    app.config.from_mapping(
        MENUS="menus",
        RECORDINGS=None,  # default: recordings/ beside the menus folder
        SECRET_KEY=None,
        TWILIO_AUTH_TOKEN=os.environ.get("TWILIO_AUTH_TOKEN"),
        PUBLIC_URL=None,
        DATABASE=os.path.join(app.instance_path, "ivr.sqlite3"),
        DEFAULT_MENU=None,
        EXPOSE_TRACE=False,
        TRUSTED_PROXIES=0,
        CLOCK=None,
        KEEP_LAST_GOOD=True,  # menus' last good versions in instance/menus-good/
        STORE_SYNC=False,  # write in the request (in-process lines, tests)
        STORE_FILER=False,  # a filer process files the journal (ivr serve)
        MENU_SET=None,  # menus already loaded (the console's lines share them)
        CONSOLE=False,  # /console, following the menu files (ivr serve decides)
        CONSOLE_PASSWORD=None,  # required by /console when set
    )
    app.config.from_prefixed_env("IVR")
    if test_config is not None:
        app.config.update(test_config)
    app.config["SECRET_KEY"] = _secret_key(app)

    menus = app.config["MENU_SET"] or load_menu_set(
        _menu_paths(app.config),
        app.config["RECORDINGS"],
        default_id=app.config["DEFAULT_MENU"],
        last_good=_last_good(app),
    )
    if app.config["RECORDINGS"] is None:
        app.config["RECORDINGS"] = next(iter(menus.menus.values())).recordings_dir
    app.extensions["ivr"] = Runtime(app, menus)
    # SECRET_KEY seals call state; the app has no cookies, so no sessions (Flask
    # would otherwise build a cookie signer on every webhook).
    app.session_interface = _NoSessions()

    proxies = int(app.config["TRUSTED_PROXIES"])
    if proxies:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app,
            x_for=proxies,
            x_proto=proxies,
            x_host=proxies,
            x_prefix=proxies,
        )

    from ivr.web import agent, ops, pages, voice

    app.register_blueprint(voice.bp)
    app.register_blueprint(agent.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(ops.bp)
    if app.config["CONSOLE"]:
        from ivr.web import console

        console.enable(app)
    return app
