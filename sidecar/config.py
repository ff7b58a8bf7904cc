"""Settings: every key of the TOML file, each with its default, and the environment overrides
(``SIDECAR_<SECTION>_<KEY>`` and a few short names); an invalid key is named with its value."""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import unquote, urlsplit, urlunsplit

import msgspec
from msgspec import Meta

from .errors import ConfigError

Positive = Annotated[float, Meta(gt=0)]
PositiveInt = Annotated[int, Meta(gt=0)]
Port = Annotated[int, Meta(ge=0, le=65535)]
NonEmpty = Annotated[str, Meta(min_length=1, max_length=200)]

DEFAULT_BASE_URL = "https://api.gameball.co/api/v4.0"
# A DNS name or an IP address (IPv6 with or without brackets), without a port.
HOST_NAME = (
    r"^(\[[0-9A-Fa-f:.]+\]|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*|[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*)$"
)


class SidecarSection(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    host: NonEmpty = "127.0.0.1"
    port: Port = 8787
    data_dir: NonEmpty = "./var"
    max_body_bytes: Annotated[int, Meta(ge=1024, le=16 * 1024 * 1024)] = 65536
    max_db_mb: Annotated[float, Meta(ge=1, le=1_000_000)] = 1024.0
    stop_grace: Annotated[float, Meta(ge=0, le=120)] = 10.0
    # Web origins (kiosk apps) allowed to call the API from a browser; none by default.
    cors_origins: list[Annotated[str, Meta(pattern=r"^https?://[^/\s]+$")]] = []
    # Host names (besides localhost and loopback addresses) a request may be addressed to
    # when no access token is set; anything else is refused, against DNS rebinding.
    allowed_hosts: list[Annotated[str, Meta(pattern=HOST_NAME)]] = []
    log_level: NonEmpty = "INFO"


class StoreSection(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    merchant_id: str = ""
    merchant_name: str = ""
    branch_id: str = ""
    branch_name: str = ""
    terminal_id: str = ""


class UpstreamSection(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    base_url: NonEmpty = DEFAULT_BASE_URL
    timeout: Positive = 10.0
    connect_timeout: Positive = 3.0
    api_key_file: str = ""
    secret_key_file: str = ""


class BudgetsSection(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How long the cashier may wait for each operation, in seconds."""

    estimate: Positive = 0.8
    hold: Positive = 3.0
    finalize: Positive = 2.0
    balance: Positive = 0.8
    hold_status: Positive = 0.8


class CacheSection(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    quote_ttl: Positive = 30.0
    quote_max_entries: PositiveInt = 2048
    balance_ttl: Positive = 15.0
    balance_max_entries: PositiveInt = 4096
    rules_refresh: Positive = 300.0


class ConnectivitySection(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    failure_threshold: PositiveInt = 3
    probe_initial: Positive = 1.0
    probe_max: Positive = 60.0


class HoldsSection(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    # Used only when Gameball's hold lookup does not answer; the merchant's real setting wins.
    default_ttl: Positive = 600.0


class OutboxSection(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    concurrency: Annotated[int, Meta(ge=1, le=64)] = 4
    retry_base: Positive = 1.0
    retry_cap: Positive = 300.0
    refund_wait_attempts: PositiveInt = 8
    rehold_expired: bool = True
    alarm_retry: Positive = 60.0
    retention_days: Positive = 7.0
    maintenance_interval: Positive = 3600.0


class PacingSection(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    enabled: bool = True
    per_second: PositiveInt = 30
    per_30_seconds: PositiveInt = 360
    pause_on_429: Positive = 30.0
    # live_reserve: the share of each window only live calls fill; see sidecar.example.toml.
    live_reserve: Annotated[float, Meta(ge=0, lt=1)] = 0.05
    shared_url: Annotated[str, Meta(pattern=r"^$|^(rediss?|unix)://")] = ""
    shared_timeout: Annotated[float, Meta(gt=0, le=5)] = 0.05
    local_share: Annotated[float, Meta(gt=0, le=1)] = 1.0
    aimd: bool = True
    reconnect_jitter_seconds: Annotated[float, Meta(ge=0, le=600)] = 5.0


class LimitsSection(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    max_payment_amount: Positive = 5000.0
    max_queued_amount: Positive = 250000.0
    max_queued_count: PositiveInt = 20000
    max_offline_age: Positive = 259200.0


class OfflineRedemptionSection(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True
):
    """Spending points while Gameball is unreachable, within caps the merchant sets (the
    worst case the merchant carries is in the README). Off unless enabled."""

    enabled: bool = False
    max_points_per_checkout: PositiveInt = 500
    # Of the last available balance Gameball reported for the customer.
    max_share_of_balance: Annotated[float, Meta(gt=0, le=1)] = 0.5
    # No offline redemption without a balance seen from Gameball this recently, in seconds.
    max_balance_age: Positive = 86400.0
    max_points_per_customer_per_day: PositiveInt = 1000
    max_points_per_terminal_per_day: PositiveInt = 10000


class Config(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    sidecar: SidecarSection = msgspec.field(default_factory=SidecarSection)
    store: StoreSection = msgspec.field(default_factory=StoreSection)
    upstream: UpstreamSection = msgspec.field(default_factory=UpstreamSection)
    budgets: BudgetsSection = msgspec.field(default_factory=BudgetsSection)
    cache: CacheSection = msgspec.field(default_factory=CacheSection)
    connectivity: ConnectivitySection = msgspec.field(default_factory=ConnectivitySection)
    holds: HoldsSection = msgspec.field(default_factory=HoldsSection)
    outbox: OutboxSection = msgspec.field(default_factory=OutboxSection)
    pacing: PacingSection = msgspec.field(default_factory=PacingSection)
    limits: LimitsSection = msgspec.field(default_factory=LimitsSection)
    offline_redemption: OfflineRedemptionSection = msgspec.field(
        default_factory=OfflineRedemptionSection
    )

    @property
    def data_path(self) -> Path:
        return Path(self.sidecar.data_dir)


# Short names for the keys store IT sets most; every key also has SIDECAR_<SECTION>_<KEY>.
ENV_ALIASES: dict[str, tuple[str, str]] = {
    "GAMEBALL_BASE_URL": ("upstream", "base_url"),
    "SIDECAR_HOST": ("sidecar", "host"),
    "SIDECAR_PORT": ("sidecar", "port"),
    "SIDECAR_DATA_DIR": ("sidecar", "data_dir"),
    "SIDECAR_MERCHANT_ID": ("store", "merchant_id"),
    "SIDECAR_BRANCH_ID": ("store", "branch_id"),
    "SIDECAR_TERMINAL_ID": ("store", "terminal_id"),
}
LIST_KEYS = {("sidecar", "cors_origins"), ("sidecar", "allowed_hosts")}
SECRET_KEYS = {"api_key", "secret_key", "access_token", "encryption_key"}
# Gameball requires only the ids (merchant.uniqueId, branch.uniqueId); names are optional.
REQUIRED_STORE_KEYS = ("merchant_id", "branch_id", "terminal_id")


def load_config(
    path: Path | None, environ: Mapping[str, str], *, require_store: bool = True
) -> Config:
    """Read the file (if any), apply environment overrides, validate every key."""
    raw: dict[str, Any] = {}
    if path is not None:
        raw = _read_toml(path)
    _reject_inline_secrets(raw)
    _apply_environment(raw, environ)
    try:
        config = msgspec.convert(raw, Config, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(_describe(exc, raw)) from None
    if require_store:
        missing = [k for k in REQUIRED_STORE_KEYS if not getattr(config.store, k).strip()]
        if missing:
            keys = ", ".join(f"$.store.{k}" for k in missing)
            raise ConfigError(f"{keys}: required (the store identity stamped on every sale)")
    return config


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"{path}: configuration file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None


def _reject_inline_secrets(raw: Mapping[str, Any]) -> None:
    for section, values in raw.items():
        if isinstance(values, Mapping):
            for key in values:
                if key in SECRET_KEYS:
                    raise ConfigError(
                        f"$.{section}.{key}: secrets may not be written in the config file; "
                        f"set an environment variable or a credential file instead"
                    )
    pacing = raw.get("pacing")
    url = pacing.get("shared_url") if isinstance(pacing, Mapping) else None
    if isinstance(url, str) and url_passwords(url):
        raise ConfigError(
            "$.pacing.shared_url: a password may not be written in the config file; set the "
            "whole URL in SIDECAR_PACING_SHARED_URL instead (e.g. an EnvironmentFile of mode 0600)"
        )


def url_passwords(url: str) -> list[str]:
    """The passwords a Redis URL carries (before the host, or as ``?password=``)."""
    found = [urlsplit(url).password or ""]
    found += re.findall(r"(?i)[?&]password=([^&#]+)", url)
    return [unquote(p) for p in found if p]


def redacted_url(url: str) -> str:
    """The URL as it may be shown: its password (before the host, or ``?password=``) as ***."""
    url = re.sub(r"(?i)([?&]password=)[^&#]+", r"\1***", url)
    parts = urlsplit(url)
    if not parts.password:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def _apply_environment(raw: dict[str, Any], environ: Mapping[str, str]) -> None:
    fields = _known_keys()
    for name, value in environ.items():
        target = ENV_ALIASES.get(name)
        if target is None and name.startswith("SIDECAR_"):
            target = _section_key(name.removeprefix("SIDECAR_").lower(), fields)
        if target is not None:
            raw.setdefault(target[0], {})
            if isinstance(raw[target[0]], dict):
                raw[target[0]][target[1]] = (
                    [v.strip() for v in value.split(",") if v.strip()]
                    if target in LIST_KEYS
                    else value
                )


def _section_key(rest: str, fields: Mapping[str, tuple[str, ...]]) -> tuple[str, str] | None:
    """``offline_redemption_max_points_per_checkout`` -> the section and key it names (section
    names may hold an underscore too)."""
    for section, keys in fields.items():
        if rest.startswith(section + "_") and rest[len(section) + 1 :] in keys:
            return section, rest[len(section) + 1 :]
    return None


def _known_keys() -> dict[str, tuple[str, ...]]:
    return {field.name: field.type.__struct_fields__ for field in msgspec.structs.fields(Config)}


def _describe(exc: msgspec.ValidationError, raw: Mapping[str, Any]) -> str:
    # msgspec says "Expected `float` > 0.0 - at `$.upstream.timeout`"; lead with the key.
    message, _, where = str(exc).rpartition(" - at ")
    path = where.strip("`")
    unknown = re.fullmatch(r"Object contains unknown field `(.+)`", message)
    if unknown:
        return (
            f"{path}.{unknown.group(1)}: unknown key "
            f"(see config/sidecar.example.toml for the keys there are)"
        )
    bound = re.fullmatch(r"Expected `\w+` (.+)", message)
    text = f"expected {bound.group(1)}" if bound else message[0].lower() + message[1:]
    text = re.sub(r"(\d)\.0\b", r"\1", text).replace("`", "")
    value = _lookup(raw, path)
    shown = "" if value is _MISSING else f" (got {value!r})"
    return f"{path}: {text}{shown}"


_MISSING = object()


def _lookup(raw: Mapping[str, Any], path: str) -> Any:
    node: Any = raw
    for part in path.removeprefix("$.").split("."):
        if not isinstance(node, Mapping) or part not in node:
            return _MISSING
        node = node[part]
    if isinstance(node, float) and math.isnan(node):
        return "nan"
    return node
