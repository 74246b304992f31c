"""The frontend's static server, in process on a free port."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import httpx
import pytest
from zyron.frontend.config import FrontendSettings
from zyron.frontend.server import make_server


@pytest.fixture
def url() -> Iterator[str]:
    server = make_server(FrontendSettings(port=0, backend_url="http://127.0.0.1:9999/", env="test"))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_page_assets_config_and_health(url: str) -> None:
    page = httpx.get(url + "/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'id="status-table"' in page.text and 'src="app.js"' in page.text
    assert "fetch(" in httpx.get(url + "/app.js").text
    assert httpx.get(url + "/style.css").headers["content-type"].startswith("text/css")
    config = httpx.get(url + "/config.json").json()
    assert config == {
        "backend_url": "http://127.0.0.1:9999",
        "refresh_ms": 2000,
        "env": "test",
        "title": "Zyron AI",
    }
    assert json.loads(httpx.get(url + "/health").text)["status"] == "ok"


def test_unknown_paths_never_touch_the_file_system(url: str) -> None:
    for path in ("/../../etc/passwd", "/static/../server.py", "/server.py", "/%2e%2e/config.py"):
        assert httpx.get(url + path).status_code == 404


def test_head(url: str) -> None:
    response = httpx.head(url + "/")
    assert response.status_code == 200 and response.content == b""
    assert int(response.headers["content-length"]) > 100
