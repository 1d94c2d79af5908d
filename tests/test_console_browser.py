"""The console in a real browser: Debian's Chromium, driven by Playwright, against
a real `ivr serve`. A designer calls a menu for an order's status, reaches the
queue and has an agent take the call, edits the menu file and sees it follow,
breaks it and sees the problem while calls keep working; the shop menus are
called as their own scenario file says; the password lets in by Basic
authentication and by the login form.

Playwright's own browser download is never used (``executable_path``). The
tests skip when Chromium or Playwright is missing, except in CI (``CI`` set),
where ``.ci/run`` installs both and a missing one fails.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
from pathlib import Path

import pytest

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # the browser fixture says so (a failure in CI)
    expect = sync_playwright = None

from ivr.testing.scenario_file import load_scenarios
from tests.conftest import serving
from tests.test_console import AGENT, CONSOLE_MENUS, edit

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "browser-console-token"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WAIT_MS = 60_000  # a loaded CI machine: generous, never a measure of speed
if expect is not None:
    expect.set_options(timeout=WAIT_MS)  # expectations wait as long as actions


def _missing(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing: .ci/run must install it")
    pytest.skip(f"{what} is not installed")


@pytest.fixture(scope="module")
def browser():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        _missing("Debian's chromium (apt-get install chromium)")
    if sync_playwright is None:
        _missing("the playwright package (pip install -e '.[dev]')")
    with sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=chromium, args=ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    """The console's test line, served from a copy the tests may edit."""
    folder = tmp_path_factory.mktemp("desk")
    shutil.copytree(CONSOLE_MENUS, folder / "menus")
    with serving(folder, TOKEN, menus=folder / "menus") as base:
        yield base, folder / "menus" / "desk.yaml"


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    context.close()
    assert errors == []  # no script error on any page


def open_menu(page, base: str, menu: str = "desk") -> None:
    page.goto(f"{base}/console/menu/{menu}")
    page.wait_for_selector("#graph-pane svg")


def turn(page, number: int) -> None:
    """Wait until the page shows the call after its ``number``-th move."""
    page.wait_for_selector(f"#console[data-state=ready][data-turn='{number}']")


def call(page, at: str = "2026-11-25T10:00", caller: str | None = None) -> None:
    page.fill("input[name=at]", at)
    if caller:
        page.fill("input[name=caller]", caller)
    page.click("button.call")
    turn(page, 1)


def keys(page, pressed: str, number: int) -> None:
    """Press keys on the keypad as a person would: a one-key prompt takes the
    first key, the finish key (#) sends what was typed, else Send does."""
    pad = page.query_selector("#controls .keypad")
    single = pad.get_attribute("data-num-digits") == "1"
    finish = pad.get_attribute("data-finish")
    if single:
        page.click(f"#controls .key[data-key='{pressed[0]}']")
    else:
        for key in pressed:
            page.click(f"#controls .key[data-key='{key}']")
        if not (finish and pressed.endswith(finish)):
            page.click("#controls [data-send-keys]")
    turn(page, number)


def transcript(page) -> str:
    return page.text_content("#transcript") or ""


def lit(page) -> str | None:
    return page.eval_on_selector(
        "#graph-pane svg", "svg => svg.querySelector('.ivr-node.lit')?.id || null"
    )


def test_a_self_service_call_hears_an_orders_status(page, desk):
    base, _ = desk
    open_menu(page, base)
    call(page)
    assert lit(page) == "node-main"
    assert "For an order press 1. For a person press 0." in transcript(page)
    keys(page, "1", 2)
    assert lit(page) == "node-order_ask"
    keys(page, "123456#", 3)
    said = transcript(page)
    assert "presses 123456#" in said
    assert "Order 123456 has shipped." in said
    assert page.inner_text("#controls .ended") == "Call ended: self_service"
    visited = page.eval_on_selector_all(
        "#graph-pane svg .ivr-node.visited", "nodes => nodes.map(n => n.id)"
    )
    assert {"node-main", "node-order_ask", "node-order_status"} <= set(visited)
    page.click("#detail summary")  # the detail, on demand
    assert '"outcome": "self_service"' in page.inner_text("#detail pre")


def test_a_call_reaches_the_queue_and_an_agent_takes_it(page, desk):
    base, _ = desk
    open_menu(page, base)
    call(page)
    keys(page, "0", 2)
    assert lit(page) == "node-agent"
    assert "hold round 1, position 1" in transcript(page)
    assert page.inner_text("#controls .status").startswith(
        "Holding in queue desk/orders"
    )
    page.click("#controls [data-move=hold]")
    turn(page, 3)
    assert "hold round 2, position 1" in transcript(page)
    assert page.input_value("#controls select[name=agent]") == AGENT
    page.click("#controls [data-agent]")
    turn(page, 4)
    said = transcript(page)
    assert re.search(
        r"agent Amy\s+Caller, Orders, waited \d minutes?\. Connecting", said
    )
    assert "Connecting you to an agent now." in said
    assert page.inner_text("#controls .ended") == "Call ended: queue (queue: bridged)"


