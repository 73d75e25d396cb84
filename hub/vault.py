"""The credential vault: secrets encrypted with Fernet (MultiFernet for rotation) in SQLite.

The key lives apart from the data: `HUB_VAULT_KEY` (comma-separated, newest first) or
`data_dir/vault.key` (one key per line, newest first), created with mode 0600 at first start.
The hub refuses to start when the key file is readable by group or others, or when the key
does not decrypt what is stored; nothing is overwritten in either case.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from hub.storage import Storage

KEY_FILE = "vault.key"
# With HUB_VAULT_KEY, rotation writes the new key here before re-encrypting, so a crash or a
# lost terminal never leaves secrets under a key that exists nowhere.
ROTATED_KEY_FILE = "vault.key.rotated"
ENV_KEY = "HUB_VAULT_KEY"
CANARY = ("_hub", "canary")


class VaultError(Exception):
    """The vault cannot be opened safely. The message never contains key material."""


def _read_keys(text: str, origin: str) -> list[bytes]:
    keys = [k.strip().encode() for k in text.replace(",", "\n").splitlines() if k.strip()]
    if not keys:
        raise VaultError(f"{origin} holds no key")
    for key in keys:
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise VaultError(f"{origin} holds a malformed key (expected a Fernet key)") from None
    return keys


def _write_key_file(path: Path, keys: list[bytes]) -> None:
    """Atomically replace the key file, never leaving a moment where it is world-readable."""
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, b"\n".join(keys) + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def load_keys(data_dir: Path, env: dict[str, str] | os._Environ) -> tuple[list[bytes], str]:
    """The vault keys (newest first) and where they came from; creates the key file once."""
    if env.get(ENV_KEY):
        keys = _read_keys(env[ENV_KEY], ENV_KEY)
        rotated = data_dir / ROTATED_KEY_FILE
        if rotated.exists():
            keys += [k for k in _read_keys(rotated.read_text(), str(rotated)) if k not in keys]
        return keys, ENV_KEY
    path = data_dir / KEY_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        _write_key_file(path, [Fernet.generate_key()])
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise VaultError(
            f"{path} is readable by group or others (mode {mode:04o}); "
            f"run: chmod 600 {path}")
    return _read_keys(path.read_text(), str(path)), str(path)


class Vault:
    def __init__(self, storage: Storage) -> None:
        self._storage = storage
        self._origin = ""
        self._fernet: MultiFernet | None = None

    async def open(self, keys: list[bytes], origin: str) -> None:
        """Check that the key decrypts everything stored; write the canary on first use."""
        self._origin = origin
        self._fernet = MultiFernet([Fernet(k) for k in keys])
        rows = await self._storage.fetchall("SELECT namespace, name, ciphertext FROM vault")
        for row in rows:
            try:
                self._fernet.decrypt(row["ciphertext"])
            except InvalidToken:
                raise VaultError(
                    f"the vault key from {self._origin} does not decrypt the stored secrets "
                    f"({len(rows)} stored); refusing to start so nothing is overwritten. "
                    f"Restore the right key (or set {ENV_KEY})") from None
        if not any((r["namespace"], r["name"]) == CANARY for r in rows):
            await self.set(*CANARY, "ok")

    async def get(self, namespace: str, name: str, default: Any = None) -> Any:
        row = await self._storage.fetchone(
            "SELECT ciphertext FROM vault WHERE namespace = ? AND name = ?", (namespace, name))
        if row is None:
            return default
        return json.loads(self._fernet.decrypt(row["ciphertext"]))

    async def set(self, namespace: str, name: str, value: Any) -> None:
        token = self._fernet.encrypt(json.dumps(value).encode())
        async with self._storage.transaction() as db:
            await db.execute(
                "INSERT INTO vault (namespace, name, ciphertext, updated_at) "
                "VALUES (?, ?, ?, strftime('%s','now')) ON CONFLICT (namespace, name) "
                "DO UPDATE SET ciphertext = excluded.ciphertext, updated_at = excluded.updated_at",
                (namespace, name, token))

    async def delete(self, namespace: str, name: str) -> bool:
        async with self._storage.transaction() as db:
            cur = await db.execute(
                "DELETE FROM vault WHERE namespace = ? AND name = ?", (namespace, name))
            return cur.rowcount > 0

    async def names(self, namespace: str) -> list[str]:
        rows = await self._storage.fetchall(
            "SELECT name FROM vault WHERE namespace = ? ORDER BY name", (namespace,))
        return [r["name"] for r in rows]

    async def count(self) -> int:
        row = await self._storage.fetchone("SELECT count(*) FROM vault")
        return int(row[0]) if row else 0

    def handle(self, namespace: str) -> VaultHandle:
        return VaultHandle(self, namespace)


class VaultHandle:
    """One plugin's namespace. It holds no way to name another namespace."""

    __slots__ = ("_namespace", "_vault")

    def __init__(self, vault: Vault, namespace: str) -> None:
        self._vault = vault
        self._namespace = namespace

    async def get(self, name: str, default: Any = None) -> Any:
        return await self._vault.get(self._namespace, name, default)

    async def set(self, name: str, value: Any) -> None:
        await self._vault.set(self._namespace, name, value)

    async def delete(self, name: str) -> bool:
        return await self._vault.delete(self._namespace, name)

    async def names(self) -> list[str]:
        return await self._vault.names(self._namespace)

    def __repr__(self) -> str:
        return f"<VaultHandle {self._namespace}>"


async def rotate(storage: Storage, data_dir: Path, env: dict[str, str] | os._Environ) -> str:
    """Re-encrypt everything under a new key. Returns a message for the user.

    Crash-safe order for the key file: first write `new + old` (both decrypt), then
    re-encrypt every row in one transaction, then drop the old key. At every moment the key
    file decrypts every row."""
    keys, origin = load_keys(data_dir, env)
    vault = Vault(storage)
    await vault.open(keys, origin)
    new_key = Fernet.generate_key()
    fernet = MultiFernet([Fernet(new_key), *(Fernet(k) for k in keys)])
    from_env = origin == ENV_KEY
    key_path = data_dir / (ROTATED_KEY_FILE if from_env else KEY_FILE)
    _write_key_file(key_path, [new_key] if from_env else [new_key, *keys])
    async with storage.transaction() as db:
        async with db.execute("SELECT namespace, name, ciphertext FROM vault") as cur:
            rows = list(await cur.fetchall())
        for row in rows:
            await db.execute(
                "UPDATE vault SET ciphertext = ? WHERE namespace = ? AND name = ?",
                (fernet.rotate(row["ciphertext"]), row["namespace"], row["name"]))
    if from_env:
        return (f"re-encrypted {len(rows)} secrets. Set {ENV_KEY} to the new key, then delete "
                f"{key_path} (it holds the same key, mode 0600, so nothing is lost meanwhile):"
                f"\n{new_key.decode()}")
    _write_key_file(key_path, [new_key])
    return f"re-encrypted {len(rows)} secrets under a new key in {key_path}"
