"""The console's HTTP front: routing, who is signed in, and the checks every request passes.

Loopback only, one person's tool, but a browser also visits other sites, so: a request must name
this server in its Host header (a DNS-rebinding page cannot read the console), every page needs a
signed-in session, a POST must come from the console's own pages (Origin, else Referer) and carry
a CSRF token bound to the session, and every answer forbids framing, sniffing and any script or
style not served from `/static/` (Content-Security-Policy). `/events` long-polls: it answers
when the engine has recorded something new, or after `POLL_SECONDS`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from . import assets

POLL_SECONDS = 15.0
MAX_BODY_BYTES = 512 * 1024
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
STATIC = {"/static/console.css": ("text/css; charset=utf-8", assets.CSS),
          "/static/console.js": ("text/javascript; charset=utf-8", assets.JS)}


@dataclass
class Request:
    """One request as the console's pages need it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    cookies: dict[str, str]
    body: bytes = b""
    person: str | None = None
    csrf: str = ""  # the token this session's forms carry

    @property
    def form(self) -> dict[str, str]:
        parsed = parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=32)
        return {k: v[0] for k, v in parsed.items() if v}


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = "text/html; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def html(cls, text: str, status: int = 200, headers: list[tuple[str, str]] | None = None) -> Response:
        return cls(status, text.encode("utf-8"), headers=headers or [])

    @classmethod
    def redirect(cls, location: str) -> Response:
        return cls(HTTPStatus.SEE_OTHER, b"", "text/plain", [("Location", location)])

    @classmethod
    def json(cls, document: Any, status: int = 200) -> Response:
        return cls(status, json.dumps(document).encode(), "application/json")


class App(Protocol):
    """What the server asks of the console behind it (`pages.Console`)."""

    session_cookie: str

    def person(self, cookies: dict[str, str]) -> str | None: ...

    def public(self, path: str) -> bool: ...

    def serve_public(self, request: Request) -> Response: ...

    def unauthorised(self, request: Request) -> Response: ...

    def get(self, request: Request) -> Response | None: ...

    def post(self, request: Request) -> Response | None: ...


class Changes:
    """A counter the engine's listener bumps; `/events` waits on it."""

    def __init__(self) -> None:
        self.version = 0
        self._changed = threading.Condition()

    def bump(self, *_: Any) -> None:
        with self._changed:
            self.version += 1
            self._changed.notify_all()

    def wait(self, since: int, timeout: float) -> int:
        with self._changed:
            self._changed.wait_for(lambda: self.version != since, timeout=timeout)
            return self.version


class ConsoleServer:
    """The HTTP server; `start()` serves on a daemon thread, `stop()` ends it."""

    def __init__(self, app: App, changes: Changes, host: str = "127.0.0.1", port: int = 0,
                 log: Callable[[str], None] | None = None) -> None:
        self.app = app
        self.changes = changes
        self.secret = secrets.token_bytes(32)
        self.log = log or (lambda _: None)
        self._server = ThreadingHTTPServer((host, port), _handler(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self._server.server_address[0]!s}:{self.port}"

    def hosts(self) -> set[str]:
        """The Host header values that name this server."""
        host = str(self._server.server_address[0])
        names = {host, "localhost"} if host in ("127.0.0.1", "::1") else {host}
        return {f"{name}:{self.port}" for name in names}

    def csrf_for(self, session: str) -> str:
        """The anti-forgery token of the console's own forms, bound to the browser's session."""
        return hmac.new(self.secret, f"irflow-console-csrf:{session}".encode(), hashlib.sha256).hexdigest()

    def start(self) -> ConsoleServer:
        self._thread = threading.Thread(target=self._server.serve_forever, name="irflow-console", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.changes.bump()  # wake long polls so their threads end
        self._server.shutdown()
        self._server.server_close()

    # --- one request ------------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        if request.headers.get("host", "") not in self.hosts():
            return Response(HTTPStatus.MISDIRECTED_REQUEST, b"This console answers only to its own address.\n",
                            "text/plain")
        if request.method == "GET" and request.path in STATIC:
            kind, text = STATIC[request.path]
            return Response(200, text.encode(), kind)
        if self.app.public(request.path):  # signing in, and pages that make their own checks
            return self.app.serve_public(request)
        request.person = self.app.person(request.cookies)
        session = request.cookies.get(self.app.session_cookie, "")
        request.csrf = self.csrf_for(session) if session else ""
        if request.person is None:
            if request.path == "/events":
                return Response.json({"error": "sign in first"}, HTTPStatus.UNAUTHORIZED)
            return self.app.unauthorised(request)
        if request.method == "GET" and request.path == "/events":
            try:
                since = int(request.query.get("since", "0"))
            except ValueError:
                since = 0
            return Response.json({"version": self.changes.wait(since, POLL_SECONDS)})
        if request.method == "POST":
            problem = self._refuse_post(request)
            if problem:
                return Response.html(problem, HTTPStatus.FORBIDDEN)
            answer = self.app.post(request)
        elif request.method == "GET":
            answer = self.app.get(request)
        else:
            return Response(HTTPStatus.METHOD_NOT_ALLOWED, b"", "text/plain", [("Allow", "GET, POST")])
        return answer or Response(HTTPStatus.NOT_FOUND, b"Not found.\n", "text/plain")

    def _refuse_post(self, request: Request) -> str | None:
        """Why a POST is refused (another site's page, a stale or missing token), or None."""
        origin = request.headers.get("origin")
        if not origin or origin == "null":
            referer = urlsplit(request.headers.get("referer", ""))
            origin = f"{referer.scheme}://{referer.netloc}" if referer.netloc else ""
        if origin not in {f"http://{host}" for host in self.hosts()}:
            return "Refused: the form was not sent from this console's own page. Nothing was changed."
        if not request.csrf or not hmac.compare_digest(request.form.get("csrf", ""), request.csrf):
            return "Refused: the form's anti-forgery token does not match your session. Reload the page and retry."
        return None


def _handler(server: ConsoleServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "irflow-console"
        sys_version = ""
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
            server.log(f"{self.address_string()} {format % args}")

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            self._serve("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._serve("POST")

        def _serve(self, method: str) -> None:
            from tasks.approval_api import parse_cookies

            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY_BYTES:
                self._send(Response(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, b"Too large.\n", "text/plain"))
                return
            body = self.rfile.read(length) if length else b""
            target = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(target.query, keep_blank_values=True).items()}
            headers = {name.lower(): value for name, value in self.headers.items()}
            request = Request(method, unquote(target.path) or "/", query, headers,
                              parse_cookies(headers.get("cookie", "")), body)
            request.headers["x-irflow-target"] = self.path  # the raw path and query, to pass a request on
            try:
                response = server.handle(request)
            except Exception as error:  # a bug must give a page, not a dropped connection
                server.log(f"error serving {method} {target.path}: {type(error).__name__}: {error}")
                response = Response(HTTPStatus.INTERNAL_SERVER_ERROR,
                                    f"The console failed: {type(error).__name__}. See its log.\n".encode(), "text/plain")
            try:
                self._send(response)
            except (BrokenPipeError, ConnectionResetError):  # the browser left (a long poll, a navigation)
                self.close_connection = True

        def _send(self, response: Response) -> None:
            self.send_response(response.status)
            names = {name.lower() for name, _ in response.headers}
            for name, value in response.headers:
                self.send_header(name, value)
            for name, value in SECURITY_HEADERS.items():
                if name.lower() not in names:
                    self.send_header(name, value)
            if "content-type" not in names:
                self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            self.wfile.write(response.body)

    return Handler
