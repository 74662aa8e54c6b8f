// Luma web chat: sign in, chat over the WebSocket protocol (docs/protocol.md), reconnect and catch up,
// approval cards and choices, client events, and a debug panel with one row per turn.
// Server text is only ever set through textContent; the page's own texts come from i18n.js.
import {
  MAX_TEXT_CHARS,
  CATCH_UP_PAGE,
  afterPrefix,
  apiBase,
  backoffDelay,
  buildSendMessage,
  countChars,
  dayFirstDates,
  decodeJwt,
  formatConfidence,
  formatTime,
  laterId,
  newClientMessageId,
  parseFrame,
  tokenExpired,
  truncate,
  wsUrl,
} from "./protocol.js";
import { currentLang, isRtl, pickLang, setLang, t } from "./i18n.js";
import { EventQueue } from "./events.js";

const meta = (name) => document.querySelector(`meta[name="${name}"]`)?.content?.trim() || "";
const CONFIG = { ws: meta("luma:ws"), api: meta("luma:api") };
const API = apiBase(window.location, { configured: CONFIG.api });
const PARAMS = new URLSearchParams(window.location.search);
const ASSISTANT_RE = /^[a-z][a-z0-9_-]{0,39}$/;
const KEYS = {
  token: "luma.token",
  identity: "luma.identity",
  session: "luma.sessionId",
  outbox: "luma.outbox",
  lang: "luma.lang",
  debug: "luma.debugOpen",
};

// ---------------------------------------------------------------------------------------------
// Small utilities
// ---------------------------------------------------------------------------------------------

const $ = (id) => document.getElementById(id);

const ui = {
  brandSub: $("brand-sub"),
  signin: $("signin"),
  demoBlock: $("demo-block"),
  demoUsers: $("demo-users"),
  demoLoading: $("demo-loading"),
  tokenBox: $("token-box"),
  tokenForm: $("token-form"),
  tokenInput: $("token-input"),
  signinError: $("signin-error"),
  chat: $("chat"),
  who: $("who"),
  signOut: $("sign-out"),
  connState: $("conn-state"),
  connLabel: document.querySelector("#conn-state .conn-label"),
  connBanner: $("conn-banner"),
  connBannerText: $("conn-banner-text"),
  reconnectNow: $("reconnect-now"),
  sessionLabel: $("session-label"),
  newConversation: $("new-conversation"),
  messages: $("messages"),
  activity: $("activity"),
  activityText: $("activity-text"),
  composerForm: $("composer-form"),
  composer: $("composer"),
  send: $("send"),
  counter: $("char-counter"),
  debugToggle: $("debug-toggle"),
  debugPanel: $("debug-panel"),
  debugClose: $("debug-close"),
  debugRows: $("debug-rows"),
  debugEmpty: $("debug-empty"),
  debugAssistantLine: $("debug-assistant-line"),
  debugAssistant: $("debug-assistant"),
};

const store = {
  get(key) {
    try {
      return JSON.parse(sessionStorage.getItem(key));
    } catch {
      return null;
    }
  },
  set(key, value) {
    try {
      if (value == null) sessionStorage.removeItem(key);
      else sessionStorage.setItem(key, JSON.stringify(value));
    } catch {
      /* storage full or disabled: the chat still works for this page's lifetime */
    }
  },
};

/** Create an element: h("li", {class: "x", testid: "y", text: "z", attrs: {...}}, children). */
function h(tag, opts = {}, children = []) {
  const node = document.createElement(tag);
  if (opts.class) node.className = opts.class;
  if (opts.testid) node.dataset.testid = opts.testid;
  if (opts.text != null) node.textContent = opts.text;
  for (const [k, v] of Object.entries(opts.attrs || {})) if (v != null) node.setAttribute(k, String(v));
  for (const child of children) if (child) node.append(child);
  return node;
}

function authHeaders() {
  return { Authorization: `Bearer ${state.token}`, Accept: "application/json" };
}

// ---------------------------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------------------------

const state = {
  token: null,
  identity: null, // {userId, tenantId, name, identityHint, assistant, assistantName, demo}
  sessionId: null,
  lastSeenId: null, // newest messageId seen for the session (catch-up cursor)
  seen: new Set(), // messageIds rendered (dedupe live frames vs catch-up)
  turns: new Map(), // clientMessageId (or "srv:<messageId>" for history) -> turn
  byServerId: new Map(), // user messageId -> turn
  order: [], // turns, oldest first
  streams: new Map(), // runId -> stream (see "Streaming bubbles")
  approvals: new Map(), // approvalId -> approval card
  answering: [], // approval cards whose answer was sent and not yet recorded, oldest first
  cursorTurn: null, // last user turn seen while applying history items
  generation: 0, // bumped on sign-in/out and new conversation: stale async work is dropped
  heartbeatUntil: 0,
  toolLabel: null, // what the agent is doing (server-sent label), shown in the activity line
  refocus: false, // give the composer its focus back once reconnected
  abandoned: new Set(), // sessions left behind (restarted, forgotten): never adopted again
  discarded: new Set(), // sessions the user cleared with "New conversation": their frames are dropped
  maxChars: MAX_TEXT_CHARS, // lowered if the server says so (TEXT_TOO_LONG details.maxChars)
};

// ---------------------------------------------------------------------------------------------
// Client events (POST /api/events): batched, best effort
// ---------------------------------------------------------------------------------------------

const events = new EventQueue({ url: `${API}/api/events`, token: () => state.token });

function track(name, props = {}) {
  events.track(name, props, state.sessionId);
}

// ---------------------------------------------------------------------------------------------
// Connection manager: one WebSocket, exponential backoff with jitter, state reporting
// ---------------------------------------------------------------------------------------------

class ConnectionManager {
  constructor({ url, onOpen, onFrame, onState, onHandshakeFailure }) {
    Object.assign(this, { url, onOpen, onFrame, onState, onHandshakeFailure });
    this.ws = null;
    this.timer = null;
    this.failures = 0;
    this.stopped = true;
    this.everConnected = false;
    this.nextAttemptAt = 0;
    this.downSince = 0;
  }

  get isOpen() {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  start() {
    this.stop();
    this.stopped = false;
    this.everConnected = false;
    this.failures = 0;
    this.open();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.drop();
    this.report("idle");
  }

  /** Forget the current socket without reacting to its close. */
  drop() {
    if (!this.ws) return;
    this.ws.onopen = this.ws.onmessage = this.ws.onclose = this.ws.onerror = null;
    try {
      this.ws.close(1000, "bye");
    } catch {
      /* already closed */
    }
    this.ws = null;
  }

  /** The browser says the network is gone: a socket that looks open is not to be trusted. */
  goOffline() {
    if (this.stopped) return;
    if (this.ws && !this.downSince) this.downSince = Date.now();
    this.drop();
    this.scheduleRetry(false);
  }

  reconnectNow() {
    if (this.stopped || this.ws) return;
    clearTimeout(this.timer);
    this.open();
  }

  send(frame) {
    if (!this.isOpen) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  open() {
    this.report(navigator.onLine === false ? "offline" : this.everConnected ? "reconnecting" : "connecting");
    const url = this.url();
    if (!url) return this.scheduleRetry(true); // no usable token: the failure handler sorts it out
    let opened = false;
    const ws = new WebSocket(url);
    this.ws = ws;
    ws.onopen = () => {
      opened = true;
      const info = { reconnected: this.everConnected, attempts: this.failures, downMs: 0 };
      if (this.downSince) info.downMs = Date.now() - this.downSince;
      this.failures = 0;
      this.downSince = 0;
      this.everConnected = true;
      this.report("connected");
      this.onOpen(info);
    };
    ws.onmessage = (event) => {
      const frame = parseFrame(event.data);
      if (frame) this.onFrame(frame);
    };
    ws.onclose = (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.stopped) return;
      if (opened && !this.downSince) this.downSince = Date.now();
      this.scheduleRetry(!opened, event.code);
    };
    ws.onerror = () => {
      /* a close event always follows */
    };
  }

  scheduleRetry(handshakeFailed, code) {
    const delay = backoffDelay(this.failures);
    this.failures += 1;
    this.nextAttemptAt = Date.now() + delay;
    this.report(navigator.onLine === false || this.failures > 4 ? "offline" : "reconnecting");
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.open(), delay);
    if (handshakeFailed || code === 1008) this.onHandshakeFailure(this.failures);
  }

