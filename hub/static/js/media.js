// The media view: browse the library of the chosen device's plugin (GET /media/browse) and
// search every provider at once (GET /media/search), then play an item on the chosen device
// (the play_media action, through the pipeline like every control).

import {api, query} from "./api.js";
import {describeError} from "./devices.js";
import {announce, clock, h, text, View} from "./dom.js";

const ENQUEUE = [["play", "Play now"], ["next", "Play next"], ["add", "Add to queue"],
  ["replace", "Replace the queue"]];

export class MediaView extends View {
  constructor(app) {
    super();
    this.app = app;
    this.path = []; // the items browsed into, root first
    this.device = h("select", {id: "media-device"});
    this.device.addEventListener("change", () => { this.path = []; this.browse(); this.refreshButtons(); });
    this.enqueue = h("select", {id: "media-enqueue"}, ENQUEUE.map(([v, label]) => h("option", {value: v}, label)));
    this.note = h("p.perm-note", {hidden: true});

    this.q = h("input", {type: "search", id: "media-q", name: "q", maxLength: 200, required: true,
      autocomplete: "off", placeholder: "Title, artist, album…"});
    const search = h("form.form-row", {role: "search", "aria-label": "Search the media library"},
      h("label.field", {htmlFor: "media-q"}, h("span", {}, "Search every library"), this.q),
      h("button.btn.btn-primary", {type: "submit"}, "Search"));
    search.addEventListener("submit", (e) => { e.preventDefault(); this.search(); });
    this.searchStatus = h("p", {role: "status"});
    this.results = h("ul.media-list", {"aria-label": "Search results"});

    this.crumbs = h("nav.crumbs", {"aria-label": "Where you are in the library"});
    this.items = h("ul.media-list", {"aria-label": "Library"});
    this.more = h("button.btn", {type: "button", hidden: true, onclick: () => this.browse(true)}, "More");
    this.browseStatus = h("p", {role: "status"});

    this.el = h("section", {"aria-labelledby": "media-title"},
      h("div.view-head", {}, h("h1", {id: "media-title"}, "Media")),
      h("div.panel.form-row", {},
        h("label.field", {htmlFor: "media-device"}, h("span", {}, "Play on"), this.device),
        h("label.field", {htmlFor: "media-enqueue"}, h("span", {}, "How"), this.enqueue)),
      this.note, this.status,
      h("div.media-columns", {},
        h("section.panel", {"aria-labelledby": "media-browse-title"},
          h("h2", {id: "media-browse-title"}, "Browse"), this.crumbs, this.browseStatus, this.items, this.more),
        h("section.panel", {"aria-labelledby": "media-search-title"},
          h("h2", {id: "media-search-title"}, "Search"), search, this.searchStatus, this.results)));
    app.store.addEventListener("reset", () => this.fillDevices());
    app.store.addEventListener("perms", () => this.refreshButtons());
  }

  show() {
    this.visible = true;
    this.fillDevices();
    if (!this.items.children.length) this.browse();
  }

  /** The devices that can play media, by name; the choice is kept across visits. */
  fillDevices() {
    const current = this.device.value;
    const players = [...this.app.store.devices.values()]
      .filter((d) => (d.actions || []).includes("play_media"))
      .sort((x, y) => x.name.localeCompare(y.name, undefined, {numeric: true}));
    this.device.replaceChildren(...players.map((d) => h("option", {value: d.id}, `${d.name} (${d.plugin})`)));
    if (players.some((d) => d.id === current)) this.device.value = current;
    this.refreshButtons();
  }

  get chosen() {
    return this.app.store.devices.get(this.device.value);
  }

  /** Why an item cannot be played on the chosen device, or "" when it can. */
  refusal(item) {
    const device = this.chosen;
    if (!device) return "Choose a device to play on";
    if (!item.can_play) return "Not playable";
    if (item.plugin !== device.plugin) return `Plays on ${item.plugin} devices only`;
    const perm = this.app.store.perm(device.id, "play_media");
    if (perm && !perm.allowed) return `Requires ${perm.required}`;
    return "";
  }

