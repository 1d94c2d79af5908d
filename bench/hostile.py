"""Hostile and forged requests against a real `ivr serve`: does anything give way?

Starts `ivr serve` (gunicorn, two workers, TWILIO_AUTH_TOKEN set) on a copy of
the default menus and recordings, where recordings/ also holds traps: symbolic
links to a secret file beside it and to the server's own instance/secret.key, a
link to the folder above, a named pipe. Then sends a seeded mix of requests from
several threads:

- forgeries: no signature, another token's, a signature for another URL or for
  other fields, a signed GET with fields in its body; and signed requests with a
  forged call state (garbage, altered, another call's, a state sealed for a
  node that no longer exists);
- hostile input behind a valid signature: keys, speech and queue figures no
  phone sends (huge, control characters, invalid UTF-8, NaN), unknown fields,
  missing CallSid, odd content types and methods;
- hostile HTTP: bodies over the cap (with a length or chunked), a gigabyte
  announced and a kilobyte sent, long query strings and headers, path tricks on
  /recordings/ (.., %2e%2e, links, the pipe, folders).

It prints what must all be zero: forgeries accepted, 500s, connections reset,
TwiML answers Twilio would refuse (checked by `ivr.caller.document.parse_twiml`,
waitUrl documents as such), files served from outside recordings/; and the peak
memory of each worker (VmHWM). Not a test: `python bench/hostile.py
[--requests 12000] [--threads 16] [--seed 7]`.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import http.client
import os
import random
import re
import shutil
import socket
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path

from twilio.request_validator import RequestValidator

from ivr.caller.document import TwimlError, parse_twiml
from ivr.phrases import phrase

if __package__:  # imported as bench.hostile (the tests)
    from bench.serving import ivr_serve, peak_memory_mb, workers_of
else:  # run as a script: this folder is on the path
    from serving import ivr_serve, peak_memory_mb, workers_of

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "hostile-bench-token"
SECRET = "TOP-SECRET-NOT-A-RECORDING-7d1f"
APOLOGIES = {phrase("zh-CN", "apology"), phrase("en-US", "apology")}
WAIT_PATHS = ("/voice/wait", "/voice/callback")


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class Tally:
    sent: int = 0
    forgeries: int = 0
    forgeries_accepted: int = 0
    errors_500: int = 0
    resets: int = 0
    invalid_twiml: int = 0
    leaked_files: int = 0
    statuses: collections.Counter = field(default_factory=collections.Counter)
    kinds: collections.Counter = field(default_factory=collections.Counter)
    examples: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, what: str, example: str) -> None:
        if len(self.examples) < 20:
            self.examples.append(f"{what}: {example}")


# -- the server ---------------------------------------------------------------------


def lay_traps(folder: Path) -> Path:
    """Menus and recordings in ``folder``, with traps in recordings/."""
    shutil.copytree(ROOT / "menus", folder / "menus")
    recordings = folder / "recordings"
    shutil.copytree(ROOT / "recordings", recordings)
    (folder / "secret.txt").write_text(SECRET)
    (recordings / "leak.wav").symlink_to("../secret.txt")
    (recordings / "abs.wav").symlink_to(folder / "secret.txt")
    (recordings / "key.wav").symlink_to("../instance/secret.key")
    (recordings / "up").symlink_to("..", target_is_directory=True)
    (recordings / "sub").mkdir()
    os.mkfifo(recordings / "pipe.wav")
    return folder / "menus"


# -- sending --------------------------------------------------------------------------


def sign(url: str, fields: dict[str, str], token: str = TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, fields)


def send_raw(port: int, data: bytes, *, read_timeout: float = 30) -> Answer:
    """Send raw bytes, read one answer (headers and a body by its length)."""
    with socket.create_connection(("127.0.0.1", port), timeout=read_timeout) as sock:
        # The server may answer and close before taking it all (a body too big).
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(data)
        response = http.client.HTTPResponse(sock)
        response.begin()
        body = response.read()
        return Answer(response.status, dict(response.getheaders()), body)


class Client:
    """One keep-alive connection per thread."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def request(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str]
    ) -> Answer:
        """One request; a kept-alive connection the server has closed meanwhile
        is opened again once, as HTTP clients do (Twilio's included)."""
        for attempt in (1, 2):
            fresh = self.conn.sock is None
            try:
                self.conn.request(method, path, body=body, headers=headers)
                response = self.conn.getresponse()
                data = response.read()
                if response.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                return Answer(response.status, dict(response.getheaders()), data)
            except (ConnectionResetError, BrokenPipeError,
                    http.client.RemoteDisconnected):  # fmt: skip
                self.conn.close()
                if fresh or attempt == 2:
                    raise
            except Exception:
                self.conn.close()
                raise
        raise AssertionError("unreachable")


