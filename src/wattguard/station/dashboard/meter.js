// A meter's page (`#meter=<address>`): its latest values with units, its relay state, a "read
// now" button (an on-demand read through its terminal), its 15-minute curve and daily energy
// drawn by uPlot, its day freezes, its security and operational events and its commands.
// Every time is UTC. Loaded after dashboard.js and charts.js, whose helpers it uses.
"use strict";

const CURVE_DAYS = 7; // of the 15-minute curve on the chart
const QUARTER = 900;
// What "read now" asks the meter for (DL/T 698.45 objects, attribute 2): forward active
// energy, voltage, current, active power.
const READ_NOW = ["00100200", "20000200", "20010200", "20040200"];

// The meter's entry (its terminal, its relay state as the station last learnt it, its
// clock drift): GET /api/meters/{address}; null for a meter the station does not know.
async function meterEntry(address) {
  try {
    return await api("/api/meters/" + address);
  } catch (error) {
    if (error.status === 404) return null;
    throw error;
  }
}

// The on-demand read, the one place that knows its route: one POST /api/meters/{a}/reads per
// object (answered at once, "pending"), then GET /api/reads/{id} every half second until each
// is done or failed (or 30 s passed: the terminal relays reads one at a time).
async function readNow(address, objects) {
  const reads = [];
  for (const object of objects) {
    reads.push(await api("/api/meters/" + address + "/reads", "POST", { object, wait: 0 }));
  }
  const deadline = Date.now() + 30000;
  while (reads.some((r) => r.state === "pending") && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    for (let k = 0; k < reads.length; k++) {
      if (reads[k].state === "pending") reads[k] = await api("/api/reads/" + reads[k].id);
    }
  }
  return reads.map((read) => ({
    quantity: read.object,
    name: read.name,
    unit: read.state === "done" ? read.unit : null,
    value: read.state !== "done" ? read.state + (read.error ? " (" + read.error + ")" : "")
      : Array.isArray(read.value) ? read.value.join(" / ") : read.value,
  }));
}

function latestValues(readings) {
  const seen = new Map();
  for (const r of readings) {
    if (!r.quantity.includes("/") && !seen.has(r.quantity)) seen.set(r.quantity, r);
  }
  return Array.from(seen.values()).sort((a, b) => a.quantity.localeCompare(b.quantity));
}

function showLatest(readings) {
  fill("meter-latest", latestValues(readings), (row, r) => {
    cell(row, r.name);
    cell(row, r.value, "number");
    cell(row, r.unit || "");
    cell(row, when(r.time));
    cell(row, r.quantity, "mono");
  }, "No reading of this meter yet.");
}

function showRelay(entry, commands) {
  const relay = entry && entry.relay !== undefined && entry.relay !== null ? entry.relay : null;
  $("meter-terminal").textContent = entry ? entry.terminal : "";
  if (relay !== null) {
    $("meter-relay").textContent = typeof relay === "string" ? relay : JSON.stringify(relay);
    return;
  }
  const done = commands.find((c) => ["trip", "close"].includes(c.kind) && c.results[entry.address] === "ok");
  $("meter-relay").textContent = done
    ? (done.kind === "trip" ? "tripped" : "closed") + " by command " + done.id + " (as last commanded)"
    : "not reported";
}

// The curve, oldest first, as the load of each quarter hour (kW) and each UTC day's energy.
function showCurves(address, curve) {
  const rows = curve.slice().reverse();
  const steps = increases(rows, QUARTER);
  drawTimeChart("meter-curve", "15-minute load of " + address + " (kW)",
    steps.map((s) => s.time), [{ label: "load (kW)", values: steps.map((s) => +(s.value * 4).toFixed(4)) }]);
  const days = new Map();
  for (const s of steps) {
    // a day's bar stands at its noon; the quarter hour ending at 00:00 is the day before's
    const day = Math.floor((s.time - 1) / 86400) * 86400 + 43200;
    days.set(day, (days.get(day) || 0) + s.value);
  }
  // the last CURVE_DAYS days (those without a quarter hour empty), and an empty day either
  // side so that the first and last bars show whole
  const last = days.size ? Math.max(...days.keys()) : Math.floor(Date.now() / 86400000) * 86400 + 43200;
  const times = Array.from({ length: CURVE_DAYS + 2 }, (_, k) => last - (CURVE_DAYS - k) * 86400);
  const values = times.map((t) => (days.has(t) ? +days.get(t).toFixed(3) : null));
  drawTimeChart("meter-daily", "Daily energy of " + address + " (kWh, UTC days)", times,
    [{ label: "energy (kWh)", values, stroke: "#1e6b34" }], true);
  $("meter-daily-table").textContent = times.filter((t) => days.has(t)).map((t) =>
    when(t).slice(0, 10) + ": " + days.get(t).toFixed(2) + " kWh").join(", ");
}