  report(status) {
    this.status = status;
    this.onState(status, this);
  }
}

const conn = new ConnectionManager({
  url: () =>
    state.token && !tokenExpired(state.token)
      ? wsUrl(window.location, state.token, {
          configured: CONFIG.ws,
          assistant: state.identity?.assistant,
          sessionId: state.sessionId,
        })
      : null,
  onOpen: handleOpen,
  onFrame: handleFrame,
  onState: renderConnState,
  onHandshakeFailure: (failures) => {
    // The browser hides the handshake's HTTP status: ask the API whether the token is the problem.
    if (failures === 1 || failures % 4 === 0) {
      track("ws_error", { kind: "handshake", failures });
      probeAuth();
    }
  },
});

async function handleOpen(info) {
  track(info.reconnected ? "ws_reconnect" : "ws_connected", {
    attempts: info.attempts,
    downMs: info.reconnected ? info.downMs : undefined,
  });
  const gen = state.generation;
  await catchUp();
  if (gen !== state.generation) return;
  flushOutbox();
  // Turns the server acknowledged before the drop: their replies went to the old connection.
  if (awaitingTurns().some((t) => t.status === "sent" && !t.historic)) pollCatchUp();
}

// ---------------------------------------------------------------------------------------------
// Renderer: message list
// ---------------------------------------------------------------------------------------------

function nearBottom() {
  const m = ui.messages;
  return m.scrollHeight - m.scrollTop - m.clientHeight < 96;
}

function scrollToEnd() {
  ui.messages.scrollTop = ui.messages.scrollHeight;
}

function appendMessage(node, { replace = null, before = null, forceScroll = false } = {}) {
  const stick = forceScroll || nearBottom();
  if (replace?.isConnected) replace.replaceWith(node);
  else if (before?.isConnected) before.before(node);
  else ui.messages.append(node);
  if (stick) scrollToEnd();
}

function metaLine(createdAt, extra = []) {
  return h("div", { class: "meta" }, [
    h("time", {
      text: formatTime(createdAt, currentLang()),
      attrs: { datetime: createdAt || new Date().toISOString() },
    }),
    ...extra,
  ]);
}

function renderUserMessage(turn) {
  const tick = h("span", { class: "tick", testid: "tick", attrs: { role: "img" } });
  const li = h("li", { class: "msg msg-user", testid: "message-user" }, [
    h("span", { class: "visually-hidden", text: t("msg.you") }),
    h("div", { class: "bubble" }, [h("p", { class: "text", text: turn.text, attrs: { dir: "auto" } })]),
    metaLine(turn.createdAt, [tick]),
  ]);
  if (!turn.clientMessageId.startsWith("srv:")) li.dataset.clientMessageId = turn.clientMessageId;
  turn.el = li;
  turn.tickEl = tick;
  appendMessage(li, { forceScroll: !turn.historic });
}

function assistantBubble(text) {
  const textEl = h("p", { class: "text", text, attrs: { dir: "auto" } });
  const el = h("li", { class: "msg msg-assistant", testid: "message-assistant" }, [
    h("span", { class: "visually-hidden", text: t("msg.assistant") }),
    h("div", { class: "bubble" }, [textEl]),
  ]);
  return { el, textEl };
}

function describeMessage(el, msg) {
  Object.assign(el.dataset, {
    messageId: msg.messageId ?? "",
    route: msg.route ?? "",
    intent: msg.intent ?? "",
    assistant: msg.assistant ?? "",
  });
}

function renderAssistantMessage(msg, { replace = null, text = msg.text ?? "" } = {}) {
  const { el } = assistantBubble(text);
  el.append(metaLine(msg.createdAt));
  const choices = renderChoices(msg);
  if (choices) el.append(choices);
  describeMessage(el, msg);
  appendMessage(el, { replace });
  return el;
}

/** A system line: kind is "info", "warn" or "error"; `before` puts it above that element. */
function renderSystem(text, { kind = "info", code = null, hint = null, status = null, before = null } = {}) {
  const li = h("li", { class: `sys sys-${kind}`, testid: kind === "error" ? "system-error" : "system-line" }, [
    h("p", { class: "sys-text", text, attrs: { dir: "auto" } }),
  ]);
  if (code) li.append(h("code", { class: "sys-code", text: code }));
  if (hint) li.append(h("p", { class: "sys-hint", testid: "system-hint", text: hint, attrs: { dir: "auto" } }));
  if (kind === "error") li.setAttribute("role", "alert");
  if (code) li.dataset.code = code;
  if (status) li.dataset.status = status;
  appendMessage(li, { before });
  return li;
}

const TICKS = {
  queued: ["◷", "tick.queued"],
  pending: ["◷", "tick.pending"],
  sent: ["✓", "tick.sent"],
  answered: ["✓✓", "tick.answered"],
  failed: ["!", "tick.failed"],
};

function setTurnStatus(turn, status) {
  turn.status = status;
  if (!turn.el) return;
  turn.el.dataset.status = status;
  const [glyph, key] = TICKS[status] || ["", null];
  const label = key ? t(key) : "";
  turn.tickEl.textContent = status === "queued" ? `${glyph} ${t("tick.queuedShort")}` : glyph;
  turn.tickEl.setAttribute("aria-label", label);
  turn.tickEl.title = label;
  turn.el.querySelector(".retry")?.remove();
  if (status === "failed") {
    const retry = h("button", {
      class: "btn btn-link retry",
      testid: "retry",
      text: t("retry"),
      attrs: { type: "button", "aria-label": t("retry.label", { text: truncate(turn.text, 40) }) },
    });
    retry.addEventListener("click", () => retryTurn(turn));
    turn.tickEl.after(retry);
  }
}

// Choices: a message may offer answers as chips; picking one sends its label with its id.

function renderChoices(msg) {
  const offered = Array.isArray(msg.choices) ? msg.choices : [];
  const valid = offered.filter((c) => c && typeof c.label === "string" && c.label.trim()).slice(0, 12);
  if (!valid.length) return null;
  const group = h("div", { class: "choices", testid: "choices", attrs: { role: "group", "aria-label": t("choices.label") } });
  for (const choice of valid) {
    const button = h("button", {
      class: "chip",
      testid: "choice",
      text: choice.label,
      attrs: { type: "button", dir: "auto", "aria-pressed": "false" },
    });
    button.dataset.choiceId = String(choice.id ?? "");
    button.addEventListener("click", (event) => {
      pickChoice(group, button, choice);
      if (event.detail === 0) ui.composer.focus(); // chosen from the keyboard: keep it there
    });
    group.append(button);
  }
  return group;
}

