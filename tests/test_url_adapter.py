"""The app binds each request's URL map as Flask would, hosts found once.

``ivr.web._App.create_url_adapter`` keeps each host it has seen and builds the
adapter itself; whatever the request, the adapter (and ``request.host``) must
be the one Flask's own ``create_url_adapter`` makes, or routing, ``url_for``
and the signed URL would differ.
"""

from __future__ import annotations

import pytest
from conftest import make_app
from flask import Flask
from werkzeug.exceptions import BadHost
from werkzeug.test import EnvironBuilder


def _environ(path="/voice", **overrides):
    environ = EnvironBuilder(path=path, method="POST").get_environ()
    environ.update(overrides)
    return {k: v for k, v in environ.items() if v is not None}


ENVIRONS = [
    _environ(),
    _environ(HTTP_HOST="127.0.0.1:8000"),
    _environ(HTTP_HOST="Example.COM:80"),
    _environ(HTTP_HOST="example.com:443", **{"wsgi.url_scheme": "https"}),
    _environ(HTTP_HOST="bücher.example:8443", **{"wsgi.url_scheme": "https"}),
    _environ(HTTP_HOST="bad host"),
    _environ(HTTP_HOST=None, SERVER_NAME="10.0.0.1", SERVER_PORT="8080"),
    _environ(HTTP_HOST=None, SERVER_NAME="::1", SERVER_PORT="80"),
    _environ("/voice/input", QUERY_STRING="s=abc&menu=shop"),
    # UTF-8 as WSGI has it (bytes as latin-1)
    _environ(PATH_INFO="/recordings/\xe6\xac\xa2\xe8\xbf\x8e.wav"),
    _environ(SCRIPT_NAME="/ivr", PATH_INFO="/voice"),
    _environ(PATH_INFO="/voice/\xff"),  # not UTF-8: replaced, as werkzeug does
    _environ(HTTP_UPGRADE="websocket", HTTP_CONNECTION="Upgrade"),
]


def _plain(adapter):
    """What werkzeug's adapter holds (ours also holds the matches it keeps)."""
    return {k: v for k, v in vars(adapter).items() if k != "ivr_bound"}


def _adapters(app, environ):
    ours_request = app.request_class(dict(environ))
    flask_request = app.request_class(dict(environ))
    ours = app.create_url_adapter(ours_request)
    theirs = Flask.create_url_adapter(app, flask_request)
    return ours, theirs, ours_request, flask_request


@pytest.mark.parametrize("environ", ENVIRONS, ids=range(len(ENVIRONS)))
def test_the_adapter_is_the_one_flask_makes(tmp_path, environ):
    app = make_app(tmp_path)
    for _ in range(2):  # the host worked out, then the host known
        ours, theirs, ours_request, flask_request = _adapters(app, environ)
        assert _plain(ours) == _plain(theirs)
        assert ours_request.host == flask_request.host


def test_a_host_idna_refuses_is_refused_as_flask_refuses_it(tmp_path):
    app = make_app(tmp_path)
    environ = _environ(HTTP_HOST="a..b")
    with pytest.raises(BadHost):
        Flask.create_url_adapter(app, app.request_class(dict(environ)))
    with pytest.raises(BadHost):
        app.create_url_adapter(app.request_class(dict(environ)))


def test_configured_server_name_and_trusted_hosts_go_flasks_way(tmp_path):
    app = make_app(tmp_path, SERVER_NAME="ivr.example", TRUSTED_HOSTS=["ivr.example"])
    environ = _environ(HTTP_HOST="ivr.example")
    ours, theirs, _, _ = _adapters(app, environ)
    assert _plain(ours) == _plain(theirs)
    refused = app.test_client().post("/voice", headers={"Host": "elsewhere.example"})
    assert refused.status_code == 400  # Flask's own check of TRUSTED_HOSTS


