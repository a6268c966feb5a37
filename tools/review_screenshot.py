"""Screenshot of a review page for the docs: the tests' synthetic two-voice session transcribed by a profile's model.

    PYTHONPATH=$PWD/lib .venv/bin/python tools/review_screenshot.py                    # demo -> docs/review-page.png
    PYTHONPATH=$PWD/lib .venv/bin/python tools/review_screenshot.py --params params/ci.yaml --out /tmp/ci.png

Needs the profile's stages 01-05 done. The session (espeak-ng voices reading WordNet examples: no real person's
speech) is written under ``<data_root>/<profile>/review-session/``, transcribed by stage 06 as a folder, and its
page opened in headless Chromium offline (tests/support/browser.py), a word clicked and played briefly, then shot.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from aitranscribe.core import registry
from aitranscribe.core.params import load_profile
from aitranscribe.core.paths import REPO_ROOT, profile_data_dir
from aitranscribe.io import audio

sys.path.insert(0, str(REPO_ROOT / "tests"))
from support import browser  # noqa: E402
from support.sessions import two_voices  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default=str(REPO_ROOT / "params" / "demo.yaml"))
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "review-page.png")
    parser.add_argument("--word", type=int, default=12, help="the word clicked before the shot")
    args = parser.parse_args(argv)
    from aitranscribe.stages import inference

    p = load_profile(args.params, {s.key: s.load().PARAMS for s in registry.STAGES})["inference"]
    folder = profile_data_dir(p) / "review-session" / "session"
    folder.mkdir(parents=True, exist_ok=True)
    recording = folder / "visit.wav"
    if not recording.is_file():  # written once: a re-run finds the folder unchanged and transcribes nothing
        x, _ = two_voices()
        sf.write(str(recording), np.asarray(audio.resample(x, audio.TARGET_SR, 44100)), 44100)
    p = {**p, "folder": str(folder), "speaker_names": {"SPEAKER_1": "Therapist", "SPEAKER_2": "Client"}}
    record = inference.run(p)
    page = Path(record["dir"]) / "review" / "visit.html"
    with browser.chromium(folder.parent / "downloads") as driver:
        browser.open_review(driver, page)
        browser.click_word(driver, args.word)
        time.sleep(0.6)  # let the highlight follow the playback a little
        driver.execute_script("document.getElementById('audio').pause(); window.scrollTo(0, 0);")
        remote = browser.remote(browser.requests(driver))
        if remote:
            raise SystemExit(f"the page asked for remote resources: {remote}")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(args.out))
    print(f"{args.out} ({page.relative_to(REPO_ROOT) if page.is_relative_to(REPO_ROOT) else page})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