def form(fields: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    return urllib.parse.urlencode(fields).encode(), {
        "Content-Type": "application/x-www-form-urlencoded"
    }


# -- what a call gives us to forge with -----------------------------------------------

_ACTION = re.compile(r'(?:action|waitUrl)="([^"]+)"')


def base_fields(sid: str) -> dict[str, str]:
    return {
        "CallSid": sid,
        "AccountSid": "AC" + "0" * 32,
        "From": "+8613800138000",
        "To": "+861000000000",
        "CallStatus": "in-progress",
    }


def real_urls(port: int, calls: int) -> list[tuple[str, str]]:
    """(call sid, an action or wait URL path sealed for it) from real calls."""
    client = Client(port)
    found = []
    for n in range(calls):
        sid = f"CAreal{n:026d}"
        fields = base_fields(sid)
        for digits in [None, "0", "1", "2", "3"]:
            url = f"http://127.0.0.1:{port}/voice"
            extra = {} if digits is None else {"Digits": digits}
            body, headers = form({**fields, **extra})
            headers["X-Twilio-Signature"] = sign(url, {**fields, **extra})
            answer = client.request("POST", "/voice", body, headers)
            for match in _ACTION.findall(answer.body.decode()):
                path = unescape(match)
                path = path.split(str(port), 1)[-1] if "://" in path else path
                found.append((sid, path))
                url = f"http://127.0.0.1:{port}{path}"
                if "/voice/input" in path and digits is not None:
                    body, headers = form({**fields, **extra})
                    headers["X-Twilio-Signature"] = sign(url, {**fields, **extra})
                    nested = client.request("POST", path, body, headers)
                    for deeper in _ACTION.findall(nested.body.decode()):
                        found.append((sid, unescape(deeper).split(str(port), 1)[-1]))
    return found


# -- the cases ------------------------------------------------------------------------

Case = Callable[[Client, random.Random], tuple[str, bool, str, Answer | None]]
# returns (kind, forged?, path, answer) or raises for a reset


class Cases:
    """The mix of requests, drawn from a seeded generator."""

    def __init__(self, port: int, urls: list[tuple[str, str]]) -> None:
        self.port = port
        self.urls = urls
        self.paths = sorted({path.split("?")[0] for _, path in urls} | {
            "/voice", "/voice/input", "/voice/wait", "/voice/callback",
            "/voice/queue", "/voice/dial", "/voice/recorded", "/voice/status",
        })  # fmt: skip

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def hostile_value(self, rng: random.Random) -> str:
        return rng.choice([
            "", "1", "0#", "*", "#" * 500, "9" * 5000, "１２３", "\x00\x01\x02",
            "🙂" * 100, "%", "&s=forged", "' OR 1=1 --", "<Say>hi</Say>",
            "nan", "inf", "-1", "1e309", "4294967296", " " * 100, "\r\nX-Evil: 1",
            "A" * 60000, "二零二六一一二五零零零一", "{caller}", "{{}}",
        ])  # fmt: skip

    # forgeries ---------------------------------------------------------------

    def unsigned(self, client, rng):
        path = rng.choice(self.paths)
        body, headers = form(base_fields(f"CAforged{rng.random()}"))
        return "unsigned", True, path, client.request("POST", path, body, headers)

    def wrong_token(self, client, rng):
        path = rng.choice(self.paths)
        fields = base_fields("CA" + "1" * 32)
        body, headers = form(fields)
        headers["X-Twilio-Signature"] = sign(self.url(path), fields, "not-the-token")
        return "wrong token", True, path, client.request("POST", path, body, headers)

    def other_url(self, client, rng):
        sid, path = rng.choice(self.urls)
        fields = base_fields(sid)
        body, headers = form(fields)
        headers["X-Twilio-Signature"] = sign(self.url("/voice"), fields)
        return (
            "signature for another URL",
            True,
            path,
            client.request("POST", path, body, headers),
        )

    def tampered_field(self, client, rng):
        sid, path = rng.choice(self.urls)
        fields = base_fields(sid)
        signature = sign(self.url(path), fields)
        fields[rng.choice(list(fields))] = self.hostile_value(rng) or "x"
        body, headers = form(fields)
        headers["X-Twilio-Signature"] = signature
        return "tampered field", True, path, client.request("POST", path, body, headers)

    def get_with_body(self, client, rng):
        sid, path = rng.choice(self.urls)
        fields = base_fields(sid)
        joiner = "&" if "?" in path else "?"
        full = path + joiner + urllib.parse.urlencode({**fields, "Digits": "1"})
        body, headers = form({"Digits": "0", "To": "+19999999999"})
        headers["X-Twilio-Signature"] = sign(self.url(full), {})
        answer = client.request("GET", full, body, headers)
        return "signed GET with a body", False, full, answer

    def forged_state(self, client, rng):
        sid, path = rng.choice(self.urls)
        route, _, query = path.partition("?")
        token = urllib.parse.parse_qs(query).get("s", [""])[0]
        how = rng.choice(["garbage", "altered", "other call", "truncated"])
        call = sid
        if how == "garbage":
            token = "gAAAAA" + "".join(rng.choices("abcdefXYZ0123456789-_", k=120))
        elif how == "altered" and token:
            i = rng.randrange(10, len(token) - 2)
            token = token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1 :]
        elif how == "truncated":
            token = token[: len(token) // 2]
        else:
            call = "CAother" + "7" * 25  # another call posts this call's state
        target = f"{route}?s={urllib.parse.quote(token, safe='')}"
        fields = base_fields(call)
        fields.update(Digits="1", QueuePosition="2", QueueTime="30")
        body, headers = form(fields)
        headers["X-Twilio-Signature"] = sign(self.url(target), fields)
        answer = client.request("POST", target, body, headers)
        return f"forged state ({how})", True, target, answer

    # hostile input, signed -------------------------------------------------------

    def hostile_fields(self, client, rng):
        sid, path = rng.choice(self.urls)
        fields = base_fields(sid)
        for name in rng.sample(
            ["Digits", "SpeechResult", "QueuePosition", "QueueTime", "QueueResult",
             "DialCallStatus", "RecordingUrl", "CallStatus", "Confidence", "To",
             "From", "menu", "Unknown"],
            k=rng.randint(1, 4),
        ):  # fmt: skip
            fields[name] = self.hostile_value(rng)
        if rng.random() < 0.1:
            del fields["CallSid"]
        body, headers = form(fields)
        if len(body) > 60000:
            body = body[:60000]
            fields = dict(urllib.parse.parse_qsl(body.decode(), keep_blank_values=True))
        headers["X-Twilio-Signature"] = sign(self.url(path), fields)
        return (
            "hostile fields",
            False,
            path,
            client.request("POST", path, body, headers),
        )

    def odd_request(self, client, rng):
        method = rng.choice(["PUT", "DELETE", "OPTIONS", "PATCH", "HEAD", "GET"])
        path = rng.choice([*self.paths, "/voice/../voice", "/voice/nowhere", "/x"])
        headers = {"Content-Type": rng.choice([
            "application/json", "multipart/form-data; boundary=x", "text/plain",
            "application/x-www-form-urlencoded; charset=latin-1",
        ])}  # fmt: skip
        body = os.urandom(rng.randint(0, 2000))
        return (
            "odd method or type",
            True,
            path,
            client.request(method, path, body, headers),
        )

    # hostile HTTP -------------------------------------------------------------------

    def big_body(self, client, rng):
        body = b"Digits=1&Pad=" + b"x" * rng.randint(70_000, 2_000_000)
        head = (
            b"POST /voice HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
        )
        return "body over the cap", True, "/voice", send_raw(self.port, head + body)

    def invalid_utf8(self, client, rng):
        sid, path = rng.choice(self.urls)
        fields = base_fields(sid)
        raw = urllib.parse.urlencode(fields).encode() + rng.choice(
            [b"&Digits=%FF%FE", b"&SpeechResult=%C3%28%A0", b"&%80=%80", b"&&&=&="]
        )
        parsed = dict(urllib.parse.parse_qsl(raw.decode(), keep_blank_values=True))
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": sign(self.url(path), parsed),
        }
        return "invalid UTF-8", False, path, client.request("POST", path, raw, headers)

    def gigabyte_announced(self, client, rng):
        head = (
            b"POST /voice HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: 1073741824\r\nConnection: close\r\n\r\n"
        )
        answer = send_raw(self.port, head + b"Digits=1&" + b"x" * 1024)
        return "a gigabyte announced", True, "/voice", answer

    def chunked_flood(self, client, rng):
        chunk = b"x" * 16384
        body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(8))
        head = (
            b"POST /voice/input HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        )
        return (
            "chunked over the cap",
            True,
            "/voice/input",
            send_raw(self.port, head + body + b"0\r\n\r\n"),
        )

    def long_url(self, client, rng):
        path = "/voice?s=" + "A" * rng.choice([3000, 4000, 5000, 9000])
        return "long URL", True, path, client.request("GET", path, None, {})

    def big_header(self, client, rng):
        headers = {"X-Twilio-Signature": "A" * rng.choice([4000, 9000, 20000])}
        return (
            "big header",
            True,
            "/voice",
            client.request("POST", "/voice", b"", headers),
        )

    def recording_trick(self, client, rng):
        path = rng.choice([
            "/recordings/leak.wav", "/recordings/abs.wav", "/recordings/key.wav",
            "/recordings/up/secret.txt", "/recordings/up/instance/secret.key",
            "/recordings/../secret.txt", "/recordings/..%2fsecret.txt",
            "/recordings/%2e%2e/secret.txt", "/recordings//etc/passwd",
            "/recordings/sub", "/recordings/pipe.wav", "/recordings/welcome.wav",
            "/recordings/%00", "/recordings/welcome.wav%00.txt",
            "/recordings/up/menus/shop.yaml",
        ])  # fmt: skip
        method = rng.choice(["GET", "HEAD"])
        return "recordings path", False, path, client.request(method, path, None, {})

    def all(self) -> list[tuple[Case, float]]:
        return [
            (self.unsigned, 10), (self.wrong_token, 8), (self.other_url, 8),
            (self.tampered_field, 8), (self.get_with_body, 4), (self.forged_state, 14),
            (self.hostile_fields, 22), (self.invalid_utf8, 3), (self.odd_request, 8),
            (self.big_body, 2),
            (self.gigabyte_announced, 0.5), (self.chunked_flood, 1),
            (self.long_url, 2), (self.big_header, 2), (self.recording_trick, 8),
        ]  # fmt: skip


# -- judging an answer ----------------------------------------------------------------


def judge(tally: Tally, kind: str, forged: bool, path: str, answer: Answer,
          secrets_: list[str]) -> None:  # fmt: skip
    """Count what this answer says about the server."""
    with tally.lock:
        tally.sent += 1
        tally.kinds[kind] += 1
        tally.statuses[answer.status] += 1
        if answer.status >= 500:
            tally.errors_500 += 1
            tally.note("500", f"{kind} {path[:80]}")
        if any(secret.encode() in answer.body for secret in secrets_):
            tally.leaked_files += 1
            tally.note("leak", f"{kind} {path[:80]}")
        route = path.split("?")[0]
        if forged:
            tally.forgeries += 1
            accepted = answer.status == 200 and (
                not kind.startswith("forged state") or not _refused_state(route, answer)
            )
            if kind == "odd method or type":
                accepted = answer.status == 200 and route.startswith("/voice")
                accepted = accepted and _is_twiml(answer) and bool(answer.body.strip())
                # An unsigned request never gets past the signature check.
            if accepted:
                tally.forgeries_accepted += 1
                tally.note("accepted forgery", f"{kind} {path[:80]}")
        if answer.status == 200 and route.startswith("/voice") and _is_twiml(answer):
            try:
                parse_twiml(answer.body, wait=route in WAIT_PATHS)
            except TwimlError as error:
                tally.invalid_twiml += 1
                tally.note("invalid TwiML", f"{kind} {route}: {error}")


def _is_twiml(answer: Answer) -> bool:
    content_type = answer.headers.get("Content-Type", "")
    return content_type.startswith(("text/xml", "application/xml"))


def _refused_state(route: str, answer: Answer) -> bool:
    """Whether the answer to a forged state is the route's fallback."""
    text = answer.body.decode("utf-8", "replace")
    if route in WAIT_PATHS:
        held = r'<\?xml[^>]*\?><Response><Pause length="\d+" /></Response>'
        return re.fullmatch(held, text.strip()) is not None
    if route == "/voice/status":
        return True  # nothing is answered there whatever the state
    return any(apology in text for apology in APOLOGIES)


# -- a run ----------------------------------------------------------------------------


def run(requests: int, threads: int, seed: int, workers: int = 2) -> None:
    with tempfile.TemporaryDirectory(prefix="ivr-hostile-") as raw:
        folder = Path(raw)
        lay_traps(folder)
        with ivr_serve(
            folder,
            folder / "menus",
            str(folder / "instance" / "ivr.sqlite3"),
            TOKEN,
            workers,
        ) as (port, process, _log):
            key = (folder / "instance" / "secret.key").read_text().strip()
            urls = real_urls(port, calls=8)
            cases = Cases(port, urls)
            choices, weights = zip(*cases.all(), strict=True)
            tally = Tally()
            started = time.monotonic()
            workers_at_start = sorted(workers_of(process.pid))

            def worker(n: int) -> None:
                rng = random.Random(seed * 1000 + n)
                client = Client(port)
                for _ in range(requests // threads):
                    case = rng.choices(choices, weights)[0]
                    try:
                        kind, forged, path, answer = case(client, rng)
                    except (ConnectionResetError, BrokenPipeError,
                            http.client.RemoteDisconnected) as error:  # fmt: skip
                        with tally.lock:
                            tally.sent += 1
                            tally.resets += 1
                            tally.note("reset", f"{case.__name__}: {error}")
                        continue
                    except (TimeoutError, OSError, http.client.HTTPException) as error:
                        with tally.lock:
                            tally.sent += 1
                            tally.resets += 1
                            tally.note("no answer", f"{case.__name__}: {error!r}")
                        continue
                    judge(tally, kind, forged, path, answer, [SECRET, key])

            pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
            for thread in pool:
                thread.start()
            for thread in pool:
                thread.join()
            elapsed = time.monotonic() - started
            workers_now = sorted(workers_of(process.pid))
            memory = {pid: peak_memory_mb(pid) for pid in workers_now}
    print(f"ivr serve, {workers} workers, token set; {tally.sent} requests from "
          f"{threads} threads in {elapsed:.0f} s (seed {seed})")  # fmt: skip
    print(f"  forgeries sent            {tally.forgeries}")
    print(f"  forgeries accepted        {tally.forgeries_accepted}")
    print(f"  answers 500               {tally.errors_500}")
    print(f"  connections reset         {tally.resets}")
    print(f"  invalid TwiML answers     {tally.invalid_twiml}")
    print(f"  files served from outside recordings/  {tally.leaked_files}")
    restarted = workers_now != workers_at_start
    print(f"  workers replaced          {'yes' if restarted else 'no'}")
    for pid, mb in memory.items():
        print(f"  worker {pid} peak memory  {mb:.0f} MB")
    print("  statuses: " + ", ".join(
        f"{status}: {count}" for status, count in sorted(tally.statuses.items())
    ))  # fmt: skip
    print("  kinds: " + ", ".join(
        f"{kind}: {count}" for kind, count in sorted(tally.kinds.items())
    ))  # fmt: skip
    for example in tally.examples:
        print("  " + example)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=12000)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    run(args.requests, args.threads, args.seed)


if __name__ == "__main__":
    main()