def test_hosts_kept_are_bounded(tmp_path):
    app = make_app(tmp_path)
    for n in range(app.MAX_BOUND * 3):
        environ = _environ(HTTP_HOST=f"host{n}.example")
        ours, theirs, _, _ = _adapters(app, environ)
        assert _plain(ours) == _plain(theirs)
        assert len(app._bound) <= app.MAX_BOUND


def test_routes_and_urls_answer_through_the_adapter(client):
    answer = client.post("/voice", headers={"Host": "ivr.example:8443"})
    assert answer.status_code == 403  # routed to the webhook; unsigned: refused
    assert client.get("/voice/").status_code in (403, 405)  # strict_slashes off
    assert client.get("/nowhere").status_code == 404


def _matched(adapter):
    """What matching the adapter's request gives: the rule and arguments, or
    the exception werkzeug raises (with its redirect URL or allowed methods)."""
    try:
        rule, args = adapter.match(return_rule=True)
        return "match", rule.rule, rule.endpoint, dict(args)
    except Exception as error:
        return (
            type(error).__name__,
            getattr(error, "new_url", None),
            sorted(getattr(error, "valid_methods", None) or []),
        )


MATCHES = [
    _environ("/voice"),
    _environ("/voice/"),  # strict_slashes off: the same rule
    _environ("/voice/input", QUERY_STRING="s=abc"),
    _environ("/voice/input/"),  # a redirect to /voice/input
    _environ("/recordings/welcome.wav", REQUEST_METHOD="GET"),
    _environ("/recordings/a/b.wav", REQUEST_METHOD="GET"),
    _environ("/recordings/welcome.wav"),  # POST: 405
    _environ("/console", REQUEST_METHOD="GET"),  # a redirect to /console/
    _environ("/console/menu/shop", REQUEST_METHOD="GET"),
    _environ("/nowhere"),  # 404
    _environ("/voice", HTTP_HOST="other.example:8080"),
    _environ("/voice", REQUEST_METHOD="OPTIONS"),
]


def test_matches_are_werkzeugs_first_and_again(tmp_path):
    app = make_app(tmp_path, CONSOLE=True)
    for _ in range(3):  # matched, then remembered
        for environ in MATCHES:
            ours, theirs, _, _ = _adapters(app, environ)
            assert _matched(ours) == _matched(theirs), environ["PATH_INFO"]
    kept = [bound.match for bound in app._bound.values() if bound.match is not None]
    assert 0 < len(kept) < len(MATCHES)  # redirects and errors not kept


def test_a_remembered_match_hands_out_its_own_arguments(tmp_path):
    app = make_app(tmp_path, CONSOLE=True)
    environ = _environ("/console/menu/shop", REQUEST_METHOD="GET")
    first = _adapters(app, environ)[0].match()
    first[1]["menu_id"] = "changed"  # a url_value_preprocessor may change them
    assert _adapters(app, environ)[0].match() == ("console.menu_page",
                                                  {"menu_id": "shop"})  # fmt: skip


def test_rules_added_later_are_matched(tmp_path):
    from werkzeug.routing import Rule

    app = make_app(tmp_path)
    environ = _environ("/recordings/new", REQUEST_METHOD="GET")
    assert _adapters(app, environ)[0].match()[0] == "pages.recording"
    app.url_map.add(Rule("/recordings/new", endpoint="new"))
    assert _adapters(app, environ)[0].match()[0] == "new"


def test_matches_kept_are_bounded(tmp_path):
    app = make_app(tmp_path)
    for n in range(600):
        environ = _environ(f"/recordings/{n}.wav", REQUEST_METHOD="GET")
        assert _adapters(app, environ)[0].match()[1] == {"name": f"{n}.wav"}
        assert len(app._bound) <= app.MAX_BOUND


def test_each_request_to_a_place_has_its_own_query(tmp_path):
    app = make_app(tmp_path)
    for query in ("s=one", "s=two&menu=shop", None):
        environ = _environ("/voice/input", QUERY_STRING=query)
        ours, theirs, _, _ = _adapters(app, environ)
        assert _plain(ours) == _plain(theirs)
    assert len(app._bound) == 1