function pickChoice(group, button, choice) {
  if (group.dataset.used) return;
  const id = choice.id == null ? null : String(choice.id);
  if (!submitText(choice.label, { choice: id })) return;
  group.dataset.used = "true";
  for (const b of group.querySelectorAll("button")) b.disabled = true;
  button.setAttribute("aria-pressed", "true");
}

// ---------------------------------------------------------------------------------------------
// Streaming bubbles: token frames of a run, keyed by runId, replaced by the run's final message.
// An approval card seals the bubble above it: what the run says after the card goes below it.
// ---------------------------------------------------------------------------------------------

function newStream(runId, sessionId) {
  const stream = { runId, sessionId, segments: [], seqs: new Set(), floor: -Infinity, nextSeq: 0 };
  state.streams.set(runId, stream);
  return stream;
}

function openSegment(stream) {
  const { el, textEl } = assistantBubble("");
  el.dataset.testid = "message-streaming";
  el.classList.add("streaming");
  el.firstChild.textContent = t("msg.answering");
  el.dataset.runId = stream.runId ?? "";
  el.setAttribute("aria-busy", "true");
  const segment = { el, textEl, parts: new Map(), sealed: false };
  stream.segments.push(segment);
  appendMessage(el);
  return segment;
}

function segmentText(segment) {
  return [...segment.parts.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([, text]) => text)
    .join("");
}

function addStreamText(stream, seq, text) {
  if (seq <= stream.floor || stream.seqs.has(seq)) return;
  stream.seqs.add(seq);
  let segment = stream.segments.at(-1);
  if (!segment || segment.sealed) segment = openSegment(stream);
  segment.parts.set(seq, text);
  const stick = nearBottom();
  segment.textEl.textContent = segmentText(segment);
  if (stick) scrollToEnd();
}

function handleToken(frame) {
  adoptSession(frame.sessionId);
  const stream = state.streams.get(frame.runId) || newStream(frame.runId, frame.sessionId);
  state.toolLabel = null; // the run is writing again
  const seq = Number.isFinite(frame.seq) ? frame.seq : stream.nextSeq;
  stream.nextSeq = Math.max(stream.nextSeq, seq + 1);
  addStreamText(stream, seq, String(frame.text ?? frame.delta ?? ""));
  updateActivity();
}

/** Close the run's open bubble: it stays where it is, complete, and later text starts a new one. */
function sealStream(runId) {
  const segment = state.streams.get(runId)?.segments.at(-1);
  if (!segment || segment.sealed) return;
  segment.sealed = true;
  segment.el.classList.remove("streaming");
  segment.el.removeAttribute("aria-busy");
  segment.el.dataset.testid = "message-assistant";
  segment.el.dataset.partial = "true";
  segment.el.firstChild.textContent = t("msg.assistant");
}

/** The run restarts a step: drop what it streamed since `fromSeq` (else the open bubble). */
function resetStream(runId, fromSeq) {
  const stream = state.streams.get(runId);
  if (!stream) return;
  for (const segment of [...stream.segments]) {
    if (Number.isFinite(fromSeq)) {
      for (const seq of [...segment.parts.keys()]) {
        if (seq < fromSeq) continue;
        segment.parts.delete(seq);
        stream.seqs.delete(seq);
      }
      if (segment.parts.size) {
        segment.textEl.textContent = segmentText(segment);
        continue;
      }
    } else if (segment.sealed) {
      continue;
    } else {
      for (const seq of segment.parts.keys()) stream.seqs.delete(seq);
    }
    segment.el.remove();
    stream.segments.splice(stream.segments.indexOf(segment), 1);
  }
  if (!stream.segments.length) state.streams.delete(runId);
}

function takeStream(msg) {
  let key = msg.runId != null && state.streams.has(msg.runId) ? msg.runId : undefined;
  if (key === undefined) {
    for (const [runId, s] of state.streams) {
      if (!msg.sessionId || !s.sessionId || s.sessionId === msg.sessionId) {
        key = runId;
        break;
      }
    }
  }
  if (key === undefined) return null;
  const stream = state.streams.get(key);
  state.streams.delete(key);
  return stream;
}

/**
 * Show a run's final message in place of its stream: bubbles sealed above an approval card keep
 * their text, and the rest of the message goes below the card.
 */
function renderFinalMessage(msg, stream) {
  const open = stream?.segments.find((s) => !s.sealed) || null;
  const sealed = stream ? stream.segments.filter((s) => s.sealed) : [];
  let text = msg.text ?? "";
  if (sealed.length) {
    const rest = afterPrefix(text, sealed.map(segmentText).join(""));
    if (rest !== null) {
      text = rest;
    } else {
      for (const segment of sealed) segment.el.remove(); // the final text differs: it alone counts
      sealed.length = 0;
    }
  }
  if (sealed.length && !text) {
    open?.el.remove();
    describeMessage(sealed.at(-1).el, msg);
    return;
  }
  renderAssistantMessage(msg, { replace: open?.el, text });
}

// ---------------------------------------------------------------------------------------------
// Approval cards: the run waits until the person approves or declines (or the request expires)
// ---------------------------------------------------------------------------------------------

const APPROVAL_STATES = {
  pending: { title: "approval.needed", note: null },
  sending: { title: "approval.needed", note: "approval.sending" },
  approved: { title: "approval.approved", note: null },
  declined: { title: "approval.declined", note: null },
  timed_out: { title: "approval.timedOut", note: "approval.timedOutNote" },
  closed: { title: "approval.closed", note: "approval.closedNote" },
};

