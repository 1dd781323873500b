// The overview's chart of the last 30 days (PAGES.md, "Vendor dashboard"), drawn with the vendored uPlot
// (static/vendor/uplot/) from the table beneath it, #daily: the table is the page's single copy of the numbers
// and stays their accessible, script-free version. Each row carries its day as `data-day` (ISO date) and each
// cell its number unformatted as `data-value`: the cells' text is formatted for the page's language ("1 234",
// "1.234"), which no script should parse back. The series' names are the table's column headings (already
// translated), their colours the stylesheet's --series-N (style.css, "The overview's chart").
//
// Without script, or if uPlot did not load, the chart's box stays hidden and the page is the table alone.

const SHAPES = [[], [8, 4], [2, 3], [12, 3, 2, 3]]; // solid, dashed, dotted, dash-dot: not colour alone
const COUNT = "count";
const POINTS = "points"; // points earned have their own axis on the right: a day's points dwarf its stamps
const HEIGHT = { min: 220, max: 320, ratio: 0.45 };

/** The table's figures: `labels` (the day column's heading, then each series'), `scales` (COUNT or POINTS per
 * series), `days` (ISO dates, oldest first), `shortDays` (for the axis), `longDays` (the row headings, for the
 * legend) and `columns` (one array of numbers per series, aligned with `days`). */
function readTable(table) {
  const headings = Array.from(table.tHead.rows[0].cells);
  const rows = Array.from(table.tBodies[0].rows).sort((a, b) => a.dataset.day.localeCompare(b.dataset.day));
  const short = new Intl.DateTimeFormat(document.documentElement.lang || undefined, {
    day: "numeric",
    month: "short",
    timeZone: "UTC",
  });
  const series = headings.slice(1);
  return {
    labels: headings.map((cell) => cell.textContent.trim()),
    scales: series.map((cell) => (cell.dataset.scale === POINTS ? POINTS : COUNT)),
    days: rows.map((row) => row.dataset.day),
    shortDays: rows.map((row) => short.format(new Date(`${row.dataset.day}T00:00:00Z`))),
    longDays: rows.map((row) => row.cells[0].textContent.trim()),
    columns: series.map((_, index) => rows.map((row) => Number(row.cells[index + 1].dataset.value))),
  };
}

/** A scale from 0 to a little above the highest value (at least 4), so a day's peak is not drawn on the frame. */
function fromZero(u, min, max) {
  return [0, Math.max(4, Math.ceil(max * 1.15))];
}

/** uPlot's options for `figures` in a box `width` CSS px wide, coloured as `box`'s --series-N say. */
function options(figures, box, width) {
  const style = getComputedStyle(box);
  const ink = style.color;
  const numbers = new Intl.NumberFormat(document.documentElement.lang || undefined);
  const whole = (u, splits) => splits.map((value) => (Number.isInteger(value) ? numbers.format(value) : ""));
  const axis = { stroke: ink, grid: { stroke: style.getPropertyValue("--series-grid").trim() || "#ddd" } };
  const hasPoints = figures.scales.includes(POINTS);
  const pointsLabel = figures.labels[figures.scales.indexOf(POINTS) + 1];
  return {
    width,
    height: Math.round(Math.min(HEIGHT.max, Math.max(HEIGHT.min, width * HEIGHT.ratio))),
    scales: {
      x: { time: false },
      [COUNT]: { range: fromZero },
      [POINTS]: { range: fromZero },
    },
    axes: [
      { ...axis, values: (u, splits) => splits.map((index) => figures.shortDays[index] ?? ""), space: 56 },
      { ...axis, scale: COUNT, values: whole, incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000] },
      // Named after its series: which line the right-hand numbers belong to is not left to colour.
      ...(hasPoints ? [{ ...axis, scale: POINTS, side: 1, grid: { show: false }, values: whole, label: pointsLabel }] : []),
    ],
    series: [
      { label: figures.labels[0], value: (u, index) => figures.longDays[index] ?? "" },
      ...figures.columns.map((_, index) => ({
        label: figures.labels[index + 1],
        scale: figures.scales[index],
        stroke: style.getPropertyValue(`--series-${index + 1}`).trim() || ink,
        width: 2,
        dash: SHAPES[index % SHAPES.length],
        points: { size: 5 },
        value: (u, value) => (value == null ? "" : numbers.format(value)),
      })),
    ],
    legend: {
      // Markers as the lines are drawn: a dashed series gets a dashed marker.
      markers: { dash: (u, index) => (index > 0 && SHAPES[(index - 1) % SHAPES.length].length ? "dashed" : "solid") },
    },
    cursor: { drag: { x: false, y: false } }, // no zooming: 30 points need none, and it has no keyboard path
  };
}

function draw(table, box) {
  const figures = readTable(table);
  if (figures.days.length === 0) return;
  box.hidden = false; // shown first: a hidden box has no width to draw in
  const data = [figures.days.map((_, index) => index), ...figures.columns];
  const chart = new globalThis.uPlot(options(figures, box, box.clientWidth), data, box);
  // Responsive: the box is as wide as the page's column; redraw at its new width (a rotated tablet, a zoom).
  let width = box.clientWidth;
  new ResizeObserver(() => {
    if (box.clientWidth === width || box.clientWidth === 0) return;
    width = box.clientWidth;
    const { height } = options(figures, box, width);
    chart.setSize({ width, height });
  }).observe(box);
}

const table = document.getElementById("daily");
const box = document.getElementById("daily-chart");
if (table && box && typeof globalThis.uPlot === "function") draw(table, box);
