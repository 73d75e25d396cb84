// The tokens view (owner): create an agent or automation token with a maturity (shown
// once), list and revoke tokens; dashboard sessions with revocation; and a one-time link to
// sign in another device (a phone), valid 60 seconds.

import {api} from "./api.js";
import {announce, confirmDialog, h, text, View, when} from "./dom.js";

const MATURITIES = ["STUDENT", "INTERN", "SUPERVISED", "AUTONOMOUS"];

function copyButton(input) {
  return h("button.btn", {type: "button", onclick: async (event) => {
    const button = event.currentTarget;
    try {
      await navigator.clipboard.writeText(input.value);
      text(button, "Copied");
    } catch {
      input.select(); // no clipboard over plain http on another host: select it instead
      text(button, "Selected: copy it now");
    }
  }}, "Copy");
}

function shortAgent(ua) {
  if (!ua) return "–";
  const browser = /(Firefox|Edg|Chrome|Safari)\/[\d.]+/.exec(ua)?.[1]?.replace("Edg", "Edge") || "Browser";
  const os = /(Android|iPhone|iPad|Windows|Mac OS X|Linux)/.exec(ua)?.[1]?.replace("Mac OS X", "macOS") || "";
  return os ? `${browser} on ${os}` : browser;
}

export class TokensView extends View {
  constructor(app) {
    super();
    this.app = app;
    this.secret = h("div", {"aria-live": "polite"});

    this.name = h("input", {id: "token-name", name: "name", required: true, autocomplete: "off",
      pattern: "[A-Za-z0-9][A-Za-z0-9_.@\\-]{0,63}", "aria-describedby": "token-name-help"});
    this.kind = h("select", {id: "token-kind", name: "kind"},
      h("option", {value: "agent"}, "agent"), h("option", {value: "automation"}, "automation"));
    this.maturity = h("select", {id: "token-maturity", name: "maturity"},
      MATURITIES.map((m) => h("option", {value: m}, m)));
    const form = h("form", {"aria-labelledby": "token-create-title"},
      h("h2", {id: "token-create-title"}, "Create a token"),
      h("div.form-row", {},
        h("label.field", {htmlFor: "token-name"}, h("span", {}, "Name"), this.name),
        h("label.field", {htmlFor: "token-kind"}, h("span", {}, "Kind"), this.kind),
        h("label.field", {htmlFor: "token-maturity"}, h("span", {}, "Maturity"), this.maturity),
        h("button.btn.btn-primary", {type: "submit"}, "Create")),
      h("p", {id: "token-name-help"}, "1–64 letters, digits, _ . @ -. SUPERVISED and above may control media; ",
        "STUDENT and INTERN may only read."));
    form.addEventListener("submit", (e) => { e.preventDefault(); this.create(); });

    this.tokenRows = h("tbody");
    this.sessionRows = h("tbody");
    this.link = h("div");
    this.el = h("section", {"aria-labelledby": "tokens-title"},
      h("div.view-head", {}, h("h1", {id: "tokens-title"}, "Tokens and sessions")),
      this.status,
      h("div.panel", {}, form, this.secret),
      this.table("Tokens", ["Name", "Kind", "Maturity", "Created", "State", ""], this.tokenRows),
      h("div.panel", {},
        h("h2", {}, "Sign in another device"),
        h("p", {}, "Makes a link that signs a browser in as you. It works once, within 60 seconds."),
        h("button.btn", {type: "button", onclick: (e) => this.makeLink(e.currentTarget)}, "Make a sign-in link"),
        this.link),
      this.table("Dashboard sessions", ["Principal", "Signed in with", "Browser", "Since", "Last used", "Expires", ""], this.sessionRows));
  }

  table(title, columns, body) {
    return h("div.panel", {}, h("h2", {}, title),
      h("div.table-wrap", {tabindex: 0, role: "region", "aria-label": title},
        h("table", {}, h("thead", {}, h("tr", {}, columns.map((c) => h("th", {scope: "col"}, c || h("span.sr-only", {}, "Actions"))))), body)));
  }

