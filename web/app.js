// Luma web chat: sign in, chat over the WebSocket protocol (docs/protocol.md), reconnect and catch up,
// and a debug panel with one row per turn. Server text is only ever set through textContent.
import {
  MAX_TEXT_CHARS,
  CATCH_UP_PAGE,
  backoffDelay,
  buildSendMessage,
  countChars,
  decodeJwt,
  formatConfidence,
  formatTime,
  laterId,
  apiBase,
  newClientMessageId,
  parseFrame,
  tokenExpired,
  truncate,
  wsUrl,
} from "./protocol.js";

const API = apiBase(window.location);
const KEYS = {
  token: "luma.token",
  identity: "luma.identity",
  session: "luma.sessionId",
  outbox: "luma.outbox",
  debug: "luma.debugOpen",
};

// ---------------------------------------------------------------------------------------------
// Small utilities
// ---------------------------------------------------------------------------------------------

const $ = (id) => document.getElementById(id);

const ui = {
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
  identity: null, // {userId, tenantId, name, verifyWith, demo}
  sessionId: null,
  lastSeenId: null, // newest messageId seen for the session (catch-up cursor)
  seen: new Set(), // messageIds rendered (dedupe live frames vs catch-up)
  turns: new Map(), // clientMessageId (or "srv:<messageId>" for history) -> turn
  byServerId: new Map(), // user messageId -> turn
  order: [], // turns, oldest first
  streams: new Map(), // runId -> {el, textEl, parts, sessionId}
  cursorTurn: null, // last user turn seen while applying history items
  generation: 0, // bumped on sign-in/out and new conversation: stale async work is dropped
  heartbeatUntil: 0,
  toolLabel: null, // what the agent is doing (status "tool"), shown in the activity line
  refocus: false, // give the composer its focus back once reconnected
  abandoned: new Set(), // sessions left behind (restarted, forgotten): never adopted again
  discarded: new Set(), // sessions the user cleared with "New conversation": their frames are dropped
  maxChars: MAX_TEXT_CHARS, // lowered if the server says so (TEXT_TOO_LONG details.maxChars)
};

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
    if (this.ws) {
      this.ws.onopen = this.ws.onmessage = this.ws.onclose = this.ws.onerror = null;
      try {
        this.ws.close(1000, "bye");
      } catch {
        /* already closed */
      }
    }
    this.ws = null;
    this.report("idle");
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
    this.report(this.everConnected ? "reconnecting" : "connecting");
    const url = this.url();
    if (!url) return this.scheduleRetry(true); // no usable token: the failure handler sorts it out
    let opened = false;
    const ws = new WebSocket(url);
    this.ws = ws;
    ws.onopen = () => {
      opened = true;
      this.failures = 0;
      this.everConnected = true;
      this.report("connected");
      this.onOpen();
    };
    ws.onmessage = (event) => {
      const frame = parseFrame(event.data);
      if (frame) this.onFrame(frame);
    };
    ws.onclose = (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.stopped) return;
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
  url: () => (state.token && !tokenExpired(state.token) ? wsUrl(window.location, state.token) : null),
  onOpen: handleOpen,
  onFrame: handleFrame,
  onState: renderConnState,
  onHandshakeFailure: (failures) => {
    // The browser hides the handshake's HTTP status: ask the API whether the token is the problem.
    if (failures === 1 || failures % 4 === 0) probeAuth();
  },
});

