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

/**
 * The `sendMessage` frame; `sessionId` is omitted until the server has given us one, `choice` unless
 * the text is the label of a choice the server offered.
 */
export function buildSendMessage({ text, clientMessageId, sessionId, choice }) {
  const frame = { action: "sendMessage", text, clientMessageId };
  if (sessionId) frame.sessionId = sessionId;
  if (choice) frame.choice = choice;
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
      message: null, // the page shows its own translated text
      gateway: true,
      details: { gatewayMessage: frame.message, requestId: frame.requestId },
    };
  }
  return null;
}

const LOCAL_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]"]);

/** True when the page itself is served from this machine (where endpoint overrides are allowed). */
export function isLocalPage(loc) {
  return LOCAL_HOSTS.has(loc.hostname);
}

/**
 * An endpoint override from the page URL (`?ws=`, `?api=`), honoured only on a local page and only
 * with one of the expected schemes: on any other origin a crafted link must not redirect the token.
 */
function override(loc, name, schemes) {
  if (!isLocalPage(loc)) return null;
  const raw = new URLSearchParams(loc.search).get(name);
  if (!raw) return null;
  try {
    const url = new URL(raw, loc.href);
    return schemes.includes(url.protocol) ? url : null;
  } catch {
    return null;
  }
}

/**
 * WebSocket URL with the token in the query, the assistant when one was chosen, and the session
 * being continued (so a run still going can find this connection). Where: `?ws=` on a local page,
 * else the configured endpoint (`<meta name="luma:ws">`), else `ws(s)://<host>/ws`.
 */
export function wsUrl(loc, token, { configured = "", assistant = "", sessionId = "" } = {}) {
  const scheme = loc.protocol === "https:" ? "wss:" : "ws:";
  const url = override(loc, "ws", ["ws:", "wss:"]) || new URL(configured || `${scheme}//${loc.host}/ws`, loc.href);
  url.searchParams.set("token", token);
  if (assistant) url.searchParams.set("assistant", assistant);
  if (sessionId) url.searchParams.set("sessionId", sessionId);
  return url.toString();
}

/** Base URL of the HTTP routes (catch-up, events, dev endpoints): `?api=` on a local page, else configured, else the page's origin. */
export function apiBase(loc, { configured = "" } = {}) {
  const url = override(loc, "api", ["http:", "https:"]);
  const base = url ? url.href : configured || loc.origin;
  return base.replace(/\/+$/, "");
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

const timeFormats = new Map();

/** "14:05": 24-hour time in the language's locale, with the Latin digits the server's texts use. */
export function formatTime(iso, lang = "en") {
  const d = iso ? new Date(iso) : new Date();
  if (Number.isNaN(d.getTime())) return "";
  if (!timeFormats.has(lang)) {
    timeFormats.set(
      lang,
      new Intl.DateTimeFormat(`${lang}-u-nu-latn`, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" }),
    );
  }
  return timeFormats.get(lang).format(d);
}

/**
 * `text` without its beginning `prefix`, where runs of whitespace count as equal (a run's final
 * text joins its steps with single spaces); null when `text` does not begin with it.
 */
export function afterPrefix(text, prefix) {
  const isSpace = (c) => /\s/.test(c);
  let i = 0;
  let j = 0;
  const skip = (str, k) => {
    while (k < str.length && isSpace(str[k])) k += 1;
    return k;
  };
  i = skip(text, i);
  j = skip(prefix, j);
  while (j < prefix.length) {
    if (i >= text.length) return null;
    if (isSpace(text[i]) && isSpace(prefix[j])) {
      i = skip(text, i);
      j = skip(prefix, j);
    } else if (text[i] === prefix[j]) {
      i += 1;
      j += 1;
    } else {
      return null;
    }
  }
  return text.slice(skip(text, i));
}

/** ISO dates (1987-03-14) written the way people type them when asked: 14/03/1987. */
export function dayFirstDates(text) {
  return String(text).replace(/\b(\d{4})-(\d{2})-(\d{2})\b/g, "$3/$2/$1");
}
