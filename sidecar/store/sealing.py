"""Optional encryption of queued payloads at rest (AES-256-GCM via ``cryptography``): a sealed
value starts with a marker so sealed and plain rows can live side by side."""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..errors import SealError

MARKER = b"GBS1"
NONCE_BYTES = 12
# Sealed into the database once, so a wrong or missing key is found at start, not at replay.
CHECK_PLAINTEXT = b"gameball-sidecar key check"


class Sealer:
    def __init__(self, key: bytes | None) -> None:
        self._aead = AESGCM(key) if key is not None else None

    @property
    def enabled(self) -> bool:
        return self._aead is not None

    def seal(self, plain: bytes) -> bytes:
        if self._aead is None:
            return plain
        nonce = os.urandom(NONCE_BYTES)
        return MARKER + nonce + self._aead.encrypt(nonce, plain, MARKER)

    def open(self, stored: bytes) -> bytes:
        if not stored.startswith(MARKER):
            return stored
        if self._aead is None:
            raise SealError("this data is encrypted and no encryption key is configured")
        nonce = stored[len(MARKER) : len(MARKER) + NONCE_BYTES]
        try:
            return self._aead.decrypt(nonce, stored[len(MARKER) + NONCE_BYTES :], MARKER)
        except InvalidTag:
            raise SealError(
                "the configured encryption key is not the one this data was sealed with"
            ) from None