async function handleOpen() {
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

function appendMessage(node, { replace = null, forceScroll = false } = {}) {
  const stick = forceScroll || nearBottom();
  if (replace?.isConnected) replace.replaceWith(node);
  else ui.messages.append(node);
  if (stick) scrollToEnd();
}

function metaLine(createdAt, extra = []) {
  return h("div", { class: "meta" }, [
    h("time", { text: formatTime(createdAt), attrs: { datetime: createdAt || new Date().toISOString() } }),
    ...extra,
  ]);
}

function renderUserMessage(turn) {
  const tick = h("span", { class: "tick", testid: "tick", attrs: { role: "img" } });
  const li = h("li", { class: "msg msg-user", testid: "message-user" }, [
    h("span", { class: "visually-hidden", text: "You said:" }),
    h("div", { class: "bubble" }, [h("p", { class: "text", text: turn.text })]),
    metaLine(turn.createdAt, [tick]),
  ]);
  if (!turn.clientMessageId.startsWith("srv:")) li.dataset.clientMessageId = turn.clientMessageId;
  turn.el = li;
  turn.tickEl = tick;
  appendMessage(li, { forceScroll: !turn.historic });
}

function renderAssistantMessage(msg, replace = null) {
  const li = h("li", { class: "msg msg-assistant", testid: "message-assistant" }, [
    h("span", { class: "visually-hidden", text: "Assistant said:" }),
    h("div", { class: "bubble" }, [h("p", { class: "text", text: msg.text ?? "" })]),
    metaLine(msg.createdAt),
  ]);
  Object.assign(li.dataset, {
    messageId: msg.messageId ?? "",
    route: msg.route ?? "",
    intent: msg.intent ?? "",
  });
  appendMessage(li, { replace });
}

/** A system line: kind is "info", "warn" or "error". */
function renderSystem(text, { kind = "info", code = null, hint = null, status = null } = {}) {
  const li = h("li", { class: `sys sys-${kind}`, testid: kind === "error" ? "system-error" : "system-line" }, [
    h("p", { class: "sys-text", text }),
  ]);
  if (code) li.append(h("code", { class: "sys-code", text: code }));
  if (hint) li.append(h("p", { class: "sys-hint", testid: "system-hint", text: hint }));
  if (kind === "error") li.setAttribute("role", "alert");
  if (code) li.dataset.code = code;
  if (status) li.dataset.status = status;
  appendMessage(li);
  return li;
}

const TICKS = {
  queued: ["◷", "Queued: will be sent when the connection is back"],
  pending: ["◷", "Sending"],
  sent: ["✓", "Delivered"],
  answered: ["✓✓", "Answered"],
  failed: ["!", "Not delivered"],
};

function setTurnStatus(turn, status) {
  turn.status = status;
  if (!turn.el) return;
  turn.el.dataset.status = status;
  const [glyph, label] = TICKS[status] || ["", ""];
  turn.tickEl.textContent = status === "queued" ? `${glyph} Queued` : glyph;
  turn.tickEl.setAttribute("aria-label", label);
  turn.tickEl.title = label;
  turn.el.querySelector(".retry")?.remove();
  if (status === "failed") {
    const retry = h("button", {
      class: "btn btn-link retry",
      testid: "retry",
      text: "Retry",
      attrs: { type: "button", "aria-label": `Retry sending: ${truncate(turn.text, 40)}` },
    });
    retry.addEventListener("click", () => retryTurn(turn));
    turn.tickEl.after(retry);
  }
}

// Streaming bubbles (token frames), keyed by runId and replaced by the final message.

function handleToken(frame) {
  adoptSession(frame.sessionId);
  let stream = state.streams.get(frame.runId);
  if (!stream) {
    const textEl = h("p", { class: "text" });
    const el = h("li", { class: "msg msg-assistant streaming", testid: "message-streaming" }, [
      h("span", { class: "visually-hidden", text: "Assistant is answering:" }),
      h("div", { class: "bubble" }, [textEl]),
    ]);
    el.dataset.runId = frame.runId ?? "";
    el.setAttribute("aria-busy", "true");
    stream = { el, textEl, parts: new Map(), sessionId: frame.sessionId };
    state.streams.set(frame.runId, stream);
    appendMessage(el);
  }
  const seq = Number.isFinite(frame.seq) ? frame.seq : stream.parts.size;
  if (!stream.parts.has(seq)) stream.parts.set(seq, String(frame.text ?? frame.delta ?? ""));
  const stick = nearBottom();
  stream.textEl.textContent = [...stream.parts.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([, delta]) => delta)
    .join("");
  if (stick) scrollToEnd();
  updateActivity();
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
  let kind = null;
  if (state.heartbeatUntil > now && (waiting || state.streams.size)) kind = "heartbeat";
  else if (waiting && state.streams.size === 0) kind = "typing";
  ui.activity.hidden = !kind;
  ui.activity.dataset.kind = kind || "";
  ui.activityText.textContent =
    kind === "heartbeat" ? "Still working on it…" : state.toolLabel || "Assistant is typing…";
  if (state.heartbeatUntil > now) activityTimer = setTimeout(updateActivity, state.heartbeatUntil - now + 50);
}

// ---------------------------------------------------------------------------------------------
// Debug panel: one row per turn
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
    row.dataset.status = "pending";
    ui.debugRows.append(row);
    ui.debugEmpty.hidden = true;
    const scroller = ui.debugRows.closest(".debug-scroll");
    scroller.scrollTop = scroller.scrollHeight;
    turn.row = row;
  },

  fill(turn, { intent, confidence, route, ms, via = "live" }) {
    const row = turn.row;
    if (!row) return;
    row.dataset.status = "done";
    row.dataset.via = via;
    row.cells[1].replaceChildren(...breakable(intent || "—"));
    row.cells[2].textContent = formatConfidence(confidence);
    row.cells[3].replaceChildren(
      route ? h("span", { class: `route route-${String(route).replace(/[^a-z_]/gi, "")}`, text: route }) : "—",
    );
    row.cells[4].textContent = ms == null ? "—" : String(ms);
    if (via === "catch-up" && ms != null) row.cells[4].title = "reply received through catch-up";
  },

  mark(turn, note) {
    if (!turn.row) return;
    turn.row.dataset.status = "failed";
    if (turn.row.cells[1].textContent === "…") turn.row.cells[1].textContent = "—";
    if (turn.row.cells[2].textContent === "…") turn.row.cells[2].textContent = "—";
    turn.row.cells[3].replaceChildren(h("span", { class: "route route-error", text: note }));
    if (turn.row.cells[4].textContent === "…") turn.row.cells[4].textContent = "—";
  },

  clear() {
    ui.debugRows.replaceChildren();
    ui.debugEmpty.hidden = false;
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
  if (remember) localStorage.setItem(KEYS.debug, open ? "1" : "0");
}

