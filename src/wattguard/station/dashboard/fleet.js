// The dashboard's fleet figures: the day's collection completeness (the share of the expected
// 15-minute readings that arrived, for the fleet and per terminal), each terminal's health and
// the fleet's total load per quarter hour (GET /api/fleet and /api/fleet/load; every time
// UTC). Loaded after dashboard.js and charts.js, whose helpers it uses.
"use strict";

const LOAD_MS = 60000; // the load chart at most this often (it moves a quarter hour at a time)
let loadAt = 0;
let loadDay = null;

function percent(share) {
  return share === null || share === undefined ? "n/a" : (100 * share).toFixed(1) + " %";
}

function showCollection(view) {
  const f = view.fleet;
  $("fleet-completeness").textContent = percent(f.completeness);
  $("fleet-collected").textContent = count(f.arrived) + " of " + count(f.expected);
  $("fleet-day").textContent = view.day + " (UTC), " + view.due + " quarter hours due";
  $("fleet-completeness").parentElement.classList.toggle(
    "raised", f.completeness !== null && f.completeness < 0.9);
  fill("terminals", view.terminals, (row, t) => {
    cell(row, t.terminal, "mono");
    cell(row, t.online ? "online" : "offline", t.online ? "state-done" : "state-failed");
    cell(row, t.last_seen === null ? "never" : when(t.last_seen));
    cell(row, t.meters, "number");
    cell(row, t.meters_behind, t.meters_behind ? "number state-failed" : "number");
    cell(row, t.refused, "number");
    cell(row, count(t.arrived) + " / " + count(t.expected), "number");
    cell(row, percent(t.completeness), "number");
  }, "No terminals known yet.");
  offerDistricts(view.terminals.filter((t) => t.meters > 0).map((t) => t.terminal));
}

function showLoad(load) {
  const points = load.points;
  drawTimeChart("load-chart", "Total load of the fleet (kW, mean per quarter hour)",
    points.map((p) => p.time),
    [{ label: "load (kW)", values: points.map((p) => p.power), stroke: "#b3261e" }]);
  const last = points[points.length - 1];
  $("fleet-load").textContent = last ? last.power.toFixed(2) + " kW" : "n/a";
  $("fleet-load-at").textContent = last ? "quarter hour ending " + when(last.time) + " UTC" : "";
}

async function refreshFleetFigures() {
  const view = await api("/api/fleet");
  showCollection(view);
  if (Date.now() - loadAt >= LOAD_MS || loadDay !== view.day) {
    loadAt = Date.now();
    loadDay = view.day;
    showLoad(await api("/api/fleet/load"));
  }
}
