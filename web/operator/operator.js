// The operator console: sign in as an operator, the queue of requests for a person (urgent first,
// waiting time, first-response timer), the live conversation, take over / reply / canned replies /
// hand back / close with a note, and the security summary when the API offers one.
// Protocol: docs/protocol.md (operator actions and frames). No inline script or style; every server
// text goes into the page through textContent.

import { apiBase, backoffDelay, decodeJwt, formatTime, laterId, newClientMessageId, parseFrame, tokenExpired, wsUrl } from "../protocol.js";
import { LANGS, currentLang, isRtl, pickLang, setLang, t, tIn } from "./texts.js";

const $ = (id) => document.getElementById(id);
const KEY = "luma.operator.";
const POLL_MS = 3000;
const CANNED = ["canned.greet", "canned.moment", "canned.callback", "canned.handback"];
const LANGUAGE_NAMES = { en: "English", fr: "Français", es: "Español", pt: "Português", de: "Deutsch", it: "Italiano", ro: "Română", pl: "Polski", ar: "العربية" };

const store = {
  get: (name) => sessionStorage.getItem(KEY + name),
  set: (name, value) => (value == null ? sessionStorage.removeItem(KEY + name) : sessionStorage.setItem(KEY + name, value)),
  getLocal: (name) => localStorage.getItem(KEY + name),
  setLocal: (name, value) => (value == null ? localStorage.removeItem(KEY + name) : localStorage.setItem(KEY + name, value)),
};

const meta = (name) => document.querySelector(`meta[name="${name}"]`)?.content || "";
const API = apiBase(window.location, { configured: meta("luma:api") });

const state = {
  token: null,
  me: null, // { user, tenant }
  ws: null,
  attempt: 0,
  reconnectTimer: null,
  queue: new Map(), // escalationId -> escalation view
  acknowledged: new Map(), // escalationId -> bool
  unread: new Map(), // sessionId -> relayed user messages not seen
  cursor: null,
  firstResponseS: 300,
  clockOffsetMs: 0,
  selected: null, // { sessionId, escalationId, session, seen: Set, lastId, pollTimer }
  pending: new Map(), // clientMessageId -> transcript element of an operator reply on its way
};

// ---------------------------------------------------------------------------------------------
// DOM helpers
// ---------------------------------------------------------------------------------------------

function h(tag, { cls, text, testid, attrs } = {}, children = []) {
  const el = document.createElement(tag);
  if (cls) el.className = cls;
  if (text != null) el.textContent = text;
  if (testid) el.dataset.testid = testid;
  for (const [k, v] of Object.entries(attrs || {})) if (v != null) el.setAttribute(k, String(v));
  for (const child of children) if (child) el.append(child);
  return el;
}

function applyTexts() {
  document.documentElement.lang = currentLang();
  document.documentElement.dir = isRtl() ? "rtl" : "ltr";
  document.title = t("title");
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll("[data-i18n-aria-label]")) el.setAttribute("aria-label", t(el.dataset.i18nAriaLabel));
  $("reply-input").placeholder = t("reply.placeholder");
  setConn($("conn-state").dataset.state);
  renderQueue();
  renderSession();
}

function toast(text) {
  const el = $("toast");
  el.textContent = text;
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (el.hidden = true), 6000);
}

function now() {
  return Date.now() + state.clockOffsetMs;
}

/** "45 s", "12 min", "2 h 05". */
function duration(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")}`;
}

// ---------------------------------------------------------------------------------------------
// Sign-in
// ---------------------------------------------------------------------------------------------

function showSignIn(message = null) {
  $("signin").hidden = false;
  $("console").hidden = true;
  $("sign-out").hidden = true;
  $("who").hidden = true;
  $("conn-state").hidden = true;
  const err = $("signin-error");
  err.hidden = !message;
  err.textContent = message || "";
}

async function signInAs(userId, tenantId) {
  try {
    const response = await fetch(`${API}/dev/token`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ userId, tenantId, role: "operator" }),
    });
    if (!response.ok) throw new Error(String(response.status));
    const { token } = await response.json();
    start(token);
  } catch {
    showSignIn(t("signin.failed"));
  }
}

