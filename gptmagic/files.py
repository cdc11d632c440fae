"""Files gptmagic writes whole (exports, saved images): all or nothing, never half written.

The bytes go to a temporary file in the target's folder, which then takes the target's name
in one rename (``os.replace``, atomic on POSIX and Windows). A failure before that (a full
disk, an interrupt) leaves the old file as it was and removes the temporary one. The replay
cache is not written here: it is append-only, under a lock (cache.py).
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path


def user_path(text: str) -> Path:
    """``text`` as a path with ``~`` expanded; ValueError (saying why) if no file can have it.

    ``Path`` raises RuntimeError for an unknown ``~user`` and the OS calls ValueError for a
    NUL byte, both far from where the path was typed.
    """
    if "\x00" in text:
        raise ValueError("a file name cannot contain a NUL character")
    try:
        return Path(text).expanduser()
    except RuntimeError:
        user = text.split("/")[0].split(os.sep)[0]
        raise ValueError(f"{user!r} is no known user's home folder") from None


def running_notebook() -> Path | None:
    """The notebook this kernel runs for, as Jupyter names it (absolute) in JPY_SESSION_NAME;
    None outside Jupyter, or when it gives a path relative to a server root unknown here."""
    running = os.environ.get("JPY_SESSION_NAME", "")
    return Path(running) if os.path.isabs(running) else None


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` at once: readers see the old file or the new one.

    A symlink is followed: the file it points to is replaced, and the link stays."""
    path = Path(os.path.realpath(path)) if os.path.islink(path) else path
    tmp = _written_beside(path, data)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_new(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` whole, only if nothing is there (``FileExistsError`` if so).

    A hard link claims the name atomically without overwriting; on a file system without
    hard links the name is claimed empty (``"x"`` mode) and then replaced.
    """
    tmp = _written_beside(path, data)
    try:
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise
        except OSError:  # no hard links here (some network or FAT file systems)
            with open(path, "xb"):
                pass
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _written_beside(path: Path, data: bytes) -> Path:
    """A temporary file next to ``path`` (same file system, so the rename is atomic)."""
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    try:  # mkstemp makes it private (0600): keep the old file's mode, else rw-r--r--
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        mode = 0o644
    os.chmod(tmp, mode)
    return tmp


def without_lone_surrogates(text: str) -> str:
    """``text`` with every unpaired UTF-16 surrogate replaced by U+FFFD.

    JSON's ``\\ud83d`` escapes decode to such halves (half an emoji); they cannot be encoded
    as UTF-8, so one would break sending, the display, the saved notebook and the history.
    A valid pair written as two halves is joined into its character.
    """
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
