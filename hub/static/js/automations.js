// The automations view: each automation with its state, last run and last error
// (GET /automations), refreshed on automation events.

import {api} from "./api.js";
import {facts, h, View, when} from "./dom.js";

export class AutomationsView extends View {
  constructor(app) {
    super();
    this.app = app;
    this.list = h("div.auto-list");
    this.empty = h("p.empty", {hidden: true}, "No automations are configured. They live under ",
      h("code", {}, "automations:"), " in the configuration.");
    this.el = h("section", {"aria-labelledby": "automations-title"},
      h("div.view-head", {}, h("h1", {id: "automations-title"}, "Automations")),
      this.status, this.empty, this.list);
  }

  onEvent(event) {
    if (event.type === "automation") this.reloadSoon();
  }

  async load() {
    try {
      const {automations} = await api.get("/automations");
      this.render(automations);
    } catch (err) {
      this.say(err.message);
    }
  }

  render(automations) {
    this.empty.hidden = automations.length > 0;
    this.list.replaceChildren(...automations.map((a, i) => {
      const titleId = `automation-${i}-title`;
      const state = !a.enabled ? ["Disabled", "warn"] : a.running ? ["Running", "accent"] : ["Enabled", "ok"];
      const details = [
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
        facts(details),
        a.last_error ? h("p.notice", {dataset: {tone: "danger"}}, `Last error: ${a.last_error}`) : null);
    }));
  }
}
