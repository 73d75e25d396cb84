// The devices view: one card per device, updated in place from state_changed events (no
// re-render, so focus and a dragged slider stay put), grouped devices shown together.
// Every control sends an action through the app (WebSocket `act`, else POST /actions); a
// control this session may not use is disabled with the level it requires.

import {announce, clock, h, setIcon, text} from "./dom.js";

const STATE_LABELS = {playing: "Playing", paused: "Paused", idle: "Idle", off: "Off",
  unavailable: "Unavailable"};
const REPEAT_NEXT = {off: "all", all: "one", one: "off"};
const VOLUME_SEND_EVERY = 150; // ms between volume_set while a slider is dragged
const HOLD_AFTER_INPUT = 1200; // ms an input keeps its value against incoming state
const FIRST_SLICE = 12; // cards (or groups) built at once: a large screen's worth
const LATER_SLICE = 50; // then the rest, in tasks short enough to keep input responsive

let cardCount = 0;

export function describeError(err) {
  const details = err.details || {};
  if (err.code === "forbidden") {
    return `Refused: ${err.message}` + (details.required ? ` (requires ${details.required})` : "");
  }
  return err.message || String(err);
}

function imageUrl(attrs) {
  const url = attrs.media_image_url || attrs.entity_picture;
  if (typeof url !== "string") return null;
  return /^(https?:|\/|data:image\/)/i.test(url) ? url : null;
}

function hue(textValue) {
  let n = 0;
  for (const ch of textValue) n = (n * 31 + ch.codePointAt(0)) % 360;
  return n;
}

export class DeviceCard extends HTMLElement {
  init(app, deviceId) {
    this.app = app;
    this.deviceId = deviceId;
    this.holdVolumeUntil = 0;
    this.holdSeekUntil = 0;
    this.build();
    return this;
  }

  build() {
    const n = ++cardCount;
    const nameId = `dev-${n}-name`;
    this.noteId = `dev-${n}-note`;
    this.els = {};
    const e = this.els;
    e.name = h("h3", {id: nameId});
    e.plugin = h("span.badge");
    e.state = h("span.badge.state");
    e.unavailable = h("p.unavailable", {hidden: true});
    e.art = h("div.art", {"aria-hidden": "true"});
    e.title = h("div.title");
    e.sub = h("div.sub");
    e.elapsed = h("span.elapsed", {"aria-hidden": "true"});
    e.duration = h("span.duration", {"aria-hidden": "true"});
    e.seek = h("input", {type: "range", min: 0, max: 1, step: 1, value: 0});
    e.seek.addEventListener("input", () => { this.holdSeekUntil = Date.now() + HOLD_AFTER_INPUT; });
    e.seek.addEventListener("change", () => this.act("seek", {position: Number(e.seek.value)}));
    e.position = h("div.position", {}, e.elapsed, e.seek, e.duration);

    e.previous = this.button("previous", () => this.act("previous"));
    e.playpause = this.button("play", () => this.act(e.playpause.dataset.action), "primary");
    e.stop = this.button("stop", () => this.act("stop"));
    e.next = this.button("next", () => this.act("next"));
    e.transport = h("div.transport", {role: "group"}, e.previous, e.playpause, e.stop, e.next);

    e.mute = this.button("volume", () => this.act("mute", {muted: !this.device.attributes.muted}));
    e.volume = h("input", {type: "range", min: 0, max: 100, step: 1, value: 0});
    e.volumeOut = h("output", {"aria-hidden": "true"});
    e.volume.addEventListener("input", () => this.volumeInput());
    e.volume.addEventListener("change", () => this.volumeInput(true));
    e.volumeRow = h("div.volume", {}, e.mute, e.volume, e.volumeOut);

    e.source = h("select");
    e.source.addEventListener("change", () => {
      if (e.source.value) this.act("select_source", {source: e.source.value});
    });
    e.sourceLabel = h("label.sr-only");
    e.shuffle = this.button("shuffle", () => this.act("shuffle_set", {shuffle: !this.device.attributes.shuffle}));
    e.repeat = this.button("repeat", () => this.act("repeat_set", {repeat: REPEAT_NEXT[this.device.attributes.repeat] || "off"}));
    e.extras = h("div.extras", {}, e.sourceLabel, e.source, e.shuffle, e.repeat);

    e.join = h("select", {}, h("option", {value: ""}, "Join a group…"));
    e.join.addEventListener("focus", () => this.fillJoinOptions());
    e.join.addEventListener("pointerdown", () => this.fillJoinOptions());
    e.join.addEventListener("change", () => {
      const leader = e.join.value;
      e.join.value = "";
      if (leader) this.act("join", {leader});
    });
    e.joinLabel = h("label.sr-only");
    e.leave = h("button.btn", {type: "button", onclick: () => this.act("unjoin")}, "Leave group");
    e.grouping = h("div.grouping", {}, e.joinLabel, e.join, e.leave);

    e.note = h("p.perm-note", {id: this.noteId, hidden: true});
    e.error = h("p.card-error", {role: "status"});

    e.card = h("article.card", {"aria-labelledby": nameId},
      h("div.card-head", {}, e.name, e.plugin, e.state),
      e.unavailable,
      h("div.now", {}, e.art, h("div.meta", {}, e.title, e.sub)),
      e.position, e.transport, e.volumeRow, e.extras, e.grouping, e.note, e.error);
    for (const [key, el] of Object.entries(e)) {
      if (el instanceof HTMLInputElement || el instanceof HTMLSelectElement) el.id ||= `dev-${n}-${key}`;
    }
    e.sourceLabel.htmlFor = e.source.id;
    e.joinLabel.htmlFor = e.join.id;
    this.controls = {
      previous: [e.previous, "previous"], playpause: [e.playpause, null], stop: [e.stop, "stop"],
      next: [e.next, "next"], seek: [e.seek, "seek"], volume: [e.volume, "volume_set"],
      mute: [e.mute, "mute"], source: [e.source, "select_source"],
      shuffle: [e.shuffle, "shuffle_set"], repeat: [e.repeat, "repeat_set"],
      join: [e.join, "join"], leave: [e.leave, "unjoin"],
    };
    this.append(e.card);
  }

