"""Headless Chromium (Debian's chromium + chromium-driver, installed by run_all.sh) driven by Selenium, offline.

The browser starts with a fresh profile and without its background services (no component updates, sync or
network probes), logs every network request it makes (Chrome's performance log: CDP ``Network`` events) and saves
downloads into a given folder.
"""
import contextlib
import json
import shutil
import tempfile
import time
from pathlib import Path

import pytest

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1280,900")
LOCAL_SCHEMES = ("file:", "data:", "blob:")


def require_chromium() -> None:
    """Skip with the reason when the browser, its driver or Selenium is missing (run_all.sh installs them)."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (bash run_all.sh --setup-only installs chromium and "
                    "chromium-driver)")
    pytest.importorskip("selenium")


@contextlib.contextmanager
def chromium(downloads: Path):
    """A headless Chromium session (Selenium WebDriver) that saves downloads into ``downloads``."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
        driver.get_log("performance")  # what the browser did while starting, before any page of ours
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def requests(driver) -> list[dict]:
    """The requests the page started since the last call (CDP ``Network.requestWillBeSent``): ``url`` and
    ``blocked``, the reason the browser stopped it before it left (e.g. ``csp``), or None."""
    started, blocked = {}, {}
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        params = message.get("params", {})
        if message["method"] == "Network.requestWillBeSent":
            started[params["requestId"]] = params["request"]["url"]
        elif message["method"] == "Network.loadingFailed" and params.get("blockedReason"):
            blocked[params["requestId"]] = params["blockedReason"]
    return [{"url": url, "blocked": blocked.get(key)} for key, url in started.items()]


def remote(requests: list[dict], blocked_too: bool = True) -> list[str]:
    """URLs of ``requests`` that are neither local files nor in-page data (with ``blocked_too`` False, only those
    the browser did not stop)."""
    return [r["url"] for r in requests
            if not r["url"].startswith(LOCAL_SCHEMES) and (blocked_too or r["blocked"] is None)]


def wait_for(condition, timeout: float = 10.0, what: str = "condition"):
    """Poll ``condition()`` until it returns a truthy value (returned) or ``timeout`` seconds pass (an error)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


# --- a review page (aitranscribe.transcription.review) ----------------------------------------------------------


def open_review(driver, page: Path) -> None:
    """Open a review page from disk and wait until its player has read the recording's metadata."""
    driver.get(page.as_uri())
    wait_for(lambda: driver.execute_script("return document.getElementById('audio').readyState >= 1"),
             what="the recording's metadata")


def player_time(driver) -> float:
    return driver.execute_script("return document.getElementById('audio').currentTime")


def click_word(driver, k: int) -> float:
    """Click word ``k`` (0-based) and return the player's time right after."""
    driver.find_element("css selector", f".w[data-i='{k}']").click()
    return player_time(driver)


def correct_word(driver, k: int, text: str) -> None:
    """Double-click word ``k``, type ``text`` and Enter, as a reviewer does."""
    word = driver.find_element("css selector", f".w[data-i='{k}']")
    driver.execute_script("arguments[0].dispatchEvent(new MouseEvent('dblclick', {bubbles: true}))", word)
    field = driver.find_element("css selector", f".w[data-i='{k}'] input")
    field.clear()
    field.send_keys(text + "\n")


def download_corrections(driver, downloads: Path, stem: str) -> tuple[list, str]:
    """Click both downloads; return the corrected ``transcripts.json`` (parsed) and the ``.txt``."""
    driver.find_element("id", "export-json").click()
    driver.find_element("id", "export-txt").click()
    json_path, txt_path = downloads / f"{stem}.transcripts.json", downloads / f"{stem}.txt"
    wait_for(lambda: json_path.is_file() and txt_path.is_file(), what="the downloads")
    return json.loads(json_path.read_text()), txt_path.read_text()