function showFreezes(freezes) {
  fill("meter-freezes", freezes, (row, r) => {
    cell(row, when(r.time));
    cell(row, r.name);
    cell(row, r.value, "number");
    cell(row, r.unit || "");
  }, "No day freeze stored yet.");
}

function showMeterEvents(security, operational) {
  const all = [
    ...security.map((e) => ({ ...e, type: "security" })),
    ...operational.map((e) => ({ ...e, type: "operational" })),
  ].sort((a, b) => b.time - a.time);
  fill("meter-events", all.slice(0, SHOWN), (row, e) => {
    cell(row, when(e.time));
    cell(row, e.type);
    cell(row, e.kind.replaceAll("_", " "));
    cell(row, e.detail, "text");
  }, "No events of this meter.");
}

function showMeterCommands(address, commands) {
  fill("meter-commands", commands.slice(0, SHOWN), (row, c) => {
    cell(row, c.id, "number");
    cell(row, c.argument ? c.kind + " " + c.argument : c.kind);
    cell(row, when(c.issued_at));
    cell(row, c.issued_by);
    cell(row, c.state, "state-" + c.state.replace(/ /g, "-"));
    cell(row, c.results[address] || "");
  }, "No commands to this meter.");
}

async function refreshMeter(address, me) {
  const mine = generation;
  const base = "/api/meters/" + address;
  const [entry, latest, curve, freezes, security, operational, commands] = await Promise.all([
    meterEntry(address),
    api(base + "/readings?limit=200"),
    api(base + "/freezes?object=50020200&limit=" + (CURVE_DAYS * 96 + 1)),
    api(base + "/freezes?object=50040200&limit=31"),
    api("/api/events?limit=" + SHOWN + "&meter=" + address),
    api("/api/operational-events?limit=" + SHOWN + "&meter=" + address),
    api("/api/commands"),
  ]);
  if (mine !== generation) return false;
  const own = commands.filter((c) => c.meters.includes(address));
  $("meter-title").textContent = "Meter " + address;
  $("meter-read").dataset.meter = address;
  showView(address); // before the charts, so they take the width of the visible page
  showRelay(entry || { address, terminal: "" }, own);
  showLatest(latest.readings);
  showCurves(address, curve.readings);
  showFreezes(freezes.readings);
  showMeterEvents(security, operational);
  showMeterCommands(address, own);
  return true;
}

function showRead(answer) {
  const rows = Array.isArray(answer) ? answer : answer && Array.isArray(answer.readings) ? answer.readings : null;
  if (rows === null) {
    $("meter-read-result").textContent = JSON.stringify(answer);
    return;
  }
  $("meter-read-result").textContent = rows.map((r) =>
    (r.name || r.quantity) + " " + r.value + (r.unit ? " " + r.unit : "")).join("; ");
}

async function clickReadNow() {
  const address = $("meter-read").dataset.meter;
  if (!address) return;
  $("meter-read").disabled = true;
  say("meter-read-message", "Reading " + address + " through its terminal\u2026", "info");
  try {
    const answer = await readNow(address, READ_NOW);
    say("meter-read-message", "Read at " + new Date().toISOString().slice(11, 19) + " UTC.", "ok");
    showRead(answer);
    refresh();
  } catch (error) {
    const missing = error.status === 404 || error.status === 405;
    say("meter-read-message", missing && /^Not Found|Method Not Allowed|no reason/.test(error.message)
      ? "This station offers no on-demand read." : explain(error), "error");
  } finally {
    $("meter-read").disabled = false;
  }
}

$("meter-read").addEventListener("click", clickReadNow);
