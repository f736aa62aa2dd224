"""Atomic file output: write to a temporary sibling, then rename.

A reader (or a crashed process) never sees a half-written file: either the
old state or the complete new file exists.

Temporary names start with ``.`` and carry ``.part`` (``.fit.nc.part-k3j9x.nc``,
``.balance_of_threat-….k3j9x.part``), so what a SIGKILL leaves behind is hidden,
recognisable (:func:`is_temporary`) and refused by the loaders.

Interruption: :func:`install_signal_handlers` (called by the CLI) turns SIGINT
and SIGTERM into :class:`KeyboardInterrupt` and records the signal.  Samplers
(PyMC, nutpie) swallow ``KeyboardInterrupt`` and return a partial trace; so
once a signal has been received, :func:`atomic_path` and :func:`atomic_dir`
refuse to commit anything — an interrupted command leaves nothing, never a
complete-looking result built from partial draws.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

from walt_bayes.errors import WaltError

_INTERRUPTED: list[int] = []
_TEMP_NAME = re.compile(r"^\..+(\.part$|\.part-)")


def interrupted() -> int | None:
    """The signal number this process was interrupted by (SIGINT, SIGTERM), or None."""
    return _INTERRUPTED[0] if _INTERRUPTED else None


def _on_signal(signum, frame) -> None:
    _INTERRUPTED.append(signum)
    raise KeyboardInterrupt(signal.Signals(signum).name)


def install_signal_handlers() -> None:
    """Raise ``KeyboardInterrupt`` on SIGINT and SIGTERM and remember that it happened.

    Python's default SIGTERM action ends the process without running ``finally``
    blocks, which would leave temporary files behind; with this handler the
    cleanup runs.  Only the main thread can install handlers; elsewhere this is a no-op.
    """
    with contextlib.suppress(ValueError):  # not the main thread
        signal.signal(signal.SIGINT, _on_signal)
        signal.signal(signal.SIGTERM, _on_signal)


def _refuse_if_interrupted() -> None:
    if _INTERRUPTED:
        raise KeyboardInterrupt(f"{signal.Signals(_INTERRUPTED[0]).name} received earlier")


def _unwritable(target: Path, err: OSError) -> WaltError:
    blocker = next((p for p in target.parents if p.exists() and not p.is_dir()), None)
    why = f"{blocker} is a file, not a folder" if blocker else (err.strerror or str(err))
    return WaltError(f"{target}: cannot write here ({why}); nothing was written")


def _umask() -> int:
    """The process's umask (read by setting it and setting it back)."""
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


def is_temporary(path: str | os.PathLike) -> bool:
    """True for the temporary names :func:`atomic_path` / :func:`atomic_dir` use."""
    return bool(_TEMP_NAME.match(Path(path).name))


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` on success.

    Parameters
    ----------
    target : path-like
        Final destination.
    suffix : str, optional
        Suffix for the temporary file (some writers infer the format from it).

    Yields
    ------
    pathlib.Path
        Where to write.  If the block raises, or the process was interrupted
        (:func:`interrupted`), the temporary file is removed and ``target`` is
        untouched.
    """
    target = Path(target)
    if suffix:
        prefix, suffix = f".{target.name}.part-", suffix
    else:
        prefix, suffix = f".{target.name}.", ".part"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=target.parent)
    except OSError as err:
        raise _unwritable(target, err) from err
    os.close(fd)
    tmp_path = Path(tmp)
    # mkstemp creates 0600 files; give the result the permissions a plain open() would.
    os.chmod(tmp_path, 0o666 & ~_umask())
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        _refuse_if_interrupted()
        os.replace(tmp_path, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary directory beside ``target``; rename it onto ``target`` on success.

    ``target`` must not exist yet (:class:`~walt_bayes.errors.WaltError` if it
    does).  On failure or interruption the temporary directory is removed.
    """
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent))
    except OSError as err:
        raise _unwritable(target, err) from err
    try:
        # mkdtemp creates 0700 directories: a run shared with colleagues would be unreadable.
        os.chmod(tmp, 0o777 & ~_umask())
        yield tmp
        for f in tmp.rglob("*"):
            if f.is_file():
                with open(f, "rb+") as fh:
                    os.fsync(fh.fileno())
        _refuse_if_interrupted()
        if target.exists():
            raise WaltError(f"{target}: already exists; not overwritten (nothing was written)")
        try:
            os.replace(tmp, target)
        except OSError as err:  # e.g. created meanwhile by another process
            raise WaltError(
                f"{target}: cannot create ({err.strerror}); nothing was written"
            ) from err
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