  button(name, onclick, variant = "") {
    const el = h(`button.icon-btn${variant ? "." + variant : ""}`, {type: "button", onclick});
    setIcon(el, name);
    return el;
  }

  get device() {
    return this.app.store.devices.get(this.deviceId);
  }

  /** Bring the card in line with the device's latest snapshot. */
  update() {
    const d = this.device;
    if (!d) return;
    const a = d.attributes || {};
    const e = this.els;
    const name = d.name || d.id;
    if (this.nameShown !== name) {
      this.nameShown = name;
      text(e.name, name);
      e.transport.setAttribute("aria-label", `Playback of ${name}`);
      e.seek.setAttribute("aria-label", `Position in the track on ${name}`);
      e.volume.setAttribute("aria-label", `Volume of ${name}`);
      text(e.sourceLabel, `Source of ${name}`);
      text(e.joinLabel, `Group ${name} with`);
      e.leave.setAttribute("aria-label", `Take ${name} out of its group`);
    }
    text(e.plugin, d.plugin);
    text(e.state, STATE_LABELS[d.state] || d.state);
    e.state.dataset.state = d.state;
    e.card.dataset.available = String(d.available !== false);
    e.unavailable.hidden = d.available !== false;
    text(e.unavailable, d.available === false
      ? `Unavailable${d.unavailable_reason ? `: ${d.unavailable_reason}` : ""}` : "");

    // Now playing, with artwork when the device gives one (else a tile from the album).
    const title = a.media_title || (d.state === "idle" || d.state === "off" ? "Nothing playing" : "");
    text(e.title, title);
    text(e.sub, [a.media_artist, a.media_album].filter(Boolean).join(" — ") || (a.source ? `Source: ${a.source}` : ""));
    this.updateArt(a, name);

    // Position (extrapolated while playing by the ticker).
    const duration = Number(a.media_duration) || 0;
    e.position.hidden = !duration;
    if (duration && String(e.seek.max) !== String(Math.floor(duration))) e.seek.max = Math.floor(duration);
    text(e.duration, clock(duration));
    this.tick(Date.now() / 1000);

    // Transport.
    const playing = d.state === "playing";
    e.playpause.dataset.action = playing ? "pause" : "play";
    setIcon(e.playpause, playing ? "pause" : "play");
    e.playpause.setAttribute("aria-label", `${playing ? "Pause" : "Play"} ${name}`);
    e.previous.setAttribute("aria-label", `Previous track on ${name}`);
    e.stop.setAttribute("aria-label", `Stop ${name}`);
    e.next.setAttribute("aria-label", `Next track on ${name}`);

    // Volume and mute.
    if (typeof a.volume === "number") {
      if (Date.now() > this.holdVolumeUntil) e.volume.value = a.volume;
      text(e.volumeOut, Date.now() > this.holdVolumeUntil ? a.volume : e.volume.value);
    }
    e.volumeRow.hidden = typeof a.volume !== "number";
    setIcon(e.mute, a.muted ? "muted" : "volume");
    e.mute.setAttribute("aria-pressed", String(Boolean(a.muted)));
    e.mute.setAttribute("aria-label", `Mute ${name}`);

    // Source, shuffle, repeat.
    const sources = Array.isArray(a.source_list) ? a.source_list : [];
    const key = sources.join("\u0000");
    if (this.sourcesKey !== key) {
      this.sourcesKey = key;
      e.source.replaceChildren(...sources.map((s) => h("option", {value: s}, s)));
    }
    if (a.source && !sources.includes(a.source)) {
      e.source.replaceChildren(...sources.map((s) => h("option", {value: s}, s)), h("option", {value: a.source}, a.source));
      this.sourcesKey = null;
    }
    e.source.value = a.source || "";
    e.shuffle.setAttribute("aria-pressed", String(Boolean(a.shuffle)));
    e.shuffle.setAttribute("aria-label", `Shuffle on ${name}`);
    const repeat = a.repeat || "off";
    setIcon(e.repeat, repeat === "one" ? "repeat_one" : "repeat");
    e.repeat.setAttribute("aria-pressed", String(repeat !== "off"));
    e.repeat.setAttribute("aria-label", `Repeat on ${name}: ${repeat}`);

    // Grouping.
    const members = Array.isArray(a.group_members) ? a.group_members : [d.id];
    e.leave.hidden = members.length < 2 || !(d.actions || []).includes("unjoin");

    this.updatePermissions();
  }

