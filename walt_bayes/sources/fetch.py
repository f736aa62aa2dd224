"""Download, verify and cache the registered source files.

Files live in ``<cache>/peacesciencer/<file>``, where ``<cache>`` is
:func:`walt_bayes.paths.cache_root` (the environment variable ``WALT_BAYES_CACHE``
or else platformdirs' ``user_cache_dir("walt-bayes")``).  A *mirror* directory
holding the same files (``--mirror DIR`` or the environment variable
``WALT_BAYES_MIRROR``) replaces the network.

A file enters the cache only whole and verified: it is streamed to a temporary
name beside its destination while its sha256 is computed, checked against the
registry, and renamed into place (:func:`walt_bayes.atomic.atomic_path`).  Any
failure (no network, missing mirror file, wrong checksum, truncation) raises
:class:`~walt_bayes.errors.SourceError` with one line naming the file, what was
expected and how to use a mirror, and leaves the cache as it was.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TransferSpeedColumn,
)

from walt_bayes.atomic import atomic_path
from walt_bayes.errors import SourceError
from walt_bayes.paths import CACHE_ENV as CACHE_ENV
from walt_bayes.paths import cache_root
from walt_bayes.sources import registry
from walt_bayes.sources.registry import Source

MIRROR_ENV = "WALT_BAYES_MIRROR"
_SUBDIR = "peacesciencer"
_CHUNK = 1 << 16
_TIMEOUT_S = 60
_HINT = f"to work offline, point --mirror DIR or {MIRROR_ENV} at a directory holding the files"


def cache_dir() -> Path:
    """Directory holding the cached source files."""
    return cache_root() / _SUBDIR


def cached_path(name: str) -> Path:
    """Where a source's file lives in the cache (whether or not it is there)."""
    return cache_dir() / registry.get(name).file


def mirror_dir(mirror: str | os.PathLike | None = None) -> Path | None:
    """The mirror to use: ``mirror`` if given, else ``$WALT_BAYES_MIRROR``, else None."""
    if mirror is not None and str(mirror) != "":
        return Path(mirror).expanduser()
    env = os.environ.get(MIRROR_ENV)
    return Path(env).expanduser() if env else None


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


# Verified files, keyed by (path, size, mtime_ns): hashing again is skipped
# while the file is unchanged.
_VERIFIED: set[tuple[str, int, int]] = set()


def _stat_key(path: Path) -> tuple[str, int, int]:
    """What identifies an unchanged file: path, size, modification time."""
    st = path.stat()
    return (str(path), st.st_size, st.st_mtime_ns)


def check_file(src: Source, path: Path, where: str = "cache") -> str | None:
    """Return None if ``path`` holds ``src`` byte for byte, else a one-line problem.

    The result is remembered per (path, size, mtime) so an unchanged file is
    hashed once per process.
    """
    try:
        key = _stat_key(path)
    except FileNotFoundError:
        return f"{src.file}: not in the {where} ({path})"
    if key in _VERIFIED:
        return None
    if key[1] != src.bytes:
        return (
            f"{src.file} in the {where} ({path}) has {key[1]} bytes, expected {src.bytes} "
            f"(sha256 {src.sha256[:12]}…): truncated or a different version"
        )
    digest = sha256_file(path)
    if digest != src.sha256:
        return (
            f"{src.file} in the {where} ({path}) has sha256 {digest[:12]}…, "
            f"expected {src.sha256[:12]}…: corrupted or a different version"
        )
    _VERIFIED.add(key)
    return None


def status(name: str) -> str:
    """``"ok"``, ``"missing"`` or ``"corrupt"`` for a source's cached file."""
    src = registry.get(name)
    path = cache_dir() / src.file
    if not path.exists():
        return "missing"
    return "ok" if check_file(src, path) is None else "corrupt"


@dataclass(frozen=True)
class FetchResult:
    """What :func:`fetch` did for one source."""

    name: str
    path: Path
    action: str  # "cached" (already there), "copied" (from mirror), "downloaded", "replaced"
    origin: str


