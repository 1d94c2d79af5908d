"""`ivr graph` as a designer runs it, and the SVG a page can light up."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import MENUS, RECORDINGS

from ivr.cli import main
from ivr.graph import INSTALL_HINT, describe_menu, render, safe_name, to_dot
from ivr.graph.dot import edge_ids
from ivr.loader import load_menu

ROOT = Path(__file__).resolve().parent.parent
HOTLINE = MENUS / "hotline.yaml"
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def dot():
    """Graphviz's dot: CI installs it (.ci/run); elsewhere its tests skip."""
    if shutil.which("dot") is None:
        if os.environ.get("CI"):
            pytest.fail("Graphviz's 'dot' is missing: .ci/run must install graphviz")
        pytest.skip("Graphviz's 'dot' is not installed: apt-get install graphviz")


def run(*args: str):
    return CliRunner().invoke(main, ["graph", *args])


def svg_groups(svg: bytes) -> dict[str, set[str]]:
    """The SVG's <g> elements: id -> classes."""
    root = ET.fromstring(svg)
    return {
        g.get("id"): set(g.get("class", "").split())
        for g in root.iter(f"{SVG}g")
        if g.get("id")
    }


def test_the_svg_gives_every_node_and_arrow_a_stable_id_and_classes(dot, hotline):
    diagram = describe_menu(hotline)
    groups = svg_groups(render(diagram, "svg"))
    for box in diagram.boxes:
        assert groups[f"node-{safe_name(box.id)}"] == {
            "node",
            "ivr-node",
            f"kind-{box.kind}",
            f"path-{box.path}",
        }
    for arrow, edge_id in edge_ids(diagram.arrows):
        assert f"edge-{arrow.style}" in groups[edge_id]
    nodes = {i for i, classes in groups.items() if "ivr-node" in classes}
    assert len(nodes) == len(hotline.nodes) == 14
    edges = {i for i, classes in groups.items() if "ivr-edge" in classes}
    assert len(edges) == len(diagram.arrows) == 28


def test_the_svg_is_self_contained_and_keeps_the_chinese_text(dot, hotline):
    svg = render(describe_menu(hotline), "svg")
    assert b"<!DOCTYPE" not in svg  # it named a DTD on the web
    root = ET.fromstring(svg)
    for element in root.iter():
        assert element.tag not in (f"{SVG}image", f"{SVG}style", f"{SVG}script")
        for name, value in element.attrib.items():
            assert not name.endswith("href"), (element.tag, name, value)
            assert "url(" not in value and "http" not in value, (name, value)
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "商城客服热线 (hotline)" in texts
    assert "欢迎致电商城客服。我们不会索要" in texts


def test_a_cjk_font_is_installed_so_chinese_menus_render(dot):
    fonts = subprocess.run(
        ["fc-list", ":lang=zh", "family"], capture_output=True, text=True
    ).stdout
    assert fonts.strip(), "no font covers Chinese: apt-get install fonts-noto-cjk"


def test_a_node_with_a_problem_is_marked_in_the_svg(dot, hotline):
    problem = f"{hotline.path}:53: next goes to unknown node 'by'"
    groups = svg_groups(render(describe_menu(hotline, [problem]), "svg"))
    assert "has-problem" in groups["node-order_status"]
    assert "has-problem" not in groups["node-order_lookup"]


