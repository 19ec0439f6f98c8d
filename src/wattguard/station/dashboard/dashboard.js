// The master station's dashboard: reads the REST API every few seconds with the user's token.
// Two views: the fleet (the default: summary, open alerts, the fleet's load and collection,
// commands, a page of meters, the newest operational and security events) and a meter's page
// (`#meter=<address>`, meter.js). This file holds what every view shares: the token, the API
// calls and their errors, tables, the refresh loop and the choice of view; fleet.js,
// commands.js, meter.js and analytics.js each fill their part. The API's rules decide every
// action. Every time is shown in UTC, as the API gives it.
//
// A fleet may hold tens of thousands of meters, so the page never asks for all of them: the
// meters table shows one page of /api/meters/page (with the latest reading of just those
// meters), found with the first digits of an address.
//
// Event details, sources and alert evidence carry what an attacker sent, so every text taken
// from the API is written with textContent, never parsed as HTML. The page's
// Content-Security-Policy runs no script but the dashboard's own files.
"use strict";

const TOKEN_KEY = "wattguard-token";
const REFRESH_MS = 5000;
const ENERGY = "00100201"; // total forward active energy, kWh
const SHOWN = 20; // rows of events and commands
const PAGE = 50; // rows of meters
const ADDRESS = /^[0-9]{12}$/; // a meter the API can command
const PREFIX = /^[0-9A-Fa-f]{0,12}$/; // what the meter search takes
const $ = (id) => document.getElementById(id);
let timer = null;
let generation = 0; // of refresh(): only the newest one shows its answers and carries on
// The meters shown: those whose address starts with `search`, the page after the last cursor
// of `pages` (null: the first page); the cursors before it are where Previous goes back to.
const meterView = { search: "", pages: [null], next: null };
let searchTimer = null;

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
  const params = new URLSearchParams(location.hash.slice(1));
  const given = params.get("token");
  if (given === null) return;
  if (given.trim()) sessionStorage.setItem(TOKEN_KEY, given.trim());
  params.delete("token");
  const rest = params.toString();
  history.replaceState(null, "", location.pathname + location.search + (rest ? "#" + rest : ""));
}

// The meter whose page the address names (`#meter=<12 digits>`), or null: the fleet view.
function meterInAddress() {
  const meter = new URLSearchParams(location.hash.slice(1)).get("meter");
  return meter !== null && ADDRESS.test(meter) ? meter : null;
}

