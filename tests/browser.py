"""A real headless Chromium for page tests: Debian's ``chromium`` driven through Debian's
``chromedriver`` by Selenium (no browser download, no Selenium Manager).

The browser gets a fresh profile in the test's temporary directory and no background
networking, so what a page shows is what the file (or the local server) gave it. Console
messages are read from Chromium's browser log.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
)


def require_chromium() -> None:
    """Fail (not skip) when the browser is missing: install.sh installs it, like adb."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if shutil.which(path) is None:
            pytest.fail(f"{path} is missing: run ./install.sh (it installs Debian's chromium)")


@contextmanager
def chromium(profile: Path, *, width: int = 1280, height: int = 900) -> Iterator[object]:
    """A Selenium WebDriver on headless Chromium with a fresh ``--user-data-dir``."""
    require_chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={width},{height}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()


def console_errors(driver: object, *, ignore: tuple[str, ...] = ()) -> list[str]:
    """SEVERE console entries since the last call (uncaught errors, console.error, failed
    loads), minus those containing any of ``ignore``."""
    entries = driver.get_log("browser")  # type: ignore[attr-defined]
    return [
        e["message"]
        for e in entries
        if e.get("level") == "SEVERE" and not any(i in e["message"] for i in ignore)
    ]


def wait_ready(driver: object, timeout: float = 60.0) -> None:
    """Wait until report.html has drawn everything (its body's ``data-ready``), or fail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if driver.execute_script("return document.body.getAttribute('data-ready')"):  # type: ignore[attr-defined]
            return
        time.sleep(0.1)
    raise AssertionError("report.html did not finish drawing")