  updateArt(a, name) {
    const e = this.els;
    const url = imageUrl(a);
    if (url) {
      if (this.artUrl !== url) {
        this.artUrl = url;
        delete e.art.dataset.hue;
        e.art.replaceChildren(h("img", {src: url, alt: "", loading: "lazy", decoding: "async"}));
      }
      return;
    }
    const basis = a.media_album || a.media_title || name;
    if (this.artUrl !== basis) {
      this.artUrl = basis;
      e.art.dataset.hue = "1";
      e.art.style.setProperty("--hue", hue(basis));
      const letters = basis.split(/\s+/).filter(Boolean).slice(0, 2).map((w) => w[0].toUpperCase()).join("");
      e.art.replaceChildren(letters);
    }
  }

  /** Move the position along while playing (called every second by the view). */
  tick(now) {
    const d = this.device;
    if (!d) return;
    const a = d.attributes || {};
    const duration = Number(a.media_duration) || 0;
    let position = Number(a.media_position) || 0;
    if (d.state === "playing" && a.media_position_updated_at) {
      position += Math.max(0, now - a.media_position_updated_at);
    }
    position = Math.min(Math.max(0, position), duration || position);
    text(this.els.elapsed, clock(position));
    if (Date.now() > this.holdSeekUntil) this.els.seek.value = Math.floor(position);
    this.els.seek.setAttribute("aria-valuetext", `${clock(position)} of ${clock(duration)}`);
  }

