"""The designer's console: see a menu, call it from a browser, watch it follow edits.

``ivr serve`` answers ``/console`` (``ivr.web.console``) with pages built from the
parts kept here, none of which interprets TwiML: calls go through the one caller
(``ivr.caller``) against an in-process copy of the server's own menus.

- ``plan``: a console call as data (the menu, the clock, the caller's number and
  the moves made so far), read from the page and checked;
- ``replay``: the call played from its plan on a lock-step switchboard, up to
  the moment the phone waits for the person again; an agent from the roster may
  take the caller while they hold;
- ``timeline``: what the page shows of it (who heard or did what, when), and
  the ``--json``-like detail;
- ``pictures``: the menu's graph as SVG, problems marked, cached by content;
- ``follow``: the menu files watched, reloaded when they change;
- ``access``: who may use the console (loopback, or the password).

A console call keeps no state on the server: each move replays the call from
its plan, so any worker can answer any move (see docs/decisions.md).
"""