  async load() {
    try {
      const [{tokens}, {sessions}] = await Promise.all([api.get("/tokens"), api.get("/auth/sessions")]);
      this.tokenRows.replaceChildren(...tokens.map((t) => h("tr", {},
        h("td", {}, t.name), h("td", {}, t.kind), h("td", {}, t.maturity || "–"),
        h("td", {}, when(t.created_at)),
        h("td", {}, h("span.badge", {dataset: {tone: t.revoked ? "danger" : "ok"}}, t.revoked ? "revoked" : "active")),
        h("td", {}, t.revoked ? "" : h("button.btn.btn-danger", {type: "button",
          "aria-label": `Revoke the token ${t.name}`, onclick: () => this.revoke(t)}, "Revoke")))));
      this.sessionRows.replaceChildren(...sessions.map((s) => h("tr", {},
        h("td", {}, `${s.principal.name}${s.principal.maturity ? ` (${s.principal.maturity})` : ""}`),
        h("td", {}, s.via === "code" ? "one-time link" : "token"),
        h("td", {title: s.user_agent || ""}, shortAgent(s.user_agent)),
        h("td", {}, when(s.created_at)), h("td", {}, when(s.last_used_at)), h("td", {}, when(s.expires_at)),
        h("td", {}, s.current ? h("span.badge", {dataset: {tone: "accent"}}, "this browser")
          : h("button.btn.btn-danger", {type: "button", "aria-label": `End the session of ${s.principal.name} (${shortAgent(s.user_agent)})`,
            onclick: () => this.endSession(s)}, "End")))));
    } catch (err) {
      this.say(err.message);
    }
  }

  async create() {
    try {
      const created = await api.post("/tokens", {name: this.name.value.trim(), kind: this.kind.value,
        maturity: this.maturity.value});
      const value = h("input", {readOnly: true, value: created.token, "aria-label": `Token of ${created.name}`});
      this.secret.replaceChildren(h("div.notice", {dataset: {tone: "warn"}},
        h("p", {}, `Token for ${created.kind} ${created.name} (${created.maturity}). Copy it now: it is not shown again.`),
        h("div.secret-once", {}, value, copyButton(value),
          h("button.btn", {type: "button", onclick: () => this.secret.replaceChildren()}, "Done"))));
      value.focus();
      value.select();
      this.name.value = "";
      this.say("");
      announce(`Token ${created.name} created`);
      this.load();
    } catch (err) {
      this.say(err.message);
    }
  }

  async revoke(token) {
    if (!await confirmDialog(`Revoke the token ${token.name}? Everything using it stops working at once.`, "Revoke")) return;
    try {
      await api.del(`/tokens/${encodeURIComponent(token.name)}`);
      this.say(`Revoked ${token.name}.`, "ok");
      this.load();
    } catch (err) {
      this.say(err.message);
    }
  }

  async endSession(session) {
    if (!await confirmDialog(`End this session of ${session.principal.name}?`, "End session")) return;
    try {
      await api.del(`/auth/sessions/${encodeURIComponent(session.id)}`);
      this.say("The session has ended.", "ok");
      this.load();
    } catch (err) {
      this.say(err.message);
    }
  }

  async makeLink(button) {
    button.disabled = true;
    try {
      const answer = await api.post("/auth/codes", {});
      const value = h("input", {readOnly: true, value: `${location.origin}${answer.path}`, "aria-label": "Sign-in link"});
      const left = h("span");
      const expires = Date.now() + answer.expires_in * 1000;
      const countdown = () => {
        const seconds = Math.max(0, Math.round((expires - Date.now()) / 1000));
        text(left, seconds ? `valid ${seconds} s more` : "expired");
        if (seconds && value.isConnected) setTimeout(countdown, 1000);
      };
      countdown();
      this.link.replaceChildren(h("div.secret-once", {}, value, copyButton(value), left));
      announce("Sign-in link ready, valid for 60 seconds");
    } catch (err) {
      this.say(err.message);
    } finally {
      button.disabled = false;
    }
  }
}
