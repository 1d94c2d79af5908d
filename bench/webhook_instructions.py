"""Instructions per webhook in process, counted by valgrind's callgrind.

`bench/webhook.py` and `bench/webhook_cpu.py` time requests, and on a shared
2-core machine their figures swing by as much as a change worth making. An
instruction count barely moves from run to run, so it tells whether a change
to the request path made it cheaper. For each kind of request (the bare Flask
route of `bench/bare_app.py`, ivr's `/voice`, the gather posting key 1) this
runs itself under callgrind twice, once making `--requests` of that kind after
the same set-up and once making none, and prints the difference per request.
The app is `webhook_cpu.ivr_app` in the workers' mode of `ivr serve` (the call
log only appended to the journal; filing is the filer's, see
`bench/filing.py`); `--writer` files in a thread of the process instead, as
`flask run` and the tests do. Needs valgrind; takes a minute or two:

    python bench/webhook_instructions.py [--requests 300] [--writer]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
KINDS = ("bare Flask route", "ivr /voice (start)", "ivr gather action")


def _serve(kind: str, count: int, writer: bool) -> None:
    """The measured process: the same set-up whatever ``kind``, then ``count``
    requests of it (``kind`` "none": no requests, the baseline)."""
    sys.path.insert(0, str(HERE))
    import webhook_cpu as cpu

    app = cpu.ivr_app(filer=not writer)
    bare, (peer,), starts, gathers = cpu.requests_of(app)
    for i in range(100):  # warm every path alike, whatever is measured next
        cpu.call(app, *gathers[i % cpu.CALLS])
        cpu.call(app, *starts[i % cpu.CALLS])
        cpu.call(bare, *peer)
    targets = {
        KINDS[0]: (bare, [peer]),
        KINDS[1]: (app, starts),
        KINDS[2]: (app, gathers),
    }
    if kind == "none":
        return
    target, requests = targets[kind]
    for i in range(count):
        cpu.call(target, *requests[i % len(requests)])


def _count(kind: str, count: int, writer: bool) -> int:
    """Instructions of a whole run of ``_serve`` under callgrind."""
    with tempfile.TemporaryDirectory() as folder:
        run = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={folder}/out",
             sys.executable, __file__, "--serve", kind, "--requests", str(count),
             *(["--writer"] if writer else [])],
            capture_output=True, text=True, check=False,
            # The same hashes every run: set and dict orders, and so the count.
            env=dict(os.environ, PYTHONHASHSEED="0"),
        )  # fmt: skip
        found = re.search(r"Collected : (\d+)", run.stderr)
        if run.returncode != 0 or found is None:
            raise SystemExit(f"callgrind failed for {kind}:\n{run.stderr[-2000:]}")
        return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--writer", action="store_true")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        _serve(args.serve, args.requests, args.writer)
        return
    kinds = ("none", *KINDS)

    def count(kind: str) -> int:
        return _count(kind, args.requests, args.writer)

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        counts = dict(zip(kinds, pool.map(count, kinds), strict=True))
    print(
        f"Instructions per request in process (callgrind), {args.requests} "
        f"requests each, call log {'filed in a thread' if args.writer else 'journaled'}"
    )
    bare = (counts[KINDS[0]] - counts["none"]) / args.requests
    for kind in KINDS:
        per = (counts[kind] - counts["none"]) / args.requests
        print(f"  {kind:20s} {per:9,.0f}  ({per / bare:.1f}x)")


if __name__ == "__main__":
    main()
