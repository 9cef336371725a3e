"""What ``splitbench explore`` lets through to Model Explorer's server, and to whom.

Model Explorer's Flask server answers ``/api/v1/read_text_file?path=ANY`` with any file its
user can read, converts any file it is named (``send_command``), accepts uploads and config
changes, and does not look at the ``Host`` header. Bound to 127.0.0.1 that still reaches every
local user and the emulated phone (which shares the host's network). The guard checks each
request before Model Explorer's own handler runs (Flask's ``request_started`` signal; raising
there turns the request into the error response), in this order:

1. ``Host`` must be ``127.0.0.1:PORT`` or ``localhost:PORT`` (a DNS-rebound name is refused);
2. the request must carry the secret token: ``?token=`` in the URL the kit prints (the answer
   then sets it as an HttpOnly, SameSite=Strict cookie so the page's own requests carry it, as
   Jupyter does), the cookie, or ``Authorization: token ...``; a POST from another origin is
   refused even with the cookie;
3. only what the page needs to show the run: its static files, the extension list, the version
   check and the server's event stream; ``read_text_file`` only for the run's node-data files;
   ``send_command`` only to convert the run's model (and the page's notice that it opened
   it). Everything else is refused.

Refusals are 403 with a one-line reason.
"""

from __future__ import annotations

import hmac
import os
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import Any

#: Model Explorer's routes the page needs that read nothing of the caller's choosing.
OPEN_ROUTES = frozenset(
    {
        "/api/v1/get_extensions",
        "/api/v1/check_new_version",
        "/apistream/server_director",
        "/check_health",
    }
)
READ_FILE = "/api/v1/read_text_file"
#: The page tells the server which model it opened (for a file watch explore does not start).
NOTIFY = "/api/v1/notify_user_provided_model_path"
CONVERT = "/apipost/v1/send_command"
#: Prefixes of Model Explorer's API routes; other paths are the page's static files.
API_PREFIXES = ("/api/", "/apipost/", "/apistream/")


class Refused(Exception):
    """A request the guard turns away (403)."""


def new_token() -> str:
    return secrets.token_urlsafe(32)


class ViewerGuard:
    """The allow-list and token check for one Model Explorer server on 127.0.0.1:``port``."""

    def __init__(self, *, port: int, token: str, model: Path, node_data: Iterable[Path]) -> None:
        self.port = port
        self.token = token
        self.cookie = f"splitbench_explore_{port}"
        self.hosts = frozenset({f"127.0.0.1:{port}", f"localhost:{port}"})
        self.origins = frozenset(f"http://{host}" for host in self.hosts)
        self.model = str(model)
        self.node_data = frozenset(str(p) for p in node_data)

    def install(self) -> None:
        """Check every request of every Flask app in this process (the explore process runs
        only Model Explorer's). Held strongly: a dropped receiver would let all through."""
        import flask

        flask.request_started.connect(self._on_request, weak=False)

    def _on_request(self, _app: Any, **_extra: Any) -> None:
        import flask
        from werkzeug.exceptions import Forbidden

        request = flask.request
        try:
            from_url = self.authenticate(
                host=request.environ.get("HTTP_HOST"),
                origin=request.headers.get("Origin"),
                method=request.method,
                query_token=request.args.get("token"),
                cookie=request.cookies.get(self.cookie),
                authorization=request.headers.get("Authorization"),
            )
            self.allow(
                request.method,
                request.path,
                request.args.get("path"),
                request.get_json(silent=True) if request.method == "POST" else None,
            )
        except Refused as exc:
            raise Forbidden(str(exc)) from None
        if from_url:
            flask.after_this_request(self._set_cookie)

    def _set_cookie(self, response: Any) -> Any:
        response.set_cookie(self.cookie, self.token, httponly=True, samesite="Strict", path="/")
        return response

    def authenticate(
        self,
        *,
        host: str | None,
        origin: str | None,
        method: str,
        query_token: str | None,
        cookie: str | None,
        authorization: str | None,
    ) -> bool:
        """Refuse a foreign Host, a missing or wrong token, a cross-origin POST. True when the
        token came in the URL (the answer then sets the cookie)."""
        if host not in self.hosts:
            raise Refused(f"Host {host!r} is not this viewer's (127.0.0.1:{self.port})")
        if method == "POST" and origin is not None and origin not in self.origins:
            raise Refused(f"Origin {origin!r} is not this viewer's")
        header = authorization or ""
        offered = [
            query_token,
            cookie,
            header.removeprefix("token ") if header.startswith("token ") else None,
        ]
        if not any(t is not None and hmac.compare_digest(t, self.token) for t in offered):
            raise Refused("no valid token: open the URL splitbench explore printed")
        return query_token is not None and hmac.compare_digest(query_token, self.token)

    def allow(self, method: str, path: str, file_arg: str | None, body: Any) -> None:
        """Refuse anything but the page's own files and reads of the run's files."""
        if path in OPEN_ROUTES and method == "GET":
            return
        if path == READ_FILE and method == "GET":
            # Exactly a node-data path as written, with no symbolic link on the way now.
            if file_arg in self.node_data and os.path.realpath(file_arg) == file_arg:
                return
            raise Refused(f"{file_arg!r} is not one of this run's node-data files")
        if path == NOTIFY and method == "GET" and file_arg == self.model:
            return
        if path == CONVERT and method == "POST":
            if (
                isinstance(body, dict)
                and body.get("cmdId") == "convert"
                and body.get("modelPath") == self.model
                and os.path.realpath(self.model) == self.model
                and not body.get("deleteAfterConversion")
            ):
                return
            raise Refused("only the conversion of this run's model is served")
        if path.startswith(API_PREFIXES) or method != "GET":
            raise Refused(f"{method} {path} is not served by splitbench explore")