function renderApproval({ approvalId, runId, sessionId, prompt, expiresAt = null, status = "pending" }) {
  const existing = state.approvals.get(approvalId);
  if (existing) {
    if (status !== "pending") existing.set(status);
    return existing;
  }
  const title = h("p", { class: "approval-title", testid: "approval-title", attrs: { tabindex: "-1" } });
  const approve = h("button", { class: "btn btn-primary", testid: "approve", attrs: { type: "button" } });
  const decline = h("button", { class: "btn btn-ghost", testid: "decline", attrs: { type: "button" } });
  const actions = h("div", { class: "approval-actions" }, [approve, decline]);
  const note = h("p", { class: "muted approval-note", testid: "approval-note", attrs: { role: "status" } });
  const card = h("li", { class: "msg msg-approval", testid: "approval-request" }, [
    h("div", { class: "bubble" }, [
      title,
      h("p", { class: "text", testid: "approval-prompt", text: prompt || t("approval.fallback"), attrs: { dir: "auto" } }),
      actions,
      note,
    ]),
  ]);
  Object.assign(card.dataset, { approvalId, runId: runId ?? "" });
  approve.textContent = t("approval.approve");
  decline.textContent = t("approval.decline");

  const ctl = {
    card,
    runId,
    expiresAt,
    status: null,
    set(next) {
      const settled = ctl.status && ctl.status !== "pending" && ctl.status !== "sending";
      if (settled) return; // an outcome is final
      ctl.status = next;
      card.dataset.state = next;
      const look = APPROVAL_STATES[next] || APPROVAL_STATES.closed;
      title.textContent = t(look.title);
      note.textContent = look.note ? t(look.note) : "";
      const focusInside = card.contains(document.activeElement) || document.activeElement === document.body;
      approve.disabled = decline.disabled = next !== "pending";
      actions.hidden = next !== "pending" && next !== "sending";
      if (actions.hidden && focusInside && ctl.answer !== undefined) title.focus({ preventScroll: true });
      if (next !== "pending") clearTimeout(ctl.timer);
      updateActivity();
    },
    timer: null,
  };
  const answer = (approved) => {
    if (ctl.status !== "pending") return;
    track("approval_clicked", { approved, approvalId });
    if (!conn.send({ action: "approve", approvalId, approved })) {
      note.textContent = t("approval.offline");
      return;
    }
    ctl.answer = approved;
    state.answering.push(ctl);
    ctl.set("sending");
  };
  approve.addEventListener("click", () => answer(true));
  decline.addEventListener("click", () => answer(false));
  ctl.set(status);
  if (status === "pending" && expiresAt) {
    const left = expiresAt - Date.now();
    if (left <= 0) ctl.set("timed_out");
    else ctl.timer = setTimeout(() => ctl.status === "pending" && ctl.set("timed_out"), left);
  }
  state.approvals.set(approvalId, ctl);
  if (sessionId) adoptSession(sessionId);
  sealStream(runId);
  appendMessage(card, { forceScroll: status === "pending" });
  return ctl;
}

function handleApprovalRequest(frame) {
  if (!frame.approvalId) return;
  state.toolLabel = null;
  const expiresAt = Number.isFinite(frame.expiresInS) ? Date.now() + frame.expiresInS * 1000 : null;
  const ctl = renderApproval({ ...frame, expiresAt });
  if (ctl.status === "pending") ctl.card.querySelector("[data-testid=approve]").focus({ preventScroll: true });
  updateActivity();
}

/** The run is over: a card of it still open can no longer be answered. */
function closeApprovals(runId) {
  for (const ctl of state.approvals.values()) {
    if (ctl.runId !== runId || ctl.status !== "pending") continue;
    ctl.set(ctl.expiresAt && Date.now() >= ctl.expiresAt - 2000 ? "timed_out" : "closed");
  }
}

function approvalRecorded(frame) {
  const ctl = state.approvals.get(frame.approvalId);
  if (ctl) {
    state.answering = state.answering.filter((c) => c !== ctl);
    ctl.set(frame.approved ? "approved" : "declined");
  }
  state.toolLabel = frame.label || t("activity.working");
}

// ---------------------------------------------------------------------------------------------
// Activity indicator: typing while a turn awaits its reply, "still working" on heartbeats
// ---------------------------------------------------------------------------------------------

let activityTimer = null;

function awaitingTurns() {
  return state.order.filter((t) => !t.replied && !t.closed && (t.status === "pending" || t.status === "sent"));
}

function updateActivity() {
  clearTimeout(activityTimer);
  const now = Date.now();
  const waiting = awaitingTurns().some((t) => !t.historic);
  const streaming = [...state.streams.values()].some((s) => s.segments.some((seg) => !seg.sealed));
  const askingPerson = [...state.approvals.values()].some((c) => c.status === "pending");
  let kind = null;
  if (conn.status !== "connected" || askingPerson) kind = null; // we cannot hear, or the run waits for the person
  else if (state.heartbeatUntil > now && (waiting || state.streams.size)) kind = "heartbeat";
  else if (state.toolLabel && (waiting || state.streams.size)) kind = "tool";
  else if (waiting && !streaming) kind = "typing";
  ui.activity.hidden = !kind;
  ui.activity.dataset.kind = kind || "";
  const texts = { heartbeat: t("activity.heartbeat"), tool: state.toolLabel };
  ui.activityText.textContent = texts[kind] || t("activity.typing");
  if (state.heartbeatUntil > now) activityTimer = setTimeout(updateActivity, state.heartbeatUntil - now + 50);
}

// ---------------------------------------------------------------------------------------------
// Debug panel: one row per turn, and the assistant the server says answered
// ---------------------------------------------------------------------------------------------

const debugPanel = {
  addRow(turn) {
    const cell = (testid, text, cls) => h("td", { testid, text, class: cls });
    const row = h("tr", { testid: "debug-row" }, [
      cell("debug-text", truncate(turn.text, 40), "debug-text"),
      cell("debug-intent", "…"),
      cell("debug-confidence", "…", "num"),
      h("td", { testid: "debug-route" }),
      cell("debug-ms", "…", "num"),
    ]);
    row.cells[0].title = turn.text;
    row.cells[0].dir = "auto";
    row.dataset.status = "pending";
    ui.debugRows.append(row);
    ui.debugEmpty.hidden = true;
    const scroller = ui.debugRows.closest(".debug-scroll");
    scroller.scrollTop = scroller.scrollHeight;
    turn.row = row;
  },

  fill(turn, { intent, confidence, route, ms, via = "live", assistant = null }) {
    const row = turn.row;
    if (!row) return;
    row.dataset.status = "done";
    row.dataset.via = via;
    if (assistant) row.dataset.assistant = assistant;
    row.cells[1].replaceChildren(...breakable(intent || "—"));
    row.cells[2].textContent = formatConfidence(confidence);
    row.cells[3].replaceChildren(
      route ? h("span", { class: `route route-${String(route).replace(/[^a-z_]/gi, "")}`, text: route }) : "—",
    );
    row.cells[4].textContent = ms == null ? "—" : String(ms);
    if (via === "catch-up" && ms != null) row.cells[4].title = t("debug.viaCatchUp");
  },

  mark(turn, note) {
    if (!turn.row) return;
    turn.row.dataset.status = "failed";
    if (turn.row.cells[1].textContent === "…") turn.row.cells[1].textContent = "—";
    if (turn.row.cells[2].textContent === "…") turn.row.cells[2].textContent = "—";
    turn.row.cells[3].replaceChildren(h("span", { class: "route route-error", text: note }));
    if (turn.row.cells[4].textContent === "…") turn.row.cells[4].textContent = "—";
  },

  assistant(name) {
    if (typeof name !== "string" || !name) return;
    ui.debugAssistant.textContent = name;
    ui.debugAssistantLine.hidden = false;
  },

  clear() {
    ui.debugRows.replaceChildren();
    ui.debugEmpty.hidden = false;
    ui.debugAssistant.textContent = "";
    ui.debugAssistantLine.hidden = true;
  },
};

/** Text nodes with <wbr> after underscores, so long intent names wrap at word boundaries. */
function breakable(text) {
  return String(text)
    .split(/(?<=_)/)
    .flatMap((part, i) => (i === 0 ? [part] : [document.createElement("wbr"), part]));
}

