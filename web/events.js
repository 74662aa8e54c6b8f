// Client-side events for `POST /api/events` (docs/protocol.md, HTTP API): batched, best effort.
// Nothing here may block or break the page: every failure is swallowed and events are dropped.

export const MAX_BATCH = 10; // flush as soon as this many are queued (the server takes up to 20)
export const FLUSH_MS = 4000;
export const MAX_QUEUED = 60; // beyond this (endpoint unreachable) the oldest events are dropped
const MAX_PROP_CHARS = 256;
const NAME_RE = /^[A-Za-z][A-Za-z0-9_.:-]{0,63}$/;
const KEY_RE = /^[A-Za-z0-9_.:-]{1,40}$/;
const SESSION_RE = /^[A-Za-z0-9_-]{1,64}$/;

/** One event as the server accepts it: scalar props only, strings cut to 256 characters. */
export function makeEvent(name, props = {}, sessionId = null, now = Date.now()) {
  if (!NAME_RE.test(name)) return null;
  const clean = {};
  for (const [key, value] of Object.entries(props || {}).slice(0, 20)) {
    if (!KEY_RE.test(key) || value === undefined) continue;
    if (value === null || typeof value === "boolean") clean[key] = value;
    else if (typeof value === "number") clean[key] = Number.isFinite(value) ? value : null;
    else clean[key] = String(value).slice(0, MAX_PROP_CHARS);
  }
  const event = { name, ts: new Date(now).toISOString(), props: clean };
  if (sessionId && SESSION_RE.test(sessionId)) event.sessionId = sessionId;
  return event;
}

export class EventQueue {
  /**
   * `url`: the endpoint; `token()`: the bearer token or null (the endpoint takes it optionally);
   * `fetch` and `beacon` are injectable for tests.
   */
  constructor({ url, token = () => null, fetch = globalThis.fetch, beacon = null, flushMs = FLUSH_MS }) {
    this.url = url;
    this.token = token;
    this.fetch = fetch ? fetch.bind(globalThis) : null;
    this.beacon = beacon ?? (globalThis.navigator?.sendBeacon ? (u, b) => navigator.sendBeacon(u, b) : null);
    this.flushMs = flushMs;
    this.queue = [];
    this.timer = null;
  }

  track(name, props = {}, sessionId = null) {
    try {
      const event = makeEvent(name, props, sessionId);
      if (!event) return;
      this.queue.push(event);
      if (this.queue.length > MAX_QUEUED) this.queue.splice(0, this.queue.length - MAX_QUEUED);
      if (this.queue.length >= MAX_BATCH) this.flush();
      else if (!this.timer) this.timer = setTimeout(() => this.flush(), this.flushMs);
    } catch {
      /* never let analytics break the page */
    }
  }

  /** Send what is queued: `fetch` normally, `sendBeacon` when the page is going away. */
  flush({ leaving = false } = {}) {
    clearTimeout(this.timer);
    this.timer = null;
    while (this.queue.length) {
      const batch = this.queue.splice(0, MAX_BATCH);
      const body = JSON.stringify(batch);
      try {
        if (leaving && this.beacon) {
          // A beacon carries no Authorization header; text/plain keeps it a simple request.
          if (this.beacon(this.url, new Blob([body], { type: "text/plain;charset=UTF-8" }))) continue;
        }
        if (!this.fetch) continue;
        const headers = { "Content-Type": "application/json" };
        const token = this.token();
        if (token) headers.Authorization = `Bearer ${token}`;
        this.fetch(this.url, { method: "POST", headers, body, keepalive: true }).catch(() => {});
      } catch {
        /* dropped */
      }
    }
  }
}
