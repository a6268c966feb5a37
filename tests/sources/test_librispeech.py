"""librispeech.build against tiny archives in the real LibriSpeech layout, served on 127.0.0.1."""
from __future__ import annotations

import hashlib
import http.server
import io
import re
import tarfile
import threading
import zlib
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from aitranscribe.io import manifest
from aitranscribe.sources import librispeech
from aitranscribe.core.errors import BadInputError, KitError, ParamsError

N = 3200  # 0.2 s at 16 kHz


class LoggingHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        self.server.requests.append(self.path)
        super().do_GET()


def flac_bytes(seed: int, sr: int = 16000, channels: int = 1) -> bytes:
    rng = np.random.default_rng(seed)
    x = (0.1 * rng.standard_normal((int(0.2 * sr), channels))).astype(np.float32)
    buf = io.BytesIO()
    sf.write(buf, x, sr, format="FLAC", subtype="PCM_16")
    return buf.getvalue()


def make_subset(served: Path, subset: str, speakers: dict[str, int], *, untranscribed: int = 0,
                sr: int = 16000, audio: bool = True, extra: list[tuple[tarfile.TarInfo, bytes]] = ()) -> str:
    """Write ``{subset}.tar.gz`` (speaker -> number of utterances, one chapter each); return its sha256."""
    path = served / f"{subset}.tar.gz"
    with tarfile.open(path, "w:gz") as tf:
        def add(name: str, data: bytes):
            info = tarfile.TarInfo(f"LibriSpeech/{subset}/{name}")
            info.size, info.mode = len(data), 0o644
            tf.addfile(info, io.BytesIO(data))

        for k, (speaker, n) in enumerate(speakers.items()):
            chapter = str(1000 + k)
            lines = []
            for u in range(n + untranscribed):
                utt = f"{speaker}-{chapter}-{u:04d}"
                if audio:
                    add(f"{speaker}/{chapter}/{utt}.flac", flac_bytes(zlib.crc32(f"{subset}/{utt}".encode()), sr))
                if u < n:
                    lines.append(f"{utt} WORD{u} OF SPEAKER'S {subset.upper().replace('-', ' ')}")
            add(f"{speaker}/{chapter}/{speaker}-{chapter}.trans.txt", ("\n".join(lines) + "\n").encode())
        for info, data in extra:
            tf.addfile(info, io.BytesIO(data))
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture()
def served(tmp_path, monkeypatch):
    """(base URL, served dir, checksums, server) with dev-clean, test-clean and a text-only train subset."""
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(var, raising=False)
    root = tmp_path / "served"
    root.mkdir()
    sums = {
        "dev-clean": make_subset(root, "dev-clean", {"84": 3, "174": 3, "251": 2, "422": 2}),
        "test-clean": make_subset(root, "test-clean", {"61": 2, "121": 2}),
        "train-clean-100": make_subset(root, "train-clean-100", {"19": 3, "26": 2}),
    }
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(LoggingHandler, directory=str(root)))
    httpd.requests = []
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", root, sums, httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def params(url, sums, cache, **kw):
    p = {"librispeech_url": url, "librispeech_train": ["dev-clean"], "librispeech_test": ["test-clean"],
         "librispeech_text": ["train-clean-100"], "librispeech_checksums": dict(sums),
         "valid_fraction": 0.25, "seed": 0, "max_utterances": 0, "cache_dir": str(cache)}
    p.update(kw)
    return p


def test_builtin_checksums_are_sha256():
    for subset in ("dev-clean", "dev-other", "test-clean", "test-other", "train-clean-100"):
        assert re.fullmatch(r"[0-9a-f]{64}", librispeech.SHA256[subset])
    assert librispeech.BASE_URL == "https://www.openslr.org/resources/12"


def test_build_downloads_extracts_and_writes_manifests(served, tmp_path):
    url, _, sums, httpd = served
    out = tmp_path / "profile"
    stats = librispeech.build(params(url, sums, tmp_path / "cache"), out)

    assert stats["splits"]["train"] + stats["splits"]["valid"] == 10
    assert stats["splits"]["test"] == 4
    assert stats["splits"]["valid"] > 0
    assert stats["n_speakers"] == 6
    assert stats["n_text_sentences"] == 5
    assert stats["hours"] == pytest.approx(14 * N / 16000 / 3600)
    assert stats["n_skipped_no_transcript"] == 0

    mans = {s: manifest.read(out / "manifests", s) for s in manifest.SPLITS}
    assert {s: len(m) for s, m in mans.items()} == stats["splits"]
    train_spk, valid_spk = set(mans["train"].speakers), set(mans["valid"].speakers)
    assert train_spk and valid_spk and not train_spk & valid_spk, "valid must hold out whole speakers"
    assert train_spk | valid_spk == {"84", "174", "251", "422"}
    assert set(mans["test"].speakers) == {"61", "121"}
    for m in mans.values():
        assert m.root.is_absolute()
        assert set(m.n_samples) == {N}
        for i, rel in enumerate(m.paths):
            utt = Path(rel).stem
            assert m.audio_path(i).is_file()
            assert re.fullmatch(rf"{m.speakers[i]}-\d+-\d{{4}}", utt)
            assert m.words[i] == m.words[i].lower() and m.words[i].startswith(f"word{int(utt[-4:])} of speaker's")
    assert mans["test"].words[0].endswith("test clean")

    text = Path(stats["text_path"]).read_text().splitlines()
    assert Path(stats["text_path"]) == out / "text" / "corpus.txt"
    assert len(text) == 5 and all(line.endswith("train clean 100") and line == line.lower() for line in text)
    # only the transcripts of the text subset are extracted
    text_dir = tmp_path / "cache" / "librispeech" / "text-only" / "train-clean-100"
    assert not list(text_dir.rglob("*.flac")) and len(list(text_dir.rglob("*.trans.txt"))) == 2

    # re-run (another profile sharing the cache): same manifests, nothing downloaded again
    n_requests = len(httpd.requests)
    out2 = tmp_path / "profile2"
    assert librispeech.build(params(url, sums, tmp_path / "cache"), out2) == {**stats, "text_path": str(out2 / "text/corpus.txt")}
    assert len(httpd.requests) == n_requests
    for split in manifest.SPLITS:
        for ext in ("tsv", "wrd", "spk"):
            assert (out / "manifests" / f"{split}.{ext}").read_text() == (out2 / "manifests" / f"{split}.{ext}").read_text()
    # deleting the archives keeps the extraction usable without a download
    for archive in (tmp_path / "cache" / "librispeech").glob("*.tar.gz"):
        archive.unlink()
    librispeech.build(params(url, sums, tmp_path / "cache"), tmp_path / "profile3")
    assert len(httpd.requests) == n_requests


