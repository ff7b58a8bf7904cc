"""The systemd notification protocol (sd_notify): readiness, stopping, status and watchdog."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)


def notify(message: str, environ: Mapping[str, str] | None = None) -> bool:
    """Send one datagram to ``$NOTIFY_SOCKET``; False when unset (not under systemd) or failed.

    Never raises: a notification that cannot be sent must not take the service down."""
    env = os.environ if environ is None else environ
    address = env.get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    elif not address.startswith("/"):
        # systemd ≥ 254 may hand out vsock: addresses, which only matter inside VMs.
        log.debug("sd_notify: unsupported NOTIFY_SOCKET address %r", address)
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            # Non-blocking: this runs on the event loop, and a full receive queue in PID 1
            # must cost a lost heartbeat, not a stalled checkout.
            sock.setblocking(False)
            sock.sendto(message.encode(), address)
    except OSError as exc:
        log.debug("sd_notify: %s not sent: %s", message.partition("=")[0], exc)
        return False
    return True


class Notifier:
    """What the service tells systemd, read from the environment systemd gave it."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ: Mapping[str, str] = dict(os.environ if environ is None else environ)

    @property
    def enabled(self) -> bool:
        return bool(self._environ.get("NOTIFY_SOCKET"))

    def ready(self, status: str = "") -> bool:
        """Start-up finished (database open, port listening): ``Type=notify`` waits for this."""
        return self._send("READY=1" + (f"\nSTATUS={_one_line(status)}" if status else ""))

    def stopping(self) -> bool:
        return self._send("STOPPING=1")

    def status(self, text: str) -> bool:
        """A one-line status shown by ``systemctl status``."""
        return self._send(f"STATUS={_one_line(text)}")

    def watchdog_interval(self) -> float | None:
        """Seconds systemd waits between heartbeats before restarting us, or None if off."""
        try:
            usec = int(self._environ.get("WATCHDOG_USEC", ""))
        except ValueError:
            return None
        if usec <= 0:
            return None
        # A child that inherited the environment must not ping on its parent's behalf.
        pid = self._environ.get("WATCHDOG_PID", "")
        if pid and pid != str(os.getpid()):
            return None
        return usec / 1_000_000

    async def watchdog_loop(self) -> None:
        """Send WATCHDOG=1 at half the interval until cancelled; returns at once if off.

        The heartbeat comes from the event loop on purpose, not from a thread: if the loop
        wedges, the heartbeats stop and systemd restarts the service."""
        interval = self.watchdog_interval()
        if interval is None:
            log.debug("sd_notify: no watchdog requested")
            return
        while True:
            self._send("WATCHDOG=1")
            await asyncio.sleep(interval / 2)

    def _send(self, message: str) -> bool:
        return notify(message, self._environ)


def _one_line(text: str) -> str:
    # A newline would start a new assignment in the datagram.
    return " ".join(text.splitlines())
