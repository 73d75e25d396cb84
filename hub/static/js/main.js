// The dashboard's shell: sign-in, the top bar, hash routes (#/devices, #/plugins, ...), the
// live connection feeding the store, and the one function every control calls to act.

import {api} from "./api.js";
import {DevicesView} from "./devices.js";
import {describeLevel, h, text} from "./dom.js";
import {Live} from "./live.js";
import {signInView} from "./signin.js";
import {Store} from "./store.js";

const ROUTES = [
  {id: "devices", label: "Devices"},
  {id: "media", label: "Media", module: "./media.js", view: "MediaView"},
  {id: "plugins", label: "Plugins", module: "./plugins.js", view: "PluginsView"},
  {id: "automations", label: "Automations", module: "./automations.js", view: "AutomationsView"},
  {id: "audit", label: "Audit", owner: true, module: "./audit.js", view: "AuditView"},
  {id: "tokens", label: "Tokens", owner: true, module: "./tokens.js", view: "TokensView"},
];
const THEMES = ["auto", "light", "dark"];
const THEME_LABELS = {auto: "Theme: follow the system", light: "Theme: light", dark: "Theme: dark"};

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const conn = document.getElementById("conn");
const meBadge = document.getElementById("me");
const signOutButton = document.getElementById("signout");

const app = {
  me: null,
  via: null,
  store: null,
  live: null,
  views: new Map(),
  current: null,

  /** Every control goes through here: WebSocket `act` when connected, else POST /actions. */
  async act(device, action, params = {}) {
    if (app.live?.open) return app.live.command("act", {device, action, params});
    return api.post("/actions", {device, action, params});
  },

  refreshPermissions(device) {
    return loadCatalog(device);
  },
};

// -- theme ------------------------------------------------------------------------------------

function applyTheme(theme) {
  if (theme === "auto") delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = theme;
  const button = document.getElementById("theme");
  text(button, theme[0].toUpperCase() + theme.slice(1));
  button.setAttribute("aria-label", THEME_LABELS[theme]);
}

function setupTheme() {
  let theme = localStorage.getItem("hub-theme");
  if (!THEMES.includes(theme)) theme = "auto";
  applyTheme(theme);
  document.getElementById("theme").addEventListener("click", () => {
    const current = localStorage.getItem("hub-theme") || "auto";
    const next = THEMES[(THEMES.indexOf(current) + 1) % THEMES.length];
    localStorage.setItem("hub-theme", next);
    applyTheme(next);
  });
}

// -- signing in and out -------------------------------------------------------------------------

/** A one-time code arrives in the URL fragment (never sent to a server, never a Referer);
 * it is taken out of the address bar and the history before anything else happens. */
function takeCode() {
  const match = /^#code=([A-Za-z0-9_-]{1,200})$/.exec(location.hash);
  if (!match) return null;
  history.replaceState(null, "", `${location.pathname}${location.search}#/devices`);
  return match[1];
}

function showSignIn(message = "", tone = "danger") {
  app.live?.stop();
  app.live = null;
  app.me = null;
  for (const view of app.views.values()) view.hide?.();
  app.views.clear();
  app.current = null;
  nav.hidden = conn.hidden = meBadge.hidden = signOutButton.hidden = true;
  document.title = "Sign in · Hub";
  main.replaceChildren(signInView({message, tone, onSignedIn: () => boot()}));
  main.querySelector(message ? ".notice" : "input")?.focus?.();
}

async function signOut() {
  signOutButton.disabled = true;
  app.live?.stop(); // its socket closes with the session: that is no news to report
  try {
    await api.del("/auth/session");
    showSignIn("You are signed out.", "ok");
  } catch (err) {
    showSignIn(err.status === 401 ? "Your session had already ended." : err.message, "ok");
  } finally {
    signOutButton.disabled = false;
  }
}

async function checkSession() {
  try {
    const who = await api.get("/auth/session");
    if (!who.principal) showSignIn("Your session has ended (signed out, revoked or expired). Sign in again.");
  } catch {
    // Unreachable: the live connection keeps retrying.
  }
}

// -- the signed-in app --------------------------------------------------------------------------

