"""``ivr serve``: answer Twilio's voice webhooks on a production WSGI server.

Gunicorn runs the Flask app in several worker processes. Menus are loaded once in
the master before the workers fork, and the workers share the checked menus. Calls
keep no state in a worker, so any worker can take any webhook of any call.

``SIGHUP`` to the master reloads the menus there (a file with problems keeps its
last good version, and its problems are logged), then gunicorn replaces the
workers with new ones forked from it and lets the old ones finish their requests.
With the console on, each worker also follows the menu files by itself
(``ivr.console.follow``): an edit is served within a second or two.
"""

from __future__ import annotations

import gc
import ipaddress
import os
from collections.abc import Callable
from pathlib import Path

import click

from ivr.cli import recordings_option
from ivr.loader import MenuError


def _reload_menus(app) -> Callable[[object], None]:
    """Gunicorn's ``on_reload`` hook: reload the menus before new workers fork."""

    def on_reload(arbiter) -> None:
        # Through the console's follower when it runs, so that the workers
        # forked next take these files as already loaded.
        follower = app.extensions.get("ivr.follower")
        problems = (follower or app.extensions["ivr"]).reload()
        for problem in problems:
            arbiter.log.warning("%s", problem)
        served = len(app.extensions["ivr"].menus)
        broken = sum(": has problems" in problem for problem in problems)
        if broken:
            arbiter.log.warning(
                "menus reloaded: %d served, %d file(s) with problems", served, broken
            )
        else:
            arbiter.log.info("menus reloaded: %d served", served)

    return on_reload


def _share_error_log(arbiter) -> None:
    """Gunicorn's ``when_ready`` hook: the app's own log lines (``ivr.*``: the
    store in an outage, a refused call state, a menu reloaded) go where
    gunicorn's do, with its time stamps, in the master and every worker forked
    after this."""
    import logging

    ours = logging.getLogger("ivr")
    ours.handlers = list(arbiter.log.error_log.handlers)
    ours.setLevel(logging.INFO)
    ours.propagate = False


def _gunicorn_app(app, options: dict):
    from gunicorn.app.base import BaseApplication

    class Server(BaseApplication):
        def load_config(self) -> None:
            for key, value in options.items():
                self.cfg.set(key, value)
            # Gunicorn 25.1+ opens a control socket shared by every gunicorn of
            # the user ($HOME/.gunicorn/gunicorn.ctl) that can reload or stop
            # workers; ivr serve has signals for that.
            if "control_socket_disable" in self.cfg.settings:
                self.cfg.set("control_socket_disable", True)

        def load(self):
            return app

    return Server()


def _metrics_folder() -> None:
    """Each worker counts its own webhooks; ``/metrics`` adds up the files they
    keep in ``PROMETHEUS_MULTIPROC_DIR`` (``instance/metrics/``, emptied at start).
    Set before prometheus_client is imported, which reads it then."""
    folder = Path(
        os.environ.get("PROMETHEUS_MULTIPROC_DIR") or Path("instance", "metrics")
    ).absolute()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink(missing_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)


def _follow_files(app) -> Callable[[object, object], None]:
    """Gunicorn's ``post_fork`` hook: each worker starts its store writer (and
    its filer) and follows the menu files on a thread of its own (threads do not
    survive the fork, so not in the master)."""

    def post_fork(server, worker) -> None:
        # The filer a worker starts serves every worker until the server stops.
        app.extensions["ivr"].store.writer.start(lives_with=os.getppid())
        follower = app.extensions.get("ivr.follower")
        if follower is not None:
            follower.start()

    return post_fork


def _loopback(host: str) -> bool:
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _worker_gone(server, worker) -> None:
    """A worker exited: its live gauges (writes pending) no longer count."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


@click.command("serve")
@click.option(
    "--menus",
    default="menus",
    show_default=True,
    type=click.Path(),
    help="A menus folder or one menu file.",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option(
    "--workers",
    default=2,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Worker processes.",
)
@click.option(
    "--threads",
    default=4,
    show_default=True,
    type=click.IntRange(1, 256),
    help="Threads per worker (a slow data source then blocks one thread).",
)
@click.option(
    "--public-url",
    default=None,
    envvar="IVR_PUBLIC_URL",
    help="The https address Twilio reaches this server at (behind a proxy "
    "or tunnel); used for signatures and recording URLs.",
)
@recordings_option
@click.option("--access-log/--no-access-log", default=True, show_default=True)
@click.option(
    "--console/--no-console",
    default=None,
    help="The designer's console at /console, following the menu files "
    "[default: on for a loopback --host, or with IVR_CONSOLE_PASSWORD set].",
)
def command(menus: str, host: str, port: int, workers: int, threads: int,
            public_url: str | None, recordings: str | None,
            access_log: bool, console: bool | None) -> None:  # fmt: skip
    """Serve the voice webhooks for MENUS (default: menus/) with gunicorn.

    Set TWILIO_AUTH_TOKEN to check Twilio's signature on every request.
    """
    _metrics_folder()
    from ivr.web import ConfigError, create_app

    if console is None:
        console = _loopback(host) or bool(os.environ.get("IVR_CONSOLE_PASSWORD"))
    # The workers append their writes to journals; a filer process files them.
    config = {"MENUS": menus, "CONSOLE": console, "STORE_FILER": True}
    if recordings:
        config["RECORDINGS"] = recordings
    if public_url:
        config["PUBLIC_URL"] = public_url
    try:
        app = create_app(config)
    except MenuError as error:
        for problem in error.problems:
            click.echo(problem, err=True)
        raise SystemExit(1) from None
    except ConfigError as error:
        click.echo(f"ivr serve: {error}", err=True)
        raise SystemExit(1) from None
    runtime = app.extensions["ivr"]
    for problem in runtime.menu_set.problems:
        click.echo(problem, err=True)
    base = (public_url or f"http://{host}:{port}").rstrip("/")
    click.echo(f"ivr: {len(runtime.menus)} menu(s) on {base}")
    for menu in runtime.menus.values():
        numbers = ", ".join(menu.numbers) or "no numbers"
        default = " (default)" if menu is runtime.default else ""
        click.echo(f"  {menu.id}{default}: {menu.title} [{numbers}]")
    click.echo(f"Give Twilio: A call comes in -> {base}/voice (HTTP POST)")
    click.echo(f"             Call status changes -> {base}/voice/status")
    if not runtime.token:
        click.echo("Note: TWILIO_AUTH_TOKEN is not set, so signatures are not checked.")
    if console:
        guard = "password" if app.config["CONSOLE_PASSWORD"] else "this machine only"
        click.echo(f"Console: http://{host}:{port}/console ({guard})")
    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        # Threaded workers even with one thread: they keep connections alive
        # between a call's webhooks and stand slow clients without a proxy in
        # front (gunicorn's sync worker closes each connection and expects one).
        "worker_class": "gthread",
        "accesslog": "-" if access_log else None,
        "timeout": 30,
        "graceful_timeout": 10,
        "child_exit": _worker_gone,
        "on_reload": _reload_menus(app),
        "when_ready": _share_error_log,
        "post_fork": _follow_files(app),
    }
    # Everything loaded so far (the menus, the libraries) lives as long as the
    # server: out of the collector's sight, a worker's collections look only at
    # what its requests make (about 10,000 instructions a webhook, counted), and
    # the pages the workers share with this process stay shared.
    gc.collect()
    gc.freeze()
    _gunicorn_app(app, options).run()
