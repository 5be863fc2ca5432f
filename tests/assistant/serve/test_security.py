"""Loopback by default, an API key for anything else, the Host header checked, no CORS unless asked."""

from __future__ import annotations

import httpx
import openai
import pytest

from assistant.serve.run import check_host
from assistant.serve.security import allowed_hosts, host_of, is_loopback
from models.errors import AssistantError
from tests.assistant.serve.conftest import MODEL, ScriptEngine, serving


def test_another_host_needs_an_api_key() -> None:
    for host in ("0.0.0.0", "::", "192.168.1.20", "example.com"):
        with pytest.raises(AssistantError, match="without --api-key"):
            check_host(host, None)
        check_host(host, "secret")
    for host in ("127.0.0.1", "127.0.0.2", "localhost", "::1"):
        check_host(host, None)
        assert is_loopback(host)


def test_host_parsing_and_allowed_names() -> None:
    assert host_of("localhost:8080") == "localhost" and host_of("[::1]:8080") == "::1" and host_of("127.0.0.1") == "127.0.0.1"
    assert allowed_hosts("127.0.0.1") == {"localhost", "127.0.0.1", "::1"}
    assert "10.0.0.5" in allowed_hosts("10.0.0.5") and "proxy.lan" in allowed_hosts("127.0.0.1", ["proxy.lan"])


def test_dns_rebinding_is_refused(server: str) -> None:
    for host in ("evil.example", "evil.example:8080", "127.0.0.1.nip.io"):
        r = httpx.get(f"{server}/v1/models", headers={"Host": host})
        assert r.status_code == 403 and r.json()["error"]["code"] == "bad_host"
    r = httpx.post(f"{server}/api/chat", headers={"Host": "evil.example"}, json={})
    assert r.status_code == 403 and "Host header" in r.json()["error"]
    assert httpx.get(f"{server}/v1/models", headers={"Host": "localhost:1234"}).status_code == 200


def test_no_cors_unless_asked(server: str) -> None:
    r = httpx.get(f"{server}/v1/models")
    assert "access-control-allow-origin" not in r.headers
    r = httpx.post(f"{server}/v1/chat/completions", headers={"Origin": "https://evil.example"},
                   json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 403 and r.json()["error"]["code"] == "origin_not_allowed"
    r = httpx.options(f"{server}/v1/chat/completions", headers={"Origin": "https://evil.example",
                                                                 "Access-Control-Request-Method": "POST"})
    assert r.status_code == 403 and "access-control-allow-origin" not in r.headers
    same = httpx.get(f"{server}/v1/models", headers={"Origin": server})  # a page served from this host
    assert same.status_code == 200 and "access-control-allow-origin" not in same.headers


def test_cors_for_the_origin_named(engine: ScriptEngine) -> None:
    origin = "http://localhost:3000"
    with serving(engine, cors_origins=[origin]) as (url, _):
        pre = httpx.options(f"{url}/v1/chat/completions", headers={
            "Origin": origin, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type"})
        assert pre.status_code == 204 and pre.headers["access-control-allow-origin"] == origin
        assert "POST" in pre.headers["access-control-allow-methods"]
        assert pre.headers["access-control-allow-headers"] == "authorization, content-type"
        r = httpx.post(f"{url}/v1/chat/completions", headers={"Origin": origin},
                       json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}]})
        assert r.status_code == 200 and r.headers["access-control-allow-origin"] == origin
        assert httpx.get(f"{url}/v1/models", headers={"Origin": "http://localhost.evil:3000"}).status_code == 403


def test_api_key_on_every_route_but_health(engine: ScriptEngine) -> None:
    with serving(engine, api_key="s3cret") as (url, _):
        assert httpx.get(f"{url}/health").status_code == 200
        for method, path in (("GET", "/v1/models"), ("POST", "/v1/chat/completions"), ("GET", "/api/tags"),
                             ("POST", "/api/chat"), ("GET", "/api/version"), ("GET", "/")):
            r = httpx.request(method, url + path, json={})
            assert r.status_code == 401, path
            r = httpx.request(method, url + path, json={}, headers={"Authorization": "Bearer wrong"})
            assert r.status_code == 401, path
        assert httpx.get(f"{url}/v1/models", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        c = openai.OpenAI(base_url=f"{url}/v1", api_key="s3cret", max_retries=0)
        reply = c.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
        assert reply.choices[0].message.content == "You said: hi"
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=f"{url}/v1", api_key="nope", max_retries=0).models.list()
