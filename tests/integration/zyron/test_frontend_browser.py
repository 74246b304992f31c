"""The frontend in a real headless Chromium: it shows the stack's status and runs a job."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from zyron_procs import Launcher, free_port, png

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


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
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1200,900",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()  # ends chromium and chromedriver


def test_page_shows_status_and_runs_a_thumbnail_job(
    launcher: Launcher, browser: object, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support.ui import WebDriverWait

    assert isinstance(browser, WebDriver)
    redis = launcher.redis()
    vb = launcher.visual_brain(redis.port)
    assert launcher.migrate(vb.url).returncode == 0
    frontend_port = free_port()
    origin = f"http://127.0.0.1:{frontend_port}"
    backend = launcher.backend(
        vb.url, BACKEND_FRONTEND_URL=origin, BACKEND_CORS_ORIGINS=json.dumps([origin])
    )
    launcher.frontend(backend.url, port=frontend_port)

    browser.get(origin + "/")
    wait = WebDriverWait(browser, 30, poll_frequency=0.1)
    wait.until(lambda d: d.find_element(By.ID, "overall").text == "all services healthy")
    rows = browser.find_elements(By.CSS_SELECTOR, "#status-table tbody tr")
    services = {row.get_attribute("data-service"): row.get_attribute("data-ok") for row in rows}
    assert services == {
        "frontend": "true",
        "backend": "true",
        "database": "true",
        "visual-brain": "true",
        "redis": "true",
    }
    assert browser.find_element(By.ID, "env").text == "env: test"

    image = tmp_path / "upload.png"
    image.write_bytes(png(640, 480))
    browser.find_element(By.ID, "file").send_keys(str(image))
    width = browser.find_element(By.ID, "max-width")
    width.clear()
    width.send_keys("120")
    browser.find_element(By.ID, "submit").click()

    wait.until(lambda d: d.find_element(By.ID, "message").get_attribute("data-job"))
    job_id = browser.find_element(By.ID, "message").get_attribute("data-job")
    done = f'#jobs tbody tr[data-job="{job_id}"][data-status="done"] img'
    wait.until(
        lambda d: d.execute_script(
            f"const i = document.querySelector('{done}'); return i && i.complete && i.naturalWidth"
        )
    )
    size = browser.execute_script(
        f"const i = document.querySelector('{done}'); return [i.naturalWidth, i.naturalHeight]"
    )
    assert size == [120, 90]
    logs = [e for e in browser.get_log("browser") if e.get("level") == "SEVERE"]
    assert not logs, logs
