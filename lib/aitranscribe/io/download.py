"""Safe downloads and archive extraction: resumable, checksummed, atomic.

``download`` streams a URL (http, https or file) into ``<dest>.part``, resumes an interrupted
``.part`` with an HTTP Range request (starting over when the server ignores Range), checks the
sha256 and only then renames the part to ``dest``. A ``dest`` that exists with the right hash is
not downloaded again.

``safe_extract_tar`` unpacks a .tar/.tar.gz into a temporary directory beside ``dest`` and renames
it into place. Every member is checked before it is written: absolute paths, ``..`` components,
symbolic and hard links, device files and FIFOs are refused with a :class:`BadInputError` naming
the member. A done-marker (``.extracted.json``) inside ``dest`` makes a re-run skip the work.
"""
from __future__ import annotations

import contextlib
import hashlib
import http.client
import logging
import lzma
import os
import re
import shutil
import socket
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from pathlib import Path, PurePosixPath
from typing import Callable

from tqdm.auto import tqdm

from ..core.errors import BadInputError, KitError, ParamsError
from ..core.files import atomic_path, atomic_write_json, read_marker

log = logging.getLogger(__name__)

ALLOWED_SCHEMES = ("http", "https", "file")
EXTRACT_MARKER = ".extracted.json"
USER_AGENT = "aitranscribe-download/0.1 (+urllib)"
_CHUNK = 1 << 20
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", re.IGNORECASE)
_UNSATISFIED_RANGE = re.compile(r"^\s*bytes\s+\*/(\d+)\s*$", re.IGNORECASE)


class _Transient(Exception):
    """A network failure worth retrying (the part file is kept and resumed)."""


class _Restart(Exception):
    """The part file cannot be resumed: delete it and start from byte 0."""


# ----------------------------------------------------------------------------------------------
# hashing


def sha256_file(path, chunk_size: int = _CHUNK) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk_size), b""):
            h.update(block)
    return h.hexdigest()


def _normalize_sha256(sha256: str | None) -> str | None:
    if sha256 is None:
        return None
    value = str(sha256).strip().lower()
    if not _SHA256.match(value):
        raise ParamsError(f"malformed sha256 {sha256!r}: expected 64 hexadecimal digits")
    return value


# ----------------------------------------------------------------------------------------------
# download


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects only to http/https URLs (urllib would also follow ftp)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        scheme = urllib.parse.urlsplit(newurl).scheme.lower()
        if scheme not in ("http", "https"):
            raise urllib.error.HTTPError(newurl, code, f"refusing redirect to a {scheme or 'relative'} URL",
                                         headers, fp)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def download(url: str, dest: Path, sha256: str | None = None, progress: bool = True, *,
             timeout: float = 60.0, retries: int = 3, chunk_size: int = _CHUNK) -> Path:
    """Download ``url`` to ``dest`` (resumable, checksummed, atomic); return ``dest``.

    The bytes go to ``<dest>.part``; an existing part is resumed with an HTTP Range request and
    started over when the server answers with the whole file. With ``sha256`` the finished part is
    checked: a mismatch deletes it and raises :class:`KitError` naming the URL and both hashes.
    ``timeout`` (seconds) applies to connecting and to each read; network failures are retried
    ``retries`` times, resuming each time. Only http, https and file URLs are accepted.
    """
    dest = Path(dest)
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise KitError(f"refusing to download {url!r}: only {', '.join(ALLOWED_SCHEMES)} URLs are allowed")
    if scheme != "file" and not parts.hostname:
        raise KitError(f"cannot download {url!r}: the URL has no host name")
    expected = _normalize_sha256(sha256)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive(dest.with_name(f".{dest.name}.lock"), dest):  # runs sharing a cache wait for each other
        return _download_locked(url, scheme, dest, expected, progress, timeout, retries, chunk_size)