function start(token) {
  const claims = decodeJwt(token);
  if (!claims || tokenExpired(token)) {
    showSignIn(t("signin.failed"));
    return;
  }
  state.token = token;
  state.me = { user: String(claims.sub || ""), tenant: String(claims.tenant || claims["custom:tenant"] || "") };
  store.set("token", token);
  state.cursor = store.getLocal(`cursor.${state.me.tenant}.${state.me.user}`);
  $("signin").hidden = true;
  $("console").hidden = false;
  $("sign-out").hidden = false;
  const who = $("who");
  who.hidden = false;
  who.textContent = `${state.me.user} · ${state.me.tenant}`;
  $("conn-state").hidden = false;
  connect();
  loadSecurity();
}

function signOut() {
  store.set("token", null);
  state.token = null;
  clearTimeout(state.reconnectTimer);
  const ws = state.ws;
  state.ws = null;
  if (ws) ws.close(1000);
  unselect();
  state.queue.clear();
  state.acknowledged.clear();
  state.unread.clear();
  renderQueue();
  showSignIn();
}

// ---------------------------------------------------------------------------------------------
// Connection
// ---------------------------------------------------------------------------------------------

function setConn(status) {
  const el = $("conn-state");
  el.dataset.state = status || "idle";
  $("conn-label").textContent = t(`conn.${status || "idle"}`);
}

function connect() {
  if (!state.token) return;
  if (tokenExpired(state.token)) {
    signOut();
    return;
  }
  setConn(state.attempt ? "reconnecting" : "connecting");
  const ws = new WebSocket(wsUrl(window.location, state.token, { configured: meta("luma:ws") }));
  state.ws = ws;
  ws.addEventListener("open", () => {
    if (state.ws !== ws) return;
    state.attempt = 0;
    setConn("connected");
    sync(state.cursor);
  });
  ws.addEventListener("message", (event) => {
    if (state.ws !== ws) return;
    const frame = parseFrame(event.data);
    if (frame) handleFrame(frame);
  });
  ws.addEventListener("close", () => {
    if (state.ws !== ws) return;
    state.ws = null;
    setConn("reconnecting");
    const delay = backoffDelay(state.attempt);
    state.attempt += 1;
    state.reconnectTimer = setTimeout(connect, delay);
  });
}

function send(frame) {
  if (!state.ws || state.ws.readyState !== WebSocket.OPEN) {
    toast(t("conn.reconnecting"));
    return false;
  }
  state.ws.send(JSON.stringify(frame));
  return true;
}

function sync(after) {
  send({ action: "operatorSync", after: after || null });
}

// ---------------------------------------------------------------------------------------------
// Frames
// ---------------------------------------------------------------------------------------------

function handleFrame(frame) {
  switch (frame.type) {
    case "operator_sync":
      return onSync(frame);
    case "escalation":
      return onEscalation(frame);
    case "escalation_update":
      return onEscalationUpdate(frame);
    case "session_update":
      return onSessionUpdate(frame);
    case "message":
      return onMessage(frame);
    case "status":
      return onStatus(frame);
    case "error":
      return onError(frame);
    default:
      return undefined;
  }
}

function advanceCursor(id) {
  const next = laterId(state.cursor, id);
  if (next && next !== state.cursor) {
    state.cursor = next;
    store.setLocal(`cursor.${state.me.tenant}.${state.me.user}`, next);
  }
}

function onSync(frame) {
  if (typeof frame.firstResponseS === "number") state.firstResponseS = frame.firstResponseS;
  if (frame.serverTime) state.clockOffsetMs = new Date(frame.serverTime).getTime() - Date.now();
  state.queue.clear();
  for (const esc of frame.escalations || []) state.queue.set(esc.escalationId, esc);
  for (const notice of frame.notices || []) {
    state.acknowledged.set(notice.escalationId, Boolean(notice.acknowledged));
    if (notice.status !== "closed") state.queue.set(notice.escalationId, { ...state.queue.get(notice.escalationId), ...notice });
  }
  if (frame.cursor) advanceCursor(frame.cursor);
  renderQueue();
  if (frame.next) sync(frame.next);
}