function setDebugOpen(open, remember = false) {
  ui.debugPanel.hidden = !open;
  ui.debugToggle.setAttribute("aria-expanded", String(open));
  ui.chat.classList.toggle("with-debug", open);
  if (remember) {
    try {
      localStorage.setItem(KEYS.debug, open ? "1" : "0");
    } catch {
      /* not remembered */
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Turns: send, queue, complete
// ---------------------------------------------------------------------------------------------

function createTurn({ clientMessageId, text, createdAt, status, choice = null, historic = false }) {
  const turn = {
    clientMessageId,
    text,
    choice,
    createdAt: createdAt || new Date().toISOString(),
    historic,
    status,
    replied: false,
    closed: false,
    sentAt: null,
    sentWithoutSession: false,
    serverMessageId: null,
  };
  state.turns.set(clientMessageId, turn);
  state.order.push(turn);
  renderUserMessage(turn);
  setTurnStatus(turn, status);
  debugPanel.addRow(turn);
  return turn;
}

function transmit(turn) {
  const frame = buildSendMessage({
    text: turn.text,
    clientMessageId: turn.clientMessageId,
    sessionId: state.sessionId,
    choice: turn.choice,
  });
  if (!conn.send(frame)) {
    setTurnStatus(turn, "queued");
    return false;
  }
  turn.sentAt = performance.now();
  turn.sentWithoutSession = !state.sessionId;
  setTurnStatus(turn, "pending");
  return true;
}

/** Send queued turns in order. Without a session, only one goes out until the server names one. */
function flushOutbox() {
  for (const turn of state.order) {
    if (turn.status !== "queued") continue;
    const sessionless = state.order.some(
      (t) => t.sentWithoutSession && t.status === "pending" && !t.replied && t !== turn,
    );
    if (!state.sessionId && sessionless) break;
    if (!transmit(turn)) break;
  }
  saveOutbox();
  updateActivity();
}

function saveOutbox() {
  const pending = state.order
    .filter((t) => !t.historic && (t.status === "queued" || t.status === "pending"))
    .map(({ clientMessageId, text, createdAt, choice }) => ({ clientMessageId, text, createdAt, choice }));
  store.set(KEYS.outbox, pending.length ? pending : null);
}

/** Queue a message (sent at once when connected); false when it cannot be sent at all. */
function submitText(text, { choice = null } = {}) {
  if (!text.trim() || countChars(text) > state.maxChars) return false;
  createTurn({ clientMessageId: newClientMessageId(), text, status: "queued", choice });
  track("message_sent", { chars: countChars(text), choice: choice ?? undefined, connected: conn.isOpen });
  flushOutbox();
  return true;
}

function submitComposer() {
  if (!submitText(ui.composer.value)) return;
  ui.composer.value = "";
  updateComposer();
}

function retryTurn(turn) {
  turn.closed = false;
  setTurnStatus(turn, "queued");
  if (turn.row) turn.row.dataset.status = "pending";
  flushOutbox();
}

function completeTurn(turn, msg, via) {
  if (turn.replied) return;
  turn.replied = true;
  const ms = turn.sentAt == null ? null : Math.round(performance.now() - turn.sentAt);
  setTurnStatus(turn, "answered");
  debugPanel.fill(turn, {
    intent: msg.intent,
    confidence: msg.confidence,
    route: msg.route,
    ms,
    via,
    assistant: msg.assistant,
  });
  if (via === "live") track("message_shown", { route: msg.route ?? undefined, ms: ms ?? undefined });
  saveOutbox();
}

function acknowledge(turn) {
  if (turn && !turn.replied && (turn.status === "pending" || turn.status === "queued")) setTurnStatus(turn, "sent");
  saveOutbox();
}

// ---------------------------------------------------------------------------------------------
// Session
// ---------------------------------------------------------------------------------------------

function adoptSession(sessionId) {
  if (!sessionId || sessionId === state.sessionId || state.abandoned.has(sessionId)) return;
  state.sessionId = sessionId;
  store.set(KEYS.session, sessionId);
  renderSessionLabel();
  flushOutbox();
}

function forgetSession() {
  if (state.sessionId) state.abandoned.add(state.sessionId);
  state.sessionId = null;
  state.lastSeenId = null;
  store.set(KEYS.session, null);
  renderSessionLabel();
}

function renderSessionLabel() {
  const id = state.sessionId;
  ui.sessionLabel.textContent = id ? t("session.id", { id: id.slice(-6) }) : t("session.new");
  ui.sessionLabel.title = id || "";
  const hint = state.identity?.identityHint;
  if (hint) {
    ui.sessionLabel.append(h("span", { class: "verify-hint", testid: "verify-hint", text: hint, attrs: { dir: "auto" } }));
  }
}

function resetConversationView() {
  state.seen.clear();
  state.turns.clear();
  state.byServerId.clear();
  state.order = [];
  state.streams.clear();
  for (const ctl of state.approvals.values()) clearTimeout(ctl.timer);
  state.approvals.clear();
  state.answering = [];
  state.cursorTurn = null;
  state.heartbeatUntil = 0;
  state.toolLabel = null;
  ui.messages.replaceChildren();
  debugPanel.clear();
  updateActivity();
}

/** Close the session the user leaves, so its report and recap ("last time") exist at once. */
function closeSession(sessionId) {
  if (!sessionId || !state.token) return;
  const url = new URL(`/api/sessions/${encodeURIComponent(sessionId)}/close`, `${API}/`);
  fetch(url, { method: "POST", headers: authHeaders() }).catch(() => {}); // the idle sweeper closes it otherwise
}

function startNewConversation() {
  state.generation += 1;
  if (state.sessionId) {
    state.discarded.add(state.sessionId);
    closeSession(state.sessionId);
  }
  forgetSession();
  store.set(KEYS.outbox, null);
  resetConversationView();
  ui.composer.focus();
}

// ---------------------------------------------------------------------------------------------
// Frames from the server
// ---------------------------------------------------------------------------------------------

const frameHandlers = {
  message: handleMessage,
  token: handleToken,
  status: handleStatus,
  error: handleError,
  heartbeat: handleHeartbeat,
  approval_request: handleApprovalRequest,
};

function handleFrame(frame) {
  if (frame.sessionId && state.discarded.has(frame.sessionId)) return;
  frameHandlers[frame.type]?.(frame);
}

/**
 * Remember a rendered messageId; true if it was already rendered. `advance: false` keeps the
 * catch-up cursor where it is (ids from status frames may be newer than replies still missed).
 */
function noteSeen(messageId, { advance = true } = {}) {
  if (!messageId) return false;
  if (state.seen.has(messageId)) return true;
  state.seen.add(messageId);
  if (advance) state.lastSeenId = laterId(state.lastSeenId, messageId);
  return false;
}

function handleMessage(frame) {
  adoptSession(frame.sessionId);
  followLanguage(frame.language);
  debugPanel.assistant(frame.assistant);
  const stream = takeStream(frame);
  state.heartbeatUntil = 0;
  state.toolLabel = null;
  if (noteSeen(frame.messageId)) {
    for (const segment of stream?.segments || []) if (!segment.sealed) segment.el.remove();
  } else if (frame.role === "user") {
    applyItem(frame, "live");
  } else {
    renderFinalMessage(frame, stream);
  }
  if (frame.runId) closeApprovals(frame.runId);
  const turn = frame.replyTo && state.turns.get(frame.replyTo);
  if (turn && frame.role !== "user") completeTurn(turn, frame, "live");
  updateActivity();
}

function handleStatus(frame) {
  const turn = frame.clientMessageId ? state.turns.get(frame.clientMessageId) : null;
  switch (frame.status) {
    case "session_started":
    case "session_restarted":
      acknowledge(turn);
      if (frame.sessionId !== state.sessionId) {
        // The divider goes above the message that started the conversation.
        const key = frame.status === "session_started" ? "status.sessionStarted" : "status.sessionRestarted";
        renderSystem(frame.message || t(key), { status: frame.status, before: turn?.el });
        if (frame.status === "session_restarted") state.lastSeenId = null;
        if (frame.previousSessionId) state.abandoned.add(frame.previousSessionId);
      }
      adoptSession(frame.sessionId);
      break;
    case "duplicate":
      acknowledge(turn);
      if (turn && !turn.replied) pollCatchUp();
      break;
    case "thinking":
      // An agent run started for this turn: its answer streams in as token frames.
      acknowledge(turn);
      state.toolLabel = null;
      if (turn) debugPanel.fill(turn, { intent: frame.intent, confidence: frame.confidence, route: "agent", ms: null });
      break;
    case "tool":
      state.toolLabel = frame.label || t("activity.working");
      break;
    case "stream_reset":
      track("stream_reset", { runId: frame.runId });
      resetStream(frame.runId, frame.fromSeq);
      break;
    case "approval_recorded":
      approvalRecorded(frame);
      break;
    case "agent_unavailable":
    case "session_locked": {
      // The server stores the agent_unavailable answer as a message: never render it twice.
      if (frame.messageId && noteSeen(frame.messageId, { advance: false })) break;
      const fallback = frame.status === "agent_unavailable" ? t("status.unavailable") : t("status.locked");
      renderSystem(frame.message || fallback, {
        kind: frame.status === "session_locked" ? "error" : "warn",
        hint: frame.hint,
        status: frame.status,
      });
      if (turn) {
        acknowledge(turn);
        turn.closed = true;
        debugPanel.fill(turn, {
          intent: frame.intent,
          confidence: frame.confidence,
          route: frame.route || (frame.status === "agent_unavailable" ? "agent" : null),
          ms: turn.sentAt == null ? null : Math.round(performance.now() - turn.sentAt),
        });
        turn.row.dataset.status = frame.status;
      }
      break;
    }
    default:
      acknowledge(turn);
      if (frame.message) renderSystem(frame.message, { hint: frame.hint, status: frame.status });
  }
  adoptSession(frame.sessionId);
  updateActivity();
}

const ERROR_HINTS = {
  SESSION_NOT_FOUND: "hint.SESSION_NOT_FOUND",
  SESSION_LOCKED: "hint.SESSION_LOCKED",
  TEXT_TOO_LONG: "hint.TEXT_TOO_LONG",
  RATE_LIMITED: "hint.RATE_LIMITED",
  INTERNAL: "hint.retryLater",
  GATEWAY_ERROR: "hint.retryLater",
};

function handleError(frame) {
  const code = frame.code || "ERROR";
  track("ws_error", { code });
  let turn = frame.clientMessageId ? state.turns.get(frame.clientMessageId) : null;
  // An approval answer refused: the card it names, else the oldest answer on its way.
  const card = state.approvals.get(frame.approvalId) || (!turn && !frame.gateway ? state.answering[0] : null);
  if (card) {
    state.answering = state.answering.filter((c) => c !== card);
    card.set(code === "APPROVAL_EXPIRED" ? "timed_out" : "closed");
    return;
  }
  // The gateway's own error names no message: frames are handled in order, so it is the oldest one sent.
  if (frame.gateway) turn = state.order.find((t) => t.status === "pending" && !t.replied) || null;
  const text = frame.gateway ? t("error.gateway") : frame.message || t("error.generic");
  const hint = ERROR_HINTS[code] ? t(ERROR_HINTS[code]) : null;
  renderSystem(text, { kind: "error", code, hint });
  if (code.startsWith("AUTH_")) {
    handleAuthFailure();
    return;
  }
  if (code === "SESSION_NOT_FOUND") forgetSession();
  if (code === "TEXT_TOO_LONG" && Number.isInteger(frame.details?.maxChars)) {
    state.maxChars = frame.details.maxChars;
    updateComposer();
  }
  if (turn && !turn.replied) {
    setTurnStatus(turn, "failed");
    debugPanel.mark(turn, code);
    saveOutbox();
  }
  flushOutbox();
}

function handleHeartbeat() {
  state.heartbeatUntil = Date.now() + 20000;
  updateActivity();
}

// ---------------------------------------------------------------------------------------------
// Catch-up: GET /api/sessions/{id}/messages?after=<last seen>; dedupe by messageId
// ---------------------------------------------------------------------------------------------

let catchUpChain = Promise.resolve();

function catchUp() {
  catchUpChain = catchUpChain.then(runCatchUp).catch(() => {});
  return catchUpChain;
}

async function runCatchUp() {
  const { sessionId, generation } = state;
  if (!sessionId || !state.token) return;
  let after = state.lastSeenId;
  let applied = 0;
  for (let page = 0; page < 40; page += 1) {
    const url = new URL(`/api/sessions/${encodeURIComponent(sessionId)}/messages`, `${API}/`);
    if (after) url.searchParams.set("after", after);
    url.searchParams.set("limit", String(CATCH_UP_PAGE));
    const res = await fetch(url, { headers: authHeaders() });
    if (generation !== state.generation || sessionId !== state.sessionId) return;
    if (res.status === 401) return handleAuthFailure();
    if (res.status === 404) {
      forgetSession();
      renderSystem(t("history.gone"));
      return;
    }
    if (!res.ok) return;
    const body = await res.json();
    const items = Array.isArray(body?.items) ? body.items : [];
    for (const item of items) applyItem(item, "catch-up");
    applied += items.length;
    updateActivity();
    const cursor = items.findLast((i) => i?.messageId)?.messageId;
    if (!body.next || !cursor) break;
    after = cursor;
  }
  if (applied) track("catch_up", { items: applied });
}

/** Apply one stored item (history or catch-up): a message at most once per messageId, or a run's state. */
function applyItem(item, via) {
  if (!item || typeof item !== "object") return;
  const kind = item.kind || "message";
  if (kind === "approval_request") return applyApprovalItem(item);
  if (kind === "run") return applyRunItem(item);
  if (kind !== "message") return;
  if (via === "catch-up" && noteSeen(item.messageId)) return;
  followLanguage(item.language);
  if (item.role === "user") {
    const turn = matchUserTurn(item) || createHistoricTurn(item);
    turn.serverMessageId = item.messageId;
    state.byServerId.set(item.messageId, turn);
    acknowledge(turn);
    state.cursorTurn = turn;
  } else if (item.role === "assistant") {
    debugPanel.assistant(item.assistant);
    renderFinalMessage(item, takeStream(item));
    const turn = replyTurn(item);
    if (turn) completeTurn(turn, item, turn.historic ? "history" : via);
  } else if (item.text) {
    renderSystem(item.text);
  }
}

const APPROVAL_STATUS = { pending: "pending", approved: "approved", declined: "declined", timed_out: "timed_out" };

function applyApprovalItem(item) {
  if (!item.approvalId) return;
  const expiresAt = item.expiresAt ? Date.parse(item.expiresAt) : null;
  renderApproval({
    approvalId: item.approvalId,
    runId: item.runId,
    prompt: item.prompt,
    status: APPROVAL_STATUS[item.approvalStatus] || "closed",
    expiresAt: Number.isFinite(expiresAt) ? expiresAt : null,
  });
}

/** A run still in progress: its text so far, continued by the live frames of the same runId. */
function applyRunItem(item) {
  if (!item.runId || item.status !== "running" || state.streams.has(item.runId)) return;
  const stream = newStream(item.runId, state.sessionId);
  const seq = Number.isFinite(item.seq) ? item.seq : -1;
  if (item.text) addStreamText(stream, seq, String(item.text));
  stream.floor = seq;
  stream.nextSeq = seq + 1;
  if (!stream.segments.length) openSegment(stream);
}

function matchUserTurn(item) {
  if (item.clientMessageId && state.turns.has(item.clientMessageId)) return state.turns.get(item.clientMessageId);
  // Without a clientMessageId, the oldest unconfirmed local turn with the same text is this one.
  return state.order.find((t) => !t.historic && !t.serverMessageId && !t.replied && t.text === item.text);
}

function createHistoricTurn(item) {
  const key = item.clientMessageId || `srv:${item.messageId}`;
  if (state.turns.has(key)) return state.turns.get(key);
  return createTurn({
    clientMessageId: key,
    text: item.text ?? "",
    createdAt: item.createdAt,
    status: "sent",
    historic: true,
  });
}

function replyTurn(item) {
  const direct = item.replyTo && (state.turns.get(item.replyTo) || state.byServerId.get(item.replyTo));
  if (direct) return direct;
  if (state.cursorTurn && !state.cursorTurn.replied) return state.cursorTurn;
  return awaitingTurns()[0] || null;
}

let pollTimer = null;

/** After a `duplicate`, the reply went (or goes) to an older connection: fetch it a few times. */
function pollCatchUp(delays = [800, 2000, 4000, 8000]) {
  if (pollTimer) return;
  const step = async (i) => {
    await catchUp();
    const waiting = awaitingTurns().some((t) => t.status === "sent");
    pollTimer = waiting && i < delays.length ? setTimeout(() => step(i + 1), delays[i]) : null;
  };
  pollTimer = setTimeout(() => step(1), delays[0]);
}

// ---------------------------------------------------------------------------------------------
// Connection state UI and composer
// ---------------------------------------------------------------------------------------------

let bannerTimer = null;

function renderConnState(status, manager = conn) {
  ui.connState.dataset.state = status;
  ui.connLabel.textContent = t(`conn.${status}`);
  const down = status === "reconnecting" || status === "offline";
  ui.connBanner.hidden = !down;
  clearInterval(bannerTimer);
  if (down) {
    const tick = () => {
      const s = Math.max(0, Math.ceil((manager.nextAttemptAt - Date.now()) / 1000));
      const lead = status === "offline" ? t("banner.offline") : t("banner.lost");
      const next = manager.ws ? t("banner.reconnecting") : t("banner.reconnectingIn", { s });
      ui.connBannerText.textContent = `${lead} ${next}`;
    };
    tick();
    bannerTimer = setInterval(tick, 500);
  }
  if (status !== "connected") {
    for (const turn of state.order) if (turn.status === "pending") setTurnStatus(turn, "queued");
  }
  updateComposer();
  updateActivity();
}

function updateComposer() {
  const connected = conn.status === "connected";
  const text = ui.composer.value;
  const n = countChars(text);
  const over = n > state.maxChars;
  const hadFocus = document.activeElement === ui.composer;
  const numbers = `${currentLang()}-u-nu-latn`;
  ui.composer.disabled = !connected;
  ui.composer.placeholder = connected ? t("composer.placeholder") : t(`conn.${conn.status || "idle"}`);
  ui.send.disabled = !connected || !text.trim() || over;
  ui.counter.textContent = `${n.toLocaleString(numbers)} / ${state.maxChars.toLocaleString(numbers)}`;
  ui.counter.classList.toggle("over", over);
  ui.counter.classList.toggle("near", !over && n > state.maxChars * 0.9);
  ui.composer.toggleAttribute("aria-invalid", over);
  if (over) ui.counter.textContent += ` · ${t("composer.tooLong")}`;
  if (hadFocus && !connected) state.refocus = true;
  if (connected && state.refocus) {
    state.refocus = false;
    ui.composer.focus();
  }
  autosize();
}

function autosize() {
  if (ui.chat.hidden) return;
  ui.composer.style.height = "auto";
  ui.composer.style.height = `${Math.min(ui.composer.scrollHeight + 2, 180)}px`;
}

// ---------------------------------------------------------------------------------------------
// Language: the page follows the session's language once the server names it
// ---------------------------------------------------------------------------------------------

function applyLanguage() {
  const lang = currentLang();
  document.documentElement.lang = lang;
  document.documentElement.dir = isRtl(lang) ? "rtl" : "ltr";
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll("[data-i18n-aria-label]")) {
    el.setAttribute("aria-label", t(el.dataset.i18nAriaLabel));
  }
  renderBrand();
  renderSessionLabel();
  renderConnState(conn.status || "idle");
}

function followLanguage(lang) {
  if (typeof lang !== "string" || PARAMS.get("lang")) return;
  if (!setLang(lang)) return;
  store.set(KEYS.lang, lang);
  applyLanguage();
}

function renderBrand() {
  const name = state.identity?.assistantName;
  ui.brandSub.textContent = name || t("brand.assistant");
  document.title = name ? `${name} · Luma` : "Luma";
}

// ---------------------------------------------------------------------------------------------
// Sign in / out and auth failures
// ---------------------------------------------------------------------------------------------

async function loadDemoUsers() {
  ui.demoLoading.hidden = false;
  try {
    const res = await fetch(`${API}/dev/demo-users`, { headers: { Accept: "application/json" } });
    const users = res.ok ? await res.json() : null;
    if (!Array.isArray(users) || users.length === 0) throw new Error("no demo users");
    ui.demoUsers.replaceChildren(...users.map(renderDemoUser));
    ui.demoBlock.hidden = false;
    ui.tokenBox.open = false;
  } catch {
    // Production: no dev endpoints. Offer the token box instead.
    ui.demoBlock.hidden = true;
    ui.tokenBox.open = true;
  } finally {
    ui.demoLoading.hidden = true;
  }
}

function initials(name) {
  return name
    .split(/\s+/)
    .filter(Boolean)
    .slice(0, 2)
    .map((w) => w[0].toUpperCase())
    .join("");
}

/** The hint the server wrote for a demo user (older servers: `verifyWith`, dates made day-first). */
function identityHint(user) {
  if (typeof user.identityHint === "string") return user.identityHint.trim();
  return typeof user.verifyWith === "string" ? dayFirstDates(user.verifyWith) : "";
}

function renderDemoUser(user) {
  const name = user.name || user.userId;
  const hint = identityHint(user);
  const button = h("button", { class: "demo-user", testid: "demo-user", attrs: { type: "button" } }, [
    h("span", { class: "avatar", text: initials(name), attrs: { "aria-hidden": "true" } }),
    h("span", { class: "demo-user-text" }, [
      h("span", { class: "demo-user-name", text: name, attrs: { dir: "auto" } }),
      user.assistantName
        ? h("span", { class: "demo-user-assistant", testid: "demo-user-assistant", text: user.assistantName })
        : null,
      hint ? h("span", { class: "demo-user-hint", testid: "demo-user-hint", text: hint, attrs: { dir: "auto" } }) : null,
    ]),
    h("span", { class: "chevron", text: "›", attrs: { "aria-hidden": "true" } }),
  ]);
  Object.assign(button.dataset, { userId: user.userId, assistant: user.assistant ?? "" });
  button.addEventListener("click", () => signInAs(user, button));
  return h("li", {}, [button]);
}

async function fetchDevToken(userId, tenantId) {
  const res = await fetch(`${API}/dev/token`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify({ userId, tenantId }),
  });
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  const body = await res.json();
  if (!body?.token) throw new Error("no token in the response");
  return body.token;
}

function pageAssistant() {
  const name = PARAMS.get("assistant");
  return name && ASSISTANT_RE.test(name) ? name : null;
}

async function signInAs(user, button) {
  showSignInError(null);
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try {
    const token = await fetchDevToken(user.userId, user.tenantId);
    const assistant = typeof user.assistant === "string" && ASSISTANT_RE.test(user.assistant) ? user.assistant : null;
    startChat(token, {
      userId: user.userId,
      tenantId: user.tenantId,
      name: user.name,
      identityHint: identityHint(user) || null,
      assistant: assistant || pageAssistant(),
      assistantName: typeof user.assistantName === "string" ? user.assistantName : null,
      demo: true,
    });
  } catch (err) {
    track("client_error", { kind: "sign_in", message: String(err?.message || err) });
    showSignInError(t("signin.failed", { name: user.name || user.userId }));
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}

function signInWithToken(raw) {
  const token = raw.trim().replace(/^Bearer\s+/i, "");
  const claims = decodeJwt(token);
  if (!claims) return showSignInError(t("signin.notJwt"));
  if (tokenExpired(token)) return showSignInError(t("signin.tokenExpired"));
  startChat(token, {
    userId: claims.sub,
    tenantId: claims.tenant || claims["custom:tenant"],
    name: claims.name,
    assistant: pageAssistant(),
  });
}

function startChat(token, identity) {
  state.generation += 1;
  state.token = token;
  state.identity = identity;
  store.set(KEYS.token, token);
  store.set(KEYS.identity, identity);
  state.refocus = true; // focus the composer once connected
  showChat();
  const gen = state.generation;
  restoreConversation().finally(() => gen === state.generation && conn.start());
}

/** After a reload: history from the catch-up endpoint, then messages that were never confirmed. */
async function restoreConversation() {
  const gen = state.generation;
  state.sessionId = store.get(KEYS.session);
  renderSessionLabel();
  if (state.sessionId) {
    const loading = renderSystem(t("history.loading"), { status: "loading" });
    await catchUp();
    loading.remove();
  }
  if (gen !== state.generation) return;
  for (const entry of store.get(KEYS.outbox) || []) {
    if (!entry?.clientMessageId || state.turns.has(entry.clientMessageId)) continue;
    createTurn({ ...entry, status: "queued" });
  }
}

function signOut(message = null) {
  conn.stop();
  state.generation += 1;
  state.token = null;
  state.identity = null;
  for (const key of [KEYS.token, KEYS.identity, KEYS.session, KEYS.outbox]) store.set(key, null);
  forgetSession();
  resetConversationView();
  showSignIn(message);
}

let lastRefreshAt = 0;

/** The token was refused: get a fresh dev token once (local demo users), otherwise sign out. */
async function handleAuthFailure() {
  const id = state.identity;
  if (id?.demo && Date.now() - lastRefreshAt > 30000) {
    lastRefreshAt = Date.now();
    try {
      state.token = await fetchDevToken(id.userId, id.tenantId);
      store.set(KEYS.token, state.token);
      conn.reconnectNow();
      return;
    } catch {
      /* fall through */
    }
  }
  signOut(t("signin.refused"));
}

async function probeAuth() {
  if (!state.token) return;
  if (tokenExpired(state.token)) return handleAuthFailure();
  try {
    const sid = encodeURIComponent(state.sessionId || "_");
    const res = await fetch(`${API}/api/sessions/${sid}/messages?limit=1`, { headers: authHeaders() });
    if (res.status === 401) handleAuthFailure();
  } catch {
    /* network down: keep reconnecting */
  }
}

function showSignInError(message) {
  ui.signinError.hidden = !message;
  ui.signinError.textContent = message || "";
}

function showSignIn(message = null) {
  ui.chat.hidden = true;
  ui.signin.hidden = false;
  for (const el of [ui.who, ui.signOut, ui.connState, ui.debugToggle]) el.hidden = true;
  renderBrand();
  showSignInError(message);
  loadDemoUsers();
  if (message || document.activeElement === document.body) $("signin-title").focus();
}

function showChat() {
  ui.signin.hidden = true;
  ui.chat.hidden = false;
  for (const el of [ui.who, ui.signOut, ui.connState, ui.debugToggle]) el.hidden = false;
  const id = state.identity || {};
  ui.who.textContent = id.name || id.userId || t("chat.signedIn");
  ui.who.title = [id.userId, id.tenantId].filter(Boolean).join(" · ");
  renderBrand();
  renderSessionLabel();
  updateComposer();
}

// ---------------------------------------------------------------------------------------------
// Wiring
// ---------------------------------------------------------------------------------------------

function wire() {
  ui.composerForm.addEventListener("submit", (event) => {
    event.preventDefault();
    submitComposer();
  });
  ui.composer.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submitComposer();
    }
  });
  ui.composer.addEventListener("input", updateComposer);
  ui.tokenForm.addEventListener("submit", (event) => {
    event.preventDefault();
    signInWithToken(ui.tokenInput.value);
  });
  ui.signOut.addEventListener("click", () => signOut());
  ui.newConversation.addEventListener("click", startNewConversation);
  ui.reconnectNow.addEventListener("click", () => conn.reconnectNow());
  ui.debugToggle.addEventListener("click", () => setDebugOpen(ui.debugPanel.hidden, true));
  ui.debugClose.addEventListener("click", () => {
    setDebugOpen(false, true);
    ui.debugToggle.focus();
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !ui.debugPanel.hidden && window.matchMedia("(max-width: 959px)").matches) {
      setDebugOpen(false, true);
      ui.debugToggle.focus();
    }
  });
  window.addEventListener("online", () => conn.reconnectNow());
  window.addEventListener("offline", () => conn.goOffline());
  window.addEventListener("pagehide", () => events.flush({ leaving: true }));
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden") events.flush({ leaving: true });
  });
  window.addEventListener("error", (event) => {
    track("client_error", { kind: "error", message: String(event.message || ""), line: event.lineno });
  });
  window.addEventListener("unhandledrejection", (event) => {
    track("client_error", { kind: "promise", message: String(event.reason?.message || event.reason || "") });
  });
}

function debugPreference() {
  try {
    return localStorage.getItem(KEYS.debug);
  } catch {
    return null;
  }
}

function init() {
  setLang(pickLang([PARAMS.get("lang"), store.get(KEYS.lang), ...(navigator.languages || [navigator.language])]));
  wire();
  applyLanguage();
  setDebugOpen(debugPreference() === "1"); // closed until the person opens it
  track("page_view", {
    lang: currentLang(),
    mobile: window.matchMedia("(pointer: coarse)").matches,
    width: window.innerWidth,
  });
  const token = store.get(KEYS.token);
  if (token && !tokenExpired(token)) startChat(token, store.get(KEYS.identity) || {});
  else if (token) signOut(t("signin.expired"));
  else showSignIn();
}

init();