def make_progress():
    """A Rich progress display (on stderr) for file transfers."""
    return Progress(
        TextColumn("{task.description:<22}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=Console(stderr=True),
    )


@contextlib.contextmanager
def _progress_task(progress, total: int, label: str) -> Iterator:
    """Yield ``advance(n)``.

    ``progress`` is False (no display), True (a display for this file), or a
    Rich ``Progress`` shared by a batch (a task is added to it).
    """
    if not progress:
        yield lambda n: None
        return
    if progress is True:
        with make_progress() as bar:
            task = bar.add_task(label, total=total)
            yield lambda n: bar.advance(task, n)
        return
    task = progress.add_task(label, total=total)
    yield lambda n: progress.advance(task, n)


def _stream(src: Source, reader, dest: Path, origin: str, progress) -> None:
    """Copy ``reader`` to ``dest`` (a temporary file), hashing; raise on any mismatch."""
    h = hashlib.sha256()
    size = 0
    with _progress_task(progress, src.bytes, src.file) as advance, open(dest, "wb") as out:
        for chunk in iter(lambda: reader.read(_CHUNK), b""):
            h.update(chunk)
            out.write(chunk)
            size += len(chunk)
            advance(len(chunk))
    if size != src.bytes:
        raise SourceError(
            f"{src.file} from {origin}: got {size} bytes, expected {src.bytes} "
            f"(truncated or a different version); cache left unchanged; {_HINT}"
        )
    digest = h.hexdigest()
    if digest != src.sha256:
        raise SourceError(
            f"{src.file} from {origin}: sha256 {digest[:12]}…, expected {src.sha256[:12]}… "
            f"(corrupted or a different version); cache left unchanged; {_HINT}"
        )
    os.chmod(dest, 0o644)  # mkstemp makes 0600; cached data are not secret


def _from_mirror(src: Source, mirror: Path, target: Path, progress) -> None:
    """Copy ``src``'s file from the mirror directory into ``target``, verified."""
    if not mirror.is_dir():
        raise SourceError(f"mirror {mirror}: no such directory (from --mirror or {MIRROR_ENV})")
    path = mirror / src.file
    if not path.is_file():
        raise SourceError(
            f"{src.file}: not found in the mirror {mirror} (expected sha256 {src.sha256[:12]}…, "
            f"{src.bytes} bytes); copy it there from {src.url} or unset the mirror to download"
        )
    with atomic_path(target) as tmp, open(path, "rb") as reader:
        _stream(src, reader, tmp, f"mirror {mirror}", progress)


def _download(src: Source, target: Path, progress) -> None:
    """Download ``src`` from its upstream URL into ``target``, verified."""
    req = urllib.request.Request(src.url, headers={"User-Agent": "walt-bayes"})
    try:
        with atomic_path(target) as tmp, urllib.request.urlopen(req, timeout=_TIMEOUT_S) as resp:
            _stream(src, resp, tmp, src.url, progress)
    except SourceError:
        raise
    except OSError as err:  # URLError, HTTPError, timeouts, refused connections
        reason = getattr(err, "reason", err)
        raise SourceError(
            f"{src.file}: cannot download {src.url} ({reason}); cache left unchanged; {_HINT}"
        ) from err


def fetch_one(
    name: str,
    *,
    mirror: str | os.PathLike | None = None,
    force: bool = False,
    progress=False,
) -> FetchResult:
    """Make sure one source is in the cache, verified.

    Parameters
    ----------
    name : str
        Source name (``cow_nmc``) or file name.
    mirror : path-like, optional
        Directory with the files; defaults to ``$WALT_BAYES_MIRROR``; without
        one, the file is downloaded from its upstream URL.
    force : bool
        Fetch again even if a verified copy is cached.
    progress : bool or rich.progress.Progress
        Draw a Rich progress bar (or add a task to this shared display).

    Returns
    -------
    FetchResult

    Raises
    ------
    SourceError
        The file cannot be fetched or does not verify; the cache is unchanged.
    """
    src = registry.get(name)
    target = cache_dir() / src.file
    had = target.exists()
    if had and not force and check_file(src, target) is None:
        return FetchResult(src.name, target, "cached", str(target))
    mdir = mirror_dir(mirror)
    if mdir is not None:
        _from_mirror(src, mdir, target, progress)
        origin, action = str(mdir / src.file), "copied"
    else:
        _download(src, target, progress)
        origin, action = src.url, "downloaded"
    _VERIFIED.add(_stat_key(target))
    return FetchResult(src.name, target, "replaced" if had else action, origin)


def fetch(
    names: Iterable[str] | None = None,
    *,
    mirror: str | os.PathLike | None = None,
    force: bool = False,
    progress: bool = False,
) -> list[FetchResult]:
    """Fetch several sources (all registered ones by default); see :func:`fetch_one`."""
    todo = list(names) if names else registry.names()
    for n in todo:  # fail on a typo before touching anything
        registry.get(n)
    if not progress:
        return [fetch_one(n, mirror=mirror, force=force) for n in todo]
    with make_progress() as bar:
        return [fetch_one(n, mirror=mirror, force=force, progress=bar) for n in todo]


def ensure(name: str, *, mirror: str | os.PathLike | None = None, progress: bool = False) -> Path:
    """Path of a verified cached file, fetching it first if it is not cached.

    A cached file that fails verification is *not* replaced silently: it is
    reported (SourceError) and left for ``walt-bayes data fetch --force NAME``.
    """
    src = registry.get(name)
    target = cache_dir() / src.file
    if target.exists():
        problem = check_file(src, target)
        if problem is not None:
            raise SourceError(
                f"{problem}; run `walt-bayes data fetch --force {src.name}` to replace it "
                "(add --mirror DIR to copy it from a local mirror)"
            )
        return target
    return fetch_one(name, mirror=mirror, progress=progress).path


def verify(
    names: Iterable[str] | None = None, *, mirror: str | os.PathLike | None = None
) -> dict[str, str | None]:
    """Check files against the registry without changing anything.

    Parameters
    ----------
    names : iterable of str, optional
        Sources to check (default: all).
    mirror : path-like, optional
        Check this mirror directory instead of the cache.

    Returns
    -------
    dict
        ``name -> None`` when the file verifies, else a one-line problem
        (missing files included).
    """
    todo = list(names) if names else registry.names()
    base, where = (
        (Path(mirror), f"mirror {mirror}") if mirror is not None else (cache_dir(), "cache")
    )
    if mirror is not None and not base.is_dir():
        raise SourceError(f"mirror {mirror}: no such directory")
    out: dict[str, str | None] = {}
    for n in todo:
        src = registry.get(n)
        out[src.name] = check_file(src, base / src.file, where)
    return out