function onEscalation(frame) {
  state.acknowledged.set(frame.escalationId, Boolean(frame.acknowledged));
  if (frame.status !== "closed") state.queue.set(frame.escalationId, { ...state.queue.get(frame.escalationId), ...frame });
  if (frame.noticeId) advanceCursor(frame.noticeId);
  renderQueue();
}

function onEscalationUpdate(frame) {
  if (frame.acknowledged) state.acknowledged.set(frame.escalationId, true);
  if (frame.status === "closed") {
    state.queue.delete(frame.escalationId);
  } else if (frame.status) {
    state.queue.set(frame.escalationId, { ...state.queue.get(frame.escalationId), ...frame });
  }
  renderQueue();
  if (state.selected?.escalationId === frame.escalationId) renderSession();
}

function onSessionUpdate(frame) {
  const sel = state.selected;
  if (sel?.session && sel.sessionId === frame.sessionId) {
    sel.session.status = frame.status;
    sel.session.heldBy = frame.status === "taken_over" ? frame.operatorId : null;
    renderSession();
  }
}

function onMessage(frame) {
  const sel = state.selected;
  if (sel && sel.sessionId === frame.sessionId) {
    appendItem({ ...frame, role: frame.role || "user" });
  } else if (frame.route === "user") {
    state.unread.set(frame.sessionId, (state.unread.get(frame.sessionId) || 0) + 1);
    renderQueue();
  }
}

function onStatus(frame) {
  const sel = state.selected;
  const mine = sel && sel.sessionId === frame.sessionId;
  switch (frame.status) {
    case "taken_over":
      if (mine && sel.session) {
        sel.session.status = "taken_over";
        sel.session.heldBy = frame.operatorId;
        renderSession();
        $("reply-input").focus();
      }
      break;
    case "handed_back":
      if (mine && sel.session) {
        sel.session.status = "active";
        sel.session.heldBy = null;
        renderSession();
      }
      break;
    case "operator_message": {
      const el = state.pending.get(frame.clientMessageId);
      state.pending.delete(frame.clientMessageId);
      if (el) {
        el.dataset.messageId = frame.messageId;
        el.dataset.state = frame.delivered ? "delivered" : "stored";
        sel?.seen.add(frame.messageId);
        if (!frame.delivered) el.append(h("p", { cls: "note", text: t("reply.notDelivered") }));
      }
      break;
    }
    case "escalation_closed":
      state.queue.delete(frame.escalationId);
      renderQueue();
      if (mine) {
        $("close-form").hidden = true;
        renderSession();
      }
      break;
    case "acknowledged":
      state.acknowledged.set(frame.escalationId, true);
      renderQueue();
      break;
    default:
      break;
  }
}

function onError(frame) {
  if (frame.action === "operatorMessage" && frame.clientMessageId) {
    const el = state.pending.get(frame.clientMessageId);
    state.pending.delete(frame.clientMessageId);
    if (el) el.dataset.state = "failed";
  }
  const key = `error.${frame.code}`;
  const text = t(key);
  toast(text === key ? t("error.generic", { code: frame.code || "?" }) : text);
}

// ---------------------------------------------------------------------------------------------
// Queue
// ---------------------------------------------------------------------------------------------

function ordered() {
  return [...state.queue.values()].sort(
    (a, b) =>
      (a.urgency === "urgent" ? 0 : 1) - (b.urgency === "urgent" ? 0 : 1) ||
      String(a.createdAt).localeCompare(String(b.createdAt)) ||
      String(a.escalationId).localeCompare(String(b.escalationId)),
  );
}