  refreshButtons() {
    const device = this.chosen;
    const perm = device && this.app.store.perm(device.id, "play_media");
    this.note.hidden = !(perm && !perm.allowed);
    text(this.note, perm && !perm.allowed
      ? `Playing on ${device.name} requires ${perm.required}; this session is ${this.app.me.maturity || this.app.me.kind}.` : "");
    for (const button of this.el.querySelectorAll("button[data-play]")) {
      const reason = this.refusal(button.item);
      button.disabled = Boolean(reason);
      button.title = reason;
    }
  }

  row(item) {
    const art = item.thumbnail && /^(https?:|\/)/.test(item.thumbnail)
      ? h("img", {src: item.thumbnail, alt: "", loading: "lazy", width: 48, height: 48})
      : h("span.thumb-empty", {"aria-hidden": "true"}, item.type[0].toUpperCase());
    const meta = [item.type, item.subtitle, item.duration ? clock(item.duration) : null, item.plugin]
      .filter(Boolean).join(" · ");
    const actions = [];
    if (item.can_expand) {
      actions.push(h("button.btn", {type: "button", "aria-label": `Open ${item.title}`,
        onclick: () => { this.path.push(item); this.browse(); }}, "Open"));
    }
    if (item.can_play) {
      const play = h("button.btn.btn-primary", {type: "button", dataset: {play: "1"},
        "aria-label": `Play ${item.title}`, onclick: (e) => this.play(item, e.currentTarget)}, "Play");
      play.item = item;
      const reason = this.refusal(item);
      play.disabled = Boolean(reason);
      play.title = reason;
      actions.push(play);
    }
    return h("li.media-item", {}, h("span.thumb", {}, art),
      h("span.media-text", {}, h("span.title", {}, item.title), h("span.sub", {}, meta)),
      h("span.media-actions", {}, actions));
  }

  async browse(more = false) {
    const device = this.chosen;
    if (!device) {
      text(this.browseStatus, "No device offers a media library.");
      return;
    }
    const item = this.path[this.path.length - 1];
    try {
      const page = await api.get(`/media/browse${query({device: device.id, item: item?.id, cursor: more ? this.cursor : null})}`);
      this.cursor = page.cursor;
      this.more.hidden = !page.cursor;
      const rows = page.children.map((child) => this.row(child));
      if (more) this.items.append(...rows);
      else this.items.replaceChildren(...rows);
      text(this.browseStatus, page.children.length || more ? "" : "Nothing here.");
      this.renderCrumbs(page.item);
    } catch (err) {
      this.items.replaceChildren();
      this.more.hidden = true;
      text(this.browseStatus, err.code === "unsupported_action"
        ? `${device.name} has no media library to browse.` : describeError(err));
    }
  }

  renderCrumbs(current) {
    const root = h("button.btn.btn-quiet", {type: "button", onclick: () => { this.path = []; this.browse(); }}, current && !this.path.length ? current.title : "Library");
    const parts = [root];
    this.path.forEach((item, i) => {
      parts.push(" / ");
      parts.push(i === this.path.length - 1
        ? h("span", {"aria-current": "page"}, item.title)
        : h("button.btn.btn-quiet", {type: "button", onclick: () => { this.path = this.path.slice(0, i + 1); this.browse(); }}, item.title));
    });
    this.crumbs.replaceChildren(...parts);
  }

  async search() {
    const q = this.q.value.trim();
    if (!q) return;
    text(this.searchStatus, "Searching…");
    try {
      const answer = await api.get(`/media/search${query({q, limit: 25})}`);
      this.results.replaceChildren(...answer.results.map((item) => this.row(item)));
      const failed = (answer.errors || []).map((e) => `${e.plugin}: ${e.message}`);
      text(this.searchStatus, `${answer.results.length} result${answer.results.length === 1 ? "" : "s"}`
        + (failed.length ? `; not answered: ${failed.join("; ")}` : "."));
    } catch (err) {
      this.results.replaceChildren();
      text(this.searchStatus, describeError(err));
    }
  }

  async play(item, button) {
    const device = this.chosen;
    button.disabled = true;
    try {
      await this.app.act(device.id, "play_media", {media_id: item.id, enqueue: this.enqueue.value});
      this.say(`${item.title} on ${device.name}.`, "ok");
      announce(`Playing ${item.title} on ${device.name}`);
    } catch (err) {
      this.say(describeError(err));
      if (err.code === "forbidden") this.app.refreshPermissions(device.id);
    } finally {
      button.disabled = Boolean(this.refusal(item));
    }
  }
}