def test_an_edit_appears_on_the_page_and_the_next_call_hears_it(page, desk):
    base, path = desk
    kept = path.read_text(encoding="utf-8")
    open_menu(page, base)
    try:
        edit(path, "For a person press 0.", "For a human press 0.")
        expect(page.locator("#graph-pane svg")).to_contain_text("human press 0.")
        call(page)
        assert "For an order press 1. For a human press 0." in transcript(page)
    finally:
        path.write_text(kept, encoding="utf-8")


def test_a_broken_edit_shows_its_problem_while_calls_keep_working(page, desk):
    base, path = desk
    kept = path.read_text(encoding="utf-8")
    open_menu(page, base)
    try:
        edit(path, '"1": {goto: order_ask,', '"1": {goto: order_aks,')
        # As ivr check says it, relative to the server's working folder.
        expect(page.locator("#problems")).to_have_text(
            "menus/desk.yaml:25: option '1' goes to unknown node 'order_aks' "
            "(did you mean 'order_ask'?)"
        )
        expect(page.locator(".graph .file")).to_contain_text(
            "calls hear its last good version"
        )
        call(page)
        keys(page, "1", 2)  # the last good menu: 1 still asks for the order
        assert "Enter your order number, then press hash." in transcript(page)
    finally:
        path.write_text(kept, encoding="utf-8")


# -- the shop menus, as their scenario file says they behave ----------------------


def _scenario(want) -> object:
    shop = ROOT / "menus" / "shop.yaml"
    for scenario in load_scenarios(ROOT / "menus" / "shop.calls.yaml"):
        alone = not (scenario.agents or scenario.callers or scenario.phones)
        plain = scenario.agent_after == 2 and scenario.ahead == 2
        if alone and plain and want(scenario):
            return shop, scenario
    pytest.fail("menus/shop.calls.yaml has no scenario of this kind any more")


def _play(page, scenario) -> None:
    """The scenario's inputs on the console's phone."""
    at = (scenario.at or "2026-11-25 10:00").replace(" ", "T")
    call(page, at=at, caller=scenario.caller)
    for number, made in enumerate(scenario.inputs, start=2):
        kind = type(made).__name__
        if kind == "Press":
            keys(page, made.keys, number)
        elif kind == "Speak":
            page.fill("#controls input[name=words]", made.text)
            page.click("#controls .speech button")
            turn(page, number)
        else:
            page.click("#controls [data-move=silence]")
            turn(page, number)


def _hears_in_order(text: str, pieces) -> None:
    at = 0
    for piece in pieces:
        found = text.find(piece, at)
        assert found >= 0, f"{piece!r} not heard (after position {at})"
        at = found


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shop")
    with serving(folder, TOKEN, menus=ROOT / "menus") as base:
        yield base


def test_the_shop_menu_tells_an_order_status_as_its_scenarios_say(page, shop):
    _, scenario = _scenario(lambda s: "order_id" in s.expect.get("variables", {}))
    open_menu(page, shop, "shop")
    _play(page, scenario)
    _hears_in_order(transcript(page), scenario.expect.get("hears", []))
    variables = scenario.expect["variables"]
    detail = page.text_content("#detail pre")
    assert f'"order_id": "{variables["order_id"]}"' in detail
    assert lit(page) is not None


def test_the_shop_menu_queue_is_taken_by_an_agent_of_its_roster(page, shop):
    _, scenario = _scenario(lambda s: s.expect.get("outcome") == "queue")
    open_menu(page, shop, "shop")
    _play(page, scenario)
    _hears_in_order(transcript(page), scenario.expect.get("hears", []))
    assert page.query_selector("#controls [data-agent]") is not None
    assert "kind-queue" in page.get_attribute(f"#{lit(page)}", "class")
    page.click("#controls [data-agent]")
    turn(page, len(scenario.inputs) + 2)
    assert page.inner_text("#controls .ended") == "Call ended: queue (queue: bridged)"


# -- the password ------------------------------------------------------------------


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("guarded")
    shutil.copytree(CONSOLE_MENUS, folder / "menus")
    env = {"IVR_CONSOLE_PASSWORD": "correct horse"}
    with serving(folder, TOKEN, menus=folder / "menus", env=env) as base:
        yield base


def test_the_password_lets_in_by_basic_authentication(browser, guarded):
    # Sent with every request, as curl -u or a proxy in front would send it
    # (a browser's page without it is shown the login form: the next test).
    token = base64.b64encode(b"designer:correct horse").decode()
    context = browser.new_context(
        extra_http_headers={"Authorization": f"Basic {token}"}
    )
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    try:
        page.goto(guarded + "/console/")
        assert page.inner_text("#menu-desk a") == "desk"
        open_menu(page, guarded)
        call(page)
        assert "For an order press 1." in transcript(page)
    finally:
        context.close()


def test_the_password_lets_in_by_the_login_form(page, guarded):
    page.goto(guarded + "/console/menu/desk")
    assert page.url == guarded + "/console/login?next=/console/menu/desk?"
    page.fill("input[name=password]", "not it")
    page.click("form button[type=submit]")
    # The form posts and a new page loads: wait for it, never for a time.
    expect(page.locator("main")).to_contain_text("That is not the password.")
    page.fill("input[name=password]", "correct horse")
    page.click("form button[type=submit]")
    page.wait_for_selector("#graph-pane svg")
    call(page)
    assert "For an order press 1." in transcript(page)
