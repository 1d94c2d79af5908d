"""The web layer: a Flask app that answers Twilio's voice webhooks with TwiML.

``create_app`` follows Flask's app-factory pattern: defaults, then ``IVR_*``
environment variables (``IVR_MENUS``, ``IVR_PUBLIC_URL``...; ``TWILIO_AUTH_TOKEN``
under its usual name), then the ``test_config`` mapping. Menus are loaded and
checked once at start; a menu with problems stops the app from starting, with
every problem listed.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from flask.sessions import SessionInterface
from werkzeug.middleware.proxy_fix import ProxyFix

from ivr.loader import MenuError, load_line
from ivr.lookup import Lookups
from ivr.menu import Menu
from ivr.roster import Roster
from ivr.store import Store
from ivr.web.sealing import Sealer

__all__ = ["Runtime", "create_app"]


class Runtime:
    """What every request shares: the menus, the state sealer, lookups, the store."""

    def __init__(
        self, app: Flask, menus: list[Menu], roster: Roster | None = None
    ) -> None:
        config = app.config
        self.roster = roster
        self.agent_numbers = frozenset(roster.numbers if roster else ())
        self.menus: dict[str, Menu] = {menu.id: menu for menu in menus}
        self.by_number: dict[str, Menu] = {
            number: menu for menu in menus for number in menu.numbers
        }
        default_id = config.get("DEFAULT_MENU") or menus[0].id
        if default_id not in self.menus:
            raise MenuError([f"DEFAULT_MENU '{default_id}' is not a loaded menu"])
        self.default = self.menus[default_id]
        self.sealer = Sealer(config["SECRET_KEY"])
        self.lookups = Lookups()
        self.clock: Callable[[], dt.datetime] = config.get("CLOCK") or (
            lambda: dt.datetime.now(dt.UTC)
        )
        database = str(config["DATABASE"])
        spool = None if database == ":memory:" else Path(app.instance_path) / "spool"
        self.store = Store(
            database,
            spool_dir=spool,
            clock=lambda: self.clock().timestamp(),
            sync=bool(config.get("STORE_SYNC")),
        )
        self.token: str | None = config.get("TWILIO_AUTH_TOKEN") or None
        self.public_url: str | None = config.get("PUBLIC_URL") or None
        self.expose_trace = bool(config.get("EXPOSE_TRACE"))

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

    def menu_for(self, to: str | None, menu_id: str | None = None) -> Menu:
        """The menu a call reaches: by ``?menu=``, by the number called, or default."""
        if menu_id and menu_id in self.menus:
            return self.menus[menu_id]
        return self.by_number.get(to or "", self.default)


class _NoSessions(SessionInterface):
    """Webhooks carry their state in URLs; Flask's cookie session is never used."""

    def open_session(self, app: Flask, request: object) -> None:
        return None

    def save_session(self, app: Flask, session: object, response: object) -> None:
        return None


def _secret_key(app: Flask) -> str:
    """A secret shared by all workers: from config, else a file in instance/."""
    path = Path(app.instance_path) / "secret.key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    try:  # O_EXCL: of several workers starting at once, one writes it
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(32))
    except FileExistsError:
        pass
    return path.read_text().strip()


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the webhook app for the configured menus."""
    app = Flask(__name__, instance_path=os.path.abspath("instance"))
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
        STORE_SYNC=False,  # write in the request (in-process lines, tests)
    )
    app.config.from_prefixed_env("IVR")
    if test_config is not None:
        app.config.update(test_config)
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = _secret_key(app)

    paths = app.config["MENUS"]
    paths = [paths] if isinstance(paths, str | os.PathLike) else list(paths)
    menus, roster, problems = load_line(paths, app.config["RECORDINGS"])
    if problems:
        raise MenuError(problems)
    if not menus:
        raise MenuError([f"no menu files in {', '.join(map(str, paths))}"])
    if app.config["RECORDINGS"] is None:
        app.config["RECORDINGS"] = menus[0].recordings_dir
    app.extensions["ivr"] = Runtime(app, menus, roster)
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
    return app