  updatePermissions() {
    const d = this.device;
    if (!d) return;
    const supported = new Set(d.actions || []);
    const available = d.available !== false;
    const me = this.app.me;
    const missing = new Set();
    for (const [el, fixedAction] of Object.values(this.controls)) {
      const action = fixedAction || el.dataset.action;
      let shown = fixedAction === null ? supported.has("play") || supported.has("pause") : supported.has(action);
      if (el === this.els.source) shown = shown && el.options.length > 0;
      if (el !== this.els.leave) el.hidden = !shown;
      const perm = this.app.store.perm(d.id, action);
      const refused = perm && !perm.allowed;
      if (refused) missing.add(perm.required);
      // Until this session's permissions are known, nothing is offered.
      el.disabled = !available || !this.app.store.catalogReady || Boolean(refused)
        || this.busy === action;
      if (refused) {
        el.title = `Requires ${perm.required}`;
        el.setAttribute("aria-describedby", this.noteId);
      } else {
        el.removeAttribute("title");
        el.removeAttribute("aria-describedby");
      }
    }
    this.els.joinLabel.hidden = this.els.join.hidden;
    this.els.sourceLabel.hidden = this.els.source.hidden;
    this.els.grouping.hidden = this.els.join.hidden && this.els.leave.hidden;
    this.els.extras.hidden = this.els.source.hidden && this.els.shuffle.hidden && this.els.repeat.hidden;
    this.els.transport.hidden = [this.els.previous, this.els.playpause, this.els.stop, this.els.next].every((b) => b.hidden);
    const note = this.els.note;
    if (missing.size) {
      const levels = [...missing].map((l) => (l === "NOBODY" ? "nobody (disabled by policy)" : l));
      const you = me.kind === "owner" ? "the owner" : `${me.maturity}`;
      text(note, `View only: these controls require ${levels.join(" or ")}; this session is ${you}.`);
      note.hidden = false;
    } else {
      note.hidden = true;
    }
  }

  fillJoinOptions() {
    const d = this.device;
    if (!d) return;
    const store = this.app.store;
    const members = new Set(d.attributes?.group_members || [d.id]);
    const options = [...store.devices.values()]
      .filter((o) => o.plugin === d.plugin && !members.has(o.id) && (o.actions || []).includes("join"))
      .sort((x, y) => x.name.localeCompare(y.name, undefined, {numeric: true}))
      .map((o) => h("option", {value: o.id}, `Join ${o.name}`));
    this.els.join.replaceChildren(h("option", {value: ""}, "Join a group…"), ...options);
  }

  volumeInput(final = false) {
    const e = this.els;
    this.holdVolumeUntil = Date.now() + HOLD_AFTER_INPUT;
    text(e.volumeOut, e.volume.value);
    clearTimeout(this.volumeTimer);
    const send = () => {
      this.lastVolumeSent = Date.now();
      this.act("volume_set", {volume: Number(e.volume.value)}, {quiet: true});
    };
    if (final || Date.now() - (this.lastVolumeSent || 0) >= VOLUME_SEND_EVERY) send();
    else this.volumeTimer = setTimeout(send, VOLUME_SEND_EVERY);
  }

  async act(action, params = {}, {quiet = false} = {}) {
    const e = this.els;
    if (!quiet) {
      this.busy = action;
      e.card.setAttribute("aria-busy", "true");
    }
    try {
      await this.app.act(this.deviceId, action, params);
      text(e.error, "");
    } catch (err) {
      const message = describeError(err);
      text(e.error, message);
      announce(`${this.device?.name || this.deviceId}: ${message}`);
      // The policy may have changed since the page loaded: learn it, so the control shows it.
      if (err.code === "forbidden") this.app.refreshPermissions(this.deviceId);
    } finally {
      if (!quiet) {
        this.busy = null;
        e.card.removeAttribute("aria-busy");
        this.updatePermissions();
      }
    }
  }
}

customElements.define("hub-device-card", DeviceCard);

function byName(x, y) {
  return (x.name || x.id).localeCompare(y.name || y.id, undefined, {numeric: true});
}

function membersOf(device) {
  const members = device.attributes?.group_members;
  return Array.isArray(members) && members.length ? members : [device.id];
}

export class DevicesView {
  constructor(app) {
    this.app = app;
    this.cards = new Map();
    this.summary = h("p", {"aria-live": "off"});
    this.filter = h("input", {type: "search", placeholder: "Filter by name", "aria-label": "Filter devices by name"});
    this.filter.addEventListener("input", () => this.applyFilter());
    this.grid = h("div.device-grid");
    this.empty = h("p.empty", {hidden: true}, "No devices yet. Plugins add theirs when they find them.");
    this.el = h("section", {"aria-labelledby": "devices-title"},
      h("div.view-head", {}, h("h1", {id: "devices-title"}, "Devices"), this.summary, this.filter),
      this.empty, this.grid);
    const store = app.store;
    store.addEventListener("reset", () => this.relayout());
    store.addEventListener("device", (ev) => this.onDevice(ev.detail));
    store.addEventListener("removed", () => this.relayout());
    store.addEventListener("perms", () => { for (const card of this.cards.values()) card.updatePermissions(); });
    this.firstRender = false;
  }

