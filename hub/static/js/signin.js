// The sign-in page: a one-time link from `hub dashboard`, or a token pasted once. Either is
// exchanged for an HttpOnly session cookie; this code never stores a credential.

import {api} from "./api.js";
import {h} from "./dom.js";

export function signInView({message = "", tone = "danger", onSignedIn}) {
  const status = h("p.notice", {role: tone === "danger" ? "alert" : "status", hidden: !message,
    dataset: {tone}}, message);
  const input = h("input", {type: "password", id: "signin-token", name: "token", autocomplete: "off",
    spellcheck: false, required: true, "aria-describedby": "signin-token-help"});
  const submit = h("button.btn.btn-primary", {type: "submit"}, "Sign in");
  const form = h("form", {"aria-labelledby": "signin-token-title"},
    h("h2", {id: "signin-token-title"}, "Or sign in with a token"),
    h("label.field", {htmlFor: "signin-token"}, h("span", {}, "Token"), input),
    h("p", {id: "signin-token-help"}, "A token from ", h("code", {}, "hub token create"),
      " or the owner's ", h("code", {}, "owner.token"), ". It is exchanged for a session; ",
      "the browser does not keep it."),
    submit);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const token = input.value.trim();
    input.value = "";
    submit.disabled = true;
    try {
      await api.post("/auth/session", {token});
      onSignedIn();
    } catch (err) {
      status.hidden = false;
      status.dataset.tone = "danger";
      status.setAttribute("role", "alert");
      status.textContent = err.code === "unauthenticated"
        ? "That token is not valid (unknown or revoked)." : err.message;
      input.focus();
    } finally {
      submit.disabled = false;
    }
  });
  return h("section.signin.panel", {"aria-labelledby": "signin-title"},
    h("h1", {id: "signin-title"}, "Sign in to Hub"),
    status,
    h("p", {}, "On the machine that runs the hub, run ", h("code", {}, "hub dashboard --open"),
      " (or ", h("code", {}, "hub dashboard"), " and open the link it prints). ",
      "The link works once, within 60 seconds."),
    form);
}
