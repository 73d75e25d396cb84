// What the dashboard knows: device snapshots (from get_devices and state_changed events)
// and, per device and action, whether this session may use it (GET /actions/catalog:
// `allowed` and `required` as the governance gate decides them for this principal).

export class Store extends EventTarget {
  constructor() {
    super();
    this.devices = new Map();
    this.perms = new Map();
    this.catalogReady = false;
  }

  reset(list) {
    this.devices = new Map(list.map((d) => [d.id, d]));
    this.dispatchEvent(new CustomEvent("reset"));
  }

  upsert(snapshot) {
    const old = this.devices.get(snapshot.id);
    // Events and answers can cross: never step back to an older snapshot.
    if (old && (old.updated_at || 0) > (snapshot.updated_at || 0)) return;
    this.devices.set(snapshot.id, snapshot);
    this.dispatchEvent(new CustomEvent("device", {detail: {device: snapshot, old}}));
  }

  remove(id) {
    if (this.devices.delete(id)) {
      this.perms.delete(id);
      this.dispatchEvent(new CustomEvent("removed", {detail: id}));
    }
  }

  setCatalog(entries) {
    for (const entry of entries) {
      this.perms.set(entry.device, new Map(entry.actions.map((a) => [a.name, a])));
    }
    this.catalogReady = true;
    this.dispatchEvent(new CustomEvent("perms"));
  }

  /** {allowed, required} for this session, or undefined while the catalog is loading. */
  perm(deviceId, action) {
    return this.perms.get(deviceId)?.get(action);
  }

  name(id) {
    return this.devices.get(id)?.name || id;
  }
}