function renderQueue() {
  const list = $("queue");
  const items = ordered();
  list.replaceChildren(...items.map(queueItem));
  $("queue-empty").hidden = items.length > 0;
  $("queue-count").textContent = String(items.length);
  const fresh = items.filter((e) => state.acknowledged.get(e.escalationId) === false).length;
  document.title = fresh ? `(${fresh}) ${t("title")}` : t("title");
  tick();
}

function queueItem(esc) {
  const selected = state.selected?.escalationId === esc.escalationId;
  const unread = state.unread.get(esc.sessionId) || 0;
  const button = h(
    "button",
    { cls: "queue-button", attrs: { type: "button", "aria-current": selected ? "true" : null } },
    [
      h("span", { cls: `badge urgency-${esc.urgency === "urgent" ? "urgent" : "normal"}`, text: t(esc.urgency === "urgent" ? "queue.urgent" : "queue.normal") }),
      state.acknowledged.get(esc.escalationId) === false ? h("span", { cls: "badge new", text: t("queue.new"), testid: "queue-new" }) : null,
      unread ? h("span", { cls: "badge unread", text: String(unread) }) : null,
      h("span", { cls: "reason", text: reasonText(esc.reason), attrs: { dir: "auto" } }),
      h("span", { cls: "meta", text: `${t(`channel.${esc.channel}`)} · ${t("session.user", { id: esc.userId || "?" })}` }),
      h("span", { cls: "waiting", testid: "waiting" }),
      h("span", { cls: "timer", testid: "first-response" }),
    ],
  );
  button.addEventListener("click", () => select(esc.escalationId));
  const li = h("li", { cls: "queue-item", testid: "queue-item" }, [button]);
  li.dataset.escalationId = esc.escalationId;
  li.dataset.sessionId = esc.sessionId;
  li.dataset.urgency = esc.urgency;
  li.dataset.status = esc.status;
  return li;
}

/** A known reason in the console's language; free text (written by the assistant) as it is. */
function reasonText(reason) {
  const key = `reason.${reason}`;
  const text = t(key);
  return text === key ? reason || "" : text;
}

/** Waiting times and first-response timers, once a second. */
function tick() {
  const limitMs = state.firstResponseS * 1000;
  const warnMs = Math.max(60_000, limitMs * 0.2);
  for (const li of $("queue").children) {
    const esc = state.queue.get(li.dataset.escalationId);
    if (!esc) continue;
    const waited = now() - new Date(esc.createdAt).getTime();
    li.querySelector("[data-testid=waiting]").textContent = t("queue.waiting", { t: duration(waited) });
    const timer = li.querySelector("[data-testid=first-response]");
    if (esc.status === "taken") {
      timer.dataset.state = "done";
      timer.textContent = t("queue.takenBy", { who: esc.takenBy || "?" });
      continue;
    }
    const left = limitMs - waited;
    timer.dataset.state = left < 0 ? "late" : left <= warnMs ? "warn" : "ok";
    timer.textContent = left < 0 ? t("queue.late", { t: duration(-left) }) : t("queue.dueIn", { t: duration(left) });
  }
}

// ---------------------------------------------------------------------------------------------
// The conversation
// ---------------------------------------------------------------------------------------------

function unselect() {
  if (state.selected) clearTimeout(state.selected.pollTimer);
  state.selected = null;
  state.pending.clear();
  $("transcript").replaceChildren();
  renderSession();
}

function select(escalationId) {
  const esc = state.queue.get(escalationId);
  if (!esc) return;
  unselect();
  state.selected = { sessionId: esc.sessionId, escalationId, session: null, seen: new Set(), lastId: null, pollTimer: null };
  state.unread.delete(esc.sessionId);
  if (state.acknowledged.get(escalationId) === false) send({ action: "ack", escalationId });
  $("close-form").hidden = true;
  renderQueue();
  renderSession();
  loadTranscript();
}

