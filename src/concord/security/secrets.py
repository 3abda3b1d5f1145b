"""Connector credentials encrypted at rest: envelope encryption with AES-256-GCM.

Each secret has its own random data key; the value is encrypted under the data key and the data key under a
master key from the environment (`CONCORD_MASTER_KEY`) or a file (`CONCORD_MASTER_KEY_FILE`), never from the
database. The secret's name is bound in as associated data, so a ciphertext copied onto another name does not
decrypt. Rotation: put the new master key first (old ones after it) and run `concord secrets rotate`: every
data key is re-wrapped under the new master key; values stay as they were, and old master keys keep decrypting
until rotation has finished and they are dropped from the configuration.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Engine, select, update

from concord.security import audit
from concord.security.tables import secrets
from concord.settings import Settings

NONCE = 12


class SecretError(Exception):
    """A secret cannot be stored or read; the message never contains a secret value."""


@dataclass(frozen=True)
class MasterKey:
    id: str
    key: bytes


def parse_master_key(text: str) -> MasterKey:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SecretError("a master key must be base64 of 32 random bytes") from exc
    if len(key) != 32:
        raise SecretError(f"a master key must be 32 bytes, this one has {len(key)}")
    return MasterKey(hashlib.sha256(key).hexdigest()[:16], key)


def new_master_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


class Keyring:
    """Master keys, newest (the one that encrypts) first; any of them decrypts."""

    def __init__(self, keys: list[MasterKey]) -> None:
        if not keys:
            raise SecretError("no master key: set CONCORD_MASTER_KEY or CONCORD_MASTER_KEY_FILE")
        self.keys = keys
        self._by_id = {k.id: k for k in keys}

    @classmethod
    def from_settings(cls, settings: Settings) -> Keyring:
        texts: list[str] = []
        if settings.master_key is not None:
            texts.extend(settings.master_key.get_secret_value().split(","))
        if settings.master_key_file is not None:
            try:
                texts.extend(settings.master_key_file.read_text(encoding="utf-8").split())
            except OSError as exc:
                raise SecretError(f"master_key_file {settings.master_key_file}: {exc.strerror}") from exc
        return cls([parse_master_key(t) for t in texts if t.strip()])

    @property
    def current(self) -> MasterKey:
        return self.keys[0]

    def get(self, key_id: str) -> MasterKey:
        key = self._by_id.get(key_id)
        if key is None:
            raise SecretError(f"master key {key_id} is not configured any more; cannot decrypt")
        return key


def _seal(key: bytes, plaintext: bytes, aad: bytes) -> str:
    nonce = os.urandom(NONCE)
    return base64.b64encode(nonce + AESGCM(key).encrypt(nonce, plaintext, aad)).decode()


def _open(key: bytes, sealed: str, aad: bytes) -> bytes:
    raw = base64.b64decode(sealed)
    try:
        return AESGCM(key).decrypt(raw[:NONCE], raw[NONCE:], aad)
    except InvalidTag as exc:
        raise SecretError("a secret does not decrypt (altered, or stored under another name)") from exc


class SecretStore:
    def __init__(self, engine: Engine, keyring: Keyring) -> None:
        self.engine = engine
        self.keyring = keyring

    def set(self, name: str, value: str, actor: str) -> None:
        if not name or len(name) > 255:
            raise SecretError("a secret name needs 1 to 255 characters")
        aad = name.encode()
        data_key = AESGCM.generate_key(bit_length=256)
        row = {"master_key_id": self.keyring.current.id, "wrapped_key": _seal(self.keyring.current.key, data_key, aad),
               "ciphertext": _seal(data_key, value.encode(), aad), "updated_at": time.time(), "updated_by": actor}
        with self.engine.begin() as conn:
            done = conn.execute(update(secrets).where(secrets.c.name == name).values(**row)).rowcount
            if not done:
                conn.execute(secrets.insert().values(name=name, **row))
            audit.append(conn, audit.Entry(tenant="*", actor=actor, action="secret.set", object_type="secret",
                                           object_id=name, after={"master_key_id": row["master_key_id"]}))

    def get(self, name: str) -> str:
        with self.engine.connect() as conn:
            row = conn.execute(select(secrets).where(secrets.c.name == name)).first()
        if row is None:
            raise SecretError(f"no secret named {name!r}")
        aad = name.encode()
        data_key = _open(self.keyring.get(row.master_key_id).key, row.wrapped_key, aad)
        return _open(data_key, row.ciphertext, aad).decode()

    def names(self) -> list[tuple[str, str, float]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(secrets.c.name, secrets.c.master_key_id, secrets.c.updated_at)
                                .order_by(secrets.c.name))
            return [(r.name, r.master_key_id, r.updated_at) for r in rows]

    def rotate(self, actor: str) -> int:
        """Re-wrap every data key not yet under the current master key; returns how many were re-wrapped."""
        current = self.keyring.current
        count = 0
        with self.engine.begin() as conn:
            rows = conn.execute(select(secrets).where(secrets.c.master_key_id != current.id)).all()
            for row in rows:
                aad = row.name.encode()
                data_key = _open(self.keyring.get(row.master_key_id).key, row.wrapped_key, aad)
                conn.execute(update(secrets).where(secrets.c.name == row.name).values(
                    master_key_id=current.id, wrapped_key=_seal(current.key, data_key, aad)))
                count += 1
            audit.append(conn, audit.Entry(tenant="*", actor=actor, action="secret.rotated", object_type="secret",
                                           object_id="*", after={"master_key_id": current.id, "rewrapped": count}))
        return count


def secret_resolver(store: SecretStore | None, vault: Callable[[str], str] | None = None,
                    fallback: Callable[[str], str] | None = None) -> Callable[[str], str]:
    """A connector `SecretResolver` for `secret:NAME` (this store), `vault:PATH#FIELD` and, through `fallback`
    (a connector's built-in `resolve_secret`), `env:` and `file:` references."""

    def resolve(reference: str) -> str:
        scheme, _, target = reference.partition(":")
        if scheme == "secret" and store is not None:
            return store.get(target)
        if scheme == "vault" and vault is not None:
            return vault(target)
        if fallback is not None:
            return fallback(reference)
        raise SecretError(f"secret reference scheme {scheme!r} is not configured")

    return resolve
