"""Writing output files: atomically, with the user's umask, and every failure as a UsageError.

Every file graphconv writes (the .onnx of ``convert``, the .npz of ``run``, the repro folder of
``validate --repro``) goes through :func:`write_atomic`: the bytes go to a temporary file beside
the target, which replaces the target only once complete, so a failure (a full disk, a bug, ^C)
leaves no partial file. ``tempfile.mkstemp`` creates files with mode 0600; the finished file gets
the mode an ordinary ``open()`` would give it (0666 minus the umask). An OSError names the user's
path and the cause, never the temporary file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from typing import BinaryIO

from .errors import UsageError


def check_writable(path: str, flag: str = "-o") -> None:
    """Refuse an output path that cannot be written, before any work (exit 2, the user's path)."""
    folder = os.path.dirname(os.path.abspath(path)) or "."
    if os.path.isdir(path):
        raise UsageError(f"{flag} {path}: is a folder, not a file")
    if os.path.lexists(path) and not os.path.isfile(path):
        raise UsageError(f"{flag} {path}: exists and is not a regular file")
    if not os.path.exists(folder):
        raise UsageError(f"{flag} {path}: folder {folder} does not exist")
    if not os.path.isdir(folder):
        raise UsageError(f"{flag} {path}: {folder} is not a folder")
    if not os.access(folder, os.W_OK):
        raise UsageError(f"{flag} {path}: folder {folder} is not writable")


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _why(e: OSError) -> str:
    return e.strerror or type(e).__name__


def write_atomic(path: str, write: Callable[[BinaryIO], None], flag: str = "-o") -> None:
    """Call ``write(f)`` on a temporary file beside ``path``, then move it into place."""
    check_writable(path, flag)
    folder = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".graphconv-", suffix=".part", dir=folder)
    except OSError as e:
        raise UsageError(f"{flag} {path}: cannot write in {folder}: {_why(e)}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except OSError as e:
        _remove(tmp)
        raise UsageError(f"{flag} {path}: cannot write: {_why(e)}") from None
    except BaseException:
        _remove(tmp)
        raise


def write_folder_atomic(folder: str, write: Callable[[str], None], flag: str) -> None:
    """Fill a new temporary folder with ``write(tmpdir)``, then give each file its final name in
    ``folder`` (created if missing). Files are moved one by one: atomic per file."""
    try:
        os.makedirs(folder, exist_ok=True)
        tmpdir = tempfile.mkdtemp(prefix=".graphconv-", dir=folder)
    except OSError as e:
        raise UsageError(f"{flag} {folder}: cannot write: {_why(e)}") from None
    try:
        write(tmpdir)
        mode = 0o666 & ~_umask()
        for name in sorted(os.listdir(tmpdir)):
            os.chmod(os.path.join(tmpdir, name), mode)
            os.replace(os.path.join(tmpdir, name), os.path.join(folder, name))
    except OSError as e:
        raise UsageError(f"{flag} {folder}: cannot write: {_why(e)}") from None
    finally:
        for name in os.listdir(tmpdir):
            _remove(os.path.join(tmpdir, name))
        os.rmdir(tmpdir)


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
