"""Writing output files so that nothing the user had is lost (issue 16: writes that lose nothing).

Every file symback writes (modules, pictures, plots, documents) goes through
`write_atomic`: the bytes go to a temporary file in the target folder, are
flushed to disk, and replace the target in one `os.replace`, so a reader never
sees half a file and a failure leaves the old file as it was. Writers into one
folder are serialised by a lock on the folder. A kept copy of the old file
(``keep_old=True``) is claimed under the first free name ``NAME.bak``,
``NAME.bak.1``, ``NAME.bak.2``, ... by a hard link, which fails rather than
overwrite, so no existing file, a backup or anyone else's, is ever replaced.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from contextlib import contextmanager, suppress
from pathlib import Path

from .errors import SymbackError

#: backups tried before giving up (NAME.bak, NAME.bak.1, ... NAME.bak.999)
MAX_BACKUPS = 1000


def output_path(path, option: str = "-o") -> Path:
    """`path` as a file to write, or a one-line error for an empty name, a folder, a device, or a missing folder."""
    text = os.fspath(path) if path is not None else ""
    if not str(text).strip():
        raise SymbackError(f"{option} {text!r}: name a file to write")
    if "\0" in str(text):
        raise SymbackError(f"{option} {text!r}: a file name cannot hold a NUL character")
    path = Path(text)
    if path.is_dir():
        raise SymbackError(f"{option} {text!r} is a folder; name a file inside it")
    if path.exists() and not path.is_file():  # a device, pipe or socket would be replaced by a file, not written to
        raise SymbackError(f"{option} {text!r} is not a regular file (a device, pipe or socket); name a file")
    folder = path.parent
    if not folder.is_dir():
        what = "is a file, not a folder" if folder.exists() else "does not exist"
        raise SymbackError(f"cannot write {text}: {folder} {what}")
    return path


@contextmanager
def _locked(path: Path):
    """Hold an exclusive lock on `path`'s folder: concurrent writers there take turns, and no lock file is left."""
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the folder releases the lock


def backup_name(path: Path) -> Path:
    """The first of NAME.bak, NAME.bak.1, ... that does not exist (not claimed: see `_keep_copy`)."""
    for k in range(MAX_BACKUPS):
        candidate = path.with_name(path.name + (".bak" if k == 0 else f".bak.{k}"))
        if not os.path.lexists(candidate):
            return candidate
    raise SymbackError(f"{path}: {MAX_BACKUPS} backups exist already; delete some of the {path.name}.bak* files")


def _keep_copy(path: Path) -> Path:
    """Hard-link the current file under a fresh backup name; never replaces an existing file."""
    while True:
        candidate = backup_name(path)
        with suppress(FileExistsError):  # another writer claimed it first: take the next name
            os.link(path, candidate)
            return candidate


def _new_file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_atomic(path, data: bytes | str, keep_old: bool = False, mode: int | None = None) -> Path | None:
    """Write `data` to `path` all at once; with `keep_old`, keep the replaced file as a backup.

    `mode` defaults to what a new file gets under the current umask. Returns the backup's path (or None).
    Raises `SymbackError` (one line) when it cannot write; the old file is then untouched.
    """
    path = output_path(path)
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    tmp = backup = None
    try:
        with _locked(path):
            # the name's start only: a name near the file system's 255 bytes would not fit with the additions
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:64]}.", suffix=".tmp", dir=path.parent)
            with os.fdopen(fd, "wb") as fh:
                fh.write(raw)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, _new_file_mode() if mode is None else mode)
            if keep_old and path.exists():
                backup = _keep_copy(path)
            os.replace(tmp, path)
    except OSError as exc:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        raise SymbackError(f"cannot write {path}: {exc.strerror or exc}") from None
    return backup