async function loadTranscript() {
  const sel = state.selected;
  if (!sel) return;
  try {
    let after = sel.lastId;
    for (;;) {
      const query = new URLSearchParams({ limit: "100" });
      if (after) query.set("after", after);
      const response = await fetch(`${API}/api/operator/sessions/${encodeURIComponent(sel.sessionId)}/messages?${query}`, {
        headers: { Authorization: `Bearer ${state.token}` },
      });
      if (state.selected !== sel) return;
      if (!response.ok) throw new Error(String(response.status));
      const page = await response.json();
      sel.session = page.session;
      for (const item of page.items) appendItem(item);
      $("transcript-note").hidden = true;
      if (!page.next) break;
      after = page.next;
    }
    renderSession();
  } catch {
    if (state.selected !== sel) return;
    const note = $("transcript-note");
    note.hidden = false;
    note.textContent = t("transcript.unavailable");
  } finally {
    if (state.selected === sel) sel.pollTimer = setTimeout(loadTranscript, POLL_MS);
  }
}

function appendItem(item) {
  const sel = state.selected;
  if (!sel || !item.messageId || sel.seen.has(item.messageId)) return;
  sel.seen.add(item.messageId);
  sel.lastId = laterId(sel.lastId, item.messageId);
  const role = item.role === "user" ? "user" : "assistant";
  const route = item.route === "user" ? "user" : item.route || "";
  const label = route === "operator" ? t("role.operator", { who: item.operatorId || "" }).trim() : t(`role.${role}`);
  const li = h("li", { cls: `item item-${route === "operator" ? "operator" : role}`, testid: "transcript-item" }, [
    h("p", { cls: "who", text: label }),
    h("p", { cls: "text", text: item.text || "", attrs: { dir: "auto" } }),
    h("time", { text: formatTime(item.createdAt, currentLang()), attrs: { datetime: item.createdAt } }),
  ]);
  li.dataset.role = role;
  li.dataset.route = route;
  li.dataset.messageId = item.messageId;
  const list = $("transcript");
  list.append(li);
  li.scrollIntoView({ block: "nearest" });
}

function renderSession() {
  const sel = state.selected;
  $("session-none").hidden = Boolean(sel);
  $("session").hidden = !sel;
  if (!sel) return;
  const esc = state.queue.get(sel.escalationId);
  const session = sel.session;
  $("session-title").textContent = `${t("session.label")} · ${t("session.user", { id: session?.userId || esc?.userId || "?" })} · ${t(`channel.${session?.channel || esc?.channel || "websocket"}`)}`;
  const status = session?.status || "";
  const heldByMe = status === "taken_over" && session?.heldBy === state.me?.user;
  const statusEl = $("session-status");
  statusEl.dataset.status = status;
  statusEl.dataset.heldBy = session?.heldBy || "";
  statusEl.textContent = !status
    ? ""
    : heldByMe
      ? t("status.takenByYou")
      : status === "taken_over"
        ? t("status.taken_over", { who: session.heldBy || "?" })
        : t(`status.${status}`);
  $("take-over").disabled = status !== "active";
  $("hand-back").disabled = !heldByMe;
  $("close-open").disabled = !esc || esc.status === "closed";
  $("reply-input").disabled = !heldByMe;
  $("reply-send").disabled = !heldByMe;
  const canned = $("canned");
  const lang = session?.language || "en";
  canned.replaceChildren(
    ...CANNED.map((key) => {
      const text = tIn(lang, key);
      const chip = h("button", { cls: "chip", text, testid: "canned-reply", attrs: { type: "button", dir: "auto" } });
      chip.disabled = !heldByMe;
      chip.addEventListener("click", () => {
        const input = $("reply-input");
        input.value = text;
        input.focus();
      });
      return chip;
    }),
  );
}

function reply(text) {
  const sel = state.selected;
  const body = text.trim();
  if (!sel || !body) return;
  const clientMessageId = newClientMessageId();
  if (!send({ action: "operatorMessage", sessionId: sel.sessionId, text: body, clientMessageId })) return;
  const li = h("li", { cls: "item item-operator", testid: "transcript-item" }, [
    h("p", { cls: "who", text: t("role.operator", { who: state.me.user }) }),
    h("p", { cls: "text", text: body, attrs: { dir: "auto" } }),
    h("time", { text: formatTime(null, currentLang()), attrs: { datetime: new Date().toISOString() } }),
  ]);
  li.dataset.role = "assistant";
  li.dataset.route = "operator";
  li.dataset.state = "sending";
  state.pending.set(clientMessageId, li);
  $("transcript").append(li);
  li.scrollIntoView({ block: "nearest" });
  $("reply-input").value = "";
}

