"""Files only their owner can read: directories 0700, files 0600, whatever the umask.

The one place both sides (the bridge's data dir, database, URL file and key; the app's history, log and settings)
create what they keep. The umask can only take permission bits away, so creating with 0700 / 0600 is private under
any umask; what already exists with looser bits (an older version, a plain ``mkdir``) is tightened when it is ours.
On Windows the modes mean little (ACLs decide; the per-user profile folders are private already): nothing is
changed there beyond what ``os`` does.

SQLite creates a database's ``-wal`` and ``-shm`` (and ``-journal``) files with the database file's own permissions,
so :func:`private_file` before ``sqlite3.connect`` makes those private too.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def _tighten(path: Path, mode: int, st: os.stat_result) -> None:
    if os.name == "posix" and stat.S_IMODE(st.st_mode) != mode and st.st_uid == os.getuid():
        os.chmod(path, mode)


def private_dir(path: Path | str) -> Path:
    """``path`` as a directory that only its owner may enter (created with its missing parents, all 0700)."""
    path = Path(path)
    missing: list[Path] = []
    probe = path
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):  # created meanwhile by another process
            directory.mkdir(mode=DIR_MODE)
    _tighten(path, DIR_MODE, path.stat())
    return path


def private_opener(path: str, flags: int) -> int:
    """An ``opener`` for :func:`open`: files it creates are 0600 (and one found looser is tightened)."""
    fd = os.open(path, flags, FILE_MODE)
    try:
        if os.name == "posix":
            st = os.fstat(fd)
            if stat.S_IMODE(st.st_mode) != FILE_MODE and st.st_uid == os.getuid():
                os.fchmod(fd, FILE_MODE)
    except OSError:
        os.close(fd)
        raise
    return fd


def private_file(path: Path | str) -> Path:
    """Make sure ``path`` exists as a 0600 file (empty when new) in a 0700 directory; its content is untouched."""
    path = Path(path)
    private_dir(path.parent)
    os.close(private_opener(str(path), os.O_WRONLY | os.O_CREAT | os.O_APPEND))
    return path


def tighten(*paths: Path | str) -> None:
    """Make files that already exist 0600 (when ours): what an older version or a plain ``open`` left behind."""
    for path in map(Path, paths):
        try:
            st = path.stat()
        except FileNotFoundError:
            continue
        if stat.S_ISREG(st.st_mode):
            _tighten(path, FILE_MODE, st)


def private_database(path: Path | str) -> Path:
    """:func:`private_file` for an SQLite database, and its ``-wal``/``-shm``/``-journal`` files if they exist
    already (new ones are created with the database's mode)."""
    path = private_file(path)
    tighten(*(path.with_name(path.name + suffix) for suffix in ("-wal", "-shm", "-journal")))
    return path


def write_private(path: Path | str, text: str) -> None:
    """Replace ``path`` atomically with ``text`` (UTF-8) in a 0600 file."""
    path = Path(path)
    private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8", opener=private_opener) as f:
        f.write(text)
    os.replace(tmp, path)