def test_build_split_depends_on_seed_and_cap(served, tmp_path):
    url, _, sums, _ = served
    held_out = set()
    for seed in range(6):
        librispeech.build(params(url, sums, tmp_path / "cache", seed=seed, librispeech_text=[]), tmp_path / f"o{seed}")
        held_out.add(frozenset(manifest.read(tmp_path / f"o{seed}" / "manifests", "valid").speakers))
    assert len(held_out) > 1, "the held-out speakers should depend on the seed"

    stats = librispeech.build(params(url, sums, tmp_path / "cache", max_utterances=2, valid_fraction=0.0,
                                     librispeech_text=[]), tmp_path / "capped")
    assert stats["splits"] == {"train": 2, "valid": 0, "test": 2}
    assert stats["n_text_sentences"] == 0 and Path(stats["text_path"]).read_text() == ""
    again = librispeech.build(params(url, sums, tmp_path / "cache", max_utterances=2, valid_fraction=0.0,
                                     librispeech_text=[]), tmp_path / "capped2")
    assert again["splits"] == stats["splits"]
    assert (tmp_path / "capped/manifests/train.tsv").read_text() == (tmp_path / "capped2/manifests/train.tsv").read_text()


def test_build_skips_untranscribed_audio(served, tmp_path):
    url, root, sums, _ = served
    sums["dev-other"] = make_subset(root, "dev-other", {"700": 2, "800": 2}, untranscribed=1)
    stats = librispeech.build(params(url, sums, tmp_path / "cache", librispeech_train=["dev-other"],
                                     librispeech_text=[]), tmp_path / "out")
    assert stats["n_skipped_no_transcript"] == 2
    assert stats["splits"]["train"] + stats["splits"]["valid"] == 4


def test_build_refuses_wrong_sample_rate(served, tmp_path):
    url, root, sums, _ = served
    sums["dev-other"] = make_subset(root, "dev-other", {"700": 1, "800": 1}, sr=8000)
    with pytest.raises(BadInputError, match="sample rate 8000 Hz, expected 16000 Hz") as info:
        librispeech.build(params(url, sums, tmp_path / "cache", librispeech_train=["dev-other"]), tmp_path / "out")
    assert info.value.path.endswith(".flac")


def test_build_refuses_archive_with_path_traversal(served, tmp_path):
    url, root, sums, _ = served
    evil = tarfile.TarInfo("LibriSpeech/../../evil.txt")
    evil.size = 4
    sums["dev-other"] = make_subset(root, "dev-other", {"700": 1}, extra=[(evil, b"evil")])
    with pytest.raises(BadInputError, match=r"member LibriSpeech/\.\./\.\./evil\.txt"):
        librispeech.build(params(url, sums, tmp_path / "cache", librispeech_train=["dev-other"]), tmp_path / "out")
    assert not (tmp_path / "cache" / "librispeech" / "extracted" / "dev-other").exists()
    assert not list(tmp_path.rglob("evil.txt"))


def test_build_checksum_mismatch(served, tmp_path):
    url, _, sums, _ = served
    sums["dev-clean"] = "ab" * 32
    with pytest.raises(KitError, match="checksum mismatch") as info:
        librispeech.build(params(url, sums, tmp_path / "cache"), tmp_path / "out")
    assert f"{url}/dev-clean.tar.gz" in str(info.value) and "ab" * 32 in str(info.value)
    assert not list((tmp_path / "cache" / "librispeech").glob("dev-clean.tar.gz*"))


def test_build_parameter_errors(served, tmp_path):
    url, _, sums, httpd = served
    cache = tmp_path / "cache"
    with pytest.raises(KitError, match="add them to librispeech_checksums"):
        librispeech.build(params(url, sums, cache, librispeech_train=["my-subset"]), tmp_path / "o")
    with pytest.raises(ParamsError, match="librispeech_text.*train-clean-100"):
        librispeech.build(params(url, sums, cache, librispeech_train=["train-clean-100"]), tmp_path / "o")
    with pytest.raises(ParamsError, match="share"):
        librispeech.build(params(url, sums, cache, librispeech_test=["dev-clean"]), tmp_path / "o")
    with pytest.raises(ParamsError, match="not a valid subset name"):
        librispeech.build(params(url, sums, cache, librispeech_train=["../x"]), tmp_path / "o")
    with pytest.raises(ParamsError, match="valid_fraction"):
        librispeech.build(params(url, sums, cache, valid_fraction=1.0), tmp_path / "o")
    with pytest.raises(ParamsError, match="librispeech_train is empty"):
        librispeech.build(params(url, sums, cache, librispeech_train=[]), tmp_path / "o")
    assert httpd.requests == [], "parameter errors must be found before any download"
