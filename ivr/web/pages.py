"""Plain pages: the front page (what to give Twilio) and the recordings."""

from __future__ import annotations

from flask import (
    Blueprint,
    current_app,
    render_template_string,
    send_from_directory,
    url_for,
)
from werkzeug.wrappers import Response

bp = Blueprint("pages", __name__)

_INDEX = """<!doctype html>
<meta charset="utf-8"><title>ivr</title>
<h1>ivr is answering calls</h1>
<p>Point your Twilio number's <em>A call comes in</em> webhook (HTTP POST) at
<code>{{ webhook }}</code> and its status callback at <code>{{ status }}</code>.</p>
<table><tr><th>menu</th><th>title</th><th>numbers</th><th>nodes</th></tr>
{% for m in menus %}<tr>
<td>{{ m.id }}{% if m.id == default %} (default){% endif %}</td><td>{{ m.title }}</td>
<td>{{ m.numbers|join(", ") }}</td><td>{{ m.nodes|length }}</td></tr>
{% endfor %}</table>
"""


@bp.get("/")
def index() -> str:
    runtime = current_app.extensions["ivr"]
    base = runtime.public_url.rstrip("/") if runtime.public_url else None
    webhook = (
        base + url_for("voice.incoming")
        if base
        else url_for("voice.incoming", _external=True)
    )
    return render_template_string(
        _INDEX,
        webhook=webhook,
        status=webhook.rstrip("/") + "/status",
        menus=runtime.menus.values(),
        default=runtime.default.id,
    )


@bp.get("/recordings/<path:name>")
def recording(name: str) -> Response:
    """Audio for ``<Play>``; ``send_from_directory`` refuses paths outside it."""
    return send_from_directory(current_app.config["RECORDINGS"], name)