def test_graph_writes_svg_png_dot_and_mermaid_files(dot, tmp_path):
    for name in ("shop.svg", "shop.png", "shop.dot", "shop.mmd"):
        out = tmp_path / name
        result = run(str(HOTLINE), "-o", str(out), "--recordings", str(RECORDINGS))
        assert result.exit_code == 0, result.output
        assert result.stderr == (
            f"wrote {out}: 14 nodes (4 on the human path), 28 arrows\n"
        )
    assert (tmp_path / "shop.svg").read_bytes().startswith(b"<?xml")
    png = (tmp_path / "shop.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert width > 500 and height > 500
    assert (tmp_path / "shop.dot").read_text().startswith('digraph "hotline" {\n')
    mermaid = (tmp_path / "shop.mmd").read_text()
    assert mermaid.startswith("%% 商城客服热线 (hotline)\nflowchart TB\n")


def test_the_shipped_shop_menu_draws(dot, tmp_path):
    out = tmp_path / "shop.svg"
    result = run(str(ROOT / "menus" / "shop.yaml"), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert (
        result.stderr == f"wrote {out}: 54 nodes (16 on the human path), 146 arrows\n"
    )
    groups = svg_groups(out.read_bytes())
    assert sum("ivr-node" in classes for classes in groups.values()) == 54


def test_without_output_dot_goes_to_stdout_and_dash_writes_pictures(dot):
    result = run(str(HOTLINE), "--recordings", str(RECORDINGS))
    assert result.exit_code == 0
    assert result.stdout == to_dot(describe_menu(load_menu(HOTLINE, RECORDINGS)))
    result = run(
        str(HOTLINE), "--recordings", str(RECORDINGS), "-o", "-", "--format=svg"
    )
    assert result.exit_code == 0
    assert result.stdout_bytes.startswith(b"<?xml")
    assert result.stderr == ""


def test_a_picture_needs_an_output_and_a_format_it_can_tell():
    result = run(str(HOTLINE), "--format", "png")
    assert result.exit_code == 2
    assert (
        "Error: png is a picture: give -o FILE (or -o - to write it to standard output)"
        in result.stderr
    )
    result = run(str(HOTLINE), "-o", "menu.txt")
    assert result.exit_code == 2
    assert (
        "Error: cannot tell the format from 'menu.txt': name it .svg, .png, .dot or "
        ".mmd, or give --format" in result.stderr
    )


def test_a_broken_menu_prints_its_problems_and_draws_nothing(tmp_path):
    menu = tmp_path / "bad.yaml"
    menu.write_text("start: a\nnodes:\n  a: {say: Hi, next: b}\n  c: {hangup: Bye}\n")
    out = tmp_path / "bad.svg"
    result = run(str(menu), "-o", str(out), "--recordings", str(tmp_path))
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"{menu}:3: next goes to unknown node 'b'",
        f"{menu}:4: node 'c' is never reached from start 'a'",
        "2 problems in 1 menu file(s): nothing drawn",
    ]
    assert not out.exists()


def test_without_graphviz_pictures_say_how_to_install_it_and_text_still_works(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("PATH", str(tmp_path))  # no dot on it
    result = run(str(HOTLINE), "-o", str(tmp_path / "x.svg"))
    assert result.exit_code == 1
    assert result.stderr == f"Error: {INSTALL_HINT}\n"
    assert "apt-get install graphviz fonts-noto-cjk" in INSTALL_HINT
    for fmt in ("dot", "mermaid"):
        result = run(str(HOTLINE), "--format", fmt, "--recordings", str(RECORDINGS))
        assert result.exit_code == 0, result.output
        assert result.stdout


def test_node_ids_that_match_the_drawings_own_names_stay_apart(dot, tmp_path):
    menu = tmp_path / "m.yaml"
    menu.write_text(
        "start: call\n"
        "queues: {q: {agents: 1}}\n"
        "nodes:\n"
        "  call: {say: Hi., next: main}\n"
        "  main: {say: 1 or 2., options: {'1': a, '2': b}, on_fail: q}\n"
        "  a: {say: A., options: {'0': q, '9': main}, on_fail: q}\n"
        "  b: {say: B., next: option-1-to-q}\n"
        "  option-1-to-q: {say: Holding., next: q}\n"
        "  q: {queue: q}\n",
        encoding="utf-8",
    )
    loaded = load_menu(menu, tmp_path)
    groups = svg_groups(render(describe_menu(loaded), "svg"))
    nodes = {i for i, classes in groups.items() if "ivr-node" in classes}
    assert nodes == {f"node-{safe_name(n)}" for n in loaded.nodes}
    # The call's own dot, the "back to main" sign and the junction of branch 1's
    # two ways to the queue are there beside them.
    assert {"call", "edge-a--main-sign", "option-1-to-q-dot", "option-1-to-q"} <= set(
        groups
    )
