"""The dashboard in a real browser: Playwright drives Debian's Chromium against a real hub
(three demo players, a ManualClock) running in a background thread. One browser for the
module, a fresh context (cookie jar) per test.

Without Chromium (or Playwright) these tests skip with one message; with HUB_REQUIRE_BROWSER
set (CI, see .ci/run) that is an error instead, so CI never skips them silently. Screenshots
at phone and desktop size are saved under each test's tmp_path for review.
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from hub.testing import CHROMIUM, ThreadedHub, launch_chromium

_missing = None
try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # pragma: no cover - the test extra installs it
    _missing = "Playwright is not installed (pip install -e '.[test]')"
if _missing is None and not os.access(CHROMIUM, os.X_OK):
    _missing = f"no Chromium at {CHROMIUM} (`make test` installs Debian's chromium as root)"
if _missing:
    if os.environ.get("HUB_REQUIRE_BROWSER"):
        raise RuntimeError(f"HUB_REQUIRE_BROWSER is set but {_missing}")
    pytest.skip(f"browser tests skipped: {_missing}", allow_module_level=True)

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
UI_TIMEOUT = 10_000  # ms; a bound for waits that are not the subject of the test
POLICY = """
governance:
  rules:
    - plugin: demo
      action: [volume_set, volume_step, mute]
      require: INTERN
      reason: volume is harmless in the demo
"""
WEBHOOK = "doorbell-in-the-browser-test-0123"
CONFIG = f"""
plugins:
  demo:
    players: 3
automations:
  - id: doorbell
    alias: The doorbell pauses the kitchen
    triggers:
      - trigger: webhook
        webhook_id: {WEBHOOK}
    actions:
      - device: demo.player_2
        action: pause
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with ThreadedHub(tmp_path_factory.mktemp("dashboard"), CONFIG + POLICY,
                     only=["demo"]) as hub:
        yield hub


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


class Page:
    """A page in its own browser context that records console errors."""

    def __init__(self, browser: Any, server: ThreadedHub, **context: Any) -> None:
        self.server = server
        self.context = browser.new_context(**{"viewport": DESKTOP, **context})
        self.context.set_default_timeout(UI_TIMEOUT)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))

    def sign_in_with_link(self) -> None:
        self.page.goto(self.server.url + rest(self.server, "POST", "/auth/codes")["path"])
        expect(self.page.locator("hub-device-card")).to_have_count(3)

    def card(self, name: str):
        return self.page.locator("hub-device-card", has=self.page.get_by_role(
            "heading", name=name, exact=True))

    def close(self, allowed: str | None = None) -> None:
        unexpected = [e for e in self.errors if not (allowed and re.search(allowed, e))]
        self.context.close()
        assert not unexpected, f"console errors: {unexpected}"


@pytest.fixture
def pages(browser, server):
    made: list[Page] = []

    def make(**context: Any) -> Page:
        made.append(Page(browser, server, **context))
        return made[-1]

    yield make
    for page in made:
        page.close(getattr(page, "allowed_errors", None))