// ---------------------------------------------------------------------------------------------
// Turns: send, queue, complete
// ---------------------------------------------------------------------------------------------

function createTurn({ clientMessageId, text, createdAt, status, historic = false }) {
  const turn = {
    clientMessageId,
    text,
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
    .map(({ clientMessageId, text, createdAt }) => ({ clientMessageId, text, createdAt }));
  store.set(KEYS.outbox, pending.length ? pending : null);
}

function submitComposer() {
  const text = ui.composer.value;
  if (!text.trim() || countChars(text) > state.maxChars) return;
  createTurn({ clientMessageId: newClientMessageId(), text, status: "queued" });
  ui.composer.value = "";
  updateComposer();
  flushOutbox();
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
  debugPanel.fill(turn, { intent: msg.intent, confidence: msg.confidence, route: msg.route, ms, via });
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
  ui.sessionLabel.textContent = id ? `Conversation …${id.slice(-6)}` : "New conversation";
  ui.sessionLabel.title = id || "";
  const verify = state.identity?.verifyWith;
  if (verify) {
    ui.sessionLabel.append(h("span", { class: "verify-hint", testid: "verify-hint", text: `Verify with: ${verify}` }));
  }
}

function resetConversationView() {
  state.seen.clear();
  state.turns.clear();
  state.byServerId.clear();
  state.order = [];
  state.streams.clear();
  state.cursorTurn = null;
  state.heartbeatUntil = 0;
  ui.messages.replaceChildren();
  debugPanel.clear();
  updateActivity();
}

function startNewConversation() {
  state.generation += 1;
  if (state.sessionId) state.discarded.add(state.sessionId);
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

// Tool activity shown while an agent run works (status frames "tool").
const TOOL_TEXT = {
  verify_identity: "Checking your details…",
  list_appointments: "Looking up your appointments…",
  find_available_slots: "Looking for free slots…",
  confirm_appointment: "Confirming your appointment…",
  cancel_appointment: "Cancelling your appointment…",
  reschedule_appointment: "Moving your appointment…",
  escalate_to_human: "Contacting our staff…",
};

/** An approval card: the run waits until the user approves or declines (or it expires). */
function handleApprovalRequest(frame) {
  adoptSession(frame.sessionId);
  state.toolLabel = null;
  const approve = h("button", { class: "btn btn-primary", testid: "approve", text: "Approve", attrs: { type: "button" } });
  const decline = h("button", { class: "btn btn-ghost", testid: "decline", text: "Decline", attrs: { type: "button" } });
  const note = h("p", { class: "muted approval-note", testid: "approval-note" });
  const card = h("li", { class: "msg msg-approval", testid: "approval-request" }, [
    h("div", { class: "bubble" }, [
      h("p", { class: "approval-title", text: "Your approval is needed" }),
      h("p", { class: "text", testid: "approval-prompt", text: frame.prompt || "Allow this action?" }),
      h("div", { class: "approval-actions" }, [approve, decline]),
      note,
    ]),
  ]);
  card.dataset.approvalId = frame.approvalId;
  const answer = (approved) => {
    if (!conn.send({ action: "approve", approvalId: frame.approvalId, approved })) {
      note.textContent = "Not connected: try again in a moment.";
      return;
    }
    approve.disabled = true;
    decline.disabled = true;
    note.textContent = approved ? "Approved." : "Declined.";
    card.dataset.answered = approved ? "approved" : "declined";
  };
  approve.addEventListener("click", () => answer(true));
  decline.addEventListener("click", () => answer(false));
  appendMessage(card, { forceScroll: true });
  approve.focus();
  updateActivity();
}

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
  const stream = takeStream(frame);
  state.heartbeatUntil = 0;
  state.toolLabel = null;
  if (noteSeen(frame.messageId)) {
    stream?.el.remove();
  } else if (frame.role === "user") {
    applyItem(frame, "live");
  } else {
    renderAssistantMessage(frame, stream?.el);
  }
  const turn = frame.replyTo && state.turns.get(frame.replyTo);
  if (turn && frame.role !== "user") completeTurn(turn, frame, "live");
  updateActivity();
}

const STATUS_TEXT = {
  session_started: "New conversation started",
  session_restarted: "Your previous conversation was closed after a period of inactivity. New conversation started.",
};

function handleStatus(frame) {
  const turn = frame.clientMessageId ? state.turns.get(frame.clientMessageId) : null;
  switch (frame.status) {
    case "session_started":
    case "session_restarted":
      acknowledge(turn);
      if (frame.sessionId !== state.sessionId) {
        renderSystem(frame.message || STATUS_TEXT[frame.status], { status: frame.status });
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
      state.toolLabel = TOOL_TEXT[frame.tool] || "Working on it…";
      break;
    case "stream_reset": {
      // The run retries a step: drop the partial answer; the retried step streams it again.
      const stream = state.streams.get(frame.runId);
      if (stream) {
        stream.el.remove();
        state.streams.delete(frame.runId);
      }
      break;
    }
    case "approval_recorded":
      state.toolLabel = frame.approved ? TOOL_TEXT.reschedule_appointment : null;
      break;
    case "agent_unavailable":
    case "session_locked": {
      // The server stores the agent_unavailable answer as a message: never render it twice.
      if (frame.messageId && noteSeen(frame.messageId, { advance: false })) break;
      const fallback =
        frame.status === "agent_unavailable"
          ? "The assistant cannot answer this question right now."
          : "This conversation is locked.";
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
  SESSION_NOT_FOUND: "Retry to start a new conversation.",
  SESSION_LOCKED: "Please contact the clinic. You can start a new conversation later.",
  TEXT_TOO_LONG: "Shorten the message and send it again.",
  RATE_LIMITED: "Wait a moment, then retry.",
  INTERNAL: "Retry in a moment.",
  GATEWAY_ERROR: "Retry in a moment.",
};

function handleError(frame) {
  let turn = frame.clientMessageId ? state.turns.get(frame.clientMessageId) : null;
  // The gateway's own error names no message: frames are handled in order, so it is the oldest one sent.
  if (frame.gateway) turn = state.order.find((t) => t.status === "pending" && !t.replied) || null;
  const code = frame.code || "ERROR";
  renderSystem(frame.message || "Something went wrong.", { kind: "error", code, hint: ERROR_HINTS[code] });
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
  for (let page = 0; page < 40; page += 1) {
    const url = new URL(`/api/sessions/${encodeURIComponent(sessionId)}/messages`, `${API}/`);
    if (after) url.searchParams.set("after", after);
    url.searchParams.set("limit", String(CATCH_UP_PAGE));
    const res = await fetch(url, { headers: authHeaders() });
    if (generation !== state.generation || sessionId !== state.sessionId) return;
    if (res.status === 401) return handleAuthFailure();
    if (res.status === 404) {
      forgetSession();
      renderSystem("Your previous conversation is no longer available. Your next message starts a new one.");
      return;
    }
    if (!res.ok) return;
    const body = await res.json();
    const items = Array.isArray(body?.items) ? body.items : [];
    for (const item of items) applyItem(item, "catch-up");
    updateActivity();
    if (!body.next || items.length === 0) return;
    after = items[items.length - 1].messageId;
  }
}

/** Apply one stored message (history or catch-up), at most once per messageId. */
function applyItem(item, via) {
  if (!item || (via === "catch-up" && noteSeen(item.messageId))) return;
  if (item.role === "user") {
    const turn = matchUserTurn(item) || createHistoricTurn(item);
    turn.serverMessageId = item.messageId;
    state.byServerId.set(item.messageId, turn);
    acknowledge(turn);
    state.cursorTurn = turn;
  } else if (item.role === "assistant") {
    renderAssistantMessage(item, takeStream(item)?.el);
    const turn = replyTurn(item);
    if (turn) completeTurn(turn, item, turn.historic ? "history" : via);
  } else if (item.text) {
    renderSystem(item.text);
  }
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

const CONN_LABELS = {
  idle: "Not connected",
  connecting: "Connecting…",
  connected: "Connected",
  reconnecting: "Reconnecting…",
  offline: "Offline",
};
let bannerTimer = null;

function renderConnState(status, manager) {
  ui.connState.dataset.state = status;
  ui.connLabel.textContent = CONN_LABELS[status] || status;
  const down = status === "reconnecting" || status === "offline";
  ui.connBanner.hidden = !down;
  clearInterval(bannerTimer);
  if (down) {
    const tick = () => {
      const s = Math.max(0, Math.ceil((manager.nextAttemptAt - Date.now()) / 1000));
      const lead = status === "offline" ? "You appear to be offline." : "Connection lost.";
      ui.connBannerText.textContent = manager.ws ? `${lead} Reconnecting…` : `${lead} Reconnecting in ${s} s…`;
    };
    tick();
    bannerTimer = setInterval(tick, 500);
  }
  if (status !== "connected") {
    for (const turn of state.order) if (turn.status === "pending") setTurnStatus(turn, "queued");
  }
  updateComposer();
}

function updateComposer() {
  const connected = conn.status === "connected";
  const text = ui.composer.value;
  const n = countChars(text);
  const over = n > state.maxChars;
  const hadFocus = document.activeElement === ui.composer;
  ui.composer.disabled = !connected;
  ui.composer.placeholder = connected ? "Type your message…" : CONN_LABELS[conn.status] || "Not connected";
  ui.send.disabled = !connected || !text.trim() || over;
  ui.counter.textContent = `${n.toLocaleString("en")} / ${state.maxChars.toLocaleString("en")}`;
  ui.counter.classList.toggle("over", over);
  ui.counter.classList.toggle("near", !over && n > state.maxChars * 0.9);
  ui.composer.toggleAttribute("aria-invalid", over);
  if (over) ui.counter.textContent += " · too long";
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

function renderDemoUser(user) {
  const button = h("button", { class: "demo-user", testid: "demo-user", attrs: { type: "button" } }, [
    h("span", { class: "avatar", text: initials(user.name || user.userId), attrs: { "aria-hidden": "true" } }),
    h("span", { class: "demo-user-text" }, [
      h("span", { class: "demo-user-name", text: user.name || user.userId }),
      h("span", { class: "demo-user-hint" }, [
        "Verify with: ",
        h("strong", { text: user.verifyWith || "—" }),
      ]),
    ]),
    h("span", { class: "chevron", text: "›", attrs: { "aria-hidden": "true" } }),
  ]);
  button.dataset.userId = user.userId;
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

async function signInAs(user, button) {
  showSignInError(null);
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try {
    const token = await fetchDevToken(user.userId, user.tenantId);
    startChat(token, { ...user, demo: true });
  } catch (err) {
    showSignInError(`Could not sign in as ${user.name}: ${err.message}`);
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}

function signInWithToken(raw) {
  const token = raw.trim().replace(/^Bearer\s+/i, "");
  const claims = decodeJwt(token);
  if (!claims) return showSignInError("That does not look like a JWT (three base64url parts).");
  if (tokenExpired(token)) return showSignInError("That token has expired.");
  startChat(token, { userId: claims.sub, tenantId: claims.tenant || claims["custom:tenant"], name: claims.name });
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
    const loading = renderSystem("Loading your conversation…", { status: "loading" });
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
  signOut("Your sign-in was refused or has expired. Please sign in again.");
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
  showSignInError(message);
  loadDemoUsers();
  if (message || document.activeElement === document.body) $("signin-title").focus();
}

function showChat() {
  ui.signin.hidden = true;
  ui.chat.hidden = false;
  for (const el of [ui.who, ui.signOut, ui.connState, ui.debugToggle]) el.hidden = false;
  const id = state.identity || {};
  ui.who.textContent = id.name || id.userId || "Signed in";
  ui.who.title = [id.userId, id.tenantId].filter(Boolean).join(" · ");
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
  window.addEventListener("offline", () => conn.status !== "connected" && renderConnState("offline", conn));
}

function init() {
  wire();
  const pref = localStorage.getItem(KEYS.debug);
  setDebugOpen(pref == null ? window.matchMedia("(min-width: 960px)").matches : pref === "1");
  const token = store.get(KEYS.token);
  if (token && !tokenExpired(token)) startChat(token, store.get(KEYS.identity) || {});
  else if (token) signOut("Your sign-in has expired. Please sign in again.");
  else showSignIn();
}

init();
