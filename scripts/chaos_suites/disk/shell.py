"""The disk suite's shell steps (mount, chattr, umount), whose failures are reported instead of
raised: a scenario that cannot set its disk up says so in its figures."""

from __future__ import annotations

import subprocess
from pathlib import Path


def shell(*argv: str) -> tuple[int, str]:
    """Run one command; (exit status, stderr or stdout) instead of an exception."""
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 127, str(exc)
    return done.returncode, (done.stderr or done.stdout).strip()


def unmount(path: Path) -> None:
    """Unmount, lazily if something still holds the mount (a sidecar that would not die)."""
    if shell("umount", str(path))[0] != 0:
        shell("umount", "-l", str(path))
