// The automations view: each automation with its state, last run and last error
// (GET /automations), live on automation events; for the owner, enable / disable, run now
// (POST /automations/{id}/enable|disable|trigger) and the traces of its last runs.

import {api} from "./api.js";
import {describeError} from "./devices.js";
import {announce, facts, h, View, when} from "./dom.js";

const RESULT_TONES = {ok: "ok", failed: "danger", denied: "danger", cancelled: "warn",
  stopped: "warn", conditions_not_met: "", skipped: ""};

function triggerText(t) {
  const kind = t.trigger || t.platform || "?";
  const what = t.device || t.entity_id || t.at || t.event_type || "";
  return `${kind}${what ? ` ${Array.isArray(what) ? what.join(", ") : what}` : ""}`;
}

export class AutomationsView extends View {
  constructor(app) {
    super();
    this.app = app;
    this.open = new Set(); // automations whose traces are shown
    this.list = h("div.auto-list");
    this.empty = h("p.empty", {hidden: true}, "No automations are configured. They live under ",
      h("code", {}, "automations:"), " in the configuration.");
    this.el = h("section", {"aria-labelledby": "automations-title"},
      h("div.view-head", {}, h("h1", {id: "automations-title"}, "Automations"),
        app.me.kind === "owner" ? null
          : h("p", {}, "Only the owner may run, enable or disable automations.")),
      this.status, this.empty, this.list);
  }

  onEvent(event) {
    if (event.type === "automation") this.reloadSoon();
  }

  async load() {
    try {
      const {automations} = await api.get("/automations");
      await this.render(automations);
    } catch (err) {
      this.say(err.message);
    }
  }

  async render(automations) {
    const owner = this.app.me.kind === "owner";
    this.empty.hidden = automations.length > 0;
    const cards = await Promise.all(automations.map(async (a, i) => {
      const titleId = `automation-${i}-title`;
      const state = !a.enabled ? ["Disabled", "warn"] : a.running ? ["Running", "accent"] : ["Enabled", "ok"];
      const details = [
        ["Id", a.id], ["Mode", a.max ? `${a.mode} (max ${a.max})` : a.mode],
        ["Acts as", `${a.principal || a.id} (${a.maturity || "no maturity"})`],
        ["Triggers", (a.triggers || []).map(triggerText).join("; ") || "–"],
        ["Runs", `${a.runs ?? 0}${a.skipped ? `, ${a.skipped} skipped` : ""}${a.queued ? `, ${a.queued} queued` : ""}`],
        ["Last run", when(a.last_triggered)],
        ["Last result", a.last_result || "–"],
      ];
      const actions = owner ? h("div.actions-row", {},
        h("button.btn", {type: "button", "aria-label": `${a.enabled ? "Disable" : "Enable"} ${a.alias || a.id}`,
          onclick: (e) => this.post(a, a.enabled ? "disable" : "enable", e.currentTarget)},
        a.enabled ? "Disable" : "Enable"),
        h("button.btn.btn-primary", {type: "button", "aria-label": `Run ${a.alias || a.id} now`,
          disabled: !a.enabled, onclick: (e) => this.post(a, "trigger", e.currentTarget)}, "Run now"),
        h("button.btn", {type: "button", "aria-expanded": String(this.open.has(a.id)),
          onclick: () => this.toggleTraces(a.id)}, "Last runs")) : null;
      const traces = owner && this.open.has(a.id) ? await this.traces(a) : null;
      return h("article.panel", {"aria-labelledby": titleId},
        h("div.head.plugin", {}, h("h2", {id: titleId}, a.alias || a.id),
          h("span.badge", {dataset: {tone: state[1]}}, state[0])),
        a.description ? h("p", {}, a.description) : null,
        facts(details),
        a.last_error ? h("p.notice", {dataset: {tone: "danger"}}, `Last error: ${a.last_error}`) : null,
        (a.problems || []).length ? h("ul.notice", {dataset: {tone: "warn"}, "aria-label": "Problems found in the configuration"},
          a.problems.map((p) => h("li", {}, `${p.severity === "warning" ? "Warning" : "Error"}: `
            + `${p.where ? `${p.where}: ` : ""}${p.message}`))) : null,
        actions, traces);
    }));
    this.list.replaceChildren(...cards);
  }

  toggleTraces(id) {
    if (this.open.has(id)) this.open.delete(id);
    else this.open.add(id);
    this.load();
  }

  async traces(a) {
    try {
      const {traces} = await api.get(`/automations/${encodeURIComponent(a.id)}/traces`);
      if (!traces.length) return h("p.empty", {}, "No runs yet.");
      return h("div.table-wrap", {tabindex: 0, role: "region", "aria-label": `Last runs of ${a.alias || a.id}`},
        h("table", {}, h("thead", {}, h("tr", {}, ["Started", "Trigger", "Result", "Took", "Steps", "Error"]
          .map((c) => h("th", {scope: "col"}, c)))),
        h("tbody", {}, traces.map((t) => h("tr", {},
          h("td", {}, when(t.start)),
          h("td", {}, t.trigger ? triggerText(t.trigger) : "–"),
          h("td", {}, h("span.badge", {dataset: {tone: RESULT_TONES[t.result] ?? ""}}, t.result || t.state)),
          h("td", {}, t.duration_ms != null ? `${Math.round(t.duration_ms)} ms` : "–"),
          h("td", {}, String((t.steps || []).length)),
          h("td.wrap", {}, t.error || ""))))));
    } catch (err) {
      return h("p.notice", {dataset: {tone: "danger"}}, describeError(err));
    }
  }

  async post(a, what, button) {
    button.disabled = true;
    try {
      const answer = await api.post(`/automations/${encodeURIComponent(a.id)}/${what}`, {});
      const name = a.alias || a.id;
      const message = what === "trigger"
        ? `${name}: ${answer.status === "started" ? "started" : answer.status.replace(/_/g, " ")}.`
        : `${name} is ${what}d.`;
      this.say(message, "ok");
      announce(message);
      this.load();
    } catch (err) {
      this.say(describeError(err));
      button.disabled = false;
    }
  }
}
