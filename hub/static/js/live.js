// The WebSocket client (docs/api.md, "WebSocket API"). The upgrade carries the session
// cookie, so the auth message has no token. Commands are id-tagged; events arrive for our
// subscription. On a lost connection it reconnects with backoff and the app resynchronises.

const EVENT_TYPES = ["state_changed", "device_added", "device_removed", "action",
  "plugin_status", "plugin_event", "automation"];

export class Live extends EventTarget {
  constructor() {
    super();
    this.ws = null;
    this.nextId = 1;
    this.pending = new Map();
    this.backoff = 500;
    this.state = "connecting";
    this.stopped = false;
    this.authFailed = false;
  }

  get open() {
    return this.state === "live";
  }

  connect() {
    this.stopped = false;
    this.authFailed = false;
    this._setState("connecting");
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/ws`);
    this.ws = ws;
    ws.addEventListener("message", (msg) => this._onMessage(msg));
    ws.addEventListener("close", (event) => this._onClose(ws, event));
  }

  stop() {
    this.stopped = true;
    clearTimeout(this._retry);
    this.ws?.close(1000, "signed out");
  }

  /** Send a command; resolves with its result or rejects with the hub's error. */
  command(type, fields = {}) {
    if (!this.open) return Promise.reject(new Error("not connected"));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, {resolve, reject});
      this.ws.send(JSON.stringify({id, type, ...fields}));
    });
  }

  _setState(state) {
    this.state = state;
    this.dispatchEvent(new CustomEvent("status", {detail: state}));
  }

  _onMessage(msg) {
    let data;
    try {
      data = JSON.parse(msg.data);
    } catch {
      return;
    }
    switch (data.type) {
      case "auth_required":
        this.ws.send(JSON.stringify({type: "auth"}));
        break;
      case "auth_ok":
        this.backoff = 500;
        this._setState("live");
        this._subscribe();
        break;
      case "auth_invalid":
        this.authFailed = true;
        break;
      case "result": {
        const waiter = this.pending.get(data.id);
        if (!waiter) break;
        this.pending.delete(data.id);
        if (data.success) waiter.resolve(data.result);
        else waiter.reject(Object.assign(new Error(data.error?.message || "failed"),
          {code: data.error?.code, details: data.error || {}}));
        break;
      }
      case "event":
        if (data.id === this.subscription) {
          this.dispatchEvent(new CustomEvent("hub-event", {detail: data.event}));
        }
        break;
    }
  }

  async _subscribe() {
    this.subscription = this.nextId;
    try {
      // Sent together: the hub handles a socket's commands in order, so the snapshot is
      // taken after the subscription and no change falls between the two.
      const subscribed = this.command("subscribe", {event_types: EVENT_TYPES});
      const devices = this.command("get_devices");
      await subscribed;
      this.snapshot = await devices;
      this.dispatchEvent(new CustomEvent("snapshot", {detail: this.snapshot}));
    } catch (err) {
      this.ws?.close(4000, "resubscribe");
    }
  }

  /** Ask for every device again; answers with a "snapshot" event. */
  async resync() {
    try {
      this.snapshot = await this.command("get_devices");
      this.dispatchEvent(new CustomEvent("snapshot", {detail: this.snapshot}));
    } catch {
      // Lost meanwhile: the reconnection sends a fresh snapshot.
    }
  }

  _onClose(ws, event) {
    if (ws !== this.ws) return;
    for (const waiter of this.pending.values()) {
      waiter.reject(Object.assign(new Error("The connection to the hub was lost."), {code: "offline"}));
    }
    this.pending.clear();
    this.subscription = undefined;
    if (this.stopped) return;
    this._setState("down");
    if (this.authFailed || event.code === 1008) {
      // Maybe signed out elsewhere, revoked or expired: the app checks and decides.
      this.dispatchEvent(new CustomEvent("auth-lost", {detail: event.reason}));
    }
    const delay = this.backoff * (0.75 + Math.random() / 2);
    this.backoff = Math.min(this.backoff * 2, 15000);
    this._retry = setTimeout(() => { if (!this.stopped) this.connect(); }, delay);
  }
}
