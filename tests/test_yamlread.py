"""Hostile YAML is refused with a ``file:line`` problem, never a crash or a hang."""

from __future__ import annotations

import copy
import os

import pytest
from conftest import make_app

from ivr import yamlread
from ivr.loader import MenuError, load_menus
from ivr.yamlread import YamlProblem, read_text_file, read_yaml

MENU = """\
start: main
queues:
  people: {agents: 3}
nodes:
  main: {say: Hello., next: agent}
  agent: {queue: people}
"""


def problems_of(tmp_path, text: str) -> list[str]:
    path = tmp_path / "menu.yaml"
    path.write_text(text, encoding="utf-8")
    _, found = load_menus([path], tmp_path)
    return [line.replace(f"{path}:", "menu.yaml:", 1) for line in found]


DEEP = (
    "the file nests more than 50 levels deep (a menu needs about seven); refusing "
    "to read it"
)


@pytest.mark.parametrize(
    ("depth", "message"),
    [
        (51, DEEP),
        (330, DEEP),
        (999, DEEP),
        # libyaml's scanner reads a run of '[' ahead and stops at its own limit.
        (5000, "YAML syntax error: while increasing flow level, exceeded maximum "
         "nesting depth"),
    ],
)  # fmt: skip
def test_deep_flow_nesting_is_refused_on_its_line(tmp_path, depth, message):
    text = MENU + "x: " + "[" * depth + "]" * depth + "\n"
    assert problems_of(tmp_path, text) == [f"menu.yaml:7: {message}"]


def test_deep_block_nesting_is_refused_on_its_line(tmp_path):
    lines = [f"{'  ' * level}k{level}:" for level in range(400)]
    text = MENU + "\n".join(lines) + " end\n"
    assert problems_of(tmp_path, text) == [f"menu.yaml:57: {DEEP}"]


def test_ivr_serve_refuses_deep_nesting_with_the_problem(tmp_path):
    menus = tmp_path / "menus"
    menus.mkdir()
    (menus / "m.yaml").write_text(MENU + "x: " + "[" * 600 + "]" * 600 + "\n")
    with pytest.raises(MenuError) as caught:
        make_app(tmp_path, MENUS=str(menus), RECORDINGS=str(tmp_path))
    assert caught.value.problems == [
        f"{menus / 'm.yaml'}:7: the file nests more than 50 levels deep (a menu "
        "needs about seven); refusing to read it",
        f"{menus / 'm.yaml'}: has problems and never loaded: not served",
    ]


def test_nesting_through_aliases_is_refused_too(tmp_path):
    lines = ["a0: &a0 [[[[[[[[[[x]]]]]]]]]]"]
    lines += [f"a{i}: &a{i} [[[[[[[[[[*a{i - 1}]]]]]]]]]]" for i in range(1, 8)]
    assert problems_of(tmp_path, MENU + "\n".join(lines) + "\n") == [
        "menu.yaml:11: the file nests more than 50 levels deep (a menu needs about "
        "seven); refusing to read it"
    ]


def test_an_oversized_file_is_refused_after_reading_only_the_limit(tmp_path):
    path = tmp_path / "huge.yaml"
    with path.open("wb") as handle:
        handle.write(MENU.encode())
        handle.truncate(1 << 40)  # a sparse terabyte: reading it whole would fail
    with pytest.raises(YamlProblem) as caught:
        read_text_file(path)
    assert (caught.value.line, caught.value.message) == (
        1,
        "the file is larger than 16 MiB; refusing to read it",
    )


def test_a_device_a_pipe_and_a_folder_are_refused_without_reading(tmp_path):
    pipe = tmp_path / "pipe.yaml"
    os.mkfifo(pipe)  # opening it for reading would wait for a writer for ever
    for path, what in [
        ("/dev/zero", "not a regular file"),
        (pipe, "not a regular file"),
        (tmp_path, "a folder"),
    ]:
        with pytest.raises(YamlProblem) as caught:
            read_text_file(path)
        assert caught.value.message == f"cannot read the file: it is {what}"


def test_text_that_is_not_utf8_names_its_line(tmp_path):
    path = tmp_path / "menu.yaml"
    path.write_bytes(MENU.encode() + b"x: caf\xe9\n")
    _, found = load_menus([path], tmp_path)
    assert found == [
        f"{path}:7: the file is not UTF-8 text (byte {len(MENU) + 7}): save it as UTF-8"
    ]


def test_an_alias_bomb_is_refused_before_it_expands(tmp_path):
    lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x","x"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    assert problems_of(tmp_path, "\n".join(lines) + "\n" + MENU) == [
        "menu.yaml:5: the file expands to more than 100,000 values through aliases "
        "(aliases nested inside aliases?); refusing to read it"
    ]


def test_a_file_with_too_many_values_is_refused(monkeypatch):
    monkeypatch.setattr(yamlread, "MAX_VALUES", 1000)
    text = "start: main\nx:\n" + "".join(f"  - {i}\n" for i in range(2000))
    with pytest.raises(YamlProblem) as caught:
        read_yaml(text)
    assert (caught.value.line, caught.value.message) == (
        998,
        "the file holds more than 1,000 values (a 50,000-node menu holds under a "
        "million); refusing to read it",
    )


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("a: &x 1\nb: &x 2\n", 2, "YAML syntax error: found duplicate anchor 'x'"),
        ("a: *nothing\n", 1, "YAML syntax error: found undefined alias 'nothing'"),
        ("a: &x [1, *x]\n", 1, "alias '*x' refers to the value it is inside"),
        ("? [a, b]\n: 1\n", 1, "a key must be a plain value, not a list or map"),
        (
            "a: 1\n---\nb: 2\n",
            2,
            "a menu file holds one YAML document: remove the '---' and what follows, "
            "or split the file",
        ),
    ],
)
def test_yaml_that_stops_reading(text, line, message):
    with pytest.raises(YamlProblem) as caught:
        read_yaml(text)
    assert (caught.value.line, caught.value.message) == (line, message)


def test_values_and_lines_read_as_before():
    value, found = read_yaml(
        "a: 1\nb: [yes, '01', 2.5, null, 2027-02-06]\nc: &c {d: x}\ne: *c\n01: one\n"
    )
    assert found == []
    assert value == {
        "a": 1,
        "b": [True, "01", 2.5, None, __import__("datetime").date(2027, 2, 6)],
        "c": {"d": "x"},
        "e": {"d": "x"},
        1: "one",
    }
    assert value.lines == {"a": 1, "b": 2, "c": 3, "e": 4, 1: 5}
    assert value["b"].lines == [2, 2, 2, 2, 2]
    assert value.raw_keys == {1: "01"}
    assert value["e"] is not value["c"]
    copied = copy.deepcopy(value)
    assert copied == value and copied.lines == value.lines
    assert copied.raw_keys == {1: "01"} and copied["b"].lines == [2, 2, 2, 2, 2]
