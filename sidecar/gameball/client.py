"""The one HTTP session to Gameball: sends both key headers on every call and turns every kind
of answer (JSON, Gameball's two error bodies, HTML pages, resets, timeouts) into a typed result
or a typed error carrying Gameball's code, feeding the circuit breaker as it goes."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

import aiohttp
import msgspec
from yarl import URL

from ..errors import (
    GameballAuthError,
    GameballBusy,
    GameballRateLimited,
    GameballRejected,
    GameballServerError,
    GameballUnreachable,
)
from .codes import Code, Meaning
from .connectivity import Connectivity
from .paths import path_template
from .wire import GbErrorBody

log = logging.getLogger(__name__)

T = TypeVar("T")

# 408 Request Timeout and 425 Too Early: the edge read nothing it acted on; the same call may
# well succeed in a moment.
TRY_AGAIN_STATUSES = frozenset({408, 425})


class UpstreamClient:
    """Calls Gameball under ``base_url`` with the store's keys. One instance per process.

    Every outcome feeds the circuit breaker: no answer, a 5xx or an HTML page counts as a
    failure; any answer Gameball itself wrote (even a 4xx) proves it is reachable."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str,
        api_key: str,
        secret_key: str,
        timeout: float,
        connectivity: Connectivity,
        observe: Callable[[str, str, float, str], None] = lambda *_: None,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._session = session
        # Encoded once here; ids in paths are encoded by the path helpers (``segment``).
        self._base = str(URL(base_url.rstrip("/")))
        self._headers = {
            "APIKey": api_key,
            "SecretKey": secret_key,
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._timer = timer
        self.connectivity = connectivity
        self._observe = observe

    def url(self, path: str) -> URL:
        """The full URL for a path below the base, taken as already encoded: yarl would
        otherwise decode ``%2E`` and drop the dot segments it makes, leaving the segment."""
        return URL(self._base + path, encoded=True)

    async def call(
        self,
        method: str,
        path: str,
        result_type: type[T],
        *,
        body: Any = None,
        raw_body: bytes | None = None,
        params: dict[str, str] | None = None,
    ) -> T:
        """One call; raises a ``GameballError`` subclass for anything but a usable 2xx.
        ``raw_body`` is JSON already encoded (an outbox row, sent byte for byte)."""
        # While offline, the one call let through is the probe.
        probe = self.connectivity.offline
        if not self.connectivity.allow():
            raise GameballUnreachable("Gameball is offline; waiting for the next probe")
        data = msgspec.json.encode(body) if body is not None else raw_body
        url = self.url(path)
        path = path_template(path)  # what failure texts and metrics say: never an id
        started = self._timer()
        failure: str | None = "cancelled before Gameball answered"
        outcome = "cancelled"
        try:
            async with self._session.request(
                method,
                url,
                data=data,
                params=params,
                headers=self._headers,
                timeout=self._timeout,
            ) as response:
                payload = await response.read()
                failure = None
                outcome = "rejected"
                result = _interpret(
                    response.status,
                    response.content_type,
                    payload,
                    result_type,
                    retry_after=response.headers.get("Retry-After"),
                )
                outcome = "ok"
                return result
        except GameballRateLimited:
            outcome = "rate_limited"
            raise
        except (GameballServerError, GameballUnreachable) as exc:
            failure = exc.message
            outcome = "server_error"
            raise
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            # The request never left: nothing can have happened at Gameball.
            failure = f"could not reach Gameball for {path}: {type(exc).__name__}"
            outcome = "unreachable"
            raise GameballUnreachable(failure, outcome_unknown=False) from None
        except TimeoutError:
            failure, outcome = f"Gameball did not answer {path} in time", "timeout"
            raise GameballUnreachable(failure, outcome_unknown=True) from None
        except aiohttp.ClientError as exc:
            # Sent, then the connection broke: Gameball may have applied the call.
            failure = f"lost the connection to Gameball during {path}: {type(exc).__name__}"
            outcome = "unreachable"
            raise GameballUnreachable(failure, outcome_unknown=True) from None
        finally:
            self._observe(method, path, self._timer() - started, outcome)
            if failure is None:
                self.connectivity.record_success()
            else:
                self.connectivity.record_failure(failure, probe=probe)


def _interpret(
    status: int,
    content_type: str,
    payload: bytes,
    result_type: type[T],
    *,
    retry_after: str | None = None,
) -> T:
    if 200 <= status < 300:
        try:
            return msgspec.json.decode(payload or b"{}", type=result_type)
        except msgspec.DecodeError as exc:
            raise GameballServerError(
                f"Gameball answered {status} with an unreadable body ({exc})", http_status=status
            ) from None
    if status == 429:
        limited = GameballRateLimited("Gameball rate limit reached (429)", http_status=status)
        limited.retry_after = _seconds(retry_after)
        raise limited
    error = _read_error(content_type, payload)
    if status >= 500 or (error is None and not 400 <= status < 500):
        kind = "an HTML page" if "html" in content_type else f"HTTP {status}"
        raise GameballServerError(
            f"Gameball is unavailable ({kind})",
            http_status=status,
            code=error.code if error else None,
        )
    # Any 4xx, JSON or not, was written by a server that read our request: Gameball (or its
    # edge) is reachable, so it must never count toward the circuit breaker.
    if error is None:
        kind = "an HTML page" if "html" in content_type else "a body that is not Gameball's"
        error = _Error(None, f"HTTP {status} with {kind}")
    message = error.message or f"HTTP {status}"
    known = Code.of(error.code)
    if (known and known.meaning == Meaning.ALARM) or (known is None and status in (401, 403)):
        raise GameballAuthError(message, http_status=status, code=error.code)
    if error.code == Code.CUSTOMER_BUSY or status in TRY_AGAIN_STATUSES:
        raise GameballBusy(message, http_status=status, code=error.code)
    raise GameballRejected(message, http_status=status, code=error.code)


def _seconds(retry_after: str | None) -> float | None:
    """Retry-After as delta-seconds (an HTTP date is not trusted: the clocks may disagree),
    capped at 5 minutes so a wrong header cannot stop replay for hours."""
    try:
        seconds = float((retry_after or "").strip())
    except ValueError:
        return None
    return min(300.0, seconds) if seconds >= 0 else None


class _Error(msgspec.Struct, frozen=True):
    code: int | None
    message: str | None


def _read_error(content_type: str, payload: bytes) -> _Error | None:
    """Gameball's body ``{code, message, ...}`` or the ``{error, message}`` variant, else None."""
    if "json" not in content_type and not payload.lstrip().startswith(b"{"):
        return None
    try:
        body = msgspec.json.decode(payload, type=GbErrorBody)
    except msgspec.DecodeError:
        return None
    code = body.code if body.code is not None else body.error
    try:
        number = int(code) if code is not None else None
    except ValueError:
        number = None
    return _Error(number, body.message)
