"""sd_notify against a real AF_UNIX datagram socket, as systemd would listen on it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import tempfile
import time
import uuid
from collections.abc import Iterator

import pytest

from sidecar.sdnotify import Notifier, notify


class Listener:
    """The systemd end: a bound datagram socket and the NOTIFY_SOCKET value naming it."""

    def __init__(self, sock: socket.socket, address: str) -> None:
        self.sock = sock
        self.address = address

    def env(self, **extra: str) -> dict[str, str]:
        return {"NOTIFY_SOCKET": self.address, **extra}

    def receive(self, timeout: float = 2.0) -> str:
        self.sock.settimeout(timeout)
        return self.sock.recv(4096).decode()

    async def areceive(self, within: float = 2.0) -> str:
        self.sock.setblocking(False)
        loop = asyncio.get_running_loop()
        return (await asyncio.wait_for(loop.sock_recv(self.sock, 4096), within)).decode()

    def queued(self) -> list[str]:
        """Everything already waiting in the socket, without waiting for more."""
        self.sock.setblocking(False)
        messages = []
        while True:
            try:
                messages.append(self.sock.recv(4096).decode())
            except BlockingIOError:
                return messages


@pytest.fixture(params=["path", "abstract"])
def listener(request: pytest.FixtureRequest) -> Iterator[Listener]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    with sock, contextlib.ExitStack() as stack:
        if request.param == "path":
            # tmp_path can exceed the 108-byte limit of a socket path; a short temp dir cannot.
            directory = stack.enter_context(tempfile.TemporaryDirectory(prefix="sdn"))
            address = os.path.join(directory, "notify")
            sock.bind(address)
        else:
            name = f"gameball-sidecar-test-{uuid.uuid4().hex}"
            sock.bind("\0" + name)
            address = "@" + name
        yield Listener(sock, address)


def test_notify_without_socket_is_a_noop() -> None:
    sent = notify("READY=1", {})

    assert sent is False
    assert Notifier({}).ready() is False
    assert Notifier({}).watchdog_interval() is None


def test_notify_sends_the_message(listener: Listener) -> None:
    sent = notify("READY=1", listener.env())

    assert sent is True
    assert listener.receive() == "READY=1"


def test_notify_to_a_missing_socket_reports_failure_without_raising() -> None:
    sent = notify("READY=1", {"NOTIFY_SOCKET": "/nonexistent/gameball-sidecar/notify"})

    assert sent is False


def test_notifier_ready_stopping_and_status(listener: Listener) -> None:
    notifier = Notifier(listener.env())

    notifier.ready("serving on 127.0.0.1:8787")
    notifier.status("offline: 3 payments queued\nsince 10:02")
    notifier.stopping()

    assert listener.receive() == "READY=1\nSTATUS=serving on 127.0.0.1:8787"
    assert listener.receive() == "STATUS=offline: 3 payments queued since 10:02"
    assert listener.receive() == "STOPPING=1"


def test_notifier_ready_without_status(listener: Listener) -> None:
    Notifier(listener.env()).ready()

    assert listener.receive() == "READY=1"


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"WATCHDOG_USEC": "30000000"}, 30.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}, 30.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid() + 1)}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({}, None),
    ],
)
def test_notifier_watchdog_interval(extra: dict[str, str], expected: float | None) -> None:
    notifier = Notifier({"NOTIFY_SOCKET": "@unused", **extra})

    assert notifier.watchdog_interval() == expected


async def test_watchdog_loop_sends_heartbeats_at_half_the_interval(listener: Listener) -> None:
    notifier = Notifier(listener.env(WATCHDOG_USEC="200000"))
    task = asyncio.create_task(notifier.watchdog_loop())
    started = time.monotonic()
    try:
        heartbeats = [await listener.areceive(within=1.0), await listener.areceive(within=1.0)]
        heartbeats += listener.queued()
        elapsed = time.monotonic() - started
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    assert heartbeats[:2] == ["WATCHDOG=1", "WATCHDOG=1"]
    assert set(heartbeats) == {"WATCHDOG=1"}
    # asyncio.sleep never wakes early, so more than one beat per 0.1 s (plus the first) would
    # mean the loop is not pacing itself.
    assert len(heartbeats) <= elapsed / 0.1 + 2


async def test_watchdog_loop_stops_beating_while_the_event_loop_is_blocked(
    listener: Listener,
) -> None:
    notifier = Notifier(listener.env(WATCHDOG_USEC="100000"))
    task = asyncio.create_task(notifier.watchdog_loop())
    try:
        assert await listener.areceive(within=1.0) == "WATCHDOG=1"
        listener.queued()

        # Deliberately wedge the loop for four heartbeat periods, as a hung handler would.
        time.sleep(0.2)  # noqa: ASYNC251
        during_block = listener.queued()
        after_block = await listener.areceive(within=1.0)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    assert during_block == []
    assert after_block == "WATCHDOG=1"


async def test_watchdog_loop_for_another_pid_sends_nothing(listener: Listener) -> None:
    notifier = Notifier(listener.env(WATCHDOG_USEC="200000", WATCHDOG_PID=str(os.getpid() + 1)))

    await asyncio.wait_for(notifier.watchdog_loop(), timeout=1.0)

    assert listener.queued() == []


async def test_watchdog_loop_without_watchdog_returns_at_once(listener: Listener) -> None:
    notifier = Notifier(listener.env())

    await asyncio.wait_for(notifier.watchdog_loop(), timeout=1.0)

    assert listener.queued() == []
