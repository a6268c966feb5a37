"""download.download and download.safe_extract_tar against a local HTTP server (127.0.0.1 only)."""
from __future__ import annotations

import hashlib
import http.server
import io
import os
import re
import tarfile
import threading
from functools import partial
from pathlib import Path

import pytest

from aitranscribe.io import download as dl
from aitranscribe.core.errors import BadInputError, KitError, ParamsError


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files of a directory with single-range ``Range: bytes=N-[M]`` support (and test knobs)."""

    def log_message(self, *args):  # keep test output quiet
        pass

    def do_GET(self):
        server = self.server
        server.requests.append((self.path, self.headers.get("Range")))
        if self.path in server.redirects:
            self.send_response(302)
            self.send_header("Location", server.redirects[self.path])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404, "not found")
            return
        data = path.read_bytes()
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range") or "")
        if match and not server.ignore_range:
            start = int(match.group(1))
            end = min(int(match.group(2)) if match.group(2) else len(data) - 1, len(data) - 1)
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = data[start:end + 1]
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        else:
            body = data
            self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if server.truncate_once is not None:  # promise the whole body, send only a prefix, hang up
            body, server.truncate_once = body[:server.truncate_once], None
        self.wfile.write(body)


@pytest.fixture()
def server(tmp_path, monkeypatch):
    """(base URL, served directory, server) of a threaded HTTP server on 127.0.0.1."""
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(var, raising=False)
    served = tmp_path / "served"
    served.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(RangeHandler, directory=str(served)))
    httpd.requests, httpd.ignore_range, httpd.truncate_once, httpd.redirects = [], False, None, {}
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", served, httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def payload(n: int = 300_000) -> bytes:
    return bytes((i * 7919 + i // 251) % 256 for i in range(n))


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------------------------------- download


def test_download_verifies_and_skips_on_rerun(server, tmp_path):
    url, served, httpd = server
    data = payload()
    (served / "blob.bin").write_bytes(data)
    dest = tmp_path / "cache" / "blob.bin"
    assert dl.download(f"{url}/blob.bin", dest, sha(data), progress=False) == dest
    assert dest.read_bytes() == data
    assert not dest.with_name("blob.bin.part").exists()
    assert len(httpd.requests) == 1

    assert dl.download(f"{url}/blob.bin", dest, sha(data).upper(), progress=False) == dest
    assert len(httpd.requests) == 1, "a verified dest must not be downloaded again"


def test_download_resumes_partial_file(server, tmp_path):
    url, served, httpd = server
    data = payload()
    (served / "blob.bin").write_bytes(data)
    dest = tmp_path / "blob.bin"
    dest.with_name("blob.bin.part").write_bytes(data[:123_457])
    dl.download(f"{url}/blob.bin", dest, sha(data), progress=False)
    assert dest.read_bytes() == data
    assert httpd.requests == [("/blob.bin", "bytes=123457-")]


def test_download_restarts_when_server_ignores_range(server, tmp_path):
    url, served, httpd = server
    data = payload()
    (served / "blob.bin").write_bytes(data)
    httpd.ignore_range = True
    dest = tmp_path / "blob.bin"
    dest.with_name("blob.bin.part").write_bytes(b"\xff" * 5000)  # garbage that must not be kept
    dl.download(f"{url}/blob.bin", dest, sha(data), progress=False)
    assert dest.read_bytes() == data


def test_download_complete_part_gets_416_and_finishes(server, tmp_path):
    url, served, httpd = server
    data = payload(50_000)
    (served / "blob.bin").write_bytes(data)
    dest = tmp_path / "blob.bin"
    dest.with_name("blob.bin.part").write_bytes(data)
    dl.download(f"{url}/blob.bin", dest, sha(data), progress=False)
    assert dest.read_bytes() == data
    assert httpd.requests == [("/blob.bin", "bytes=50000-")]


def test_download_interrupted_keeps_part_then_resumes(server, tmp_path):
    url, served, httpd = server
    data = payload()
    (served / "blob.bin").write_bytes(data)
    httpd.truncate_once = 100_000
    dest = tmp_path / "blob.bin"
    with pytest.raises(KitError, match="run again to resume"):
        dl.download(f"{url}/blob.bin", dest, sha(data), progress=False, retries=0)
    part = dest.with_name("blob.bin.part")
    assert part.stat().st_size == 100_000 and not dest.exists()
    dl.download(f"{url}/blob.bin", dest, sha(data), progress=False, retries=0)
    assert dest.read_bytes() == data
    assert httpd.requests[-1] == ("/blob.bin", "bytes=100000-")


def test_concurrent_downloads_of_one_file_wait_for_each_other(server, tmp_path):
    url, served, httpd = server
    data = payload(200_000)
    (served / "blob.bin").write_bytes(data)
    dest = tmp_path / "blob.bin"
    errors = []

    def run():
        try:
            dl.download(f"{url}/blob.bin", dest, sha(data), progress=False, chunk_size=4096)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert not errors and dest.read_bytes() == data
    assert len(httpd.requests) == 1, "the waiting runs must find the finished file"


def test_download_checksum_mismatch_is_clear_and_leaves_nothing(server, tmp_path):
    url, served, _ = server
    data = payload(10_000)
    (served / "blob.bin").write_bytes(data)
    dest = tmp_path / "blob.bin"
    wrong = "0" * 64
    with pytest.raises(KitError) as info:
        dl.download(f"{url}/blob.bin", dest, wrong, progress=False)
    message = str(info.value)
    assert f"{url}/blob.bin" in message and wrong in message and sha(data) in message
    assert not dest.exists() and not dest.with_name("blob.bin.part").exists()


def test_download_replaces_existing_dest_with_wrong_hash(server, tmp_path):
    url, served, _ = server
    data = payload(10_000)
    (served / "blob.bin").write_bytes(data)
    dest = tmp_path / "blob.bin"
    dest.write_bytes(b"stale")
    dl.download(f"{url}/blob.bin", dest, sha(data), progress=False)
    assert dest.read_bytes() == data


def test_download_http_error_names_url(server, tmp_path):
    url, _, _ = server
    with pytest.raises(KitError, match=r"missing\.bin: HTTP 404"):
        dl.download(f"{url}/missing.bin", tmp_path / "x", None, progress=False)
    assert not (tmp_path / "x").exists()


def test_download_follows_http_redirects_only(server, tmp_path):
    url, served, httpd = server
    data = payload(10_000)
    (served / "blob.bin").write_bytes(data)
    httpd.redirects = {"/moved.bin": f"{url}/blob.bin", "/sneaky.bin": "ftp://127.0.0.1/blob.bin"}
    dl.download(f"{url}/moved.bin", tmp_path / "a.bin", sha(data), progress=False)
    assert (tmp_path / "a.bin").read_bytes() == data
    with pytest.raises(KitError, match="refusing redirect to a ftp URL"):
        dl.download(f"{url}/sneaky.bin", tmp_path / "b.bin", None, progress=False)
    assert not (tmp_path / "b.bin").exists()


def test_download_refuses_other_schemes_and_bad_hashes(tmp_path):
    for url in ("ftp://example.org/a.tar.gz", "data:,hello", "/etc/passwd"):
        with pytest.raises(KitError, match="only http, https, file"):
            dl.download(url, tmp_path / "x", None, progress=False)
    with pytest.raises(ParamsError, match="malformed sha256"):
        dl.download("http://127.0.0.1:9/a", tmp_path / "x", "abc", progress=False)


def test_download_file_url_and_resume(tmp_path):
    data = payload(40_000)
    source = tmp_path / "src.bin"
    source.write_bytes(data)
    dest = tmp_path / "out" / "dst.bin"
    dest.parent.mkdir()
    dest.with_name("dst.bin.part").write_bytes(data[:1000])
    dl.download(source.as_uri(), dest, sha(data), progress=False)
    assert dest.read_bytes() == data


# ---------------------------------------------------------------------------------------------- extraction


def make_tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]], mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as tf:
        for info, data in members:
            if data is not None:
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
            else:
                tf.addfile(info)
    return path


def regular(name: str, data: bytes = b"hello\n") -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.mode = 0o644
    return info, data


def special(name: str, kind: bytes, linkname: str = "") -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info, None


def test_safe_extract_tar_extracts_and_skips_on_rerun(tmp_path, monkeypatch):
    folder = tarfile.TarInfo("top/sub")
    folder.type = tarfile.DIRTYPE
    archive = make_tar(tmp_path / "ok.tar.gz", [(folder, None), regular("top/sub/a.txt", b"a"),
                                                regular("./top/b.txt", b"bb")])
    dest = tmp_path / "out"
    files = dl.safe_extract_tar(archive, dest, progress=False)
    assert sorted(files) == [dest / "top/b.txt", dest / "top/sub/a.txt"]
    assert (dest / "top/sub/a.txt").read_bytes() == b"a"
    assert (dest / dl.EXTRACT_MARKER).is_file()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == [], "temp dir left behind"

    def boom(*args, **kwargs):
        raise AssertionError("a finished extraction must be skipped")

    monkeypatch.setattr(dl.tarfile, "open", boom)
    assert sorted(dl.safe_extract_tar(archive, dest, progress=False)) == sorted(files)
    monkeypatch.undo()

    (dest / "top/b.txt").unlink()  # an incomplete extraction is redone
    assert sorted(dl.safe_extract_tar(archive, dest, progress=False)) == sorted(files)
    assert (dest / "top/b.txt").read_bytes() == b"bb"


def test_safe_extract_tar_plain_tar_and_include(tmp_path):
    archive = make_tar(tmp_path / "x.tar", [regular("d/keep.trans.txt", b"k"), regular("d/skip.flac", b"s")], "w")
    dest = tmp_path / "out"
    files = dl.safe_extract_tar(archive, dest, include=lambda n: n.endswith(".trans.txt"), progress=False)
    assert files == [dest / "d/keep.trans.txt"] and not (dest / "d/skip.flac").exists()


@pytest.mark.parametrize("bad, reason", [
    (lambda: regular("../evil", b"x"), r"member \.\./evil: path with a '\.\.' component"),
    (lambda: regular("ok/../../evil", b"x"), r"'\.\.' component"),
    (lambda: regular("/tmp/evil_abs", b"x"), r"member /tmp/evil_abs: absolute path"),
    (lambda: special("link", tarfile.SYMTYPE, "/etc/passwd"), r"member link: symbolic link"),
    (lambda: special("hard", tarfile.LNKTYPE, "good.txt"), r"member hard: hard link"),
    (lambda: special("dev", tarfile.CHRTYPE), r"member dev: device file"),
    (lambda: special("blk", tarfile.BLKTYPE), r"member blk: device file"),
    (lambda: special("fifo", tarfile.FIFOTYPE), r"member fifo: FIFO"),
])
def test_safe_extract_tar_refuses_dangerous_members(tmp_path, bad, reason):
    archive = make_tar(tmp_path / "bad.tar.gz", [regular("good.txt"), bad()])
    dest = tmp_path / "deep" / "out"
    with pytest.raises(BadInputError, match=reason) as info:
        dl.safe_extract_tar(archive, dest, progress=False)
    assert info.value.path == str(archive)
    assert not dest.exists()
    assert list(dest.parent.iterdir()) == [], "temporary extraction directory left behind"
    assert not (tmp_path / "deep" / "evil").exists() and not (tmp_path / "evil").exists()
    assert not Path("/tmp/evil_abs").exists()


def test_safe_extract_tar_corrupt_archive(tmp_path):
    good = make_tar(tmp_path / "good.tar.gz", [regular("a.bin", os.urandom(200_000))])
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(good.read_bytes()[:5000])
    with pytest.raises(BadInputError, match="corrupt or truncated archive"):
        dl.safe_extract_tar(truncated, tmp_path / "out", progress=False)
    garbage = tmp_path / "garbage.tar.gz"
    garbage.write_bytes(b"this is not an archive" * 100)
    with pytest.raises(BadInputError, match="corrupt or truncated archive"):
        dl.safe_extract_tar(garbage, tmp_path / "out2", progress=False)
    with pytest.raises(BadInputError, match="archive not found"):
        dl.safe_extract_tar(tmp_path / "nope.tar.gz", tmp_path / "out3", progress=False)
    assert not (tmp_path / "out").exists() and not (tmp_path / "out2").exists()


def test_safe_extract_tar_marker_with_sha_survives_archive_removal(tmp_path):
    archive = make_tar(tmp_path / "a.tar.gz", [regular("x.txt", b"x")])
    digest = dl.sha256_file(archive)
    dest = tmp_path / "out"
    dl.safe_extract_tar(archive, dest, sha256=digest, progress=False)
    archive.unlink()
    assert dl.extracted_files(dest, sha256=digest) == [dest / "x.txt"]
    assert dl.safe_extract_tar(archive, dest, sha256=digest, progress=False) == [dest / "x.txt"]
    assert dl.extracted_files(dest, sha256="1" * 64) is None
