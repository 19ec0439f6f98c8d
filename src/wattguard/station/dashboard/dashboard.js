// The master station's dashboard: reads the REST API every few seconds with the user's token
// and shows the summary, open alerts, commands, meters and the newest security events; issues
// trip/close commands and approves or rejects pending ones. The API's rules decide every action.
//
// Event details, sources and alert evidence carry what an attacker sent, so every text taken
// from the API is written with textContent, never parsed as HTML. The page's
// Content-Security-Policy runs no script but this file.
"use strict";

const TOKEN_KEY = "wattguard-token";
const REFRESH_MS = 5000;
const ENERGY = "00100201"; // total forward active energy, kWh
const SHOWN = 20; // rows of events and commands
const $ = (id) => document.getElementById(id);
let timer = null;
let generation = 0; // of refresh(): only the newest one shows its answers and carries on

class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

// `/#token=...` signs in at once (wattguard demo prints such a link); the token is kept in this
// tab's sessionStorage and taken out of the address bar and the history.
function takeTokenFromAddress() {
  const given = new URLSearchParams(location.hash.slice(1)).get("token");
  if (given === null) return;
  if (given.trim()) sessionStorage.setItem(TOKEN_KEY, given.trim());
  history.replaceState(null, "", location.pathname + location.search);
}

async function api(path, method = "GET", body = undefined) {
  const init = { method, cache: "no-store", headers: { Authorization: "Bearer " + token() } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    throw new ApiError(0, String(error));
  }
  let data = null;
  try {
    data = await response.json();
  } catch (error) {
    data = null;
  }
  if (!response.ok) throw new ApiError(response.status, reasonOf(data));
  return data;
}

function reasonOf(data) {
  const detail = data === null ? null : data.detail;
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail.map((e) => (e.loc || []).join(".") + ": " + e.msg).join("; ");
  }
  return "no reason given";
}

// What went wrong, in words that say what to do.
function explain(error) {
  if (!(error instanceof ApiError)) return "The dashboard failed (" + error + "). Reload the page.";
  switch (error.status) {
    case 0:
      return "The station cannot be reached: the network is down or the station has stopped. " +
        "Check that it runs (wattguard demo); the dashboard tries again every 5 seconds.";
    case 401:
      return "The station refused this token (" + error.message + "). Enter a token that " +
        "wattguard demo printed, or ask the station's administrator for yours.";
    case 403:
      return "Refused by the station: " + error.message;
    default:
      return "The station answered " + error.status + ": " + error.message;
  }
}

function say(id, text, kind) {
  const element = $(id);
  element.textContent = text;
  element.className = "notice " + kind;
}

function when(seconds) {
  if (seconds === null || seconds === undefined) return "";
  return new Date(seconds * 1000).toISOString().slice(0, 19).replace("T", " ");
}

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "" : String(text);
  if (className) td.className = className;
  row.append(td);
  return td;
}

function button(label, action, id) {
  const element = document.createElement("button");
  element.type = "button";
  element.textContent = label;
  element.dataset.action = action;
  element.dataset.command = String(id);
  return element;
}

// Replace a table's rows with one per item, or a single row saying `empty`; a table whose
// items did not change keeps its rows, so a refresh never takes a button from under a click.
const shown = new Map();
function fill(id, items, columns, empty) {
  const body = $(id);
  const key = JSON.stringify(items);
  if (shown.get(id) === key) return;
  shown.set(id, key);
  const rows = items.map((item) => {
    const row = document.createElement("tr");
    columns(row, item);
    return row;
  });
  if (rows.length === 0) {
    const row = document.createElement("tr");
    cell(row, empty, "empty").colSpan = body.closest("table").tHead.rows[0].cells.length;
    rows.push(row);
  }
  body.replaceChildren(...rows);
}

function showSummary(summary) {
  for (const element of document.querySelectorAll("[id^='summary-']")) {
    const value = summary[element.id.slice("summary-".length)];
    element.textContent = value === null || value === undefined ? "n/a" : String(value);
  }
  $("summary-open_alerts").parentElement.classList.toggle("raised", summary.open_alerts > 0);
}

function showAlerts(alerts) {
  $("alerts-section").classList.toggle("raised", alerts.length > 0);
  fill("alerts", alerts, (row, a) => {
    cell(row, a.severity, "severity-" + a.severity);
    cell(row, a.rule);
    cell(row, a.subject);
    cell(row, a.count);
    cell(row, when(a.opened));
    cell(row, a.evidence, "text");
  }, "No open alerts.");
}

