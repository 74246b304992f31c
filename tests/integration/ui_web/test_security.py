"""Each security rule of the web dashboard, checked over plain HTTP against a real supervisor."""

from __future__ import annotations

import json

import pytest

from .conftest import Dashboard, Project

ACTIONS = ("start", "stop", "restart", "apply")


@pytest.fixture
def web(shared: tuple[Project, Dashboard]) -> Dashboard:
    return shared[1]


def pid_of(proj: Project, name: str) -> int:
    return int(proj.status()["services"][name]["pid"])


def test_the_token_is_traded_for_an_httponly_strict_cookie(web: Dashboard) -> None:
    status, headers, body = web.request("GET", f"/?token={web.token}", cookie=False)
    assert status == 200
    assert b"<table id=\"services\">" in body
    cookie = headers["set-cookie"]
    name, _, rest = cookie.partition("=")
    assert name == f"dev_orchestrator_{web.port}"
    value, *flags = [p.strip() for p in rest.split(";")]
    assert value == web.token
    assert {"HttpOnly", "SameSite=Strict", "Path=/"} <= set(flags)
    # The cookie alone opens the API; a page opened with the cookie gets no new one.
    status, headers, _ = web.request("GET", "/", cookie=True)
    assert status == 200 and "set-cookie" not in headers
    status, _, body = web.request("GET", "/api/status")
    assert status == 200 and set(json.loads(body)["services"]) == {"db", "web", "worker"}


@pytest.mark.parametrize("path", ["/", "/app.js", "/api/status", "/api/events", "/api/graph"])
def test_no_token_or_cookie_is_401(web: Dashboard, path: str) -> None:
    status, _, body = web.request("GET", path, cookie=False)
    assert status == 401
    assert "dev-orchestrator dashboard" in json.loads(body)["message"]


def test_a_wrong_token_or_cookie_is_401(web: Dashboard) -> None:
    wrong = web.token[:-1] + ("A" if web.token[-1] != "A" else "B")
    assert web.request("GET", f"/?token={wrong}", cookie=False)[0] == 401
    assert web.request("GET", "/api/status", cookie=False,
                       headers={"Cookie": f"dev_orchestrator_{web.port}={wrong}"})[0] == 401
    # The token in the URL opens only the page, where it becomes the cookie; not the API.
    assert web.request("GET", f"/api/status?token={web.token}", cookie=False)[0] == 401


@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "127.0.0.1.evil.example:{port}",
                                  "127.0.0.1:1", "localhost:{port}0", "10.0.0.1:{port}"])
def test_a_host_that_is_not_the_loopback_is_403(web: Dashboard, host: str) -> None:
    status, _, body = web.request("GET", "/api/status", host=host.format(port=web.port))
    assert status == 403
    assert "DNS rebinding" in json.loads(body)["message"]
    # The token does not get past it either.
    assert web.request("GET", f"/?token={web.token}", host=host.format(port=web.port), cookie=False)[0] == 403


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "[::1]:{port}", "localhost", "127.0.0.1"])
def test_loopback_hosts_are_served(web: Dashboard, host: str) -> None:
    assert web.request("GET", "/api/status", host=host.format(port=web.port))[0] == 200


@pytest.mark.parametrize("origin", [
    {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"},
    {"Origin": "http://evil.example"},
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site", "Origin": "http://localhost:1"},
    {"Origin": "null"},
    {},
])
def test_a_cross_origin_post_is_403_and_changes_nothing(shared: tuple[Project, Dashboard],
                                                        origin: dict[str, str]) -> None:
    proj, web = shared
    before = pid_of(proj, "web")
    status, _, body = web.request("POST", "/api/restart", body={"services": ["web"]}, headers=origin)
    assert status == 403
    assert "cross-origin" in json.loads(body)["message"]
    assert pid_of(proj, "web") == before


def test_an_action_needs_a_json_body(shared: tuple[Project, Dashboard]) -> None:
    proj, web = shared
    before = pid_of(proj, "web")
    # A form a page of another site could submit without asking: text/plain or urlencoded.
    for kind in ("text/plain", "application/x-www-form-urlencoded"):
        status, _, _ = web.request("POST", "/api/restart", raw=b'{"services": ["web"]}',
                                   headers={**web.same_origin(), "Content-Type": kind})
        assert status == 415
    status, _, body = web.request("POST", "/api/restart", raw=b"[1, 2]",
                                  headers={**web.same_origin(), "Content-Type": "application/json"})
    assert status == 400 and "JSON object" in json.loads(body)["message"]
    status, _, body = web.request("POST", "/api/restart", body={"services": "web"}, headers=web.same_origin())
    assert status == 400 and "services" in json.loads(body)["message"]
    assert pid_of(proj, "web") == before


@pytest.mark.parametrize("action", ACTIONS)
def test_get_on_an_action_is_405(shared: tuple[Project, Dashboard], action: str) -> None:
    proj, web = shared
    before = pid_of(proj, "web")
    status, headers, _ = web.request("GET", f"/api/{action}?services=web")
    assert status == 405
    assert headers["allow"] == "POST"
    assert pid_of(proj, "web") == before


def test_post_on_a_page_is_405(web: Dashboard) -> None:
    status, headers, _ = web.request("POST", "/api/status", body={}, headers=web.same_origin())
    assert status == 405 and headers["allow"] == "GET"


@pytest.mark.parametrize(("path", "cookie", "host"), [
    ("/", True, None), ("/app.js", True, None), ("/app.css", True, None), ("/api/status", True, None),
    ("/api/status", False, None), ("/api/status", True, "evil.example"), ("/nothing", True, None),
])
def test_every_reply_has_the_content_security_policy(web: Dashboard, path: str, cookie: bool,
                                                     host: str | None) -> None:
    _status, headers, _ = web.request("GET", path, cookie=cookie, host=host)
    assert headers["content-security-policy"] == "default-src 'self'"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"


def test_the_page_uses_no_inline_script_or_style(web: Dashboard) -> None:
    # What default-src 'self' would block: the page must not need it.
    _status, _, body = web.request("GET", "/")
    page = body.decode()
    assert "<script src=\"/app.js\"" in page and "<link rel=\"stylesheet\" href=\"/app.css\">" in page
    assert "<style" not in page and " style=" not in page and "onclick" not in page
    assert "<script>" not in page and "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
