"""Settings: the TOML file, its environment overrides, and the secrets that may only come from
the environment or from files (systemd credentials). The only reader of ``os.environ``."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import math
import os
import re
import stat
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import msgspec
from msgspec import Meta

Positive = Annotated[float, Meta(gt=0)]
PositiveInt = Annotated[int, Meta(gt=0)]
Port = Annotated[int, Meta(ge=0, le=65535)]
NonEmpty = Annotated[str, Meta(min_length=1, max_length=200)]

DEFAULT_BASE_URL = "https://api.gameball.co/api/v4.0"
# A DNS name or an IP address (IPv6 with or without brackets), without a port.
HOST_NAME = (
    r"^(\[[0-9A-Fa-f:.]+\]|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*|[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*)$"
)


class ConfigError(Exception):
    """An invalid configuration; the message names the key and the value."""


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


class LimitsSection(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    max_payment_amount: Positive = 5000.0
    max_queued_amount: Positive = 250000.0
    max_queued_count: PositiveInt = 20000
    max_offline_age: Positive = 259200.0


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

    @property
    def data_path(self) -> Path:
        return Path(self.sidecar.data_dir)


class Secrets:
    """Credentials; ``repr`` never shows them, so they cannot leak into a log line.

    ``access_token`` guards the local API when it listens beyond loopback; ``encryption_key``
    (32 bytes) seals queued payloads at rest."""

    __slots__ = ("access_token", "api_key", "encryption_key", "secret_key")

    def __init__(
        self,
        api_key: str,
        secret_key: str,
        *,
        access_token: str = "",
        encryption_key: bytes | None = None,
    ) -> None:
        self.api_key = api_key
        self.secret_key = secret_key
        self.access_token = access_token
        self.encryption_key = encryption_key

    def __repr__(self) -> str:
        return "Secrets(***)"


# The short names DESIGN.md promises; every other key also has SIDECAR_<SECTION>_<KEY>.
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


def load_secrets(
    config: Config, environ: Mapping[str, str], *, check_exposure: bool = True
) -> Secrets:
    api_key = _secret("GAMEBALL_API_KEY", config.upstream.api_key_file, "gameball-api-key", environ)
    secret = _secret(
        "GAMEBALL_SECRET_KEY", config.upstream.secret_key_file, "gameball-secret-key", environ
    )
    token = _secret("SIDECAR_ACCESS_TOKEN", "", "sidecar-access-token", environ)
    if token and len(token) < 16:
        raise ConfigError("SIDECAR_ACCESS_TOKEN: too short; use at least 16 random characters")
    key_text = _secret("SIDECAR_ENCRYPTION_KEY", "", "sidecar-encryption-key", environ)
    secrets = Secrets(api_key, secret, access_token=token, encryption_key=_encryption_key(key_text))
    if check_exposure:
        _check_exposure(config, secrets)
    return secrets


def _encryption_key(text: str) -> bytes | None:
    """32 bytes, written as 64 hex digits or base64 (``openssl rand -base64 32``)."""
    if not text:
        return None
    try:
        key = bytes.fromhex(text) if len(text) == 64 else base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error):
        key = b""
    if len(key) != 32:
        raise ConfigError(
            "SIDECAR_ENCRYPTION_KEY: must be 32 random bytes as base64 or 64 hex digits "
            "(make one with `openssl rand -base64 32`)"
        )
    return key


def _check_exposure(config: Config, secrets: Secrets) -> None:
    """Listening beyond this machine without a token would let anyone on the LAN spend points."""
    host = config.sidecar.host
    if is_loopback(host):
        return
    if not secrets.access_token:
        raise ConfigError(
            f"$.sidecar.host: {host!r} is reachable from other machines; set an access token "
            "(SIDECAR_ACCESS_TOKEN or the credential sidecar-access-token) or bind 127.0.0.1"
        )


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"{path}: configuration file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None


def is_loopback(host: str) -> bool:
    """``localhost`` or an address in 127.0.0.0/8 or ::1; a name merely starting with "127."
    (``127.evil.example``) is a name like any other, resolved by DNS."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _reject_inline_secrets(raw: Mapping[str, Any]) -> None:
    for section, values in raw.items():
        if isinstance(values, Mapping):
            for key in values:
                if key in SECRET_KEYS:
                    raise ConfigError(
                        f"$.{section}.{key}: secrets may not be written in the config file; "
                        f"set an environment variable or a credential file instead"
                    )


def _apply_environment(raw: dict[str, Any], environ: Mapping[str, str]) -> None:
    fields = _known_keys()
    for name, value in environ.items():
        target = ENV_ALIASES.get(name)
        if target is None and name.startswith("SIDECAR_"):
            section, _, key = name.removeprefix("SIDECAR_").lower().partition("_")
            if key in fields.get(section, ()):
                target = (section, key)
        if target is not None:
            raw.setdefault(target[0], {})
            if isinstance(raw[target[0]], dict):
                raw[target[0]][target[1]] = (
                    [v.strip() for v in value.split(",") if v.strip()]
                    if target in LIST_KEYS
                    else value
                )


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


def _secret(env_name: str, file_key: str, credential: str, environ: Mapping[str, str]) -> str:
    if environ.get(env_name):
        return environ[env_name].strip()
    candidates = [environ.get(f"{env_name}_FILE", ""), file_key]
    if environ.get("CREDENTIALS_DIRECTORY"):
        candidates.append(os.path.join(environ["CREDENTIALS_DIRECTORY"], credential))
    for candidate in candidates:
        if candidate and os.path.exists(candidate):
            return _read_secret_file(Path(candidate), env_name)
    return ""


def _read_secret_file(path: Path, env_name: str) -> str:
    mode = path.stat().st_mode
    if mode & (stat.S_IROTH | stat.S_IWOTH):
        raise ConfigError(
            f"{path}: the file holding {env_name} is readable by every user; run `chmod 600 {path}`"
        )
    return path.read_text(encoding="utf-8").strip()
