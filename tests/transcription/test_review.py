"""Review pages: self-contained, offline, and working in a real browser (headless Chromium driven by Selenium)."""
import base64
import hashlib
import json
import re

import pytest
import soundfile as sf
from support import browser
from support.sessions import scripted_result, two_voices

from aitranscribe.transcription import review

SR = 16000


def _result():
    return {"name": "week1/visit", "seconds": 3.0, "turns": [{"speaker": "SPEAKER_1", "start": 0.1, "end": 2.0}],
            "phones": [{"phone": "a", "start": 0.1, "end": 0.2, "speaker": "SPEAKER_1"}],
            "words": [{"word": "hello", "start": 0.1, "end": 0.5, "speaker": "SPEAKER_1", "confidence": 0.9},
                      {"word": "</script><script>alert(1)</script>", "start": 0.6, "end": 0.9,
                       "speaker": "SPEAKER_1", "confidence": 0.1}]}


def _data(html: str) -> dict:
    return json.loads(re.search(r'<script id="data" type="application/json">(.*?)</script>', html, re.S).group(1))


def test_a_page_is_self_contained_and_its_policy_allows_only_its_own_script_and_style():
    html = review.page(_result(), "../recordings/week1/visit%20one.wav", {"SPEAKER_1": "Therapist", "SPEAKER_9": "x"})
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html).group(1)
    assert "default-src 'none'" in policy and "connect-src 'none'" in policy and "media-src file: blob:" in policy
    scripts = re.findall(r"<script>(.*?)</script>", html, re.S)
    styles = re.findall(r"<style>(.*?)</style>", html, re.S)
    assert len(scripts) == 1 and len(styles) == 1
    for body in (scripts[0], styles[0]):  # the policy names exactly the page's own inline code
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in policy
    assert not re.findall(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", html)  # no remote source anywhere
    assert 'src="../recordings/week1/visit%20one.wav"' in html
    data = _data(html)  # a word cannot close the data block early
    assert data["words"][1]["word"] == "</script><script>alert(1)</script>"
    assert data["names"] == {"SPEAKER_1": "Therapist"} and data["file_stem"] == "visit"
    assert "phones" not in data["result"] and "words" not in data["result"]


def test_audio_is_referenced_relative_to_the_page(tmp_path):
    page = tmp_path / "out" / "review" / "visit.html"
    recording = tmp_path / "my recordings" / "visit #1.wav"
    assert review.audio_href(page, recording) == "../../my%20recordings/visit%20%231.wav"


def test_reference_text_reads_plain_text_and_page_downloads():
    assert review.reference_text("hello there\nhow are you\n") == "hello there\nhow are you\n"
    download = f"{review.REFERENCE_HEADER} week1/visit\nTherapist: hello there\nSPEAKER_2: fine thanks\n"
    assert review.reference_text(download) == "hello there\nfine thanks"


# --- in a real browser --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def session_page(tmp_path_factory):
    """The two-voice session written as a 44.1 kHz recording in a folder, and its review page in another folder
    (a transcript read off its true turns, as a folder run would write it)."""
    from aitranscribe.io import audio

    root = tmp_path_factory.mktemp("review")
    x, reference = two_voices(12)
    recording = root / "recordings" / "visit.wav"
    recording.parent.mkdir()
    sf.write(str(recording), audio.resample(x, SR, 44100), 44100)
    result = scripted_result("visit", len(x) / SR, reference)
    (page,) = review.write_pages(root / "out" / "review", [result], {"visit": recording}, {"SPEAKER_1": "Therapist"},
                                 threshold=0.5)
    return page, result


@pytest.fixture
def chrome(tmp_path):
    browser.require_chromium()
    with browser.chromium(tmp_path / "downloads") as driver:
        yield driver, tmp_path / "downloads"


def test_the_page_opens_offline_and_plays_the_original_recording(chrome, session_page):
    driver, _ = chrome
    page, result = session_page
    browser.open_review(driver, page)
    seen = browser.requests(driver)
    assert page.as_uri() in [r["url"] for r in seen] and not browser.remote(seen)
    duration = driver.execute_script("return document.getElementById('audio').duration")
    assert abs(duration - result["seconds"]) < 0.05  # the relative reference found the recording
    assert len(driver.find_elements("css selector", ".w")) == len(result["words"])
    heads = [e.text for e in driver.find_elements("css selector", ".turn .who")]
    assert heads[:2] == ["Therapist", "SPEAKER_2"]
    shares = driver.find_elements("css selector", "#figures tr[data-speaker='SPEAKER_1'] td")
    assert shares[2].text == f"{100 * result['session']['speakers']['SPEAKER_1']['talk_share']:.1f}%"
    assert driver.find_elements("css selector", "#timeline rect")


def test_clicking_a_word_plays_from_its_start_and_highlights_it(chrome, session_page):
    driver, _ = chrome
    page, result = session_page
    browser.open_review(driver, page)
    k = len(result["words"]) // 2
    assert abs(browser.click_word(driver, k) - result["words"][k]["start"]) <= 0.1
    browser.wait_for(lambda: browser.player_time(driver) > result["words"][k + 2]["start"],
                     what="playback to pass two more words")
    lit = driver.find_elements("css selector", ".w.now")
    assert len(lit) == 1 and int(lit[0].get_attribute("data-i")) > k
    assert not browser.remote(browser.requests(driver))


def test_doubtful_words_are_marked_and_the_key_goes_to_the_next(chrome, session_page):
    driver, _ = chrome
    page, result = session_page
    browser.open_review(driver, page)
    doubtful = [i for i, w in enumerate(result["words"]) if w["confidence"] < 0.5]
    marked = [int(e.get_attribute("data-i")) for e in driver.find_elements("css selector", ".w.doubt")]
    assert marked == doubtful
    body = driver.find_element("tag name", "body")
    body.send_keys("n")
    body.send_keys("n")
    assert int(driver.find_element("css selector", ".w.sel").get_attribute("data-i")) == doubtful[1]
    threshold = driver.find_element("id", "threshold")
    threshold.clear()
    threshold.send_keys("0.1")
    assert not driver.find_elements("css selector", ".w.doubt")


def test_a_corrected_word_and_speaker_name_are_exported(chrome, session_page):
    driver, downloads = chrome
    page, result = session_page
    browser.open_review(driver, page)
    k = 3
    browser.correct_word(driver, k, "corrected")
    name = driver.find_element("css selector", "#figures tr[data-speaker='SPEAKER_2'] input")
    name.clear()
    name.send_keys("Client\n")
    (corrected,), text = browser.download_corrections(driver, downloads, "visit")
    assert corrected["corrected"] is True and corrected["name"] == "visit"
    assert corrected["speaker_names"] == {"SPEAKER_1": "Therapist", "SPEAKER_2": "Client"}
    changed = [(i, w) for i, w in enumerate(corrected["words"]) if w.get("edited")]
    assert [(i, w["word"], w["original"]) for i, w in changed] == [(k, "corrected", result["words"][k]["word"])]
    assert [w["word"] for i, w in enumerate(corrected["words"]) if i != k] == \
        [w["word"] for i, w in enumerate(result["words"]) if i != k]
    assert text.startswith(f"{review.REFERENCE_HEADER} visit\nTherapist: ") and "\nClient: " in text
    words = [w["word"] for w in result["words"]]
    words[k] = "corrected"
    assert review.reference_text(text).split() == words
    assert not browser.remote(browser.requests(driver))


def test_the_policy_blocks_a_remote_load_that_the_request_log_would_see(chrome, session_page, tmp_path):
    """The check can fail: a page without the policy that loads a remote image shows up in the request log, and
    the same image added to a review page is stopped by the policy before it leaves."""
    driver, _ = chrome
    page, _ = session_page
    remote = "http://192.0.2.1/pixel.png"  # TEST-NET-1: never routed
    plain = tmp_path / "plain.html"
    plain.write_text(f'<html><body><img src="{remote}"></body></html>')
    driver.get(plain.as_uri())
    assert remote in browser.wait_for(lambda: browser.remote(browser.requests(driver), blocked_too=False),
                                      what="the remote request")
    browser.open_review(driver, page)
    browser.requests(driver)
    driver.execute_script("window.blocked = 0; document.addEventListener('securitypolicyviolation', "
                          "() => { window.blocked += 1; });"
                          f"const i = document.createElement('img'); i.src = '{remote}'; document.body.appendChild(i);")
    browser.wait_for(lambda: driver.execute_script("return window.blocked"), what="the policy violation")
    seen = browser.requests(driver)
    assert [(r["url"], r["blocked"]) for r in seen if r["url"] == remote] == [(remote, "csp")]
    assert not browser.remote(seen, blocked_too=False)


def test_a_corrected_turn_shares_its_time_span_among_its_new_words(chrome, session_page):
    driver, downloads = chrome
    page, result = session_page
    browser.open_review(driver, page)
    first_turn = [w for w in result["words"] if w["start"] <= result["turns"][0]["end"]]
    driver.find_element("css selector", ".turn .edit-turn").click()
    area = driver.find_element("css selector", ".turn textarea")
    area.clear()
    area.send_keys("so this is what I said")
    driver.find_element("xpath", "//button[text()='Save turn']").click()
    (corrected,), _ = browser.download_corrections(driver, downloads, "visit")
    new = corrected["words"][:6]
    assert [w["word"] for w in new] == "so this is what I said".split() and all(w["edited"] for w in new)
    assert new[0]["start"] == first_turn[0]["start"] and new[-1]["end"] == pytest.approx(first_turn[-1]["end"], abs=1e-3)
    assert all(a["end"] <= b["start"] + 1e-3 for a, b in zip(new, new[1:]))
    assert corrected["words"][6:] == [{**w} for w in result["words"][len(first_turn):]]
    assert corrected["segments"][0]["text"] == "so this is what I said"