// ---------------------------------------------------------------------------------------------
// Security summary (hidden when the API has none)
// ---------------------------------------------------------------------------------------------

async function loadSecurity() {
  const panel = $("security");
  try {
    const response = await fetch(`${API}/api/security/summary`, { headers: { Authorization: `Bearer ${state.token}` } });
    if (!response.ok) throw new Error(String(response.status));
    renderSecurity(await response.json());
    panel.hidden = false;
  } catch {
    panel.hidden = true;
  }
}

function renderSecurity(summary) {
  const body = $("security-body");
  const rows = Array.isArray(summary) ? summary : Array.isArray(summary?.items) ? summary.items : null;
  if (rows && rows.length === 0) {
    body.replaceChildren(h("p", { cls: "muted", text: t("security.empty") }));
    return;
  }
  if (rows && rows.every((r) => r && typeof r === "object")) {
    const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))].filter((k) => typeof rows[0][k] !== "object");
    const head = h("tr", {}, columns.map((c) => h("th", { text: c, attrs: { scope: "col" } })));
    const lines = rows.slice(0, 100).map((r) => h("tr", {}, columns.map((c) => h("td", { text: r[c] == null ? "" : String(r[c]) }))));
    body.replaceChildren(h("table", {}, [h("thead", {}, [head]), h("tbody", {}, lines)]));
    return;
  }
  body.replaceChildren(h("pre", { text: JSON.stringify(summary, null, 2) }));
}

// ---------------------------------------------------------------------------------------------
// Wiring
// ---------------------------------------------------------------------------------------------

function init() {
  setLang(store.getLocal("lang") || pickLang(navigator.languages || [navigator.language]));
  const select = $("lang-select");
  select.replaceChildren(...LANGS.map((lang) => h("option", { text: LANGUAGE_NAMES[lang], attrs: { value: lang } })));
  select.value = currentLang();
  select.addEventListener("change", () => {
    if (setLang(select.value)) {
      store.setLocal("lang", select.value);
      applyTexts();
    }
  });
  $("signin-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const user = $("signin-operator").value.trim();
    const tenant = $("signin-tenant").value.trim();
    if (/^[A-Za-z0-9_.:+@-]{1,128}$/.test(user) && /^[A-Za-z0-9_-]{1,64}$/.test(tenant)) signInAs(user, tenant);
    else showSignIn(t("signin.failed"));
  });
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    start($("token-input").value.trim());
  });
  $("sign-out").addEventListener("click", signOut);
  $("take-over").addEventListener("click", () => state.selected && send({ action: "takeOver", sessionId: state.selected.sessionId }));
  $("hand-back").addEventListener("click", () => state.selected && send({ action: "handBack", sessionId: state.selected.sessionId }));
  $("close-open").addEventListener("click", () => {
    $("close-form").hidden = false;
    $("close-note").focus();
  });
  $("close-cancel").addEventListener("click", () => ($("close-form").hidden = true));
  $("close-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const sel = state.selected;
    if (!sel) return;
    send({ action: "closeEscalation", escalationId: sel.escalationId, sessionId: sel.sessionId, note: $("close-note").value.trim() || null });
    $("close-note").value = "";
  });
  $("reply-form").addEventListener("submit", (event) => {
    event.preventDefault();
    reply($("reply-input").value);
  });
  $("reply-input").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      reply($("reply-input").value);
    }
  });
  setInterval(tick, 1000);
  applyTexts();
  const token = store.get("token");
  if (token && !tokenExpired(token)) start(token);
  else showSignIn();
}

init();
