"""The page in headless Chromium, as a person uses it: upload a generated fake and a real
clip, wait for the verdicts, see the pictures load; upload a text file renamed .mp4 and an
empty file, read the message, and go on using the page.

Needs Debian's ``chromium`` and ``chromium-driver`` and the ``selenium`` package
(``make browser-deps``); skips cleanly without them, unless ``TFDEEPFAKE_REQUIRE_BROWSER=1``
(``.ci/run`` sets it): then their absence is an error, so CI cannot pass unopened."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest

REQUIRED = os.environ.get("TFDEEPFAKE_REQUIRE_BROWSER") == "1"

if REQUIRED:
    import selenium  # noqa: F401  (missing: a collection error, not a skip)
else:
    selenium = pytest.importorskip("selenium", reason="selenium not installed (make browser-deps)")

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
DRIVERS = ("chromedriver", "/usr/lib/chromium/chromedriver")


def _find(names) -> str | None:
    for name in names:
        if shutil.which(name):
            return shutil.which(name)
        if os.path.isabs(name) and os.access(name, os.X_OK):
            return name
    return None


BROWSER, DRIVER = _find(BROWSERS), _find(DRIVERS)
if REQUIRED and (BROWSER is None or DRIVER is None):
    pytest.fail("TFDEEPFAKE_REQUIRE_BROWSER=1 but chromium / chromium-driver is absent "
                "(make browser-deps)", pytrace=False)
pytestmark = pytest.mark.skipif(BROWSER is None or DRIVER is None,
                                reason="chromium / chromium-driver absent (make browser-deps)")


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = BROWSER
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--window-size=1000,1400", "--mute-audio"):
        options.add_argument(flag)
    # The driver path given: selenium's manager never looks for one on the network.
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def server(web_world, tmp_path_factory):
    from werkzeug.serving import make_server

    from tfdeepfake.web.app import create_app
    from tfdeepfake.web.files import VideoFolder
    from tfdeepfake.web.jobs import JobQueue

    jobs = JobQueue({"tiny": web_world["detector"]}, work_dir=tmp_path_factory.mktemp("serve"))
    app = create_app(jobs, videos=VideoFolder(web_world["videos"]), max_upload_mb=20)
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    jobs.close()


def _upload(browser, server, path: Path):
    browser.get(server + "/")
    browser.find_element(By.ID, "video-input").send_keys(str(path))
    _submit(browser, "upload-button")


def _submit(browser, button_id: str):
    old_page = browser.find_element(By.TAG_NAME, "html")
    browser.find_element(By.ID, button_id).click()
    # click() can return before the form's navigation starts: wait for the next page.
    WebDriverWait(browser, 30).until(expected_conditions.staleness_of(old_page))


def _wait_for_result(browser, timeout=60):
    WebDriverWait(browser, timeout).until(
        lambda b: b.find_elements(By.ID, "verdict") or b.find_elements(By.ID, "error"))
    assert not browser.find_elements(By.ID, "error"), browser.find_element(By.ID, "error").text


def _image_width(browser, element_id: str) -> int:
    return browser.execute_script(
        "var i = document.getElementById(arguments[0]);"
        "return i && i.complete ? i.naturalWidth : 0;", element_id)


@pytest.mark.parametrize("clip, expected", [("fake", "FAKE"), ("real", "REAL")])
def test_an_uploaded_clip_gets_its_verdict_and_pictures(browser, server, web_world, clip, expected):
    _upload(browser, server, web_world[clip])
    assert "/jobs/" in browser.current_url
    _wait_for_result(browser)
    assert browser.find_element(By.ID, "verdict").text == expected
    assert "Fake probability" in browser.find_element(By.ID, "probability").text
    assert browser.find_element(By.CSS_SELECTOR, "h1.name").text == f"{clip}_clip.mp4"
    WebDriverWait(browser, 10).until(
        lambda b: all(_image_width(b, i) > 0 for i in ("plot", "faces", "heatmap")))
    assert _image_width(browser, "plot") == 800
    # The annotated video: Chromium opens it (H.264) and knows its size.
    WebDriverWait(browser, 15).until(lambda b: b.execute_script(
        "var v = document.getElementById('annotated'); return v.readyState >= 1 && !v.error;"))
    assert browser.execute_script("return document.getElementById('annotated').videoWidth") == 320


def test_a_video_picked_from_the_folder(browser, server):
    browser.get(server + "/")
    options = [o.text for o in browser.find_elements(By.CSS_SELECTOR, "#video-select option")]
    assert options == ["fake_clip.mp4", "real_clip.mp4"]
    _submit(browser, "pick-button")
    _wait_for_result(browser)
    assert browser.find_element(By.ID, "verdict").text == "FAKE"


def test_a_text_file_and_an_empty_file_get_a_message_and_the_page_goes_on(browser, server,
                                                                        tmp_path, web_world):
    text = tmp_path / "holiday.mp4"
    text.write_text("These are my holiday notes, not a video.\n" * 50)
    _upload(browser, server, text)
    message = browser.find_element(By.ID, "message").text
    assert "holiday.mp4: not a video file" in message
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    _upload(browser, server, empty)
    assert "empty.mp4: the file is empty (0 bytes)" in browser.find_element(By.ID, "message").text
    # Still serving: the form again, and a real upload still works.
    _upload(browser, server, web_world["real"])
    _wait_for_result(browser)
    assert browser.find_element(By.ID, "verdict").text == "REAL"
