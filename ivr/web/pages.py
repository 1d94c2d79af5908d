"""Plain pages: the front page (what to give Twilio) and the recordings."""

from __future__ import annotations

import mimetypes
import os
import stat
from pathlib import Path

from flask import (
    Blueprint,
    abort,
    current_app,
    render_template_string,
    send_file,
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
    """Audio for ``<Play>``: regular files whose real path is inside recordings/.

    A symbolic link is followed only when it leads to a file inside the folder
    (a link to ``../instance/secret.key`` is not found). The file is opened
    without following a link in its last part and checked on the open file, so
    it cannot be swapped for a link between the check and the read.
    """
    folder = Path(current_app.config["RECORDINGS"]).resolve()
    try:
        real = (folder / name).resolve()
        if not real.is_relative_to(folder) or real == folder:
            abort(404)
        fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except (OSError, ValueError):  # ValueError: a NUL byte in the name
        abort(404)
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        abort(404)
    handle = os.fdopen(fd, "rb")
    return send_file(
        handle,
        mimetype=mimetypes.guess_type(real.name)[0] or "application/octet-stream",
        conditional=True,
        etag=f"{info.st_mtime_ns:x}-{info.st_size:x}",
        last_modified=info.st_mtime,
    )
