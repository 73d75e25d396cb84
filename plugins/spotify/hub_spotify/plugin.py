"""The Spotify plugin: hooks, linked accounts and their devices.

Per linked account there is one player device, `spotify.<account>`, acting on whatever
Spotify Connect device is active, and one device per Connect device Spotify lists,
`spotify.<account>.<device id>`. State comes from GET /me/player, polled every
`poll_interval` and read back right after each command (Spotify does not promise to apply
commands in order, so the answer to a command says nothing about the state). The read-back
gets one quick try: when it fails, the command's answer does not wait for retries, and the
state is read again in the background.
"""

from __future__ import annotations

import asyncio
from typing import Any

from hub.plugin import (
    BrowseResult,
    Conflict,
    Device,
    HubError,
    InvalidRequest,
    MediaItem,
    PluginContext,
    PluginInfo,
    RateLimited,
    RelinkRequired,
    hookimpl,
)
from hub_spotify.actions import (
    ACTIONS,
    CONNECT_DEVICE_ACTIONS,
    PLAYER_ACTIONS,
    perform,
    transfer,
)
from hub_spotify.cli import COMMANDS
from hub_spotify.client import SpotifyClient
from hub_spotify.config import CONFIG_SCHEMA, RedirectUriError, callback_uri
from hub_spotify.media import MediaLibrary
from hub_spotify.oauth import PendingLink, PendingLinks
from hub_spotify.routes import build_routes
from hub_spotify.state import (
    MEDIA_ATTRIBUTES,
    connect_device_id,
    playback_state,
    player_id,
)
from hub_spotify.tokens import AccountInfo, TokenManager, token_record

RELINK_REASON = "relink_required"


