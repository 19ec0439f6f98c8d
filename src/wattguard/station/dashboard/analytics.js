// The dashboard's analytics view: the districts' daily line-loss rate and each district's
// meters ranked from the most suspect, the chosen meter's daily energy; charts drawn by uPlot
// (shipped in /dashboard/vendor/, see its README). Loaded after dashboard.js, whose `api`,
// `token`, `$` and `cell` it uses; every text from the API is written with textContent.
"use strict";

const ANALYTICS_MS = 30000; // at most this often (the job adds a day at a time)
const charts = new Map();
let analysedAt = 0;

function chart(id, title, label, times, values) {
  const place = $(id);
  const old = charts.get(id);
  if (old) old.destroy();
  place.textContent = "";
  const options = {
    title: title,
    tzDate: UTC_DATE, // charts.js: the axes in UTC, like every time on the page
    width: Math.max(320, Math.min(900, place.clientWidth || 640)),
    height: 220,
    series: [{}, { label: label, stroke: "#1f77b4", width: 2, spanGaps: false }],
  };
  charts.set(id, new uPlot(options, [times, values], place));
  place.dataset.points = String(values.filter((v) => v !== null).length);
}

// The time-of-use split, which table split it, and the latest month with its change.
function timeOfUse(view) {
  const tou = view.time_of_use;
  const kwh = (v) => v.toFixed(1);
  let text = "time of use (" + view.time_of_use_table.table + " table): peak " + kwh(tou.peak) +
    ", flat " + kwh(tou.flat) + ", valley " + kwh(tou.valley) + " kWh";
  const month = view.monthly.length ? view.monthly[view.monthly.length - 1] : null;
  if (month) {
    text += "; " + month.month + ": " + kwh(month.energy) + " kWh";
    if (month.change !== null) {
      text += " (" + (month.change >= 0 ? "+" : "") + (100 * month.change).toFixed(1) +
        " % on the month before)";
    }
  }
  return text;
}

async function showMeterAnalysis(meter) {
  const view = await api("/api/analytics/meters/" + meter);
  $("analytics-meter").textContent =
    "Meter " + view.meter + ": cluster " + (view.cluster_name || "-") + ", anomaly score " +
    (view.anomaly_score === null ? "-" : view.anomaly_score.toFixed(1)) + ", estimated error " +
    (view.estimated_error === null ? "-" : (100 * view.estimated_error).toFixed(1) + " %") +
    "; " + timeOfUse(view);
  chart(
    "meter-chart", "Daily energy of " + view.meter, "kWh",
    view.days.map((d) => d.day), view.days.map((d) => d.energy),
  );
}

async function showDistrict(district) {
  const view = await api("/api/analytics/districts/" + district);
  chart(
    "loss-chart", "Daily line-loss rate of district " + district, "loss rate (%)",
    view.loss.map((d) => d.day),
    view.loss.map((d) => (d.rate === null ? null : 100 * d.rate)),
  );
  const body = $("suspects");
  body.textContent = "";
  for (const s of view.suspects) {
    const row = body.insertRow();
    const link = document.createElement("button");
    link.type = "button";
    link.textContent = s.meter;
    link.addEventListener("click", () => showMeterAnalysis(s.meter));
    row.insertCell().appendChild(link);
    cell(row, s.estimated_error === null ? "-" : (100 * s.estimated_error).toFixed(1) + " %", "number");
    cell(row, s.anomaly_score === null ? "-" : s.anomaly_score.toFixed(1), "number");
    cell(row, s.cluster_name || "-");
  }
}

// Only after the dashboard's own refresh succeeded with the token: a refused token is one
// refusal (one security event at the station), never one more from this view.
async function refreshAnalytics() {
  if (!token() || Date.now() - analysedAt < ANALYTICS_MS) return;
  analysedAt = Date.now();
  try {
    const fleet = await api("/api/analytics/fleet?n=10");
    const select = $("district");
    const chosen = select.value;
    select.textContent = "";
    for (const d of fleet.districts) {
      const option = document.createElement("option");
      option.value = d.district;
      option.textContent = d.district;
      select.appendChild(option);
    }
    if (!fleet.districts.length) {
      $("analytics-status").textContent = "No complete day analysed yet.";
      return;
    }
    if (chosen) select.value = chosen;
    $("analytics-status").textContent =
      fleet.districts.length + " district(s) analysed; clusters: " +
      Object.entries(fleet.clusters).map(([name, n]) => name + " " + n).join(", ");
    await showDistrict(select.value);
  } catch (error) {
    $("analytics-status").textContent = explain(error);
  }
}

$("district").addEventListener("change", () => showDistrict($("district").value));
document.addEventListener("wattguard-refreshed", refreshAnalytics);
