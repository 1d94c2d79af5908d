"""The queue simulator's loops compiled: first come first served, and events.

``fcfs`` is ``ivr.simulation._fcfs`` over a chunk of callers, its state (the
heap of times the agents on shift come free, how many are on shift, the next
change of the plan) carried from one chunk to the next, so a run of any length
needs the memory of one chunk. ``events`` is ``ivr.simulation._events``
(priorities, callbacks offered when the live estimate passes ``callback_after``,
shifts that rise and drop) and ``positions`` the sweep of
``ivr.announcements._positions``. Heaps here are arrays; they pop in the same
order as ``heapq`` does on the same keys, so the records are the same.
"""

from __future__ import annotations

import math

import numpy as np

from ivr.kernels import jit
from ivr.kernels.estimate import new_tables, wait_s

__all__ = ["events", "fcfs", "fcfs_state", "positions"]

SERVED, ABANDONED, CALLBACK, OVERFLOW, UNSERVED = range(5)  # as ivr.simulation
_END, _CHANGE, _LEAVE = 0, 1, 2


def fcfs_state(
    plan: tuple[tuple[float, int], ...], first_arrival: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The state ``fcfs`` starts from: (free times heap, [size, present, next
    change], change times, change counts), as ``_fcfs`` sets it up."""
    begin = float(min(plan[0][0], first_arrival))
    top = max(count for _, count in plan)
    free = np.full(max(top, 1), begin)
    state = np.array([plan[0][1], plan[0][1], 0], dtype=np.int64)
    when = np.array([start for start, _ in plan[1:]], dtype=np.float64)
    count = np.array([n for _, n in plan[1:]], dtype=np.int64)
    return free, state, when, count


@jit
def _push(heap, size, item):
    """Add ``item`` to the min-heap ``heap[:size]``; returns the new size."""
    pos = size
    while pos > 0:
        parent = (pos - 1) >> 1
        if item < heap[parent]:
            heap[pos] = heap[parent]
            pos = parent
        else:
            break
    heap[pos] = item
    return size + 1


@jit
def _replace(heap, size, item):
    """Pop the smallest of ``heap[:size]`` and add ``item`` in one pass."""
    pos = 0
    child = 1
    last = size - 1
    while child < last:
        child += heap[child + 1] < heap[child]  # the smaller child, branch-free
        if not heap[child] < item:
            heap[pos] = item
            return
        heap[pos] = heap[child]
        pos = child
        child = 2 * pos + 1
    if child == last and heap[child] < item:
        heap[pos] = heap[child]
        pos = child
    heap[pos] = item


@jit
def _pop(heap, size):
    """Drop the smallest of ``heap[:size]``; returns the new size."""
    size -= 1
    if size > 0:
        _replace(heap, size, heap[size])
    return size


@jit
def fcfs(arrivals, service, limit, overflow_first, free, state, when, count,
         wait, outcome):  # fmt: skip
    """One chunk of ``_fcfs``: fills ``wait`` and ``outcome``, updates the state.

    The caller answered at once (the common case) costs one heap replace.
    """
    size, present, step = state[0], state[1], state[2]
    changes = len(when)
    inf = math.inf
    for i in range(len(arrivals)):
        t = arrivals[i]
        while step < changes:
            first = free[0] if size else inf
            if when[step] > (first if first > t else t):
                break
            if count[step] > present:
                for _ in range(count[step] - present):
                    size = _push(free, size, when[step])
            else:
                for _ in range(present - count[step]):
                    size = _pop(free, size)
            present = count[step]
            step += 1
        first = free[0] if size else inf
        if first <= t:
            _replace(free, size, t + service[i])
            wait[i] = 0.0
            outcome[i] = SERVED
            continue
        held = first - t
        lim = limit[i]
        if held > lim or first == inf:
            if lim == inf:  # nobody will ever answer: holding at the end
                outcome[i] = UNSERVED
                wait[i] = math.nan
            else:
                wait[i] = lim
                outcome[i] = OVERFLOW if overflow_first[i] else ABANDONED
            continue
        wait[i] = held
        outcome[i] = SERVED
        _replace(free, size, first + service[i])
    state[0], state[1], state[2] = size, present, step


@jit
def _event_less(time, kind, who, a, b):
    """Whether event ``a`` comes before ``b``: by time, kind, then caller."""
    if time[a] != time[b]:
        return time[a] < time[b]
    if kind[a] != kind[b]:
        return kind[a] < kind[b]
    return who[a] < who[b]


@jit
def _event_push(time, kind, who, size, at, what, whom):
    pos = size
    time[pos], kind[pos], who[pos] = at, what, whom
    while pos > 0:
        parent = (pos - 1) >> 1
        if _event_less(time, kind, who, pos, parent):
            time[pos], time[parent] = time[parent], time[pos]
            kind[pos], kind[parent] = kind[parent], kind[pos]
            who[pos], who[parent] = who[parent], who[pos]
            pos = parent
        else:
            break
    return size + 1


@jit
def _event_pop(time, kind, who, size):
    """Remove the first event (read it from index 0 before); new size."""
    size -= 1
    time[0], kind[0], who[0] = time[size], kind[size], who[size]
    pos = 0
    while True:
        child = 2 * pos + 1
        if child >= size:
            break
        if child + 1 < size and _event_less(time, kind, who, child + 1, child):
            child += 1
        if not _event_less(time, kind, who, child, pos):
            break
        time[pos], time[child] = time[child], time[pos]
        kind[pos], kind[child] = kind[child], kind[pos]
        who[pos], who[child] = who[child], who[pos]
        pos = child
    return size


@jit
def _ahead(level, arrivals, a, b):
    """Whether holding caller ``a`` is served before ``b``: higher priority
    level first, then the earlier arrival, then the lower index."""
    if level[a] != level[b]:
        return level[a] > level[b]
    if arrivals[a] != arrivals[b]:
        return arrivals[a] < arrivals[b]
    return a < b


@jit
def _hold_push(heap, size, level, arrivals, caller):
    pos = size
    heap[pos] = caller
    while pos > 0:
        parent = (pos - 1) >> 1
        if _ahead(level, arrivals, heap[pos], heap[parent]):
            heap[pos], heap[parent] = heap[parent], heap[pos]
            pos = parent
        else:
            break
    return size + 1


@jit
def _hold_pop(heap, size, level, arrivals):
    """Remove the first caller (read it from index 0 before); new size."""
    size -= 1
    heap[0] = heap[size]
    pos = 0
    while True:
        child = 2 * pos + 1
        if child >= size:
            break
        if child + 1 < size and _ahead(level, arrivals, heap[child + 1], heap[child]):
            child += 1
        if not _ahead(level, arrivals, heap[child], heap[pos]):
            break
        heap[pos], heap[child] = heap[child], heap[pos]
        pos = child
    return size


@jit
def events(arrivals, service, limit, overflow_first, level, levels, starts, counts,
           offer, est, after, declines):  # fmt: skip
    """``_events``: returns (wait, start, outcome).

    ``level`` is each caller's priority as a rank (0 the lowest of ``levels``);
    with ``offer``, a caller who would join at a position whose estimate
    (``est``, see ``ivr.kernels.estimate``) is longer than ``after`` seconds
    takes a callback, unless ``declines`` (one flag a caller) says they turn
    it down and hold.
    """
    n = len(arrivals)
    wait = np.full(n, np.nan)
    start = np.full(n, np.nan)
    outcome = np.full(n, UNSERVED, dtype=np.int8)
    holding = np.zeros(n, dtype=np.bool_)
    room = 2 * n + len(starts) + 1
    ev_time = np.empty(room)
    ev_kind = np.empty(room, dtype=np.int8)
    ev_who = np.empty(room, dtype=np.int64)
    events_size = 0
    for step in range(1, len(starts)):
        events_size = _event_push(
            ev_time, ev_kind, ev_who, events_size, starts[step], _CHANGE, step
        )
    present = target = counts[0]
    idle = present
    hold = np.empty(n, dtype=np.int64)
    hold_size = 0
    callbacks = np.empty(n, dtype=np.int64)
    cb_head = cb_tail = 0
    queued = 0
    by_level = np.zeros(levels, dtype=np.int64)
    tables = new_tables(est)
    i = 0
    while i < n or events_size:
        if i < n and (not events_size or arrivals[i] < ev_time[0]):
            now = arrivals[i]
            if idle > 0 and not queued:
                wait[i] = 0.0
                start[i] = now
                outcome[i] = SERVED
                idle -= 1
                events_size = _event_push(
                    ev_time, ev_kind, ev_who, events_size, now + service[i], _END, i
                )
            elif (
                offer
                and not declines[i]
                and wait_s(est, tables, float(by_level[level[i] :].sum() + 1), now)
                > after
            ):
                wait[i] = 0.0
                outcome[i] = CALLBACK
                callbacks[cb_tail] = i
                cb_tail += 1
            else:
                holding[i] = True
                queued += 1
                by_level[level[i]] += 1
                hold_size = _hold_push(hold, hold_size, level, arrivals, i)
                if limit[i] != math.inf:
                    events_size = _event_push(
                        ev_time, ev_kind, ev_who, events_size, now + limit[i], _LEAVE, i
                    )
            i += 1
            continue
        now, kind, who = ev_time[0], ev_kind[0], ev_who[0]
        events_size = _event_pop(ev_time, ev_kind, ev_who, events_size)
        dispatch = False
        if kind == _END:
            if present > target:
                present -= 1
            else:
                idle += 1
                dispatch = True
        elif kind == _CHANGE:
            target = counts[who]
            if present < target:
                idle += target - present
                present = target
                dispatch = True
            else:
                gone = min(idle, present - target)
                idle -= gone
                present -= gone
        elif holding[who]:
            holding[who] = False
            queued -= 1
            by_level[level[who]] -= 1
            wait[who] = limit[who]
            outcome[who] = OVERFLOW if overflow_first[who] else ABANDONED
        # Free agents take the first caller holding, else the oldest callback.
        while dispatch and idle > 0 and (queued or cb_head < cb_tail):
            if queued:
                caller = hold[0]
                hold_size = _hold_pop(hold, hold_size, level, arrivals)
                if not holding[caller]:
                    continue
                holding[caller] = False
                queued -= 1
                by_level[level[caller]] -= 1
                wait[caller] = now - arrivals[caller]
            else:
                caller = callbacks[cb_head]
                cb_head += 1
            start[caller] = now
            if outcome[caller] != CALLBACK:
                outcome[caller] = SERVED
            idle -= 1
            events_size = _event_push(
                ev_time, ev_kind, ev_who, events_size, now + service[caller], _END,
                caller,
            )  # fmt: skip
    return wait, start, outcome


@jit
def positions(kinds, ids, rank, asked, count):
    """``_positions``' sweep: a Fenwick tree counts the holding callers whose
    service-order ``rank`` comes before the asking caller's."""
    n = len(rank)
    tree = np.zeros(n + 1, dtype=np.int64)
    out = np.zeros(count, dtype=np.int64)
    for j in range(len(kinds)):
        who = ids[j]
        if kinds[j] == 1:
            r = rank[asked[who]]  # how many holding ranks are below r
            total = 0
            while r > 0:
                total += tree[r]
                r -= r & -r
            out[who] = total + 1
            continue
        step = -1 if kinds[j] == 0 else 1
        r = rank[who] + 1
        while r <= n:
            tree[r] += step
            r += r & -r
    return out


@jit
def tally(arrivals, service, wait, outcome, t0, target, bound, counts, sums,
          pend_begin, pend_end):  # fmt: skip
    """Running totals of one chunk of ``fcfs`` records, for ``summarize``.

    ``counts`` (callers from ``t0`` on: all, waited or not served, live,
    served, served within ``target``, abandoned, callback, overflow) and
    ``sums`` (hold time of the live, of the served, agent time after ``t0``)
    grow in place. A call still going on at ``bound`` goes to ``pend_begin``
    and ``pend_end``; returns how many did.
    """
    pending = 0
    for i in range(len(arrivals)):
        o = outcome[i]
        if o == SERVED:
            begin = arrivals[i] + wait[i]
            end = begin + service[i]
            if end <= bound:
                sums[2] += max(end - max(begin, t0), 0.0)
            else:
                pend_begin[pending] = begin
                pend_end[pending] = end
                pending += 1
        if arrivals[i] < t0:
            continue
        held = wait[i]
        if held != held:  # NaN: never answered, held to the end
            held = 0.0
        counts[0] += 1
        if held > 0 or o != SERVED:
            counts[1] += 1
        if o != CALLBACK:
            counts[2] += 1
            sums[0] += held
        if o == SERVED:
            counts[3] += 1
            sums[1] += held
            if held <= target:
                counts[4] += 1
        elif o == ABANDONED:
            counts[5] += 1
        elif o == CALLBACK:
            counts[6] += 1
        elif o == OVERFLOW:
            counts[7] += 1
    return pending
