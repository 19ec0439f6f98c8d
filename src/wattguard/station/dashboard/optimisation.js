// The dashboard's optimisation view: each district's orderly-charging job (issue #17): the
// base-load forecast against the measured base load, the planned EV power on the base load
// against the transformer's capacity line, and demand-response requests with what the
// meters' readings showed afterwards; where the limits go as pile-limit commands, how many
// the meters confirmed. Charts by uPlot (/dashboard/vendor/). Loaded after
// dashboard.js, whose `api`, `token`, `$`, `cell` and `explain` it uses; it builds its own
// section, so index.html only loads it. Every text from the API is written with textContent.
"use strict";

const OPTIMISATION_MS = 15000;
const optimisationCharts = new Map();
let optimisedAt = 0;

function optimisationSection() {
  let section = $("optimisation-section");
  if (section) return section;
  section = document.createElement("section");
  section.id = "optimisation-section";
  const heading = document.createElement("h2");
  heading.textContent = "Orderly charging";
  const status = document.createElement("p");
  status.id = "optimisation-status";
  const select = document.createElement("select");
  select.id = "charging-district";
  select.setAttribute("aria-label", "district");
  select.addEventListener("change", () => showCharging(select.value));
  const form = document.createElement("form");
  form.id = "dr-form";
  form.innerHTML =
    '<label>shed kW <input id="dr-kw" type="number" min="0.1" step="0.1" value="10"></label> ' +
    '<label>for hours <input id="dr-hours" type="number" min="0.25" max="24" step="0.25" value="1"></label> ' +
    '<button type="submit">Request demand response</button>';
  form.addEventListener("submit", requestDemandResponse);
  const forecast = document.createElement("div");
  forecast.id = "forecast-chart";
  const plan = document.createElement("div");
  plan.id = "plan-chart";
  const table = document.createElement("table");
  table.innerHTML =
    "<thead><tr><th>window (intervals)</th><th>asked kW</th><th>piles limited</th>" +
    "<th>shed kW (readings)</th><th>share</th></tr></thead><tbody id='dr-results'></tbody>";
  section.append(heading, status, select, forecast, plan, form, table);
  document.querySelector("main").appendChild(section);
  return section;
}

function lines(id, title, times, series) {
  const place = $(id);
  const old = optimisationCharts.get(id);
  if (old) old.destroy();
  place.textContent = "";
  const colours = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"];
  const options = {
    title: title,
    width: Math.max(320, Math.min(900, place.clientWidth || 640)),
    height: 220,
    series: [{}].concat(series.map((s, i) => ({
      label: s.label, stroke: colours[i % colours.length], width: 2, dash: s.dash,
    }))),
  };
  optimisationCharts.set(id, new uPlot(options, [times].concat(series.map((s) => s.values)), place));
  place.dataset.points = String(times.length);
}

async function showCharging(district) {
  const view = await api("/api/charging/" + district);
  const withEv = view.planned_ev_kw.map((ev, i) => {
    const base = view.actual_kw[i] === null ? view.forecast_kw[i] : view.actual_kw[i];
    return base === null || ev === null ? null : base + ev;
  });
  lines("forecast-chart", "Base load of district " + district + ": forecast and actual", view.times, [
    { label: "forecast kW", values: view.forecast_kw },
    { label: "actual kW", values: view.actual_kw },
  ]);
  lines("plan-chart", "Charging plan against the capacity", view.times, [
    { label: "base + planned EV kW", values: withEv },
    { label: "planned EV kW", values: view.planned_ev_kw },
    { label: "capacity kW", values: view.times.map(() => view.capacity_kw), dash: [6, 4] },
  ]);
  const body = $("dr-results");
  body.textContent = "";
  for (const r of view.demand_responses) {
    const row = body.insertRow();
    cell(row, r.first + "-" + r.last);
    cell(row, r.asked_kw.toFixed(1), "number");
    cell(row, Object.keys(r.limits).join(", "));
    const missing = r.missing ? " (" + r.missing + " readings missing)" : "";
    const waiting = r.measured ? "no readings" : "pending";
    const shed = r.shed_kw === null ? waiting : r.shed_kw.toFixed(1);
    cell(row, shed + missing, "number");
    cell(row, r.share === null ? "" : (100 * r.share).toFixed(0) + " %", "number");
  }
  const sent = Object.values(view.deliveries || {});
  const confirmed = sent.filter((d) => d.outcome === "ok").length;
  const waiting = sent.filter((d) => d.outcome === "").length;
  $("optimisation-status").textContent =
    view.sessions.length + " session(s); last re-plan: " +
    (view.replans.length ? view.replans[view.replans.length - 1].reason : "-") +
    "; forecast history: " + (view.history_source || "-") +
    "; pile readings missing: " + (view.missing_readings || 0) +
    (sent.length ? "; pile limits (pile-limit commands): " + confirmed + " confirmed by the meters, " +
      waiting + " on their way, " + (sent.length - confirmed - waiting) + " not confirmed" : "");
}

async function requestDemandResponse(event) {
  event.preventDefault();
  const district = $("charging-district").value;
  if (!district) return;
  try {
    const body = { shed_kw: Number($("dr-kw").value), hours: Number($("dr-hours").value) };
    const answer = await api("/api/charging/" + district + "/demand-response", "POST", body);
    await showCharging(district);
    $("optimisation-status").textContent =
      "Demand response sent: " + Object.keys(answer.limits).length + " pile(s) limited, " +
      answer.shortfall_kw.toFixed(1) + " kW could not be offered.";
  } catch (error) {
    $("optimisation-status").textContent = explain(error);
  }
}

async function refreshOptimisation() {
  if (!token() || Date.now() - optimisedAt < OPTIMISATION_MS) return;
  optimisedAt = Date.now();
  const section = optimisationSection();
  try {
    const found = await api("/api/charging");
    const select = $("charging-district");
    const chosen = select.value;
    select.textContent = "";
    for (const d of found.districts) {
      const option = document.createElement("option");
      option.value = d.district;
      option.textContent = d.district + " (" + d.piles.length + " piles, " + d.capacity_kw + " kW)";
      select.appendChild(option);
    }
    section.hidden = !found.districts.length;
    if (!found.districts.length) return;
    if (chosen) select.value = chosen;
    await showCharging(select.value);
  } catch (error) {
    $("optimisation-status").textContent = explain(error);
  }
}

document.addEventListener("wattguard-refreshed", refreshOptimisation);