@contextlib.contextmanager
def _exclusive(lock_path: Path, what: Path):
    """Hold an exclusive advisory lock on ``lock_path`` while ``what`` is made (no-op without fcntl)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    with open(lock_path, "a") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("waiting for another process downloading %s", what)
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _download_locked(url: str, scheme: str, dest: Path, expected: str | None, progress: bool, timeout: float,
                     retries: int, chunk_size: int) -> Path:
    if dest.exists():
        if not dest.is_file():
            raise KitError(f"cannot download {url} to {dest}: it exists and is not a file")
        if expected is None:
            log.info("%s already exists (no checksum to verify): not downloading %s again", dest, url)
            return dest
        actual = sha256_file(dest)
        if actual == expected:
            log.info("%s already downloaded (sha256 verified): skipping %s", dest, url)
            return dest
        log.warning("%s exists but its sha256 is %s, expected %s: downloading it again", dest, actual, expected)
        dest.unlink()

    part = dest.with_name(dest.name + ".part")
    attempt = 0
    while True:
        try:
            if scheme == "file":
                digest = _fetch_file(url, part, chunk_size, progress, dest.name)
            else:
                digest = _fetch_http(url, part, timeout, chunk_size, progress, dest.name)
            break
        except _Restart as exc:
            log.info("%s: %s; starting over from byte 0", url, exc)
            with contextlib.suppress(FileNotFoundError):
                part.unlink()
        except _Transient as exc:
            attempt += 1
            if attempt > retries:
                raise KitError(f"download of {url} failed after {attempt} attempt(s): {exc}. The partial "
                               f"file {part} is kept; run again to resume") from None
            wait = min(2.0 ** attempt, 30.0)
            log.warning("download of %s interrupted (%s); retrying in %.0f s (%d of %d)",
                        url, exc, wait, attempt, retries)
            time.sleep(wait)

    if expected is not None and digest != expected:
        with contextlib.suppress(FileNotFoundError):
            part.unlink()
        raise KitError(f"checksum mismatch for {url}: expected sha256 {expected}, got {digest}. "
                       f"The downloaded file was deleted; run again to retry, or correct the expected "
                       f"checksum if the file changed upstream")
    os.replace(part, dest)
    log.info("downloaded %s -> %s (%d bytes, sha256 %s%s)", url, dest, dest.stat().st_size, digest,
             ", verified" if expected else ", not verified: no checksum given")
    return dest


def _hash_prefix(part: Path, chunk_size: int):
    h = hashlib.sha256()
    if part.exists():
        with open(part, "rb") as f:
            for block in iter(lambda: f.read(chunk_size), b""):
                h.update(block)
    return h


def _copy_stream(src, part: Path, mode: str, h, chunk_size: int, offset: int, total: int | None,
                 progress: bool, desc: str) -> int:
    """Append/write ``src`` to ``part``, hashing as it goes; return the number of bytes received."""
    received = 0
    with open(part, mode) as f, tqdm(total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024,
                                     desc=desc, disable=not progress, leave=False) as bar:
        try:
            while True:
                block = src.read(chunk_size)
                if not block:
                    break
                f.write(block)
                h.update(block)
                received += len(block)
                bar.update(len(block))
        finally:
            f.flush()
            os.fsync(f.fileno())
    return received


def _fetch_http(url: str, part: Path, timeout: float, chunk_size: int, progress: bool, desc: str) -> str:
    offset = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    opener = urllib.request.build_opener(_HttpOnlyRedirects)
    try:
        response = opener.open(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        with contextlib.suppress(Exception):
            exc.close()
        if exc.code == 416 and offset:
            m = _UNSATISFIED_RANGE.match(exc.headers.get("Content-Range", "") if exc.headers else "")
            if m and int(m.group(1)) == offset:
                log.info("%s: the partial file already holds all %d bytes", url, offset)
                return _hash_prefix(part, chunk_size).hexdigest()
            raise _Restart(f"server cannot resume at byte {offset} (HTTP 416)") from None
        if exc.code in (408, 429) or exc.code >= 500:
            raise _Transient(f"HTTP {exc.code} {exc.reason}") from None
        raise KitError(f"cannot download {url}: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, socket.gaierror):
            raise KitError(f"cannot download {url}: host name not resolved ({exc.reason}); "
                           f"is the machine offline?") from None
        raise _Transient(f"{exc.reason}") from None
    except (OSError, http.client.HTTPException) as exc:
        raise _Transient(f"{type(exc).__name__}: {exc}") from None

    with response:
        status = getattr(response, "status", 200)
        length_header = response.headers.get("Content-Length")
        length = int(length_header) if length_header and length_header.strip().isdigit() else None
        if offset and status == 206:
            m = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
            if not m or int(m.group(1)) != offset:
                raise _Restart(f"server answered the Range request with {response.headers.get('Content-Range')!r}")
            total = int(m.group(3)) if m.group(3) != "*" else (offset + length if length is not None else None)
            mode, h = "ab", _hash_prefix(part, chunk_size)
            log.info("resuming %s at byte %d", url, offset)
        elif status == 200:
            if offset:
                log.info("%s: the server ignored the Range request; downloading from byte 0", url)
            offset, total, mode, h = 0, length, "wb", hashlib.sha256()
        else:
            raise KitError(f"cannot download {url}: unexpected HTTP status {status}")
        try:
            received = _copy_stream(response, part, mode, h, chunk_size, offset, total, progress, desc)
        except (OSError, http.client.HTTPException) as exc:
            raise _Transient(f"{type(exc).__name__}: {exc}") from None
    if length is not None and received < length:
        raise _Transient(f"connection closed after {received} of {length} bytes")
    return h.hexdigest()


def _fetch_file(url: str, part: Path, chunk_size: int, progress: bool, desc: str) -> str:
    source = Path(urllib.request.url2pathname(urllib.parse.urlsplit(url).path))
    if not source.is_file():
        raise KitError(f"cannot download {url}: {source} is not a file")
    size = source.stat().st_size
    offset = part.stat().st_size if part.exists() else 0
    if offset > size:
        raise _Restart(f"the partial file ({offset} bytes) is longer than the source ({size} bytes)")
    h = _hash_prefix(part, chunk_size) if offset else hashlib.sha256()
    with open(source, "rb") as src:
        src.seek(offset)
        _copy_stream(src, part, "ab" if offset else "wb", h, chunk_size, offset, size, progress, desc)
    return h.hexdigest()


# ----------------------------------------------------------------------------------------------
# extraction


def _member_problem(member: tarfile.TarInfo) -> str | None:
    """Why ``member`` must not be extracted, or None when it is a plain file or directory inside."""
    name = member.name
    if not name:
        return "empty name"
    if "\x00" in name:
        return "NUL character in the name"
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return "absolute path"
    if ".." in re.split(r"[\\/]+", name):
        return "path with a '..' component (would write outside the destination)"
    if member.issym():
        return f"symbolic link (to {member.linkname!r})"
    if member.islnk():
        return f"hard link (to {member.linkname!r})"
    if member.ischr() or member.isblk():
        return "device file"
    if member.isfifo():
        return "FIFO (named pipe)"
    if not (member.isfile() or member.isdir()):
        return f"unsupported member type {member.type!r}"
    return None


def _check_member(archive: Path, member: tarfile.TarInfo, root: Path) -> None:
    problem = _member_problem(member)
    if problem is None and hasattr(tarfile, "data_filter"):
        try:  # the standard library's own checks, in addition to ours
            tarfile.data_filter(member, str(root))
        except tarfile.FilterError as exc:
            problem = f"refused by tarfile's data filter ({exc})"
    if problem is not None:
        raise BadInputError(archive, f"member {member.name}: {problem}")


def extracted_files(dest: Path, archive: Path | None = None, sha256: str | None = None) -> list[Path] | None:
    """The files of a finished extraction into ``dest``, or None when it must be (re)done.

    With ``sha256`` the done-marker must record that archive hash (the archive itself may be gone);
    otherwise ``archive`` must exist with the name and size recorded. Every recorded file must exist.
    """
    dest = Path(dest)
    record = read_marker(dest / EXTRACT_MARKER)
    if record is None:
        return None
    expected = _normalize_sha256(sha256)
    if expected is not None:
        if record.get("sha256") != expected:
            return None
    elif archive is None or not Path(archive).is_file():
        return None
    elif record.get("archive") != Path(archive).name or record.get("size") != Path(archive).stat().st_size:
        return None
    files = [dest / rel for rel in record.get("files", [])]
    missing = [f for f in files if not f.is_file()]
    if missing:
        log.warning("%s: %d extracted file(s) are missing (first %s): extracting again", dest, len(missing), missing[0])
        return None
    return files


def safe_extract_tar(archive: Path, dest: Path, *, sha256: str | None = None,
                     include: Callable[[str], bool] | None = None, progress: bool = True) -> list[Path]:
    """Extract a .tar/.tar.gz/.tar.bz2/.tar.xz into ``dest`` safely and atomically; return the files.

    Every member is checked before anything is written for it; an absolute path, a ``..``
    component, a link, a device file or a FIFO raises :class:`BadInputError` ``member X: reason``
    and leaves no ``dest``. The files go to a temporary directory beside ``dest`` that is renamed to
    ``dest`` at the end, with a done-marker recording the archive (and ``sha256`` when given): a
    re-run finds it and skips the work. ``include(name)`` may select the members to write (all members
    are still checked); use a distinct ``dest`` for each selection.
    """
    archive, dest = Path(archive), Path(dest)
    done = extracted_files(dest, archive, sha256)
    if done is not None:
        log.info("%s already extracted into %s (%d files): skipping", archive.name, dest, len(done))
        return done
    if not archive.is_file():
        raise BadInputError(archive, "archive not found")
    size = archive.stat().st_size
    written: list[str] = []
    with atomic_path(dest) as tmp:
        tmp.mkdir(parents=True)
        root = tmp.resolve()
        try:
            with tarfile.open(archive, "r:*") as tf, \
                    tqdm(desc=f"extracting {archive.name}", unit=" files", disable=not progress, leave=False) as bar:
                for member in tf:
                    _check_member(archive, member, root)
                    rel = PurePosixPath(*[p for p in re.split(r"/+", member.name) if p not in ("", ".")])
                    if not rel.parts or (include is not None and not include(str(rel))):
                        continue
                    target = root.joinpath(*rel.parts)
                    if os.path.commonpath([root, target.resolve()]) != str(root):
                        raise BadInputError(archive, f"member {member.name}: resolves outside the destination")
                    if member.isdir():
                        target.mkdir(parents=True, exist_ok=True)
                        continue
                    target.parent.mkdir(parents=True, exist_ok=True)
                    source = tf.extractfile(member)
                    with open(target, "wb") as out:
                        shutil.copyfileobj(source, out, _CHUNK)
                    os.chmod(target, 0o755 if member.mode & 0o100 else 0o644)
                    with contextlib.suppress(OSError, OverflowError, ValueError):
                        os.utime(target, (member.mtime, member.mtime))
                    written.append(str(rel))
                    bar.update(1)
        except BadInputError:
            raise
        except (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError, OSError) as exc:
            if isinstance(exc, OSError) and exc.errno is not None:
                raise  # a local failure (disk full, permissions), not a bad archive
            raise BadInputError(archive, f"corrupt or truncated archive ({type(exc).__name__}: {exc})") from None
        files = sorted(dict.fromkeys(written))
        atomic_write_json(tmp / EXTRACT_MARKER, {
            "archive": archive.name, "size": size, "sha256": _normalize_sha256(sha256), "files": files,
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S")})
    log.info("extracted %s into %s (%d files)", archive.name, dest, len(files))
    return [dest / rel for rel in files]
