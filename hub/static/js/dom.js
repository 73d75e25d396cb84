// Small DOM helpers shared by the views. Text always goes in through textContent (never
// innerHTML), so nothing a device, a plugin or an audit record says can become markup.

/** h("button.btn", {type: "button", onclick}, "Label", child...) -> element */
export function h(spec, props = {}, ...children) {
  const [tag, ...classes] = spec.split(".");
  const el = document.createElement(tag || "div");
  if (classes.length) el.className = classes.join(" ");
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (key in el && !key.includes("-") && key !== "list") {
      el[key] = value;
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

const SVG = "http://www.w3.org/2000/svg";
const ICONS = {
  play: "M8 5v14l11-7z",
  pause: "M6 5h4v14H6zm8 0h4v14h-4z",
  stop: "M6 6h12v12H6z",
  next: "M6 18l8.5-6L6 6v12zM16 6v12h2V6h-2z",
  previous: "M6 6h2v12H6zm3.5 6l8.5 6V6z",
  volume: "M3 9v6h4l5 5V4L7 9H3zm13.5 3A4.5 4.5 0 0014 8v8a4.5 4.5 0 002.5-4z",
  muted: "M16.5 12A4.5 4.5 0 0014 8v2.2l2.45 2.45c.03-.2.05-.42.05-.65zM19 12c0 .94-.2 1.82-.54 2.64l1.51 1.51A8.8 8.8 0 0021 12c0-4.28-2.99-7.86-7-8.77v2.06c2.89.86 5 3.54 5 6.71zM4.27 3L3 4.27 7.73 9H3v6h4l5 5v-6.73l4.25 4.25c-.67.52-1.42.93-2.25 1.18v2.06a8.99 8.99 0 003.69-1.81L19.73 21 21 19.73l-9-9L4.27 3zM12 4L9.91 6.09 12 8.18V4z",
  shuffle: "M10.59 9.17L5.41 4 4 5.41l5.17 5.17 1.42-1.41zM14.5 4l2.04 2.04L4 18.59 5.41 20 17.96 7.46 20 9.5V4h-5.5zm.33 9.41l-1.41 1.41 3.13 3.13L14.5 20H20v-5.5l-2.04 2.04-3.13-3.13z",
  repeat: "M7 7h10v3l4-4-4-4v3H5v6h2V7zm10 10H7v-3l-4 4 4 4v-3h12v-6h-2v4z",
  repeat_one: "M7 7h10v3l4-4-4-4v3H5v6h2V7zm10 10H7v-3l-4 4 4 4v-3h12v-6h-2v4zm-4-2V9h-1l-2 1v1h1.5v4H13z",
};

export function icon(name) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  const path = document.createElementNS(SVG, "path");
  path.setAttribute("d", ICONS[name] || "");
  svg.append(path);
  return svg;
}

export function setIcon(button, name) {
  if (button.dataset.icon === name) return;
  button.dataset.icon = name;
  button.replaceChildren(icon(name));
}

/** Replace an element's text only when it changed (cheap, and keeps screen readers calm). */
export function text(el, value) {
  const next = value === undefined || value === null ? "" : String(value);
  if (el.textContent !== next) el.textContent = next;
}

export function clock(seconds) {
  if (seconds === null || seconds === undefined || !isFinite(seconds)) return "–:––";
  const s = Math.max(0, Math.floor(seconds));
  const hours = Math.floor(s / 3600);
  const mins = Math.floor((s % 3600) / 60);
  const secs = String(s % 60).padStart(2, "0");
  return hours ? `${hours}:${String(mins).padStart(2, "0")}:${secs}` : `${mins}:${secs}`;
}

const dateFormat = new Intl.DateTimeFormat(undefined, {
  year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit",
});

export function when(epochSeconds) {
  if (!epochSeconds) return "–";
  return dateFormat.format(new Date(epochSeconds * 1000));
}

/** Tell screen-reader users about something that happened away from their focus. */
export function announce(message) {
  const region = document.getElementById("announcer");
  if (!region) return;
  region.textContent = "";
  // A new text node in a cleared live region is read even when the message repeats.
  requestAnimationFrame(() => { region.textContent = message; });
}

/** A modal confirmation with a real <dialog> (focus is trapped and restored by the browser). */
export function confirmDialog(message, confirmLabel = "Confirm") {
  return new Promise((resolve) => {
    const dialog = h("dialog", {"aria-labelledby": "confirm-text"},
      h("p", {id: "confirm-text"}, message),
      h("form.actions-row", {method: "dialog"},
        h("button.btn", {value: "cancel", type: "submit"}, "Cancel"),
        h("button.btn.btn-danger", {value: "ok", type: "submit"}, confirmLabel)));
    dialog.addEventListener("close", () => {
      resolve(dialog.returnValue === "ok");
      dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

export function describeLevel(principal) {
  if (!principal) return "";
  return principal.kind === "owner" ? "owner" : `${principal.kind}, ${principal.maturity}`;
}

/** What the views other than devices share: a status line, being shown or not, and a
 * reload that many events in a row ask for only once. */
export class View {
  constructor() {
    this.status = h("p.notice", {role: "status", hidden: true});
    this.visible = false;
  }

  show() {
    this.visible = true;
    this.load();
  }

  hide() {
    this.visible = false;
    clearTimeout(this.reloadTimer);
  }

  load() {}

  /** Say something in the view's status line ("" clears it). */
  say(message, tone = "danger") {
    this.status.hidden = !message;
    this.status.dataset.tone = tone;
    text(this.status, message);
  }

  reloadSoon(delay = 250) {
    if (!this.visible) return;
    clearTimeout(this.reloadTimer);
    this.reloadTimer = setTimeout(() => this.load(), delay);
  }
}

/** A definition list from [term, value] pairs. */
export function facts(pairs, spec = "dl.kv") {
  return h(spec, {}, pairs.flatMap(([term, value]) => [h("dt", {}, term), h("dd", {}, String(value ?? "–"))]));
}