function start(who, live = new Live()) {
  app.me = who.principal;
  app.via = who.via;
  app.store = new Store();
  nav.replaceChildren(...ROUTES.filter((r) => !r.owner || app.me.kind === "owner")
    .map((r) => h("a", {href: `#/${r.id}`, dataset: {route: r.id}}, r.label)));
  nav.hidden = false;
  text(meBadge, app.me.name === app.me.kind ? app.me.name : `${app.me.name} (${describeLevel(app.me)})`);
  meBadge.hidden = false;
  signOutButton.hidden = who.via !== "session";

  app.live = live;
  const showStatus = (state) => {
    const labels = {live: "Live", connecting: "Connecting…", down: "Reconnecting…"};
    conn.dataset.state = state;
    text(conn, labels[state] || state);
    conn.hidden = false;
  };
  const applySnapshot = (devices) => {
    app.store.reset(devices);
    loadCatalog();
  };
  live.addEventListener("status", (event) => showStatus(event.detail));
  live.addEventListener("snapshot", (event) => applySnapshot(event.detail));
  live.addEventListener("hub-event", (event) => onEvent(event.detail));
  live.addEventListener("auth-lost", () => checkSession());
  route(false);
  if (!live.ws) live.connect();
  showStatus(live.state);
  // A snapshot that came while we asked who we are may have missed events since: ask again.
  if (live.snapshot) live.resync();
}

async function loadCatalog(deviceId) {
  const store = app.store;
  try {
    const catalog = await api.get(`/actions/catalog${deviceId ? `?device=${encodeURIComponent(deviceId)}` : ""}`);
    if (store === app.store) store.setCatalog(catalog.devices);
  } catch {
    // Without the catalog, controls stay usable and the hub refuses what it must.
    if (store === app.store) store.setCatalog([]);
  }
}

function onEvent(event) {
  const store = app.store;
  const data = event.data || {};
  if (event.type === "state_changed" && data.new_state) store.upsert(data.new_state);
  else if (event.type === "device_added" && data.device) {
    store.upsert(data.device);
    loadCatalog(data.device_id);
  } else if (event.type === "device_removed") store.remove(data.device_id);
  for (const view of app.views.values()) view.onEvent?.(event);
}

async function viewFor(routeDef) {
  let view = app.views.get(routeDef.id);
  if (!view) {
    if (routeDef.id === "devices") view = new DevicesView(app);
    else view = new (await import(routeDef.module))[routeDef.view](app);
    app.views.set(routeDef.id, view);
  }
  return view;
}

async function route(moveFocus = true) {
  if (!app.me) return;
  const wanted = (/^#\/([a-z]+)/.exec(location.hash) || [])[1] || "devices";
  const routeDef = ROUTES.find((r) => r.id === wanted && (!r.owner || app.me.kind === "owner")) || ROUTES[0];
  const me = app.me;
  const view = await viewFor(routeDef);
  if (app.me !== me) return; // signed out meanwhile
  if (app.current && app.current !== view) app.current.hide?.();
  app.current = view;
  main.replaceChildren(view.el);
  view.show?.();
  for (const link of nav.querySelectorAll("a")) {
    if (link.dataset.route === routeDef.id) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  document.title = `${routeDef.label} · Hub`;
  if (moveFocus) main.focus();
}

async function boot() {
  const code = takeCode();
  // A returning browser is usually signed in: open the live connection while asking.
  const early = code ? null : new Live();
  early?.connect();
  if (code) {
    try {
      await api.post("/auth/session", {code});
    } catch (err) {
      showSignIn(err.code === "invalid_code" || err.code === "unauthenticated"
        ? `This sign-in link did not work: ${err.message}.` : err.message);
      return;
    }
  }
  let who;
  try {
    who = await api.get("/auth/session");
  } catch (err) {
    early?.stop();
    main.replaceChildren(h("p.notice", {role: "alert", dataset: {tone: "danger"}}, err.message));
    return;
  }
  if (!who.principal) {
    early?.stop();
    showSignIn();
    return;
  }
  start(who, early || undefined);
}

window.addEventListener("hashchange", () => {
  if (location.hash.startsWith("#code=")) boot();
  else if (location.hash.startsWith("#/")) route();
});
window.addEventListener("hub-unauthenticated", () => { if (app.me) checkSession(); });
signOutButton.addEventListener("click", signOut);
setupTheme();
boot();
