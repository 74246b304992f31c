"""The web dashboard in a real headless Chromium against a real supervisor: log in with the
token, see every service, restart one and watch the change arrive over the event stream,
search and filter the merged logs.

With DEV_ORCHESTRATOR_SCREENSHOTS=1 it also saves docs/images/dashboard.png (the picture in
docs/UI.md); otherwise it writes nothing outside its temp folder.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import Dashboard, Project, open_dashboard, write_stack

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
SCREENSHOT = Path(__file__).resolve().parents[3] / "docs" / "images" / "dashboard.png"


@pytest.fixture
def browser() -> Iterator[object]:
    if not (CHROMIUM and CHROMEDRIVER):
        message = "needs chromium and chromedriver (apt-get install chromium chromium-driver)"
        if os.environ.get("CI"):
            pytest.fail(message + "; .ci/run installs them, so CI must have them")
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1360,960"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()  # ends chromium and chromedriver


@pytest.fixture
def slow_web(project: Project, ports: list[int]) -> Iterator[Dashboard]:
    """The three-service stack with a ``web`` that listens 1.5 s after it starts, so that its
    restart spends a visible while in ``starting``."""
    write_stack(project, ports[0], ports[1], web_delay=1.5)
    yield open_dashboard(project)
    project.run("stop", "--grace", "1s", timeout=60)


def test_dashboard_in_a_browser(slow_web: Dashboard, browser: object, project: Project) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support.ui import Select, WebDriverWait

    assert isinstance(browser, WebDriver)
    web = slow_web
    wait = WebDriverWait(browser, 30, poll_frequency=0.05)

    # Reads go through one script each: the page redraws as events arrive, so an element
    # found in one call may be gone by the next.
    def js(script: str, *args: object) -> object:
        return browser.execute_script(script, *args)

    def row_attr(service: str, attr: str) -> object:
        return js("const r = document.querySelector(`#services tbody tr[data-service='${arguments[0]}']`);"
                  "return r ? r.getAttribute(arguments[1]) : null", service, attr)

    def attrs(selector: str, *names: str) -> object:
        return js("return Array.from(document.querySelectorAll(arguments[0]))"
                  ".map((e) => arguments[1].map((n) => e.getAttribute(n)))", selector, list(names))

    def retype(element_id: str, text: str) -> None:
        box = browser.find_element(By.ID, element_id)  # typed as a user does: each key an input event
        box.send_keys(Keys.CONTROL, "a")
        box.send_keys(Keys.BACKSPACE)
        if text:
            box.send_keys(text)

    def texts(selector: str) -> list[str]:
        return list(js("return Array.from(document.querySelectorAll(arguments[0])).map((e) => e.textContent)",
                       selector))  # type: ignore[call-overload]

    # Without the token: 401, no page.
    browser.get(f"http://127.0.0.1:{web.port}/")
    assert "no valid token" in browser.page_source

    # Log in with the token: the page drops it from the address bar; the cookie is HttpOnly, Strict.
    browser.get(web.url)
    wait.until(lambda d: d.find_element(By.ID, "connection").text == "live")
    assert browser.current_url == f"http://127.0.0.1:{web.port}/"
    cookie = browser.get_cookie(f"dev_orchestrator_{web.port}")
    assert cookie is not None and cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, '#services tbody tr[data-state="running"]')) == 3)
    assert attrs("#services tbody tr", "data-service") == [["db"], ["web"], ["worker"]]
    assert "demo · env dev" in browser.find_element(By.ID, "headline").text
    wait.until(lambda d: sorted(attrs("#graph g.node", "data-service", "data-state"))  # type: ignore[arg-type]
               == [["db", "running"], ["web", "running"], ["worker", "running"]])
    bars = [b[0] for b in attrs("#waterfall g.bar", "data-service")]  # type: ignore[union-attr]
    assert bars[0] == "db" and set(bars) == {"db", "web", "worker"}

    # Search the merged logs: every match is marked, in lines of the service that wrote them.
    wait.until(lambda d: any("upstream timeout" in t for t in texts("#log .line")))
    retype("log-search", "upstream")
    wait.until(lambda d: texts("#log mark"))
    marked = js("return Array.from(document.querySelectorAll('#log mark'))"
                ".map((m) => [m.textContent, m.parentNode.dataset.service])")
    assert marked == [["upstream", "worker"]]
    assert browser.find_element(By.ID, "log-hits").text == "1 matches"
    browser.find_element(By.ID, "hit-next").click()
    wait.until(lambda d: texts("#log mark.current") == ["upstream"])
    if os.environ.get("DEV_ORCHESTRATOR_SCREENSHOTS") == "1":
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(SCREENSHOT))

    # The plan, shown before anything is applied: nothing differs from the files.
    browser.find_element(By.ID, "apply-plan").click()
    wait.until(lambda d: d.find_element(By.ID, "plan-dialog").get_attribute("open") is not None)
    assert browser.find_element(By.ID, "plan-text").text == "db, web, worker: unchanged"
    browser.find_element(By.ID, "plan-cancel").click()
    wait.until(lambda d: d.find_element(By.ID, "plan-dialog").get_attribute("open") is None)

    # A search stays on while lines arrive: the restarted web's first line is marked too.
    retype("log-search", "listening on")
    wait.until(lambda d: texts("#log mark"))
    listening = len(texts("#log mark"))

    # Restart web: the page only hears of it over the event stream (it never polls, and it
    # is not reloaded: the mark set on the window survives).
    browser.execute_script("window.__same_page = true")
    old_pid = row_attr("web", "data-pid")
    browser.find_element(By.CSS_SELECTOR, 'button[data-action="restart"][data-service="web"]').click()
    wait.until(lambda d: row_attr("web", "data-state") == "starting")
    wait.until(lambda d: ["web", "starting"] in attrs("#graph g.node", "data-service", "data-state"))  # type: ignore[operator]
    wait.until(lambda d: row_attr("web", "data-state") == "running" and row_attr("web", "data-pid") != old_pid)
    wait.until(lambda d: d.find_element(By.ID, "message").text == "restarted web")
    assert browser.execute_script("return window.__same_page") is True
    assert row_attr("web", "data-pid") == str(project.status()["services"]["web"]["pid"])
    wait.until(lambda d: attrs("#waterfall g.bar", "data-service") == [["web"]])
    wait.until(lambda d: len(texts("#log mark")) == listening + 1)
    assert browser.find_element(By.ID, "log-hits").text == f"{listening + 1} matches"
    retype("log-search", "")

    # Filter: only matching lines; !pattern: all but those; one service's log.
    retype("log-filter", "job")
    wait.until(lambda d: all("job" in t for t in texts("#log .line")))
    shown = texts("#log .line")
    assert any("job 0 done" in t for t in shown) and not any("listening on" in t for t in shown)
    retype("log-filter", "!job")
    wait.until(lambda d: texts("#log .line") and not any("job" in t for t in texts("#log .line")))
    retype("log-filter", "ERROR +1")  # one line of context each side, shown dimmed
    wait.until(lambda d: attrs("#log .line", "class") == [["line context"], ["line"], ["line context"]])
    assert "ERROR job 5 failed" in texts("#log .line")[1]
    retype("log-filter", "")
    Select(browser.find_element(By.ID, "log-service")).select_by_value("worker")
    wait.until(lambda d: {s[0] for s in attrs("#log .line", "data-service")} == {"worker"})  # type: ignore[union-attr]

    # JSON lines pretty-printed on demand.
    browser.find_element(By.ID, "log-json").click()
    wait.until(lambda d: any(t.rstrip().endswith('"jobs": 6') for t in texts("#log .line")))

    severe = [e for e in browser.get_log("browser") if e.get("level") == "SEVERE"
              and "/:0" not in e.get("message", "") and "401" not in e.get("message", "")]
    assert not severe, severe  # no script error, no request the page's policy refused


def test_replicas_get_rows_and_bars_of_their_own(project: Project, ports: list[int], browser: object) -> None:
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support.ui import WebDriverWait

    assert isinstance(browser, WebDriver)
    write_stack(project, ports[0], ports[1], workers=3)
    web = open_dashboard(project)
    try:
        browser.get(web.url)
        wait = WebDriverWait(browser, 30, poll_frequency=0.05)

        def rows() -> object:
            return browser.execute_script(
                "return Array.from(document.querySelectorAll('#services tbody tr')).map((r) => "
                "[r.dataset.service, r.dataset.state, r.className, r.querySelectorAll('button').length])")

        wait.until(lambda d: [r[0] for r in rows()] == ["db", "web", "worker", "worker#2", "worker#3"])  # type: ignore[attr-defined]
        wait.until(lambda d: all(r[1] == "running" for r in rows()))  # type: ignore[attr-defined]
        # A further replica's row sits under its service's, without buttons (they act on the service).
        assert [(r[2], r[3]) for r in rows()] == [("", 3), ("", 3), ("", 3), ("replica", 0), ("replica", 0)]  # type: ignore[attr-defined]
        pids = browser.execute_script(
            "return Array.from(document.querySelectorAll('#services tbody tr')).map((r) => r.dataset.pid)")
        status = project.status()["services"]["worker"]
        assert pids[2:] == [str(r["pid"]) for r in status["replicas"]]  # type: ignore[index]
        bars = browser.execute_script(
            "return Array.from(document.querySelectorAll('#waterfall g.bar')).map((g) => g.dataset.service)")
        assert sorted(bars) == ["db", "web", "worker", "worker#2", "worker#3"]  # type: ignore[arg-type]
    finally:
        project.run("stop", "--grace", "1s", timeout=60)
