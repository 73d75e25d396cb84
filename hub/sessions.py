"""Dashboard sign-in: one-time codes and cookie sessions.

A browser never holds a bearer token. It signs in once, either with a one-time code that
`hub dashboard` (or a signed-in dashboard, for another device) mints for the principal whose
credential it holds, or by pasting a token; the hub answers with a session cookie bound to
that principal (its kind and maturity are the principal's, read at every request, so a
revoked token ends its sessions at once). The choice and its reasons are in
docs/security.md, "Dashboard sessions".

- Codes live in memory only, valid CODE_TTL seconds of hub time (`Clock.monotonic`, so tests
  move it) and usable once; a reused or expired code is refused and audited.
- Sessions are persisted (hashed, like tokens) so a restart signs nobody out. They end when
  signed out, revoked, idle for SESSION_IDLE, SESSION_LIFETIME after sign-in, or when the
  principal's token is revoked.
- The cookie is HttpOnly, SameSite=Strict and, over https, Secure with the `__Host-` prefix.
  Because a cookie is sent by the browser on its own, every state-changing request that it
  authenticates must come from the hub's own origin (`check_origin`), and so must the
  WebSocket upgrade that it authenticates.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from aiohttp import web

from hub.admin import AdminRequest
from hub.clock import Clock
from hub.errors import Forbidden, InvalidRequest, NotFound, RateLimited, Unauthenticated
from hub.governance import Decision
from hub.maturity import Level
from hub.model import Principal
from hub.plugin import PRINCIPAL_KEY, public_route
from hub.storage import Storage
from hub.tasks import OwnedTasks
from hub.tokens import TokenStore

if TYPE_CHECKING:
    from hub.app import Hub

log = logging.getLogger(__name__)

CODE_TTL = 60.0  # seconds a one-time sign-in code is valid (hub time)
MAX_CODES_PER_PRINCIPAL = 10  # outstanding codes; more is a client bug or a flood
SESSION_IDLE = 14 * 86400.0  # a session unused this long has ended
SESSION_LIFETIME = 90 * 86400.0  # and none outlives this, used or not
SESSIONS_PER_PRINCIPAL = 20  # signing in beyond this ends that principal's oldest session
TOUCH_INTERVAL = 3600.0  # last use is written to the database at most this often
COOKIE = "hub_session"
SECURE_COOKIE = "__Host-hub_session"  # over https: Secure, Path=/, no Domain, by the prefix
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

SESSION_KEY = web.RequestKey("hub_session", object)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass
class Session:
    id: str  # public: listing, revocation and audit name a session by it, never by its secret
    secret_hash: str
    principal_id: str
    via: str  # "code" or "token": how the browser signed in
    user_agent: str | None
    created_at: float
    last_used_at: float
    stored_used_at: float  # the last_used_at the database has

    @property
    def expires_at(self) -> float:
        return min(self.last_used_at + SESSION_IDLE, self.created_at + SESSION_LIFETIME)

    def describe(self, principal: Principal | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id, "via": self.via, "user_agent": self.user_agent,
            "created_at": self.created_at, "last_used_at": self.last_used_at,
            "expires_at": self.expires_at,
        }
        if principal is not None:
            data["principal"] = principal.describe()
        return data


@dataclass
class _Code:
    principal_id: str
    expires: float  # hub monotonic time
    used: bool = False


class SessionStore:
    """One-time codes (memory) and sessions (memory, persisted in the `sessions` table)."""

    def __init__(self, storage: Storage, tokens: TokenStore, clock: Clock) -> None:
        self._storage = storage
        self._tokens = tokens
        self._clock = clock
        self._codes: dict[str, _Code] = {}  # by hash of the code
        self._by_hash: dict[str, Session] = {}
        self._by_id: dict[str, Session] = {}
        self._listeners: list[Callable[[str], None]] = []
        self._writes = OwnedTasks(log, "session store")

    async def load(self) -> None:
        now = self._clock.time()
        rows = await self._storage.fetchall(
            "SELECT * FROM sessions WHERE revoked_at IS NULL")
        for row in rows:
            session = Session(row["id"], row["secret_hash"], row["principal_id"], row["via"],
                              row["user_agent"], row["created_at"], row["last_used_at"],
                              row["last_used_at"])
            if session.expires_at > now and self._tokens.get(session.principal_id):
                self._remember(session)
        # Ended sessions are kept a while for the record, then pruned.
        async with self._storage.transaction() as db:
            await db.execute("DELETE FROM sessions WHERE revoked_at < ? OR last_used_at < ?",
                             (now - SESSION_LIFETIME, now - SESSION_LIFETIME))

    async def stop(self) -> None:
        """Let pending writes land before the database closes (each is one short
        transaction; bounded all the same)."""
        for _ in range(500):
            if not len(self._writes):
                return
            await asyncio.sleep(0.01)
        await self._writes.cancel_all()

    def add_revoke_listener(self, callback: Callable[[str], None]) -> None:
        """`callback(session_id)` runs when a session ends by revocation or sign-out."""
        self._listeners.append(callback)

    # -- one-time codes -------------------------------------------------------------------------

    def mint_code(self, principal: Principal) -> str:
        now = self._clock.monotonic()
        self._codes = {h: c for h, c in self._codes.items() if c.expires > now}
        if sum(c.principal_id == principal.id and not c.used
               for c in self._codes.values()) >= MAX_CODES_PER_PRINCIPAL:
            raise RateLimited(f"{principal.name} has {MAX_CODES_PER_PRINCIPAL} unused sign-in "
                              "codes; wait until they expire", retry_after=CODE_TTL)
        code = secrets.token_urlsafe(24)
        self._codes[_hash(code)] = _Code(principal.id, now + CODE_TTL)
        return code

    def redeem_code(self, code: str) -> Principal:
        """The principal of a valid unused code, which is then spent. Raises `CodeRefused`
        (with the principal when the code was real, so the refusal can be audited)."""
        entry = self._codes.get(_hash(code))
        if entry is None:
            raise CodeRefused("unknown sign-in code", None)
        principal = self._tokens.get(entry.principal_id)
        if entry.used:
            raise CodeRefused("this sign-in code was already used", principal)
        entry.used = True  # spent even when refused below: one try per code
        if self._clock.monotonic() >= entry.expires:
            raise CodeRefused("this sign-in code has expired", principal)
        if principal is None:
            raise CodeRefused("the token this code was made for has been revoked", None)
        return principal

    # -- sessions -------------------------------------------------------------------------------

    def over_limit(self, principal: Principal) -> list[Session]:
        """The sessions to end before this principal starts one more (least recently used
        first), so that it keeps at most SESSIONS_PER_PRINCIPAL."""
        mine = sorted((s for s in self._by_id.values() if s.principal_id == principal.id),
                      key=lambda s: s.last_used_at)
        return mine[:max(0, len(mine) - SESSIONS_PER_PRINCIPAL + 1)]

    async def create(self, principal: Principal, *, via: str,
                     user_agent: str | None) -> tuple[str, Session]:
        """Start a session; returns (cookie secret, session). The secret is shown only here."""
        secret = secrets.token_urlsafe(32)
        now = self._clock.time()
        session = Session(uuid.uuid4().hex, _hash(secret), principal.id, via,
                          (user_agent or "")[:200] or None, now, now, now)
        async with self._storage.transaction() as db:
            await db.execute(
                "INSERT INTO sessions (id, secret_hash, principal_id, via, user_agent, "
                "created_at, last_used_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (session.id, session.secret_hash, principal.id, via, session.user_agent, now,
                 now))
        self._remember(session)
        return secret, session

    def authenticate(self, secret: str) -> tuple[Session, Principal]:
        session = self._by_hash.get(_hash(secret))
        if session is None:
            raise Unauthenticated("unknown or ended session; sign in again")
        principal = self._tokens.get(session.principal_id)
        now = self._clock.time()
        if principal is None or session.expires_at <= now:
            self._forget(session)
            raise Unauthenticated("the session has ended; sign in again")
        session.last_used_at = now
        if now - session.stored_used_at >= TOUCH_INTERVAL:
            session.stored_used_at = now
            self._writes.spawn(self._store_use(session.id, now), name="session-touch")
        return session, principal

    def get(self, session_id: str) -> Session | None:
        return self._by_id.get(session_id)

    def principal_of(self, session: Session) -> Principal:
        """The principal of a session that must still be valid (a WebSocket's auth message)."""
        if self._by_id.get(session.id) is not session:
            raise Unauthenticated("the session has ended; sign in again")
        principal = self._tokens.get(session.principal_id)
        if principal is None or session.expires_at <= self._clock.time():
            raise Unauthenticated("the session has ended; sign in again")
        return principal

    async def revoke(self, session_id: str) -> Session:
        session = self._by_id.get(session_id)
        if session is None:
            raise NotFound(f"no active session {session_id!r}")
        self._forget(session)
        async with self._storage.transaction() as db:
            await db.execute("UPDATE sessions SET revoked_at = ? WHERE id = ?",
                             (self._clock.time(), session_id))
        return session

    def principal_revoked(self, principal_id: str) -> None:
        """A token listener: the principal's sessions end with its token."""
        ended = [s for s in self._by_id.values() if s.principal_id == principal_id]
        for session in ended:
            self._forget(session)
        if ended:
            self._writes.spawn(self._store_revoked([s.id for s in ended]),
                               name="session-revoke")

    def active(self) -> list[tuple[Session, Principal]]:
        now = self._clock.time()
        out = []
        for session in sorted(self._by_id.values(), key=lambda s: s.created_at):
            principal = self._tokens.get(session.principal_id)
            if principal is not None and session.expires_at > now:
                out.append((session, principal))
        return out

    def _remember(self, session: Session) -> None:
        self._by_hash[session.secret_hash] = session
        self._by_id[session.id] = session

    def _forget(self, session: Session) -> None:
        self._by_hash.pop(session.secret_hash, None)
        if self._by_id.pop(session.id, None) is not None:
            for callback in tuple(self._listeners):
                callback(session.id)

    async def _store_use(self, session_id: str, when: float) -> None:
        async with self._storage.transaction() as db:
            await db.execute("UPDATE sessions SET last_used_at = ? WHERE id = ?",
                             (when, session_id))

    async def _store_revoked(self, session_ids: list[str]) -> None:
        async with self._storage.transaction() as db:
            await db.executemany("UPDATE sessions SET revoked_at = ? WHERE id = ?",
                                 [(self._clock.time(), sid) for sid in session_ids])


class CodeRefused(Unauthenticated):
    def __init__(self, message: str, principal: Principal | None) -> None:
        super().__init__(message + "; run `hub dashboard` for a new link", code="invalid_code")
        self.principal = principal


# -- requests: which credential, and from where -----------------------------------------------


def session_cookie(request: web.BaseRequest) -> str | None:
    return request.cookies.get(SECURE_COOKIE) or request.cookies.get(COOKIE)


def is_https(request: web.BaseRequest) -> bool:
    # Behind a TLS-terminating proxy the hub sees http; the proxy says what the browser used.
    # Trusting the header can only make the cookie stricter (Secure), never weaker.
    forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    return request.secure or forwarded == "https"


def check_origin(request: web.BaseRequest) -> None:
    """Refuse a request from another origin: a cookie would be sent by the browser anyway,
    so only the hub's own pages may use it to change anything (CSRF, cross-site WebSocket
    hijacking). Browsers send Origin on every POST, PUT, PATCH, DELETE and WebSocket
    upgrade; a request without one did not come from a browser page."""
    origin = request.headers.get("Origin")
    if origin is None:
        if request.headers.get("Sec-Fetch-Site") in (None, "same-origin", "none"):
            return
        raise Forbidden("cross-site request refused", code="cross_origin")
    parts = urlsplit(origin)
    schemes = {request.scheme, "https" if is_https(request) else request.scheme}
    if parts.scheme not in schemes or not _same_host(parts.netloc, request.host, parts.scheme):
        raise Forbidden(f"a request from {origin[:100]} may not use the hub's session cookie; "
                        "only the hub's own pages may", code="cross_origin")


def _same_host(origin_netloc: str, host: str, scheme: str) -> bool:
    default = ":443" if scheme == "https" else ":80"

    def norm(value: str) -> str:
        value = value.lower()
        return value if value.endswith("]") or ":" in value.rsplit("]", 1)[-1] else value + default

    return norm(origin_netloc) == norm(host)


def authenticate_request(hub: Hub, request: web.Request) -> Principal:
    """The principal behind a request: a bearer token when the request carries one (an
    explicit credential wins), else the session cookie, which state-changing requests may
    use only from the hub's own origin."""
    header = request.headers.get("Authorization")
    secret = session_cookie(request)
    if header is not None or secret is None:
        return hub.tokens.authenticate_header(header)
    session, principal = hub.sessions.authenticate(secret)
    if request.method in UNSAFE_METHODS:
        check_origin(request)
    request[SESSION_KEY] = session
    return principal


def session_for_upgrade(hub: Hub, request: web.Request) -> Session | None:
    """The session a WebSocket upgrade carries, if any. A cookie-carrying upgrade from another
    origin is refused outright (cross-site WebSocket hijacking)."""
    secret = session_cookie(request)
    if secret is None or request.headers.get("Authorization"):
        return None
    check_origin(request)
    try:
        session, _ = hub.sessions.authenticate(secret)
    except Unauthenticated:
        return None  # the client is told at its auth message
    return session


def request_context(request: web.Request) -> dict[str, Any] | None:
    """What the audit records about a session-authenticated request."""
    session = request.get(SESSION_KEY)
    return {"session": session.id} if isinstance(session, Session) else None


# -- audit: the one place this module writes records --------------------------------------------
# Owner-only requests use the pipeline's admin gate; a principal managing its own sign-in (any
# principal may) is recorded in the same shape with an allow decision of its own.


def _admin(hub: Hub, principal: Principal, what: str, target: str | None,
           params: dict[str, Any] | None = None, *, own: bool) -> AdminRequest:
    """The hub's one administrative path (`Pipeline.admin`): the owner's, or, for a principal
    managing its own sign-in, allowed by a decision of its own; `async with` it."""
    if not own:
        return hub.pipeline.admin(principal, what, target=target, params=params)
    decision = Decision(True, Level.STUDENT,
                        f"{principal.name} may {what.replace('_', ' ')} for itself")
    return AdminRequest(hub.audit, decision, principal, what=what, target=target,
                        params=params)


async def _audit_refused(hub: Hub, principal: Principal, what: str, reason: str) -> None:
    await hub.audit.write(
        record="decision", correlation_id=os.urandom(16).hex(), principal=principal.name,
        principal_kind=principal.kind,
        maturity=principal.maturity.name if principal.maturity else None, source="rest",
        device="sign-in code", action=what, params={}, decision="deny", reason=reason,
        required=Level.STUDENT.name)


# -- routes -------------------------------------------------------------------------------------


def _set_cookie(response: web.Response, request: web.Request, secret: str) -> None:
    secure = is_https(request)
    response.set_cookie(SECURE_COOKIE if secure else COOKIE, secret, path="/", httponly=True,
                        samesite="Strict", secure=secure, max_age=int(SESSION_LIFETIME))


def _clear_cookie(response: web.Response, request: web.Request) -> None:
    for name in (COOKIE, SECURE_COOKIE):
        if name in request.cookies:
            response.del_cookie(name, path="/", secure=name == SECURE_COOKIE,
                                httponly=True, samesite="Strict")


def register_routes(app: web.Application, hub: Hub) -> None:
    """`/auth/...`: sign in and out, who am I, codes for another device, sessions (owner)."""
    from hub.server import json_response, read_json  # here: hub.server imports this module

    def _json(data: Any, status: int = 200) -> web.Response:
        response = json_response(data, status=status)
        response.headers["Cache-Control"] = "no-store"
        return response

    async def create_code(request: web.Request) -> web.Response:
        principal = request[PRINCIPAL_KEY]
        body = await read_json(request, optional=True)
        if body != {}:
            raise InvalidRequest("the body must be empty or {}")
        async with _admin(hub, principal, "create_sign_in_code", principal.name,
                          {"expires_in": CODE_TTL}, own=True):
            code = hub.sessions.mint_code(principal)
        return _json({"code": code, "expires_in": CODE_TTL, "path": f"/#code={code}",
                      "principal": principal.describe()}, status=201)

    async def sign_in(request: web.Request) -> web.Response:
        if request.headers.get("Origin") is not None:
            check_origin(request)  # no signing a browser in from another site
        body = await read_json(request)
        if not isinstance(body, dict) or len(body) != 1 or not (
                isinstance(body.get("code"), str) or isinstance(body.get("token"), str)):
            raise InvalidRequest('the body must be {"code": "..."} or {"token": "..."}')
        if "code" in body:
            via = "code"
            try:
                principal = hub.sessions.redeem_code(body["code"][:200])
            except CodeRefused as err:
                if err.principal is not None:  # a real code, reused or late: worth a record
                    await _audit_refused(hub, err.principal, "redeem_sign_in_code",
                                         err.message)
                raise
        else:
            via = "token"
            principal = hub.tokens.authenticate(body["token"].strip())
        previous = session_cookie(request)
        for old in hub.sessions.over_limit(principal):
            await _end_session(principal, old, own=True)
        async with _admin(hub, principal, "create_session", None,
                          {"via": via, "user_agent": request.headers.get("User-Agent")},
                          own=True) as admin:
            secret, session = await hub.sessions.create(
                principal, via=via, user_agent=request.headers.get("User-Agent"))
            admin.target = session.id
        if previous:  # this browser signs in again: its old session ends
            try:
                old, old_principal = hub.sessions.authenticate(previous)
            except Unauthenticated:
                pass
            else:
                await _end_session(old_principal, old, own=True)
        response = _json({"principal": principal.describe(),
                          "session": session.describe()}, status=201)
        _set_cookie(response, request, secret)
        return response

    async def whoami(request: web.Request) -> web.Response:
        # Public: a dashboard asks this first, and "not signed in" is an answer, not an error.
        session = None
        if request.headers.get("Authorization") is not None:
            principal: Principal | None = hub.tokens.authenticate_header(
                request.headers.get("Authorization"))
        else:
            secret = session_cookie(request)
            try:
                session, principal = hub.sessions.authenticate(secret) if secret else (None,
                                                                                        None)
            except Unauthenticated:
                principal = None
        response = _json({
            "principal": principal.describe() if principal else None,
            "session": session.describe() if session else None,
            "via": "session" if session else "bearer" if principal else None,
        })
        if principal is None:
            _clear_cookie(response, request)
        return response

    async def _end_session(principal: Principal, session: Session, *, own: bool) -> None:
        async with _admin(hub, principal, "revoke_session", session.id, own=own):
            await hub.sessions.revoke(session.id)

    async def sign_out(request: web.Request) -> web.Response:
        session = request.get(SESSION_KEY)
        if not isinstance(session, Session):
            raise InvalidRequest("this request has no session to end (it used a bearer token; "
                                 "tokens are revoked with DELETE /tokens/{name})",
                                 code="no_session")
        await _end_session(request[PRINCIPAL_KEY], session, own=True)
        response = _json({"revoked": session.describe()})
        _clear_cookie(response, request)
        return response

    async def list_sessions(request: web.Request) -> web.Response:
        principal = request[PRINCIPAL_KEY]
        # The owner's; a read, so recorded only when denied.
        async with hub.pipeline.admin(principal, "list_sessions", read=True):
            current = request.get(SESSION_KEY)
            return _json({"sessions": [
                {**s.describe(p), "current": s is current} for s, p in hub.sessions.active()]})

    async def revoke_session(request: web.Request) -> web.Response:
        principal = request[PRINCIPAL_KEY]
        session = hub.sessions.get(request.match_info["session_id"])
        own = session is not None and session.principal_id == principal.id
        if session is None:
            # Decided first, so a non-owner learns nothing about other principals' sessions.
            wanted = request.match_info["session_id"][:64]
            async with _admin(hub, principal, "revoke_session", wanted, own=False):
                raise NotFound(f"no active session {wanted!r}")
        await _end_session(principal, session, own=own)
        response = _json({"revoked": session.describe()})
        if session is request.get(SESSION_KEY):
            _clear_cookie(response, request)
        return response

    app.router.add_post("/auth/codes", create_code)
    app.router.add_post("/auth/session", public_route(sign_in))
    app.router.add_get("/auth/session", public_route(whoami))
    app.router.add_delete("/auth/session", sign_out)
    app.router.add_get("/auth/sessions", list_sessions)
    app.router.add_delete("/auth/sessions/{session_id}", revoke_session)
