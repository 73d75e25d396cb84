// The audit view (owner): GET /audit with filters, paged with `before`, a live tail with
// `after` (polled, and at once after each action event), and GET /audit/verify.

import {api, query} from "./api.js";
import {h, text, View, when} from "./dom.js";

const PAGE = 50;
const TAIL_EVERY = 2000; // ms between polls while tailing
const MAX_ROWS = 500;

function epoch(localValue) {
  if (!localValue) return undefined;
  const ms = new Date(localValue).getTime();
  return Number.isFinite(ms) ? String(ms / 1000) : undefined;
}

export class AuditView extends View {
  constructor(app) {
    super();
    this.app = app;
    this.pages = []; // the `before` of each older page visited
    this.newest = 0;
    const field = (label, control) => h("label.field", {}, h("span", {}, label), control);
    this.f = {
      principal: h("input", {name: "principal", autocomplete: "off"}),
      device: h("input", {name: "device", autocomplete: "off"}),
      decision: h("select", {name: "decision"}, ["", "allow", "deny", "invalid"].map((v) => h("option", {value: v}, v || "any"))),
      outcome: h("select", {name: "outcome"}, ["", "ok", "error", "dry_run"].map((v) => h("option", {value: v}, v || "any"))),
      since: h("input", {name: "since", type: "datetime-local", step: 1}),
      until: h("input", {name: "until", type: "datetime-local", step: 1}),
    };
    this.tail = h("input", {type: "checkbox", id: "audit-tail", checked: true});
    this.tail.addEventListener("change", () => this.schedule());
    const form = h("form.form-row", {"aria-label": "Filter the audit log"},
      field("Principal", this.f.principal), field("Device or target", this.f.device),
      field("Decision", this.f.decision), field("Outcome", this.f.outcome),
      field("From", this.f.since), field("Until", this.f.until),
      h("button.btn.btn-primary", {type: "submit"}, "Apply"),
      h("button.btn", {type: "reset"}, "Clear"));
    form.addEventListener("submit", (e) => { e.preventDefault(); this.pages = []; this.load(); });
    form.addEventListener("reset", () => setTimeout(() => { this.pages = []; this.load(); }));

    this.verifyResult = h("div", {"aria-live": "polite"});
    this.verifyButton = h("button.btn", {type: "button", onclick: () => this.verify()}, "Verify the chain");
    this.rows = h("tbody");
    this.caption = h("caption");
    this.newer = h("button.btn", {type: "button", onclick: () => this.page(-1)}, "Newest");
    this.older = h("button.btn", {type: "button", onclick: () => this.page(1)}, "Older");
    this.el = h("section", {"aria-labelledby": "audit-title"},
      h("div.view-head", {}, h("h1", {id: "audit-title"}, "Audit log"),
        h("p", {}, "Every request, allowed or not, hash-chained.")),
      h("div.panel", {}, form,
        h("div.actions-row", {}, h("label", {htmlFor: "audit-tail"}, this.tail, " Live tail (newest page)"),
          this.verifyButton)),
      this.verifyResult, this.status,
      h("div.table-wrap", {tabindex: 0, role: "region", "aria-label": "Audit records"},
        h("table", {}, this.caption,
          h("thead", {}, h("tr", {}, ["Time", "#", "Principal", "Source", "Action", "Device / target", "Result", "Reason or error"]
            .map((c) => h("th", {scope: "col"}, c)))),
          this.rows)),
      h("div.actions-row", {}, this.newer, this.older));
  }

  hide() {
    super.hide();
    clearTimeout(this.timer);
  }

  onEvent(event) {
    if (event.type === "action" && this.visible && this.tailing()) {
      clearTimeout(this.soon);
      this.soon = setTimeout(() => this.follow(), 150);
    }
  }

  tailing() {
    return this.tail.checked && this.pages.length === 0;
  }

  filters() {
    const f = this.f;
    return {
      principal: f.principal.value.trim(), device: f.device.value.trim(),
      decision: f.decision.value, outcome: f.outcome.value,
      since: epoch(f.since.value), until: epoch(f.until.value),
    };
  }

