"""What guards the server, as one ASGI middleware in front of every route:

- the ``Host`` header must name this server (a loopback name or address, the bound host, or for a
  wildcard bind this machine's names and addresses): a web page that rebinds its own domain to
  127.0.0.1 (DNS rebinding) sends its own domain as Host and is refused;
- a browser request from another origin (``Origin`` header) is refused unless ``--cors-origin``
  allows it, which also turns on the CORS headers and preflight answers for it;
- with ``--api-key``, ``Authorization: Bearer KEY`` on every route but ``/health``;
- a ``Content-Length`` over the body limit is refused before the body is read (the routes count
  the bytes of a chunked body too).
"""

from __future__ import annotations

import hmac
import ipaddress
import socket
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from assistant.serve.errors import ApiError

LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}
WILDCARDS = {"0.0.0.0", "::", ""}
PREFLIGHT_HEADERS = "Authorization, Content-Type, OpenAI-Organization, OpenAI-Project, X-Stainless-Lang"


def is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def machine_names() -> set[str]:
    names = {socket.gethostname().lower()}
    try:
        import psutil

        for addrs in psutil.net_if_addrs().values():
            names.update(a.address.split("%")[0].lower() for a in addrs if a.family in (socket.AF_INET, socket.AF_INET6))
    except Exception:  # addresses are a convenience; loopback and the bound host still work
        pass
    return names


def allowed_hosts(bind_host: str, extra: Iterable[str] = ()) -> set[str]:
    hosts = set(LOOPBACK_NAMES) | {h.lower().strip("[]") for h in extra}
    if bind_host in WILDCARDS:
        hosts |= machine_names()
    else:
        hosts.add(bind_host.lower().strip("[]"))
    return hosts


def host_of(value: str) -> str:
    """``example.com:8080`` -> ``example.com``; ``[::1]:8080`` -> ``::1``."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def error_response(path: str, err: ApiError) -> Any:
    from starlette.responses import JSONResponse

    body = err.ollama_body() if path.startswith("/api/") else err.openai_body()
    return JSONResponse(body, status_code=err.status, headers=err.headers)


class SecurityMiddleware:
    def __init__(self, app: Any, *, hosts: set[str], api_key: str | None, cors_origins: Iterable[str],
                 max_body: int) -> None:
        self.app = app
        self.hosts = hosts
        self.api_key = api_key
        self.cors = {o.rstrip("/") for o in cors_origins}
        self.max_body = max_body

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        path = scope.get("path", "")
        try:
            origin = self._check(scope, headers, path)
        except ApiError as err:
            scope.setdefault("state", {})["error"] = err.message
            await error_response(path, err)(scope, receive, send)
            return
        if origin is None:
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS":
            from starlette.responses import Response

            await Response(status_code=204, headers={
                "Access-Control-Allow-Origin": origin, "Vary": "Origin", "Access-Control-Max-Age": "600",
                "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
                "Access-Control-Allow-Headers": headers.get("access-control-request-headers", PREFLIGHT_HEADERS),
            })(scope, receive, send)
            return

        async def send_with_cors(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"access-control-allow-origin", origin.encode("latin-1")),
                                      (b"vary", b"Origin")]
            await send(message)

        await self.app(scope, receive, send_with_cors)

    def _check(self, scope: dict[str, Any], headers: dict[str, str], path: str) -> str | None:
        """Raise for a request to refuse; return the origin to answer with CORS headers, if any."""
        host = host_of(headers.get("host", ""))
        if host not in self.hosts:
            raise ApiError(403, f"The Host header {headers.get('host', '')!r} does not name this server; "
                                "connect to it by its own address.", type="permission_error", code="bad_host")
        cors_origin: str | None = None
        origin = headers.get("origin")
        if origin is not None and origin != "null":
            origin = origin.rstrip("/")
            if origin in self.cors or "*" in self.cors:
                cors_origin = origin
            elif host_of(urlsplit(origin).netloc) not in self.hosts:
                raise ApiError(403, f"Requests from the web origin {origin} are not allowed; start the server with "
                                    f"--cors-origin {origin} to allow them.", type="permission_error",
                               code="origin_not_allowed")
        elif origin == "null" and "null" not in self.cors:
            raise ApiError(403, "Requests from an opaque web origin are not allowed.", type="permission_error",
                           code="origin_not_allowed")
        if cors_origin is not None and scope["method"] == "OPTIONS":
            return cors_origin  # a preflight carries no credentials
        if self.api_key is not None and path != "/health":
            given = headers.get("authorization", "")
            scheme, _, token = given.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), self.api_key.encode()):
                raise ApiError(401, "Missing or wrong API key; send 'Authorization: Bearer KEY' with the key the "
                                    "server was started with.", type="authentication_error", code="invalid_api_key")
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            raise ApiError(413, f"The request body is {int(length)} bytes, over this server's limit of "
                                f"{self.max_body}.", code="request_too_large")
        return cors_origin
