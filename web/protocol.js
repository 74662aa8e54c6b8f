// Pure helpers for the Luma WebSocket protocol (docs/protocol.md). No DOM access here.

export const MAX_TEXT_CHARS = 2000;
export const BACKOFF_MIN_MS = 500;
export const BACKOFF_MAX_MS = 8000;
export const CATCH_UP_PAGE = 50;

/** Reconnect delay for the n-th consecutive failure (0-based): 0.5 s doubling to 8 s, ±20 % jitter. */
export function backoffDelay(attempt, rand = Math.random) {
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** Math.max(0, attempt));
  const jittered = base * (0.8 + 0.4 * rand());
  return Math.round(Math.min(BACKOFF_MAX_MS, Math.max(BACKOFF_MIN_MS, jittered)));
}

/** A v4 UUID; `crypto.randomUUID` only exists in secure contexts, so fall back to getRandomValues. */
export function newClientMessageId() {
  if (globalThis.crypto?.randomUUID) return globalThis.crypto.randomUUID();
  const b = globalThis.crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Characters as the server counts them (Unicode code points, not UTF-16 units). */
export function countChars(text) {
  let n = 0;
  for (const _ of text) n += 1;
  return n;
}

/** The `sendMessage` frame; `sessionId` is omitted until the server has given us one. */
export function buildSendMessage({ text, clientMessageId, sessionId }) {
  const frame = { action: "sendMessage", text, clientMessageId };
  if (sessionId) frame.sessionId = sessionId;
  return frame;
}

/**
 * Parse a server frame; null for anything that is not a JSON object with a string `type`.
 * API Gateway's own error frame (`{"message", "connectionId", "requestId"}`, sent when the
 * integration fails) becomes an `error` frame with code `GATEWAY_ERROR`.
 */
export function parseFrame(data) {
  let frame;
  try {
    frame = JSON.parse(data);
  } catch {
    return null;
  }
  if (!frame || typeof frame !== "object" || Array.isArray(frame)) return null;
  if (typeof frame.type === "string") return frame;
  if (typeof frame.message === "string" && ("requestId" in frame || "connectionId" in frame)) {
    return {
      type: "error",
      code: "GATEWAY_ERROR",
      message: "The service could not handle that message. Please try again.",
      gateway: true,
      details: { gatewayMessage: frame.message, requestId: frame.requestId },
    };
  }
  return null;
}

/** WebSocket URL: `?ws=` in the page URL overrides `ws(s)://<host>/ws`; the token goes in the query. */
export function wsUrl(loc, token) {
  const override = new URLSearchParams(loc.search).get("ws");
  const scheme = loc.protocol === "https:" ? "wss:" : "ws:";
  const url = new URL(override || `${scheme}//${loc.host}/ws`, loc.href);
  url.searchParams.set("token", token);
  return url.toString();
}

/** Base URL of the HTTP API (catch-up, dev endpoints): `?api=` overrides the page's origin. */
export function apiBase(loc) {
  const override = new URLSearchParams(loc.search).get("api");
  return (override || loc.origin).replace(/\/+$/, "");
}

/** The JWT payload (unverified: only used for display and expiry), or null. */
export function decodeJwt(token) {
  try {
    const part = token.split(".")[1];
    const b64 = part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "=");
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return null;
  }
}

/** True when the token carries an `exp` that has passed (with a small skew). */
export function tokenExpired(token, nowMs = Date.now(), skewS = 15) {
  const exp = decodeJwt(token)?.exp;
  return typeof exp === "number" && exp * 1000 <= nowMs + skewS * 1000;
}

/** Message ids are ULIDs: lexicographic order is time order. */
export function laterId(a, b) {
  if (!a) return b || null;
  if (!b) return a;
  return a > b ? a : b;
}

export function truncate(text, max = 48) {
  const chars = [...text.replace(/\s+/g, " ").trim()];
  return chars.length <= max ? chars.join("") : `${chars.slice(0, max - 1).join("")}…`;
}

export function formatConfidence(value) {
  return typeof value === "number" && Number.isFinite(value) ? value.toFixed(2) : "—";
}

export function formatTime(iso) {
  const d = iso ? new Date(iso) : new Date();
  if (Number.isNaN(d.getTime())) return "";
  return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}