function showMeters(meters, latest) {
  const reading = new Map(latest.map((r) => [r.meter, r]));
  fill("meters", meters, (row, m) => {
    const r = reading.get(m.address);
    cell(row, m.address, "mono");
    cell(row, m.terminal, "mono");
    cell(row, r ? r.value.toFixed(2) : "no reading yet", r ? "number" : "empty");
    cell(row, r ? when(r.time) : "");
  }, "No meters registered.");
  const select = $("command-meter");
  const addresses = meters.map((m) => m.address);
  if (addresses.join() !== Array.from(select.options, (o) => o.value).join()) {
    const chosen = select.value;
    select.replaceChildren(...addresses.map((a) => new Option(a, a)));
    if (addresses.includes(chosen)) select.value = chosen;
  }
}

function showCommands(commands) {
  fill("commands", commands.slice(0, SHOWN), (row, c) => {
    cell(row, c.id, "number");
    cell(row, c.argument ? c.kind + " " + c.argument : c.kind);
    const more = c.meters.length > 3 ? " and " + (c.meters.length - 3) + " more" : "";
    cell(row, c.meters.slice(0, 3).join(", ") + more, "mono");
    cell(row, c.issued_by);
    cell(row, c.approved_by);
    cell(row, c.state, "state-" + c.state.replace(/ /g, "-"));
    const counts = {};
    for (const outcome of Object.values(c.results)) counts[outcome] = (counts[outcome] || 0) + 1;
    cell(row, Object.entries(counts).map(([o, n]) => (n > 1 ? o + " x" + n : o)).join(", "));
    const actions = cell(row, "");
    if (c.state === "awaiting approval") {
      actions.append(button("Approve", "approve", c.id), " ", button("Reject", "reject", c.id));
    }
  }, "No commands yet.");
}

function showEvents(events) {
  fill("events", events, (row, e) => {
    cell(row, when(e.time));
    cell(row, e.kind);
    cell(row, e.source, "text");
    cell(row, e.detail, "text");
  }, "No security events.");
}

function clearData() {
  shown.clear();
  $("whoami").textContent = "";
  for (const id of ["alerts", "commands", "meters", "events"]) $(id).replaceChildren();
  for (const element of document.querySelectorAll("[id^='summary-']")) element.textContent = "–";
}

// A refused token stops the refreshing until another is entered: each refusal is a security
// event at the station, and a stale token should not raise an alert every few seconds.
async function refresh() {
  clearTimeout(timer);
  const mine = ++generation;
  if (!token()) {
    clearData();
    say(
      "status",
      "Enter your API token above (wattguard demo prints them; wattguard users add makes one).",
      "info",
    );
    return;
  }
  try {
    const summary = await api("/api/summary");
    const [me, meters, latest, alerts, events, commands] = await Promise.all([
      api("/api/whoami"),
      api("/api/meters"),
      api("/api/readings/latest?quantity=" + ENERGY),
      api("/api/alerts?open=true"),
      api("/api/events?limit=" + SHOWN),
      api("/api/commands"),
    ]);
    if (mine !== generation) return;
    $("whoami").textContent = "Signed in as " + me.name + " (" + me.role + ")";
    showSummary(summary);
    showAlerts(alerts);
    showMeters(meters, latest);
    showCommands(commands);
    showEvents(events);
    say("status", "Up to date at " + new Date().toLocaleTimeString() + ".", "ok");
  } catch (error) {
    if (mine !== generation) return;
    say("status", explain(error), "error");
    if (error.status === 401) {
      clearData();
      return;
    }
  }
  timer = setTimeout(refresh, REFRESH_MS);
}

async function act(message, path, body) {
  try {
    const command = await api(path, "POST", body);
    say("command-message", message(command), "ok");
  } catch (error) {
    say("command-message", explain(error), "error");
  }
  refresh();
}

function issue(event) {
  event.preventDefault();
  const kind = $("command-kind").value;
  const meter = $("command-meter").value;
  if (!meter) {
    say("command-message", "There is no meter to command yet.", "error");
    return;
  }
  act((c) => "Command " + c.id + " (" + kind + " " + meter + "): " + c.state + ".",
    "/api/commands", { kind, meters: [meter] });
}

function decide(event) {
  const target = event.target.closest("button[data-action]");
  if (target === null) return;
  const id = target.dataset.command;
  const action = target.dataset.action;
  const done = action === "approve" ? "approved" : "rejected";
  act((c) => "Command " + c.id + " " + done + ": now " + c.state + ".",
    "/api/commands/" + encodeURIComponent(id) + "/" + action);
}

function useToken(event) {
  event.preventDefault();
  const given = $("token").value.trim();
  $("token").value = "";
  if (given) sessionStorage.setItem(TOKEN_KEY, given);
  say("command-message", "", "info");
  refresh();
}

function forget() {
  sessionStorage.removeItem(TOKEN_KEY);
  say("command-message", "", "info");
  refresh();
}

takeTokenFromAddress();
window.addEventListener("hashchange", () => {
  takeTokenFromAddress();
  refresh();
});
$("token-form").addEventListener("submit", useToken);
$("forget").addEventListener("click", forget);
$("command-form").addEventListener("submit", issue);
$("commands").addEventListener("click", decide);
refresh();
