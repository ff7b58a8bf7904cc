"""The secrets: Gameball's keys, the local access token and the key that seals the database,
which may only come from the environment or from files of mode 0600 (systemd credentials),
never from the configuration file; and whether an address is this machine's own."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
import stat
from collections.abc import Mapping
from pathlib import Path

from .config import Config
from .errors import ConfigError


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


def is_loopback(host: str) -> bool:
    """``localhost`` or an address in 127.0.0.0/8 or ::1; a name merely starting with "127."
    (``127.evil.example``) is a name like any other, resolved by DNS."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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
