"""Private files for the tools' data (the notes): only the user can read them.

- ``private_dir(path)`` creates a missing directory 0700. An existing directory is left as it is:
  it may be one the user chose for other things too (``$VOICECLI_DATA_DIR=/tmp`` would otherwise
  lock everyone else out of /tmp); the files inside are private either way.
- ``append_private(path, text)`` creates a missing file 0600 and tightens an existing one the user
  owns to 0600 when it is readable by others, then appends. ``read_private(path)`` tightens too.
  Both refuse anything but a regular file without blocking on it (a FIFO put in its place), and the
  reader refuses a file over ``MAX_READ_BYTES``.

The creation mode is given to ``open`` itself, so the file is never readable by others, not even
for an instant; the umask can only make it stricter.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from voicecli.tools.registry import ToolError

MAX_READ_BYTES = 32 << 20  # 16,000 notes of 2000 characters
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def private_dir(path: Path) -> Path:
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as e:
        raise ToolError(f"cannot create the data folder ({(e.strerror or 'error').lower()})") from None
    return path


def _checked(fd: int, what: str) -> None:
    """A regular file, tightened to 0600 when the user owns it and others can read or write it."""
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise ToolError(f"the {what} file is not a regular file")
    if info.st_mode & 0o077 and info.st_uid == os.getuid():
        os.fchmod(fd, stat.S_IMODE(info.st_mode) & 0o600)


def append_private(path: Path, text: str, what: str = "notes") -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | _NONBLOCK | _CLOEXEC, 0o600)
        _checked(fd, what)
        with os.fdopen(fd, "a", encoding="utf-8") as f:
            f.write(text)
    except OSError as e:
        raise ToolError(f"cannot write the {what} file ({(e.strerror or 'error').lower()})") from None


def read_private(path: Path, what: str = "notes") -> str | None:
    """The file's text (undecodable bytes replaced), or ``None`` when it does not exist."""
    try:
        fd = os.open(path, os.O_RDONLY | _NONBLOCK | _CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise ToolError(f"cannot read the {what} file ({(e.strerror or 'error').lower()})") from None
    try:
        _checked(fd, what)
        with os.fdopen(fd, "rb") as f:
            data = f.read(MAX_READ_BYTES + 1)
    except OSError as e:
        raise ToolError(f"cannot read the {what} file ({(e.strerror or 'error').lower()})") from None
    if len(data) > MAX_READ_BYTES:
        raise ToolError(f"the {what} file is over {MAX_READ_BYTES >> 20} MiB; too big to read")
    return data.decode("utf-8", "replace")
