"""``/console``: the designer's console (pages and moves; the parts in ``ivr.console``).

Pages are rendered here from templates, with one small script
(``static/console/console.js``) that sends the phone's moves and swaps in what
comes back. Nothing here needs a Twilio signature, and no webhook URL leads
here: the console is its own blueprint under ``/console``, registered only when
``CONSOLE`` is on (``ivr serve`` decides: loopback, or a password).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)

from ivr.console import access
from ivr.console.follow import MenuFollower
from ivr.console.plan import PlanError, plan_from
from ivr.console.replay import replay
from ivr.console.timeline import zone_of
from ivr.console.view import call_view, graph_view, menu_rows, shown_path
from ivr.testing.menuline import DEFAULT_CALLER

bp = Blueprint(
    "console",
    __name__,
    url_prefix="/console",
    template_folder="templates",
    static_folder="static/console",
    static_url_path="/static",
)
log = logging.getLogger("ivr.console")
_OPEN = ("console.static", "console.login")  # the login page needs its style


def enable(app: Flask) -> None:
    """Serve ``/console`` and follow the menu files (``ivr serve`` starts the
    follower's thread in each worker; requests to the console check anyway)."""
    paths = app.config["MENUS"]
    paths = [paths] if isinstance(paths, str | os.PathLike) else list(paths)
    app.extensions["ivr.follower"] = MenuFollower(app.extensions["ivr"], paths)
    app.register_blueprint(bp)


def _runtime() -> Any:
    return current_app.extensions["ivr"]


@bp.before_request
def _guard() -> Response | None:
    verdict = access.verdict(request, current_app.config)
    if verdict == "local-only":
        return Response(
            "The console answers only requests made on this machine (set "
            "IVR_CONSOLE_PASSWORD to reach it from elsewhere).\n",
            403,
            mimetype="text/plain",
        )
    if verdict == "login" and request.endpoint not in _OPEN:
        return _ask_for_password()
    origin = request.headers.get("Origin")
    if request.method == "POST" and origin and origin != request.host_url[:-1]:
        return Response("cross-site request refused\n", 403, mimetype="text/plain")
    if request.endpoint != "console.static":
        current_app.extensions["ivr.follower"].check()
    return None


def _ask_for_password() -> Response:
    """The login form for a browser's page, a Basic challenge for tools (curl
    -u), and no challenge for the page's own script (no browser dialog)."""
    if request.headers.get("X-IVR-Console"):
        message = "the console's login has expired: reload the page"
        return Response(
            json.dumps({"error": message}), 401, mimetype="application/json"
        )
    if request.method == "GET" and "text/html" in request.headers.get("Accept", ""):
        return redirect(url_for("console.login", next=request.full_path), 303)
    return Response(
        "The console needs its password (IVR_CONSOLE_PASSWORD).\n",
        401,
        {"WWW-Authenticate": 'Basic realm="ivr console"'},
        mimetype="text/plain",
    )


@bp.get("/")
def index() -> str:
    menu_set = _runtime().menu_set
    return render_template(
        "console/index.html",
        **menu_rows(menu_set),
        problems=list(menu_set.problems),
        roster=menu_set.roster,
        roster_path=shown_path(menu_set.roster.path) if menu_set.roster else None,
        version=current_app.extensions["ivr.follower"].version,
    )


def _menu(menu_id: str) -> Any:
    menu = _runtime().menu_set.menus.get(menu_id)
    if menu is None:
        abort(404, f"no menu '{menu_id}' is served")
    return menu


@bp.get("/menu/<menu_id>")
def menu_page(menu_id: str) -> str:
    menu = _menu(menu_id)
    zone = zone_of(menu)
    now = dt.datetime.now(zone).replace(second=0, microsecond=0, tzinfo=None)
    return render_template(
        "console/menu.html",
        menu=menu,
        graph=graph_view(_runtime().menu_set, menu),
        version=current_app.extensions["ivr.follower"].version,
        at=now.isoformat(timespec="minutes"),
        zone=str(zone),
        caller=DEFAULT_CALLER,
    )


@bp.get("/menu/<menu_id>/graph")
def graph(menu_id: str) -> str:
    menu = _menu(menu_id)
    return render_template(
        "console/graph.html",
        graph=graph_view(_runtime().menu_set, menu),
        version=current_app.extensions["ivr.follower"].version,
    )


@bp.get("/version")
def version() -> Response:
    version = current_app.extensions["ivr.follower"].version
    return jsonify(version=version, worker=os.getpid())


@bp.post("/menu/<menu_id>/call")
def call(menu_id: str) -> tuple[Response, int]:
    """One move of a console call: the plan so far and the move, or a dial."""
    body = request.get_json(silent=True)
    if not request.is_json or not isinstance(body, dict):
        return jsonify(error="send the move as JSON"), 400
    menu = _menu(menu_id)
    try:
        snapshot = replay(_runtime().menu_set, plan_from(menu, body))
    except PlanError as error:
        return jsonify(error=str(error)), 400
    except Exception:  # a fault of ours: said on the page, detailed in the log
        log.exception("the console could not play a call of menu '%s'", menu.id)
        return jsonify(error="the console could not play this call (see the log)"), 500
    view = call_view(snapshot, body.get("seen"), request.script_root)
    view["transcript"] = render_template("console/transcript.html", **view)
    view["controls"] = render_template("console/controls.html", **view)
    for key in ("rows", "snapshot"):
        view.pop(key)
    view["worker"] = os.getpid()  # which process played it (any may)
    return jsonify(view), 200


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    config = current_app.config
    target = request.values.get("next") or url_for("console.index")
    if not target.startswith(url_for("console.index")):
        target = url_for("console.index")  # never a page of another site
    if access.password_of(config) is None:
        return redirect(target, 303)  # no password: nothing to log in to
    if request.method == "GET":
        return render_template("console/login.html", next=target)
    given = request.form.get("password", "")
    if not access.password_matches(given, config):
        page = render_template("console/login.html", next=target, wrong=True)
        return Response(page, 401)
    response = redirect(target, 303)
    response.set_cookie(
        access.COOKIE,
        access.login_cookie(str(config["SECRET_KEY"]), given),
        max_age=access.COOKIE_MAX_AGE_S,
        path="/console",
        secure=request.is_secure,
        httponly=True,
        samesite="Strict",
    )
    return response


@bp.post("/logout")
def logout() -> Response:
    response = redirect(url_for("console.login"), 303)
    response.delete_cookie(access.COOKIE, path="/console")
    return response