def rest(server: ThreadedHub, method: str, path: str, body: Any = None, *,
         token: str | None = None) -> Any:
    """A request from another client (not the browser): the owner's bearer token."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        server.url + path, data=data, method=method,
        headers={"Authorization": f"Bearer {token or server.owner_token}",
                 **({"Content-Type": "application/json"} if data else {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as err:
        raise AssertionError(f"{method} {path}: {err.code} {err.read()[:300]!r}") from None


def act(server: ThreadedHub, device: str, action: str, **params: Any) -> dict:
    return rest(server, "POST", "/actions", {"device": device, "action": action,
                                             "params": params})


def wait_for(predicate, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)  # polling another process's state, bounded by the deadline
    raise AssertionError(f"timed out waiting for {what}")


def shoot(page: Page, directory: Path, name: str) -> Path:
    path = directory / f"{name}.png"
    page.page.evaluate("window.scrollTo(0, 0)")
    page.page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    return path


# -- tests ------------------------------------------------------------------------------------


def test_one_time_link_signs_in_and_shows_the_demo_players(pages, server, tmp_path):
    for device in ("demo.player_1", "demo.player_2", "demo.player_3"):
        act(server, device, "stop")
    p = pages()
    p.sign_in_with_link()
    page = p.page
    # The code left the address bar and the history at once; the cookie is out of reach
    # of scripts (HttpOnly).
    assert "code=" not in page.url and page.url.endswith("#/devices")
    assert page.evaluate("document.cookie") == ""
    for name in ("Living Room", "Kitchen", "Bedroom"):
        card = p.card(name)
        expect(card.locator(".state")).to_have_text("Idle")
        expect(card.get_by_role("button", name=f"Play {name}")).to_be_enabled()
    expect(page.get_by_role("link", name="Audit")).to_be_visible()
    expect(page.locator("#conn")).to_have_text("Live")
    shoot(p, tmp_path, "devices-desktop")
    page.set_viewport_size(PHONE)
    shoot(p, tmp_path, "devices-phone")
    # Keyboard: the first Tab reaches the skip link.
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    dark = pages(color_scheme="dark", viewport=PHONE)
    dark.sign_in_with_link()
    shoot(dark, tmp_path, "devices-phone-dark")
    # Going back does not return to the address with the code in it.
    page.go_back()
    assert "code=" not in page.url


def test_pause_and_a_change_made_elsewhere_appear_live(pages, server):
    act(server, "demo.player_1", "stop")
    act(server, "demo.player_2", "stop")
    p = pages()
    p.sign_in_with_link()
    living = p.card("Living Room")
    living.get_by_role("button", name="Play Living Room").click()
    expect(living.locator(".state")).to_have_text("Playing")
    living.get_by_role("button", name="Pause Living Room").click()
    expect(living.locator(".state")).to_have_text("Paused")
    assert rest(server, "GET", "/devices/demo.player_1")["state"] == "paused"

    # Another client changes a player over REST: the card follows within a second, with no
    # reload (the page's load count stays 1).
    kitchen = p.card("Kitchen")
    expect(kitchen.locator(".state")).to_have_text("Idle")
    act(server, "demo.player_2", "play")
    expect(kitchen.locator(".state")).to_have_text("Playing", timeout=1000)
    act(server, "demo.player_2", "next")
    expect(kitchen.locator(".title")).to_have_text("Paper Boats", timeout=1000)
    assert p.page.evaluate("performance.getEntriesByType('navigation').length") == 1


def test_the_volume_slider_sets_the_volume(pages, server):
    act(server, "demo.player_3", "volume_set", volume=30)
    p = pages()
    p.sign_in_with_link()
    slider = p.page.get_by_role("slider", name="Volume of Bedroom")
    expect(slider).to_have_value("30")
    slider.fill("55")
    wait_for(lambda: rest(server, "GET", "/devices/demo.player_3")["attributes"]["volume"] == 55,
             "the volume to reach 55")
    expect(p.card("Bedroom").locator("output")).to_have_text("55")
    # Keyboard works too: a step up from 55.
    slider.focus()
    p.page.keyboard.press("ArrowRight")
    wait_for(lambda: rest(server, "GET", "/devices/demo.player_3")["attributes"]["volume"] == 56,
             "the volume to reach 56")


def test_an_intern_session_sees_disabled_controls_with_the_reason(pages, server):
    token = rest(server, "POST", "/tokens", {"name": "wall-panel", "kind": "agent",
                                             "maturity": "INTERN"})["token"]
    p = pages()
    page = p.page
    page.goto(server.url + "/")
    # Sign in by pasting the token once; the page keeps no copy of it.
    page.get_by_label("Token", exact=True).fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("hub-device-card")).to_have_count(3)
    assert token not in page.content()
    assert page.evaluate("JSON.stringify(sessionStorage) + JSON.stringify(localStorage)") \
        .find(token) == -1
    living = p.card("Living Room")
    play = living.get_by_role("button", name="Play Living Room")
    expect(play).to_be_disabled()
    expect(play).to_have_attribute("title", "Requires SUPERVISED")
    expect(living.locator(".perm-note")).to_have_text(re.compile(
        r"require SUPERVISED; this session is INTERN"))
    # The policy lets INTERN change the volume in the demo: that control stays usable.
    volume = page.get_by_role("slider", name="Volume of Living Room")
    expect(volume).to_be_enabled()
    # Administration is not offered at all.
    expect(page.get_by_role("link", name="Audit")).to_have_count(0)
    expect(page.get_by_role("link", name="Tokens")).to_have_count(0)

    # The owner tightens the policy while the page is open: the next use is refused by the
    # hub, the card says why, and the control turns disabled with the new requirement.
    server.config_path.write_text(CONFIG)
    rest(server, "POST", "/automations/reload")
    try:
        volume.fill("12")
        expect(living.locator(".card-error")).to_have_text(re.compile(
            r"^Refused: volume_set on demo.player_1 requires SUPERVISED; "
            r"agent 'wall-panel' \(INTERN\) does not meet it"))
        expect(volume).to_be_disabled()
        assert rest(server, "GET", "/devices/demo.player_1")["attributes"]["volume"] != 12
    finally:
        server.config_path.write_text(CONFIG + POLICY)
        rest(server, "POST", "/automations/reload")


def test_expired_and_reused_codes_are_refused(pages, server):
    late = rest(server, "POST", "/auth/codes")["path"]
    server.call(server.clock.advance(61))  # the code's 60 s run on the hub's clock
    p = pages()
    p.allowed_errors = r"status of 401"  # the refused exchange itself
    p.page.goto(server.url + late)
    expect(p.page.get_by_role("alert")).to_contain_text("expired")
    expect(p.page.get_by_label("Token", exact=True)).to_be_visible()
    assert "code=" not in p.page.url

    once = rest(server, "POST", "/auth/codes")["path"]
    first = pages()
    first.page.goto(server.url + once)
    expect(first.page.locator("hub-device-card")).to_have_count(3)
    second = pages()
    second.allowed_errors = r"status of 401"
    second.page.goto(server.url + once)
    expect(second.page.get_by_role("alert")).to_contain_text("already used")
    expect(second.page.locator("hub-device-card")).to_have_count(0)


def test_the_audit_view_shows_the_actions_just_made_and_follows_new_ones(pages, server, tmp_path):
    act(server, "demo.player_3", "stop")
    p = pages()
    p.sign_in_with_link()
    page = p.page
    bedroom = p.card("Bedroom")
    bedroom.get_by_role("button", name="Play Bedroom").click()
    expect(bedroom.locator(".state")).to_have_text("Playing")
    page.get_by_role("link", name="Audit").click()
    expect(page.get_by_role("heading", name="Audit log")).to_be_visible()
    rows = page.locator("tbody tr")
    mine = rows.filter(has_text="demo.player_3").filter(has_text="play")
    expect(mine.filter(has_text="decision: allow").first).to_contain_text("ws · dashboard")
    expect(mine.filter(has_text="outcome: ok").first).to_be_visible()

    # Live tail: another client's action shows up without reloading.
    act(server, "demo.player_2", "volume_set", volume=21)
    expect(rows.filter(has_text="demo.player_2").filter(has_text='"volume":21').first) \
        .to_be_visible()
    # Filters and the chain check.
    page.get_by_label("Decision").select_option("invalid")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("caption")).to_have_text("No records match.")
    page.get_by_role("button", name="Verify the chain").click()
    expect(page.get_by_text(re.compile(r"^Chain intact: \d+ records"))).to_be_visible()
    shoot(p, tmp_path, "audit-desktop")


def test_tokens_view_creates_shows_once_and_revokes(pages, server, tmp_path):
    p = pages()
    p.sign_in_with_link()
    page = p.page
    page.get_by_role("link", name="Tokens").click()
    page.get_by_label("Name").fill("kitchen-speaker-bot")
    page.get_by_label("Maturity").select_option("SUPERVISED")
    page.get_by_role("button", name="Create").click()
    shown = page.get_by_label("Token of kitchen-speaker-bot")
    expect(shown).to_have_value(re.compile(r"^hub_"))
    token = shown.input_value()
    assert rest(server, "GET", "/devices", token=token)["devices"]
    row = page.locator("tbody tr", has_text="kitchen-speaker-bot")
    expect(row).to_contain_text("SUPERVISED")
    row.get_by_role("button", name="Revoke the token kitchen-speaker-bot").click()
    page.get_by_role("dialog").get_by_role("button", name="Revoke").click()
    expect(row).to_contain_text("revoked")
    with pytest.raises(AssertionError, match="401"):
        rest(server, "GET", "/devices", token=token)
    page.set_viewport_size(PHONE)
    shoot(p, tmp_path, "tokens-phone")


def test_sign_out_revokes_the_session(pages, server):
    p = pages()
    p.sign_in_with_link()
    (cookie,) = [c for c in p.context.cookies() if c["name"] == "hub_session"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    p.page.get_by_role("button", name="Sign out").click()
    expect(p.page.get_by_role("status").filter(has_text="signed out")).to_be_visible()
    request = urllib.request.Request(server.url + "/devices",
                                     headers={"Cookie": f"hub_session={cookie['value']}"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 401


def test_plugins_and_automations_views_follow_the_hub(pages, server):
    p = pages()
    p.sign_in_with_link()
    page = p.page
    page.get_by_role("link", name="Plugins").click()
    demo = page.locator("article", has=page.get_by_role("heading", name="demo", exact=True))
    expect(demo).to_contain_text("Running")
    expect(demo.get_by_role("button", name="Look for devices")).to_be_visible()
    expect(page.locator("article", has=page.get_by_role("heading", name="spotify"))) \
        .to_contain_text("Disabled")
    page.get_by_role("link", name="Automations").click()
    doorbell = page.locator("article", has_text="The doorbell pauses the kitchen")
    expect(doorbell).to_contain_text("Enabled")
    runs = int(re.search(r"Runs(\d+)", doorbell.inner_text().replace("\n", "")).group(1))
    request = urllib.request.Request(server.url + f"/webhooks/{WEBHOOK}", data=b"{}",
                                     headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=30).read()
    expect(doorbell).to_contain_text(f"Runs{runs + 1}", timeout=5000)

    # The owner runs it now, reads its last runs, disables and enables it again.
    doorbell.get_by_role("button", name="Run The doorbell pauses the kitchen now").click()
    expect(page.get_by_role("status").filter(has_text="The doorbell pauses the kitchen: started"))\
        .to_be_visible()
    expect(doorbell).to_contain_text(f"Runs{runs + 2}", timeout=5000)
    doorbell.get_by_role("button", name="Last runs").click()
    runs_table = doorbell.get_by_role("region", name="Last runs of The doorbell pauses the kitchen")
    expect(runs_table.locator("tbody tr")).to_have_count(runs + 2)
    expect(runs_table.locator("tbody tr").first).to_contain_text("ok")
    doorbell.get_by_role("button", name="Disable The doorbell pauses the kitchen").click()
    expect(doorbell.locator(".badge").first).to_have_text("Disabled")
    assert not rest(server, "GET", "/automations/doorbell")["enabled"]
    expect(doorbell.get_by_role("button", name="Run The doorbell pauses the kitchen now")) \
        .to_be_disabled()
    doorbell.get_by_role("button", name="Enable The doorbell pauses the kitchen").click()
    expect(doorbell.locator(".badge").first).to_have_text("Enabled")


def test_grouped_players_show_together_and_join_and_leave(pages, server):
    p = pages()
    p.sign_in_with_link()
    page = p.page
    kitchen = p.card("Kitchen")
    join = kitchen.get_by_role("combobox", name="Group Kitchen with")
    join.focus()  # the choices are filled in when the list is opened or focused
    join.select_option(label="Join Living Room")
    group = page.get_by_role("region", name="Group: Living Room, Kitchen")
    expect(group.locator("hub-device-card")).to_have_count(2)
    assert rest(server, "GET", "/devices/demo.player_2")["attributes"]["group_leader"] == \
        "demo.player_1"
    group.get_by_role("button", name="Take Kitchen out of its group").click()
    expect(group).to_have_count(0)
    expect(page.locator("hub-device-card")).to_have_count(3)
    assert rest(server, "GET", "/devices/demo.player_2")["attributes"]["group_members"] == [
        "demo.player_2"]


def test_media_browse_and_search_play_on_a_chosen_device(pages, server, tmp_path):
    p = pages()
    p.sign_in_with_link()
    page = p.page
    page.get_by_role("link", name="Media").click()
    page.get_by_label("Play on").select_option(label="Kitchen (demo)")
    library = page.get_by_role("list", name="Library")
    page.get_by_role("button", name="Open Playlists").click()
    expect(page.get_by_role("navigation", name="Where you are in the library")) \
        .to_contain_text("Playlists")
    page.get_by_label("How").select_option("replace")
    library.get_by_role("button", name="Play Focus").click()
    expect(page.get_by_role("status").filter(has_text="Focus on Kitchen.")).to_be_visible()
    kitchen = rest(server, "GET", "/devices/demo.player_2")
    assert kitchen["state"] == "playing" and kitchen["attributes"]["queue_length"] == 12

    # Search every provider; a result plays on the chosen device, and its card follows.
    page.get_by_label("Search every library").fill("paper boats")
    page.get_by_role("button", name="Search", exact=True).click()
    results = page.get_by_role("list", name="Search results")
    results.get_by_role("button", name="Play Paper Boats").first.click()
    page.get_by_role("link", name="Devices").click()
    card = p.card("Kitchen")
    expect(card.locator(".title")).to_have_text("Paper Boats")
    expect(card.locator(".art img")).to_have_attribute("src", re.compile(r"/art/album-\d+\.svg$"))
    page.set_viewport_size(PHONE)
    page.get_by_role("link", name="Media").click()
    shoot(p, tmp_path, "media-phone")
