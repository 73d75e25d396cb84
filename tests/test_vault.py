"""The credential vault: encrypted at rest, key apart from data, namespaces, refusal, rotation."""

from __future__ import annotations

import asyncio
import os
import stat

import pytest
from cryptography.fernet import Fernet

from hub.cli import main as hub_cli
from hub.plugin import PluginInfo, hookimpl
from hub.storage import Storage
from hub.vault import KEY_FILE, Vault, VaultError, load_keys, rotate

SECRET = "refresh-token-do-not-leak-123456"


class Keeper:
    """A plugin that stores one secret in its own namespace."""

    def __init__(self, value: str) -> None:
        self.value = value

    @hookimpl
    def describe(self):
        return PluginInfo()

    @hookimpl
    async def startup(self, ctx):
        await ctx.vault.set("token", {"refresh": self.value})


async def test_secrets_are_encrypted_at_rest_and_key_file_is_private(hub_factory):
    harness = await hub_factory({"plugins": {"keeper": {}}}, only=[],
                                extra_plugins={"keeper": Keeper(SECRET)})
    data_dir = harness.hub.data_dir
    raw = b"".join(p.read_bytes() for p in data_dir.glob("hub.db*"))
    assert SECRET.encode() not in raw
    key_file = data_dir / KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((data_dir / "owner.token").stat().st_mode) == 0o600
    for directory in (data_dir, data_dir / "plugins", data_dir / "plugins" / "keeper"):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory
    ctx = harness.hub.plugins.plugins["keeper"].ctx
    assert await ctx.vault.get("token") == {"refresh": SECRET}


async def test_a_plugin_cannot_read_another_plugins_secrets(hub_factory):
    harness = await hub_factory(
        {"plugins": {"alpha": {}, "beta": {}}}, only=[],
        extra_plugins={"alpha": Keeper("alpha-secret"), "beta": Keeper("beta-secret")})
    alpha = harness.hub.plugins.plugins["alpha"].ctx.vault
    beta = harness.hub.plugins.plugins["beta"].ctx.vault
    assert await alpha.get("token") == {"refresh": "alpha-secret"}
    assert await beta.get("token") == {"refresh": "beta-secret"}
    assert await alpha.names() == ["token"]
    for sneaky in ("../beta/token", "beta/token", "beta.token", "beta:token"):
        assert await alpha.get(sneaky) is None
    await alpha.delete("token")
    assert await beta.get("token") == {"refresh": "beta-secret"}


async def test_demo_plugin_keeps_a_credential_in_the_vault(hub_factory):
    harness = await hub_factory({"plugins": {"demo": {"players": 1}}}, only=["demo"])
    vault = harness.hub.plugins.plugins["demo"].ctx.vault
    credential = await vault.get("api_key")
    assert credential.startswith("demo-")
    _, body = await harness.get("/plugins")
    text = str(body)
    assert credential not in text
    assert "stored in the vault" in text


async def _open(data_dir, env):
    storage = Storage(data_dir)
    await storage.open()
    vault = Vault(storage)
    try:
        await vault.open(*load_keys(data_dir, env))
    except BaseException:
        await storage.close()
        raise
    return storage, vault


async def test_refuses_a_group_readable_key_file(tmp_path):
    storage, _ = await _open(tmp_path, {})
    await storage.close()
    os.chmod(tmp_path / KEY_FILE, 0o640)
    with pytest.raises(VaultError, match="readable by group or others"):
        await _open(tmp_path, {})


async def test_refuses_a_key_that_does_not_decrypt_and_overwrites_nothing(tmp_path):
    storage, vault = await _open(tmp_path, {})
    await vault.set("spotify", "token", SECRET)
    await storage.close()
    before = (tmp_path / KEY_FILE).read_bytes()
    rows_before = await _rows(tmp_path)
    with pytest.raises(VaultError, match="does not decrypt") as err:
        await _open(tmp_path, {"HUB_VAULT_KEY": Fernet.generate_key().decode()})
    assert "HUB_VAULT_KEY" in str(err.value) and SECRET not in str(err.value)
    assert (tmp_path / KEY_FILE).read_bytes() == before
    assert await _rows(tmp_path) == rows_before


async def test_hub_refuses_to_start_with_the_wrong_key(hub_factory, tmp_path):
    data = tmp_path / "data"
    harness = await hub_factory({"plugins": {}}, data_dir=data)
    await harness.client.close()
    with pytest.raises(VaultError):
        await hub_factory({"plugins": {}}, data_dir=data,
                          env={"HUB_VAULT_KEY": Fernet.generate_key().decode()})


async def _rows(data_dir):
    storage = Storage(data_dir)
    await storage.open()
    try:
        return [tuple(r) for r in await storage.fetchall(
            "SELECT namespace, name, ciphertext FROM vault ORDER BY namespace, name")]
    finally:
        await storage.close()


async def test_rotation_reencrypts_everything_under_a_new_key(tmp_path):
    storage, vault = await _open(tmp_path, {})
    await vault.set("spotify", "token", SECRET)
    await vault.set("demo", "api_key", "demo-xyz")
    old_key = (tmp_path / KEY_FILE).read_text().strip()
    old_rows = await _rows(tmp_path)
    message = await rotate(storage, tmp_path, {})
    await storage.close()
    assert "re-encrypted 3 secrets" in message  # two secrets and the canary
    new_key = (tmp_path / KEY_FILE).read_text().strip()
    assert new_key != old_key and "\n" not in new_key
    assert stat.S_IMODE((tmp_path / KEY_FILE).stat().st_mode) == 0o600
    assert all(a[2] != b[2] for a, b in zip(old_rows, await _rows(tmp_path), strict=True))
    storage, vault = await _open(tmp_path, {})
    assert await vault.get("spotify", "token") == SECRET
    await storage.close()
    with pytest.raises(VaultError):
        await _open(tmp_path, {"HUB_VAULT_KEY": old_key})


async def test_rotation_with_env_key_prints_the_new_key(tmp_path):
    key = Fernet.generate_key().decode()
    storage, vault = await _open(tmp_path, {"HUB_VAULT_KEY": key})
    await vault.set("x", "y", "z")
    message = await rotate(storage, tmp_path, {"HUB_VAULT_KEY": key})
    await storage.close()
    new_key = message.strip().splitlines()[-1]
    assert new_key != key
    # Until the operator updates the variable, the key written beside the data still opens it.
    assert (tmp_path / "vault.key.rotated").read_text().strip() == new_key
    storage, vault = await _open(tmp_path, {"HUB_VAULT_KEY": key})
    assert await vault.get("x", "y") == "z"
    await storage.close()
    (tmp_path / "vault.key.rotated").unlink()
    storage, vault = await _open(tmp_path, {"HUB_VAULT_KEY": new_key})
    assert await vault.get("x", "y") == "z"
    await storage.close()


async def test_cli_rotate_refuses_while_a_hub_holds_the_data_dir(tmp_path, capsys):
    from hub.lock import DataDirLock

    storage, _ = await _open(tmp_path, {})
    await storage.close()
    with DataDirLock(tmp_path, "test"):
        code = await asyncio.to_thread(hub_cli, ["vault", "rotate", "--data-dir", str(tmp_path)])
    assert code == 1
    assert "in use by a running hub" in capsys.readouterr().err
    code = await asyncio.to_thread(hub_cli, ["vault", "rotate", "--data-dir", str(tmp_path)])
    assert code == 0
