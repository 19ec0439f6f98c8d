// Time charts for the dashboard's views, drawn by uPlot (shipped in /dashboard/vendor/, see its
// README), with the axes in UTC like every other time on the page. A chart is drawn again only
// when its data changed, so the refresh every few seconds costs nothing when nothing arrived.
"use strict";

const timeCharts = new Map(); // element id -> { plot, key }
const UTC_DATE = (seconds) => uPlot.tzDate(new Date(seconds * 1e3), "Etc/UTC");

// Draw (or keep) the chart of `series` ([{label, values, stroke}]) over `times` (POSIX
// seconds) in the element `id`; `bars` draws bars (energy per day).
function drawTimeChart(id, title, times, series, bars) {
  const place = $(id);
  const key = JSON.stringify([title, times, series.map((s) => s.values)]);
  const old = timeCharts.get(id);
  if (old && old.key === key) return;
  if (old) old.plot.destroy();
  place.textContent = "";
  const options = {
    title: title,
    tzDate: UTC_DATE,
    width: Math.max(320, Math.min(1100, place.clientWidth || 640)),
    height: 220,
    axes: [{ label: "UTC" }, {}],
    series: [{ label: "time (UTC)" }, ...series.map((s) => ({
      label: s.label,
      stroke: s.stroke || "#1f77b4",
      fill: bars ? "rgba(31, 119, 180, 0.25)" : undefined,
      width: 2,
      spanGaps: false,
      paths: bars ? uPlot.paths.bars({ size: [0.6, 100] }) : undefined,
      points: bars ? { show: false } : undefined,
    }))],
  };
  const plot = new uPlot(options, [times, ...series.map((s) => s.values)], place);
  timeCharts.set(id, { plot, key });
  place.dataset.points = String(series[0].values.filter((v) => v !== null).length);
}

// The increase of a cumulative counter over each interval (rows oldest first: {time, value}),
// kept only where the previous row is exactly one interval earlier and the counter did not go
// back (as the station's fleet load counts it).
function increases(rows, interval) {
  const out = [];
  for (let k = 1; k < rows.length; k++) {
    const step = rows[k].value - rows[k - 1].value;
    if (rows[k].time - rows[k - 1].time === interval && step >= 0) {
      out.push({ time: rows[k].time, value: step });
    }
  }
  return out;
}
