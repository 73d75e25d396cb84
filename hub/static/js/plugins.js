// The plugins view: each plugin's status with its error and details (GET /plugins), live
// on plugin_status events; rediscovery and "Link Spotify account" (the plugin's own OAuth
// route, /integrations/spotify/authorize) for the owner.

import {api} from "./api.js";
import {announce, facts, h, View} from "./dom.js";

const TONES = {loaded: "ok", failed: "danger", disabled: "warn", not_configured: ""};
const STATUS_LABELS = {loaded: "Running", failed: "Failed", disabled: "Disabled",
  not_configured: "Installed, not configured"};
// Plugins whose account is linked in the browser through their own authorize route.
const LINKABLE = {spotify: "Link Spotify account"};

export class PluginsView extends View {
  constructor(app) {
    super();
    this.app = app;
    this.alerts = h("div");
    this.list = h("div.plugin-list");
    this.el = h("section", {"aria-labelledby": "plugins-title"},
      h("div.view-head", {}, h("h1", {id: "plugins-title"}, "Plugins"),
        h("p", {}, "Every installed plugin; one that fails never stops the others.")),
      this.alerts, this.status, this.list);
  }

  onEvent(event) {
    if (event.type === "plugin_event" && /relink_required$/.test(event.data?.event || "")) {
      const plugin = event.data.plugin;
      const message = `${plugin}: an account must be linked again (${event.data.reason || "its authorization was refused"}).`;
      this.alerts.append(h("p.notice", {role: "alert", dataset: {tone: "warn"}}, message));
      announce(message);
    }
    if (["plugin_status", "device_added", "device_removed"].includes(event.type)) this.reloadSoon();
  }

  async load() {
    try {
      const {plugins} = await api.get("/plugins");
      this.render(plugins);
    } catch (err) {
      this.say(err.message);
    }
  }

  render(plugins) {
    const owner = this.app.me.kind === "owner";
    const order = {loaded: 0, failed: 1, disabled: 2, not_configured: 3};
    plugins.sort((a, b) => (order[a.status] ?? 9) - (order[b.status] ?? 9) || a.name.localeCompare(b.name));
    this.list.replaceChildren(...plugins.map((p) => {
      const titleId = `plugin-${p.name}-title`;
      const details = [
        ["Version", p.version], ["Distribution", p.distribution],
        ["Devices", p.devices ?? 0], ["Hooks", (p.hooks || []).join(", ") || "–"],
        p.timeout ? ["Timeout", `${p.timeout} s`] : null,
        ...Object.entries(p.details || {}).map(([k, v]) => [k.replace(/_/g, " "), typeof v === "object" ? JSON.stringify(v) : v]),
      ].filter(Boolean);
      const actions = [];
      if (owner && p.status === "loaded") {
        actions.push(h("button.btn", {type: "button", onclick: (e) => this.discover(p.name, e.currentTarget)},
          "Look for devices"));
        if (LINKABLE[p.name]) {
          // A plain navigation: the browser follows the hub's redirect to the service's
          // consent page and comes back to the plugin's callback.
          actions.push(h("a.btn.btn-primary", {href: `/integrations/${p.name}/authorize`}, LINKABLE[p.name]));
        }
      }
      return h("article.panel.plugin", {"aria-labelledby": titleId},
        h("div.head", {}, h("h2", {id: titleId}, p.name),
          h("span.badge", {dataset: {tone: TONES[p.status] ?? ""}}, STATUS_LABELS[p.status] || p.status)),
        p.description ? h("p", {}, p.description) : null,
        p.error ? h("p.notice", {dataset: {tone: "danger"}}, p.error) : null,
        p.status === "not_configured"
          ? h("p", {}, "To use it, add a ", h("code", {}, `${p.name}:`), " section under ", h("code", {}, "plugins:"), " in the configuration.")
          : null,
        facts(details, "dl"),
        actions.length ? h("div.actions-row", {}, actions) : null);
    }));
  }

  async discover(name, button) {
    button.disabled = true;
    try {
      const answer = await api.post("/discover", {plugin: name});
      const result = answer.plugins?.[name] || {};
      this.say(result.error ? `${name}: ${result.error}` : `${name}: ${(result.new || []).length} new device(s).`,
        result.error ? "danger" : "ok");
      this.load();
    } catch (err) {
      this.say(err.message);
    } finally {
      button.disabled = false;
    }
  }
}
