"""Commands import what they use: checked by the modules loaded, not by time."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("numpy", "numba", "matplotlib", "flask", "sqlalchemy")


def loaded_after(*args: str) -> set[str]:
    """Which of HEAVY a fresh interpreter has imported after ``ivr ARGS``."""
    code = (
        "import json, sys\n"
        "from ivr.cli import main\n"
        "try:\n"
        f"    main({list(args)!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
        check=True,
    )  # fmt: skip
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_checking_menus_and_their_traffic_files_imports_no_numpy_nor_web():
    assert (ROOT / "menus" / "shop.traffic.yaml").exists()
    assert loaded_after("check", "menus") == set()


# A Wednesday in the shop's opening hours, in Shanghai or UTC alike: closed,
# "0" leads to voicemail, not a queue (the test failed after 22:00 Shanghai).
OPEN = ("--at", "2026-11-25 12:00")


def test_a_call_imports_numpy_only_when_it_reaches_a_queue():
    menu = "menus/shop.yaml"
    assert "numpy" not in loaded_after("call", menu, *OPEN, "--press", "1",
                                       "--press", "9")  # fmt: skip
    assert "numpy" in loaded_after("call", menu, *OPEN, "--press", "0")


def test_only_the_simulator_imports_numba():
    assert "numba" not in loaded_after("call", "menus/shop.yaml", *OPEN, "--press", "0")
    assert "numba" not in loaded_after("erlang", "--calls-per-hour", "100",
                                       "--handle-time", "300", "--agents", "10")  # fmt: skip