  show() {
    this.ticker = setInterval(() => this.tick(), 1000);
  }

  hide() {
    clearInterval(this.ticker);
  }

  tick() {
    const now = Date.now() / 1000;
    for (const card of this.cards.values()) {
      if (card.device?.state === "playing") card.tick(now);
    }
  }

  card(id) {
    let card = this.cards.get(id);
    if (!card) {
      card = document.createElement("hub-device-card").init(this.app, id);
      this.cards.set(id, card);
    }
    return card;
  }

  onDevice({device, old}) {
    const card = this.cards.get(device.id);
    const moved = !old || membersOf(old).join() !== membersOf(device).join() || old.name !== device.name;
    if (!card && !moved && this.pending) return; // not built yet: it will be, from the store
    if (!card || moved) {
      this.relayout();
    } else {
      card.update();
      this.updateSummary();
    }
  }

  /** Place every card (groups together, by name) and bring them up to date. New cards are
   * built in slices: the first screenful at once, the rest on later turns of the event loop,
   * so a hub with a hundred players shows its first ones without waiting for the last. */
  relayout() {
    const store = this.app.store;
    const focused = document.activeElement;
    clearTimeout(this.pending);
    const devices = [...store.devices.values()].sort(byName);
    for (const id of [...this.cards.keys()]) {
      if (!store.devices.has(id)) { this.cards.get(id).remove(); this.cards.delete(id); }
    }
    const slots = [];
    const placed = new Set();
    for (const d of devices) {
      if (placed.has(d.id)) continue;
      const leader = store.devices.get(d.attributes?.group_leader) || d;
      const members = membersOf(leader).filter((id) => store.devices.has(id));
      const ids = members.length > 1 && members.includes(d.id) ? members : [d.id];
      for (const id of ids) placed.add(id);
      slots.push(ids);
    }
    const build = (ids) => {
      const cards = ids.map((id) => {
        const card = this.card(id);
        card.update();
        return card;
      });
      if (ids.length === 1) return cards[0];
      const names = ids.map((id) => store.name(id));
      return h("section.group", {"aria-label": `Group: ${names.join(", ")}`},
        h("h2", {}, h("span.badge", {dataset: {tone: "accent"}}, "Group"), names.join(" + ")),
        h("div.device-grid", {}, cards));
    };
    this.grid.replaceChildren(...slots.slice(0, FIRST_SLICE).map(build));
    if (focused && focused !== document.activeElement && focused.isConnected) focused.focus();
    this.empty.hidden = devices.length > 0;
    this.updateSummary();
    this.applyFilter();
    if (!this.firstRender && devices.length) {
      this.firstRender = true;
      performance.mark("hub:devices-rendered");
    }
    const rest = slots.slice(FIRST_SLICE);
    const finish = () => {
      this.pending = null;
      if (devices.length && !performance.getEntriesByName("hub:devices-all-rendered").length) {
        performance.mark("hub:devices-all-rendered");
      }
    };
    const next = () => {
      this.grid.append(...rest.splice(0, LATER_SLICE).map(build));
      this.applyFilter();
      if (rest.length) this.pending = setTimeout(next, 0);
      else finish();
    };
    if (rest.length) this.pending = setTimeout(next, 0);
    else finish();
  }

  updateSummary() {
    const all = [...this.app.store.devices.values()];
    const playing = all.filter((d) => d.state === "playing").length;
    const unavailable = all.filter((d) => d.available === false).length;
    text(this.summary, `${all.length} device${all.length === 1 ? "" : "s"} · ${playing} playing`
      + (unavailable ? ` · ${unavailable} unavailable` : ""));
  }

  applyFilter() {
    const needle = this.filter.value.trim().toLowerCase();
    for (const [id, card] of this.cards) {
      card.hidden = Boolean(needle) && !this.app.store.name(id).toLowerCase().includes(needle);
    }
  }
}
