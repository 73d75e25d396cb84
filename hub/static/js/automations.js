// The automations view: each automation with its state, last run and last error
// (GET /automations), refreshed on automation events.

import {api} from "./api.js";
import {h, text, when} from "./dom.js";

export class AutomationsView {
  constructor(app) {
    this.app = app;
    this.status = h("p.notice", {role: "status", hidden: true});
    this.list = h("div.auto-list");
    this.empty = h("p.empty", {hidden: true}, "No automations are configured. They live under ",
      h("code", {}, "automations:"), " in the configuration.");
    this.el = h("section", {"aria-labelledby": "automations-title"},
      h("div.view-head", {}, h("h1", {id: "automations-title"}, "Automations")),
      this.status, this.empty, this.list);
  }

  show() {
    this.visible = true;
    this.load();
  }

  hide() {
    this.visible = false;
  }

  onEvent(event) {
    if (event.type === "automation" && this.visible) {
      clearTimeout(this.reload);
      this.reload = setTimeout(() => this.load(), 250);
    }
  }

  say(message, tone = "ok") {
    this.status.hidden = !message;
    this.status.dataset.tone = tone;
    text(this.status, message);
  }

  async load() {
    try {
      const {automations} = await api.get("/automations");
      this.render(automations);
    } catch (err) {
      this.say(err.message, "danger");
    }
  }

  render(automations) {
    this.empty.hidden = automations.length > 0;
    this.list.replaceChildren(...automations.map((a, i) => {
      const titleId = `automation-${i}-title`;
      const state = !a.enabled ? ["Disabled", "warn"] : a.running ? ["Running", "accent"] : ["Enabled", "ok"];
      const facts = [
        ["Id", a.id], ["Mode", a.max ? `${a.mode} (max ${a.max})` : a.mode],
        ["Acts as", `${a.principal || a.id} (${a.maturity})`],
        ["Triggers", (a.triggers || []).map((t) => (typeof t === "string" ? t : t.platform || t.trigger || JSON.stringify(t))).join(", ") || "–"],
        ["Runs", `${a.runs ?? 0}${a.skipped ? `, ${a.skipped} skipped` : ""}`],
        ["Last run", when(a.last_triggered)],
        ["Last result", a.last_result || "–"],
      ];
      return h("article.panel", {"aria-labelledby": titleId},
        h("div.head.plugin", {}, h("h2", {id: titleId}, a.alias || a.id),
          h("span.badge", {dataset: {tone: state[1]}}, state[0])),
        h("dl.kv", {}, facts.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, String(v))])),
        a.last_error ? h("p.notice", {dataset: {tone: "danger"}}, `Last error: ${a.last_error}`) : null);
    }));
  }
}
