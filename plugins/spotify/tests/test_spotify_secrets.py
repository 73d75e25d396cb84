"""Secret scan: after linking and using accounts (refreshes, rotation, errors, re-linking),
no token, client secret, PKCE verifier or authorization code appears in clear in the hub's
data directory (the SQLite file and its WAL), in the logs, or in any API response."""

from __future__ import annotations

import logging
from typing import Any

from hub_spotify.client import MAX_ATTEMPTS
from hub_spotify.testing.linking import (
    CLIENT_SECRET,
    KITCHEN,
    authorize,
    callback,
    drive,
    jump,
    link,
    start_hub,
)


async def use_accounts(hub_factory, fake, fake_url, clock, browser) -> tuple[Any, list[str]]:
    """Link, use, refresh, rotate, fail, lose and re-link accounts; the API responses seen."""
    responses: list[str] = []

    async def keep(result):
        status, body = await result
        responses.append(str(body))
        return status, body

    harness = await start_hub(hub_factory, fake_url, clock, client_id="confidential-client",
                              client_secret=CLIENT_SECRET)
    query = await authorize(harness, browser)
    await keep(callback(harness, {**query, "code": query["code"] + "x"}))  # 502 path
    await keep(callback(harness, await authorize(harness, browser)))
    await link(harness, browser, fake, "bob")
    await keep(harness.request("GET", "/integrations/spotify/authorize",
                               allow_redirects=False))
    fake.rotate_refresh_tokens = True
    for action, params in (("play", {"uris": ["spotify:track:x"]}), ("volume_set",
                                                                     {"volume": 9})):
        await keep(harness.act("spotify.alice", action, params))
        jump(clock, 3600)
    fake.expire_access_tokens()
    await keep(harness.act("spotify.alice", "pause"))
    await keep(harness.act("spotify.bob", "pause"))  # 403 premium_required
    fake.fail_next(429, retry_after=60)
    await keep(harness.act("spotify.alice", "pause"))
    await clock.advance(60)  # the account's Retry-After window passes
    fake.fail_next(503, times=MAX_ATTEMPTS)  # all used up by this one action
    await keep(drive(clock, harness.act("spotify.alice", "pause")))
    fake.revoke_refresh_tokens("alice")
    jump(clock, 3600)
    await keep(harness.act("spotify.alice", "pause"))  # invalid_grant -> relink_required
    await keep(callback(harness, await authorize(harness, browser)))  # re-link
    await keep(harness.act("spotify.alice", "next"))
    for path in ("/plugins", "/devices", "/devices/spotify.alice",
                 f"/devices/spotify.alice.{KITCHEN}", "/audit", "/actions/catalog"):
        status, _ = await keep(harness.get(path))
        assert status == 200, path
    assert fake.refresh_count >= 3 and fake.counts["authorization_code"] >= 3
    return harness, responses


def access_log(caplog: Any) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]


async def test_no_secret_in_clear_anywhere(hub_factory, fake, fake_url, clock, browser,
                                           caplog):
    caplog.set_level(logging.DEBUG)
    harness, responses = await use_accounts(hub_factory, fake, fake_url, clock, browser)
    secrets = {s for s in fake.secrets_seen if len(s) >= 16}
    kinds = {s[:2] for s in secrets}
    assert {"BQ", "AQ"} <= kinds and CLIENT_SECRET in secrets  # the scan has real targets
    codes = {s for s in secrets if s.startswith("AQC")}
    stored = b"".join(p.read_bytes() for p in sorted(harness.hub.data_dir.rglob("*"))
                      if p.is_file() and p.name != "vault.key")
    assert b"SQLite format 3" in stored  # we are reading the database itself
    logs = "\n".join(r.getMessage() + str(r.exc_info or "") for r in caplog.records
                     if r.name != "aiohttp.access")
    assert "alice" in logs  # the plugin did log about the account
    text = "\n".join(responses)
    for secret in secrets:
        assert secret.encode() not in stored, f"a secret ({secret[:3]}...) is in the data dir"
        assert secret not in logs, f"a secret ({secret[:3]}...) is in the logs"
        assert secret not in text, f"a secret ({secret[:3]}...) is in an API response"
        if secret not in codes:
            assert all(secret not in line for line in access_log(caplog))


async def test_authorization_codes_stay_out_of_the_access_log(hub_factory, fake, fake_url,
                                                              clock, browser, caplog):
    caplog.set_level(logging.DEBUG)
    await use_accounts(hub_factory, fake, fake_url, clock, browser)
    codes = [s for s in fake.secrets_seen if s.startswith("AQC")]
    lines = access_log(caplog)
    assert lines and not [c for c in codes if any(c in line for line in lines)]