class SpotifyPlugin:
    """Instantiated once per hub by the core; the state of one hub lives on the instance."""

    READ_BACK_TIMEOUT = 2.0  # seconds a command's answer may wait for its read-back

    def __init__(self) -> None:
        self.ctx: PluginContext = None  # type: ignore[assignment]
        self.links: PendingLinks = None  # type: ignore[assignment]
        self.tokens: TokenManager = None  # type: ignore[assignment]
        self.client: SpotifyClient = None  # type: ignore[assignment]
        self.media: MediaLibrary = None  # type: ignore[assignment]
        # hub device id -> (account, Spotify device id); the player maps to (account, None)
        self._targets: dict[str, tuple[str, str | None]] = {}
        self._active: dict[str, str | None] = {}  # account -> its active Spotify device id
        self._background: set[str] = set()  # accounts with a background read under way

    # -- hooks --------------------------------------------------------------------------------

    @hookimpl
    def describe(self) -> PluginInfo:
        return PluginInfo(
            description="Spotify accounts and their Spotify Connect devices (Web API).",
            config_schema=CONFIG_SCHEMA,
            actions=ACTIONS,
            # A command may wait out one Retry-After (retry_after_cap, at most 60 s) plus a
            # bounded backoff; the default 10 s would cut that short with a 504.
            timeout=75.0,
        )

    @hookimpl
    def routes(self, ctx: PluginContext) -> list[Any]:
        self._setup(ctx)
        # Called at load, so `hub check-config` refuses what Spotify would refuse at the end
        # of a browser round trip, naming the URI to register (RedirectUriError).
        callback_uri(ctx.config, ctx.hub_url)
        return build_routes(self)

    @hookimpl
    def commands(self) -> list[Any]:
        return COMMANDS

    @hookimpl
    async def startup(self, ctx: PluginContext) -> None:
        self._setup(ctx)
        for info in await self.tokens.load():
            self._add_player(info)
        ctx.spawn(self._poll_forever(), name="poll")

    @hookimpl
    async def discover(self, ctx: PluginContext) -> None:
        await self._refresh_all()

    @hookimpl
    async def act(self, ctx: PluginContext, device: Device, action: str,
                  params: dict[str, Any]) -> dict[str, Any] | None:
        account, spotify_device = self._target(device.id)
        self._usable_account(account)
        result = None
        if action == "select_source":
            await transfer(self.client, account, self._source_device(account, params["source"]))
        else:
            result = await perform(self.client, account, action, params,
                                   device_id=spotify_device,
                                   volume=device.attributes.get("volume"))
        await self._read_back(account)
        return result

    @hookimpl
    async def browse_media(self, ctx: PluginContext, device: Device, item_id: str | None,
                           cursor: str | None) -> BrowseResult:
        """The media library of the account `device` belongs to (hub_spotify.media)."""
        info = self._usable_account(self._target(device.id)[0])
        return await self.media.browse(info.id, user_id=info.user_id, name=info.display_name,
                                       item_id=item_id, cursor=cursor)

    @hookimpl
    async def search_media(self, ctx: PluginContext, query: str, types: frozenset[str] | None,
                           limit: int, device: Device | None) -> list[MediaItem]:
        """Spotify's catalogue as the account of `device` sees it (None: the first linked
        account that works)."""
        if device is not None:
            info = self._usable_account(self._target(device.id)[0])
        else:
            usable = sorted((i for i in self.tokens.accounts.values()
                             if not i.relink_required), key=lambda i: i.id)
            if not usable:
                raise Conflict("no Spotify account is linked: run `hub spotify link`",
                               code="not_linked")
            info = usable[0]
        return await self.media.search(info.id, user_id=info.user_id, query=query,
                                       types=types, limit=limit)

    def _usable_account(self, account: str) -> AccountInfo:
        info = self.tokens.accounts.get(account)
        if info is None or info.relink_required:
            raise RelinkRequired(
                f"Spotify account {account} must be linked again: run `hub spotify link`",
                account=account)
        return info

    @hookimpl
    def affected_devices(self, ctx: PluginContext, device: Device, action: str,
                         params: dict[str, Any]) -> list[str]:
        """What an action changes besides its device. The account player mirrors the active
        Connect device, so acting on either changes both; moving playback (select_source on
        the player, or playing on a Connect device that is not the active one, which makes
        Spotify transfer playback to it) also changes the device that was playing and the
        one it moves to."""
        account, spotify_device = self._target(device.id)
        active = self._active.get(account)
        changed = {device.id}
        moves = action in ("play", "play_media") and params.get("enqueue") not in (
            "add", "next")
        if spotify_device is None:  # the player: acts on the active device
            if active is not None:
                changed.add(connect_device_id(account, active))
            if action == "select_source":
                try:
                    target = self._source_device(account, str(params.get("source", "")))
                    changed.add(connect_device_id(account, target))
                except InvalidRequest:
                    pass  # act refuses an unknown source before anything changes
        elif spotify_device == active or moves:
            changed.add(player_id(account))
            if active is not None and moves:
                changed.add(connect_device_id(account, active))
        return sorted(changed)

    @hookimpl
    def status(self, ctx: PluginContext) -> dict[str, Any]:
        now = ctx.clock.time()
        try:
            redirect = callback_uri(ctx.config, ctx.hub_url)
        except RedirectUriError as err:
            redirect = f"none: {err}"
        return {
            "client": "confidential" if ctx.config.get("client_secret") else "pkce",
            "redirect_uri": redirect,
            "accounts": [{**info.status(now), "missing_scopes": sorted(
                set(ctx.config["scopes"]) - set(info.scope.split()))}
                for info in self.tokens.accounts.values()],
            "pending_links": len(self.links),
        }

    @hookimpl
    async def shutdown(self, ctx: PluginContext) -> None:
        # The core cancels the poller and closes the HTTP session; the pending links (and
        # their PKCE verifiers) die with the process on purpose.
        self._targets.clear()

    # -- setup ---------------------------------------------------------------------------------

    def _setup(self, ctx: PluginContext) -> None:
        if self.ctx is ctx:
            return
        self.ctx = ctx
        config = ctx.config
        self.links = PendingLinks(ctx.clock)
        self.tokens = TokenManager(
            vault=ctx.vault, session=ctx.http_session, accounts_url=config["accounts_url"],
            client_id=config["client_id"], client_secret=config.get("client_secret"),
            clock=ctx.clock, log=ctx.log, on_relink=self._relink_required,
            retry_after_cap=config["retry_after_cap"])
        self.client = SpotifyClient(
            session=ctx.http_session, api_url=config["api_url"], tokens=self.tokens,
            clock=ctx.clock, retry_after_cap=config["retry_after_cap"], log=ctx.log)
        self.media = MediaLibrary(self.client)

    # -- linking -------------------------------------------------------------------------------

    async def complete_link(self, link: PendingLink, code: str) -> AccountInfo:
        """Exchange the callback's code, name the account from /v1/me, store the tokens."""
        answer = await self.tokens.grant({
            "grant_type": "authorization_code", "code": code,
            "redirect_uri": link.redirect_uri, "code_verifier": link.verifier})
        me = await self.client.call("", "GET", "/me", token=answer["access_token"])
        if not isinstance(me, dict) or not isinstance(me.get("id"), str) or not me["id"]:
            raise InvalidRequest("Spotify did not say which account this is")
        account = self.tokens.account_id_for(me["id"])
        record = token_record(answer, account_id=account, me=me, now=self.ctx.clock.time(),
                              linked_by=link.principal_id)
        info = await self.tokens.store_link(record)
        self._add_player(info)
        self.ctx.emit_event("account_linked", account=account, name=info.display_name)
        self.ctx.log.info("Spotify account %s linked", account)
        await self._read_back(account)
        return info

    def _relink_required(self, account: str, reason: str) -> None:
        for device_id, (owner, _) in self._targets.items():
            if owner == account:
                self.ctx.update_device(device_id, available=False, reason=RELINK_REASON)
        self.ctx.emit_event("relink_required", account=account, message=reason)

    # -- devices -------------------------------------------------------------------------------

    def _add_player(self, info: AccountInfo) -> None:
        device_id = player_id(info.id)
        self._targets[device_id] = (info.id, None)
        if self.ctx.device(device_id) is None:
            self.ctx.add_device(Device(
                id=device_id, name=f"Spotify ({info.display_name})", actions=PLAYER_ACTIONS,
                info={"manufacturer": "Spotify", "model": "Web API player",
                      "account": info.id, "product": info.product}))
        if info.relink_required:
            self.ctx.update_device(device_id, available=False, reason=RELINK_REASON)
        else:
            self.ctx.update_device(device_id, available=True, name=f"Spotify ({info.display_name})")

    def _target(self, device_id: str) -> tuple[str, str | None]:
        target = self._targets.get(device_id)
        if target is None:
            raise InvalidRequest(f"{device_id} is not a known Spotify device")
        return target

    def _source_device(self, account: str, source: str) -> str:
        """The Spotify device id for a source given as its name, Spotify id or hub id."""
        wanted = source.casefold()
        for device_id, (owner, spotify_id) in self._targets.items():
            if owner != account or spotify_id is None:
                continue
            device = self.ctx.device(device_id)
            names = {device_id.casefold(), spotify_id.casefold()}
            if device is not None:
                names.add(device.name.casefold())
            if wanted in names:
                return spotify_id
        raise InvalidRequest(f"no Spotify Connect device called {source!r} on this account",
                             code="unknown_source")

    async def _refresh_all(self) -> None:
        for account, info in list(self.tokens.accounts.items()):
            if not info.relink_required:
                await self._refresh_quietly(account)

    async def _refresh_quietly(self, account: str) -> None:
        """Poll one account; a failure is logged, never raised (the command already went)."""
        try:
            await self.refresh_account(account)
        except HubError as err:
            self.ctx.log.warning("Spotify state of %s not read: %s", account, err.message)

    async def _read_back(self, account: str) -> None:
        """Read the state a command left with one quick try (no backoff, no Retry-After
        wait, at most READ_BACK_TIMEOUT seconds), so a failing or hanging read never holds
        up the answer to a command that went through; when it fails, read again in the
        background with the usual retries."""
        try:
            async with asyncio.timeout(self.READ_BACK_TIMEOUT):
                await self.refresh_account(account, patient=False)
        except (HubError, TimeoutError) as err:
            reason = err.message if isinstance(err, HubError) else "no answer in time"
            self.ctx.log.info("Spotify state of %s not read back (%s); retrying in the "
                              "background", account, reason)
            self._refresh_in_background(account)

    def _refresh_in_background(self, account: str) -> None:
        if account in self._background:
            return  # one background read per account is enough for any number of commands
        self._background.add(account)

        async def run() -> None:
            try:
                await self._refresh_quietly(account)
            finally:
                self._background.discard(account)

        self.ctx.spawn(run(), name=f"read-back {account}")

    async def refresh_account(self, account: str, *, patient: bool = True) -> None:
        """Read the account's Connect devices and playback and update its devices."""
        ctx = self.ctx
        listed = await self.client.call(account, "GET", "/me/player/devices",
                                        patient=patient) or {}
        playback = await self.client.call(account, "GET", "/me/player",
                                          params={"additional_types": "episode"},
                                          patient=patient)
        now = ctx.clock.time()
        state, attrs = playback_state(playback, now)
        devices = [d for d in listed.get("devices", []) if isinstance(d, dict) and d.get("id")]
        attrs["source_list"] = [d.get("name") for d in devices]
        ctx.update_device(player_id(account), state=state, available=True, attributes=attrs)
        active = (playback or {}).get("device", {}).get("id")
        self._active[account] = active if isinstance(active, str) else None
        seen = set()
        for listed_device in devices:
            spotify_id = listed_device["id"]
            device_id = connect_device_id(account, spotify_id)
            seen.add(device_id)
            self._targets[device_id] = (account, spotify_id)
            if ctx.device(device_id) is None:
                ctx.add_device(Device(
                    id=device_id, name=listed_device.get("name") or spotify_id,
                    actions=CONNECT_DEVICE_ACTIONS,
                    info={"manufacturer": "Spotify Connect", "model": listed_device.get("type"),
                          "account": account}))
            if spotify_id == active:
                ctx.update_device(device_id, state=state, available=True, attributes=attrs)
            else:
                idle = dict.fromkeys(MEDIA_ATTRIBUTES)
                idle["volume"] = listed_device.get("volume_percent")
                ctx.update_device(device_id, state="idle", available=True, attributes=idle)
        for device_id, (owner, spotify_id) in self._targets.items():
            if owner == account and spotify_id is not None and device_id not in seen:
                # Gone from Spotify's list (switched off, out of reach): keep it, unavailable.
                ctx.update_device(device_id, available=False, reason="not_listed_by_spotify")

    async def _poll_forever(self) -> None:
        """Poll every account at `poll_interval` until the core cancels this task at shutdown.
        Each round is bounded (the client's retries are); a rate limit stretches the wait."""
        interval = self.ctx.config["poll_interval"]
        delay = interval
        while True:
            await self.ctx.clock.sleep(delay)
            delay = interval
            try:
                await self._refresh_all_strict()
            except RateLimited as err:
                delay = max(interval, float(err.retry_after or interval))
            except asyncio.CancelledError:
                raise
            except Exception:  # a poll failure must never end polling
                self.ctx.log.exception("Spotify poll failed")

    async def _refresh_all_strict(self) -> None:
        for account, info in list(self.tokens.accounts.items()):
            if info.relink_required:
                continue
            try:
                await self.refresh_account(account)
            except RateLimited:
                raise
            except HubError as err:
                self.ctx.log.warning("Spotify state of %s not read: %s", account, err.message)
