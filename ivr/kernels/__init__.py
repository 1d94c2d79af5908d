"""Compiled kernels of the simulator: the same arithmetic as the Python reference.

The queue simulator's inner loops (a heap of agents coming free, the event loop
of priorities and callbacks, the live wait estimate it consults for callback
offers, the positions holding callers hear) run here, compiled by Numba into
machine code on first use and kept in its on-disk cache (``__pycache__`` beside
these files), so later runs only load them. Each kernel mirrors a pure-Python
function that stays the reference (``ivr.simulation._fcfs`` and ``_events``,
``ivr.estimate.Estimator``, ``ivr.announcements._positions``): the tests feed
both the same draws and compare the records value for value.

Importing this package imports Numba (about half a second), so only the
simulator does, and only when it runs.
"""

from __future__ import annotations

from numba import njit

__all__ = ["jit"]


def jit(function):
    """Compile ``function`` in nopython mode, cached on disk.

    No ``fastmath``: the kernels must round exactly as CPython does, so LLVM
    may neither reorder sums nor fuse a multiply and an add.
    """
    return njit(cache=True, nogil=True)(function)
