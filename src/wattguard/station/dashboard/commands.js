// The dashboard's commands: the form that issues one to several meters (typed addresses, the
// meters selected in the meters table, or every meter of a district), built from the kinds
// the station offers (GET /api/command-kinds; trip and close where it offers no list) and
// shown only to users whose role may issue one; the commands table with Approve and Reject.
// The API still decides every action. Loaded after dashboard.js, whose helpers it uses.
"use strict";

const ROLES = { viewer: 1, operator: 2, supervisor: 3 };
// What a station without /api/command-kinds offers (its API still decides).
const FALLBACK_KINDS = [
  { kind: "trip", role: "operator", approval: "above the solo trip budget", argument: null },
  { kind: "close", role: "operator", approval: null, argument: null },
];
const selectedMeters = new Set(); // addresses ticked in the meters table, kept across pages
let commandKinds = null; // fetched once per sign-in
let kindsFor = null; // the token they were fetched with

async function fetchCommandKinds() {
  try {
    const kinds = await api("/api/command-kinds");
    return Array.isArray(kinds) && kinds.length ? kinds : FALLBACK_KINDS;
  } catch (error) {
    if (error.status === 404) return FALLBACK_KINDS;
    throw error;
  }
}

// The form shows the kinds the user's role may issue; a viewer sees no form at all.
async function prepareCommandForm(me) {
  if (kindsFor !== token()) {
    commandKinds = await fetchCommandKinds();
    kindsFor = token();
  }
  const rank = ROLES[me.role] || 0;
  const allowed = commandKinds.filter((k) => (ROLES[k.role] || ROLES.operator) <= rank);
  $("command-panel").hidden = allowed.length === 0;
  const select = $("command-kind");
  const names = allowed.map((k) => k.kind);
  if (names.join() !== Array.from(select.options, (o) => o.value).join()) {
    select.replaceChildren(...names.map((n) => new Option(n, n)));
    showArgument();
  }
}

function kindOf(name) {
  return (commandKinds || FALLBACK_KINDS).find((k) => k.kind === name) || null;
}

// A kind that takes an argument shows the field, with what the station says it is.
function showArgument() {
  const kind = kindOf($("command-kind").value);
  const wanted = kind !== null && kind.argument;
  $("command-argument-field").hidden = !wanted;
  $("command-argument").placeholder = wanted && typeof kind.argument === "string" ? kind.argument : "";
  const approval = kind && kind.approval;
  $("command-approval").textContent = approval
    ? "A second person approves this command " + (typeof approval === "string" ? approval : "") + "."
    : "";
}

function showTarget() {
  const target = $("command-target").value;
  $("command-meter").hidden = target !== "typed";
  $("command-district").hidden = target !== "district";
  $("command-meter-hint").hidden = target !== "typed";
}

function showSelection() {
  const n = selectedMeters.size;
  $("selected-count").textContent = n === 0 ? "no meter selected"
    : n + " meter" + (n === 1 ? "" : "s") + " selected";
  $("selection-clear").disabled = n === 0;
}

function toggleSelection(event) {
  const box = event.target.closest("input.select-meter");
  if (box === null) return;
  if (box.checked) selectedMeters.add(box.value);
  else selectedMeters.delete(box.value);
  if (selectedMeters.size > 0) $("command-target").value = "selected";
  showTarget();
  showSelection();
}

function clearSelection() {
  selectedMeters.clear();
  for (const box of document.querySelectorAll("input.select-meter")) box.checked = false;
  showSelection();
}

// The districts (terminals) the fleet view knows, offered for a command to all their meters.
function offerDistricts(terminals) {
  const select = $("command-district");
  if (terminals.join() === Array.from(select.options, (o) => o.value).join()) return;
  const chosen = select.value;
  select.replaceChildren(...terminals.map((t) => new Option("district " + t, t)));
  if (terminals.includes(chosen)) select.value = chosen;
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
    cell(row, outcomes(c.results));
    const actions = cell(row, "");
    if (c.state === "awaiting approval") {
      actions.append(button("Approve", "approve", c.id), " ", button("Reject", "reject", c.id));
    }
  }, "No commands yet.");
}

function outcomes(results) {
  const counts = {};
  for (const outcome of Object.values(results)) counts[outcome] = (counts[outcome] || 0) + 1;
  return Object.entries(counts).map(([o, n]) => (n > 1 ? o + " x" + n : o)).join(", ");
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

// The meters typed (one or more addresses, separated by spaces or commas), or null after
// saying what is wrong.
function typedMeters() {
  const field = $("command-meter");
  const typed = field.value.split(/[\s,;]+/).filter((t) => t);
  const wrong = typed.find((t) => !ADDRESS.test(t));
  field.setAttribute("aria-invalid", String(typed.length === 0 || wrong !== undefined));
  if (typed.length === 0 || wrong !== undefined) {
    say("command-message", wrong !== undefined
      ? "A meter address is 12 digits, not \u201c" + wrong + "\u201d."
      : "Enter the 12-digit address of the meter to command (find it in the meters below).",
    "error");
    field.focus();
    return null;
  }
  return Array.from(new Set(typed));
}

async function targetMeters() {
  const target = $("command-target").value;
  if (target === "typed") return typedMeters();
  if (target === "selected") {
    if (selectedMeters.size > 0) return Array.from(selectedMeters).sort();
    say("command-message", "Select meters in the table below first.", "error");
    return null;
  }
  const district = $("command-district").value;
  if (!district) {
    say("command-message", "No district is known yet.", "error");
    return null;
  }
  return api("/api/terminals/" + encodeURIComponent(district) + "/meters");
}

async function issue(event) {
  event.preventDefault();
  const kind = $("command-kind").value;
  let meters;
  try {
    meters = await targetMeters();
  } catch (error) {
    say("command-message", explain(error), "error");
    return;
  }
  if (meters === null) return;
  const body = { kind, meters };
  const argument = $("command-argument").value.trim();
  if (!$("command-argument-field").hidden && argument) body.argument = argument;
  const what = meters.length === 1 ? meters[0] : meters.length + " meters";
  act((c) => "Command " + c.id + " (" + kind + " " + what + "): " + c.state + ".",
    "/api/commands", body);
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

$("command-form").addEventListener("submit", issue);
$("command-kind").addEventListener("change", showArgument);
$("command-target").addEventListener("change", showTarget);
$("commands").addEventListener("click", decide);
$("meters").addEventListener("change", toggleSelection);
$("selection-clear").addEventListener("click", clearSelection);
showTarget();
showSelection();
