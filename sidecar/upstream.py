"""The one HTTP session to Gameball: sends both key headers on every call and turns every kind
of answer (JSON, Gameball's two error bodies, HTML pages, resets, timeouts) into a typed result
or a typed error carrying Gameball's code."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote

import aiohttp
import msgspec
from yarl import URL

from . import errors
from .connectivity import Connectivity
from .models import GbErrorBody

log = logging.getLogger(__name__)

T = TypeVar("T")

AUTH_CODES = frozenset({1000, 1001, 1002})
# 408 Request Timeout and 425 Too Early: the edge read nothing it acted on; the same call may
# well succeed in a moment.
TRY_AGAIN_STATUSES = frozenset({408, 425})

# Gameball's paths under the base URL (openapi.json, /api/v4.0 prefix in the base).
QUOTE_PATH = "/integrations/payments/cashback"
PAYMENTS_PATH = "/integrations/payments"
HOLD_PATH = "/integrations/transactions/hold"
REDEEM_PATH = "/integrations/transactions/redeem"
REFUND_PATH = "/integrations/transactions/refund"
RULES_PATH = "/integrations/configurations/cashback"


HOLD_ITEM_PATH = HOLD_PATH + "/{holdReference}"
BALANCE_PATH = "/integrations/customers/{customerId}/balance"
# The paths that carry an id, as templates: failure texts and metrics name these, never an id.
ID_PATHS = (HOLD_ITEM_PATH, BALANCE_PATH)
_ID_PATH_PATTERNS = [
    (re.compile("^" + re.sub(r"\\{\w+\\}", "[^/]+", re.escape(t)) + "$"), t) for t in ID_PATHS
]


def segment(value: str) -> str:
    """One path segment whatever ``value`` holds: every byte but letters, digits and ``-_~``
    percent-encoded, dots too, so ``.`` or ``..`` can never become a dot segment. The URL is
    then sent as encoded (see ``UpstreamClient.url``), so nothing decodes or normalises it."""
    return quote(value, safe="", errors="surrogatepass").replace(".", "%2E")


def hold_path(reference: str) -> str:
    return HOLD_ITEM_PATH.format(holdReference=segment(reference))


def balance_path(customer_id: str) -> str:
    return BALANCE_PATH.format(customerId=segment(customer_id))


def path_template(path: str) -> str:
    """``/integrations/customers/{customerId}/balance`` for any customer's balance path."""
    for pattern, template in _ID_PATH_PATTERNS:
        if pattern.match(path):
            return template
    return path


class GameballError(Exception):
    """Base of every failed call. ``transient`` says whether the same call may succeed later;
    ``outcome_unknown`` whether Gameball may have applied it although we heard no success
    (timeout or reset after sending, a 5xx): a later "already exists" then means it landed."""

    transient = True
    outcome_unknown = False

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        code: int | None = None,
        outcome_unknown: bool | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.http_status = http_status
        self.code = code
        if outcome_unknown is not None:
            self.outcome_unknown = outcome_unknown


class GameballUnreachable(GameballError):
    """No answer at all: refused, reset, timed out, DNS."""


class GameballServerError(GameballError):
    """A 5xx or a non-JSON error page from Gameball or the edge in front of it."""

    outcome_unknown = True


class GameballRateLimited(GameballError):
    """HTTP 429: the account-wide budget is spent."""


class GameballRejected(GameballError):
    """A 4xx answer about the request itself; the same request will be refused again."""

    transient = False


class GameballAuthError(GameballRejected):
    """1000/1001/1002: our keys are wrong or missing."""


class GameballBusy(GameballRejected):
    """2001: another call for the same customer is in progress (or a 408/425 from the edge);
    try again shortly."""

    transient = True


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
                result = _interpret(response.status, response.content_type, payload, result_type)
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
                self.connectivity.record_failure(failure)


def _interpret(status: int, content_type: str, payload: bytes, result_type: type[T]) -> T:
    if 200 <= status < 300:
        try:
            return msgspec.json.decode(payload or b"{}", type=result_type)
        except msgspec.DecodeError as exc:
            raise GameballServerError(
                f"Gameball answered {status} with an unreadable body ({exc})", http_status=status
            ) from None
    if status == 429:
        raise GameballRateLimited("Gameball rate limit reached (429)", http_status=status)
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
    if error.code in AUTH_CODES or (error.code is None and status in (401, 403)):
        raise GameballAuthError(message, http_status=status, code=error.code)
    if error.code == 2001 or status in TRY_AGAIN_STATUSES:
        raise GameballBusy(message, http_status=status, code=error.code)
    raise GameballRejected(message, http_status=status, code=error.code)


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


def as_sidecar_error(exc: GameballRejected, *, subject: str) -> errors.SidecarError:
    """What a Gameball refusal means for the cashier; ``subject`` names what was asked for."""
    if isinstance(exc, GameballAuthError):
        return errors.UpstreamAuthFailed(
            "Gameball refused this store's API credentials; ask store IT to check the "
            "sidecar's Gameball keys",
            upstream_code=exc.code,
        )
    if isinstance(exc, GameballBusy):
        return errors.UpstreamBusy(
            f"Gameball is still processing another request for this customer; retry {subject}",
            upstream_code=exc.code,
        )
    if exc.code == 9008:
        return errors.InsufficientPoints(
            "The customer does not have enough available points for this redemption",
            upstream_code=exc.code,
        )
    if exc.code == 7000:
        return errors.CustomerNotFound(
            "Gameball has no customer with this customerId; check the id, or let the customer "
            "earn points first",
            upstream_code=exc.code,
        )
    if exc.code == 9006:
        return errors.HoldNotFound(
            "Gameball does not know this hold reference, or the hold has expired",
            upstream_code=exc.code,
        )
    return errors.UpstreamRejected(
        f"Gameball refused {subject}: {exc.message}", upstream_code=exc.code
    )