function showView(meter) {
  $("fleet-view").hidden = meter !== null;
  $("meter-view").hidden = meter === null;
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
  const key = JSON.stringify([items, empty]);
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

function metersPath() {
  const query = new URLSearchParams({ limit: String(PAGE), quantity: ENERGY });
  if (meterView.search) query.set("q", meterView.search);
  const after = meterView.pages[meterView.pages.length - 1];
  if (after !== null) query.set("after", after);
  return "/api/meters/page?" + query;
}

const count = (n) => n.toLocaleString("en-US");

function rangeOf(page) {
  const matching = meterView.search ? " starting with " + meterView.search : "";
  if (page.meters.length === 0) {
    if (page.total === 0) return "no meters" + matching;
    return "no more meters" + matching + " (" + count(page.total) + " in all)";
  }
  const last = page.offset + page.meters.length;
  return "meters " + count(page.offset + 1) + "\u2013" + count(last) + " of " +
    count(page.total) + matching;
}

function showMeters(page) {
  const empty = meterView.search
    ? "No meter address starts with " + meterView.search + "."
    : "No meters registered.";
  fill("meters", page.meters, (row, m) => {
    const r = m.latest;
    meterCell(row, m.address);
    cell(row, m.terminal, "mono");
    cell(row, r ? r.value.toFixed(2) : "no reading yet", r ? "number" : "empty");
    cell(row, r ? when(r.time) : "");
  }, empty);
  meterView.next = page.next;
  $("meters-range").textContent = rangeOf(page);
  $("meters-previous").disabled = meterView.pages.length === 1;
  $("meters-next").disabled = page.next === null;
  // the command form offers the meters of this page, never the whole fleet
  const offered = $("command-meters");
  const addresses = page.meters.map((m) => m.address);
  if (addresses.join() !== Array.from(offered.options, (o) => o.value).join()) {
    offered.replaceChildren(...addresses.map((a) => new Option(a, a)));
  }
}

// The address cell: a box that selects the meter for a command (commands.js keeps the
// selection) and a link to the meter's page.
function meterCell(row, address) {
  const td = cell(row, "", "mono");
  const box = document.createElement("input");
  box.type = "checkbox";
  box.className = "select-meter";
  box.value = address;
  box.checked = selectedMeters.has(address);
  box.setAttribute("aria-label", "select meter " + address);
  const link = document.createElement("a");
  link.href = "#meter=" + address;
  link.textContent = address;
  td.append(box, link);
}

function nextPage() {
  if (meterView.next === null) return;
  meterView.pages.push(meterView.next);
  meterView.next = null; // a second click before the page arrives goes nowhere
  $("meters-next").disabled = true;
  refresh();
}

function previousPage() {
  if (meterView.pages.length === 1) return;
  meterView.pages.pop();
  $("meters-previous").disabled = meterView.pages.length === 1;
  refresh();
}

// Search as the user types (once they pause), or at once on Enter; what is not the first digits
// of an address is explained here and never sent (the API would count it as malformed input).
function search(now) {
  clearTimeout(searchTimer);
  const field = $("meter-search");
  const typed = field.value.trim().toLowerCase();
  const valid = PREFIX.test(typed);
  field.setAttribute("aria-invalid", String(!valid));
  if (!valid) {
    say("meters-message", "Search with the first digits of a meter address (up to 12 digits).",
      "error");
    return;
  }
  say("meters-message", "", "info");
  if (typed === meterView.search) return;
  const apply = () => {
    meterView.search = typed;
    meterView.pages = [null];
    meterView.next = null;
    refresh();
  };
  if (now) apply();
  else searchTimer = setTimeout(apply, 300);
}

function showEvents(events) {
  fill("events", events, (row, e) => {
    cell(row, when(e.time));
    cell(row, e.kind);
    cell(row, e.source, "text");
    cell(row, e.detail, "text");
  }, "No security events.");
}

function showOperations(events) {
  fill("operations", events, (row, e) => {
    cell(row, when(e.time));
    cell(row, e.kind.replaceAll("_", " "));
    cell(row, e.meter);
    cell(row, e.ended == null ? e.detail : e.detail + " (ended " + when(e.ended) + ")", "text");
  }, "No operational events.");
}

function clearData() {
  shown.clear();
  $("whoami").textContent = "";
  for (const id of ["alerts", "commands", "meters", "events", "operations", "command-meters",
    "terminals"]) {
    $(id).replaceChildren();
  }
  $("meters-range").textContent = "";
  $("meters-previous").disabled = $("meters-next").disabled = true;
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
    const me = await api("/api/whoami");
    if (mine !== generation) return;
    $("whoami").textContent = "Signed in as " + me.name + " (" + me.role + ")";
    document.body.dataset.role = me.role;
    showSummary(summary);
    const meter = meterInAddress();
    const shownNow = meter === null ? await refreshFleet(me) : await refreshMeter(meter, me);
    if (mine !== generation || !shownNow) return;
    showView(meter);
    say("status", "Up to date at " + new Date().toISOString().slice(11, 19) + " UTC.", "ok");
    if (meter === null) document.dispatchEvent(new Event("wattguard-refreshed")); // analytics.js
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

// The fleet view's data (fleet.js and commands.js add theirs); false if a newer refresh began.
async function refreshFleet(me) {
  const mine = generation;
  const [meters, alerts, events, commands, operations] = await Promise.all([
    api(metersPath()),
    api("/api/alerts?open=true"),
    api("/api/events?limit=" + SHOWN),
    api("/api/commands"),
    api("/api/operational-events?limit=" + SHOWN),
    refreshFleetFigures(),
    prepareCommandForm(me),
  ]);
  if (mine !== generation) return false;
  showAlerts(alerts);
  showMeters(meters);
  showCommands(commands);
  showEvents(events);
  showOperations(operations);
  return true;
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
  window.scrollTo(0, 0);
  refresh();
});
$("token-form").addEventListener("submit", useToken);
$("forget").addEventListener("click", forget);
$("meter-search").addEventListener("input", () => search(false));
$("meter-search-form").addEventListener("submit", (event) => {
  event.preventDefault();
  search(true);
});
$("meters-next").addEventListener("click", nextPage);
$("meters-previous").addEventListener("click", previousPage);
// every deferred script (fleet.js, commands.js, meter.js...) has run by then
document.addEventListener("DOMContentLoaded", refresh);