  async load() {
    const before = this.pages[this.pages.length - 1];
    try {
      const page = await api.get(`/audit${query({...this.filters(), before, limit: PAGE})}`);
      this.say("");
      this.nextBefore = page.next_before;
      this.rows.replaceChildren(...page.records.map((r) => this.row(r)));
      this.newest = page.records[0]?.seq ?? (before ? this.newest : 0);
      if (!before && !page.records.length) this.newest = 0;
      text(this.caption, page.records.length
        ? `Records ${page.records[page.records.length - 1].seq}–${page.records[0].seq}, newest first`
        : "No records match.");
      this.older.disabled = !page.next_before;
      this.newer.disabled = this.pages.length === 0;
    } catch (err) {
      this.say(err.message);
    }
    this.schedule();
  }

  page(direction) {
    if (direction > 0 && this.nextBefore) this.pages.push(this.nextBefore);
    else if (direction < 0) this.pages = [];
    this.load();
  }

  schedule() {
    clearTimeout(this.timer);
    if (this.visible && this.tailing()) this.timer = setTimeout(() => this.follow(), TAIL_EVERY);
  }

  /** Fetch what is newer than the newest row shown and put it on top. */
  async follow() {
    if (!this.visible || !this.tailing()) return;
    clearTimeout(this.timer);
    try {
      const page = await api.get(`/audit${query({...this.filters(), after: this.newest, limit: 200})}`);
      if (page.records.length && this.tailing()) {
        this.newest = page.records[0].seq;
        const frag = document.createDocumentFragment();
        for (const r of page.records) frag.append(this.row(r, true));
        this.rows.prepend(frag);
        while (this.rows.rows.length > MAX_ROWS) this.rows.lastElementChild.remove();
      }
    } catch (err) {
      this.say(err.message);
    }
    this.schedule();
  }

  row(r, fresh = false) {
    const result = r.record === "decision" ? r.decision : r.outcome;
    const tone = {allow: "ok", ok: "ok", deny: "danger", invalid: "warn", error: "danger", dry_run: "accent"}[result] || "";
    const who = r.principal_kind === "owner" ? r.principal : `${r.principal} (${r.maturity || r.principal_kind})`;
    const detail = r.error || (r.record === "decision" ? r.reason : "") || "";
    const params = r.params && Object.keys(r.params).length ? ` ${JSON.stringify(r.params)}` : "";
    const session = r.context?.session ? " · dashboard" : "";
    const tr = h("tr", {className: fresh ? "fresh" : ""},
      h("td", {}, h("time", {dateTime: new Date(r.ts * 1000).toISOString()}, when(r.ts))),
      h("td.mono", {}, r.seq),
      h("td", {}, who),
      h("td", {}, `${r.source || ""}${session}`),
      h("td", {}, h("span", {}, r.action || "–"), params ? h("span.mono", {}, params) : null),
      h("td.wrap", {}, r.device || "–"),
      h("td", {}, h("span.badge", {dataset: {tone}}, `${r.record}: ${result || "–"}`)),
      h("td.wrap", {}, detail));
    return tr;
  }

  async verify() {
    this.verifyButton.disabled = true;
    try {
      const result = await api.get("/audit/verify");
      const head = result.head.slice(0, 16);
      this.verifyResult.replaceChildren(result.ok
        ? h("p.notice", {dataset: {tone: "ok"}}, `Chain intact: ${result.records} records, head ${head}…`)
        : h("div.notice", {dataset: {tone: "danger"}},
          h("p", {}, `Tampering found: ${result.problem_count} problem(s) in ${result.records} records.`),
          h("ul", {}, result.problems.map((p) => h("li", {}, p)))));
      this.follow();
    } catch (err) {
      this.verifyResult.replaceChildren(h("p.notice", {dataset: {tone: "danger"}}, err.message));
    } finally {
      this.verifyButton.disabled = false;
    }
  }
}
