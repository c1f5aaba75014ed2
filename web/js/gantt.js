// gantt.js - the timeline of a run's tasks: for each task, the time it waited
// (submitted -> started) and the time it ran (started -> finished, or now),
// on one axis from the run's creation to its end.
//
// Labels are HTML (links to the log); the bars are one SVG whose x positions
// are percentages of its width, so the chart follows the page width without
// any layout code.  Rows past MAX_ROWS are left out (and the chart says so):
// a run of 100k tasks must not build 100k SVG elements.

import { h, svg, parseTime, fmtDuration, isTerminal } from './dom.js';

const MAX_ROWS = 400;
const ROW = 18;  // px, kept in step with .gantt-labels > a in app.css
const AXIS = 16; // px above the rows for the time labels (.gantt-labels padding-top)

function tickStep(totalSeconds) {
  const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 21600,
    43200, 86400];
  return steps.find((s) => totalSeconds / s <= 8) || 86400 * Math.ceil(totalSeconds / 8 / 86400);
}

function taskSpans(item, now) {
  const submitted = parseTime(item.submitted_at);
  const started = parseTime(item.started_at);
  const finished = parseTime(item.finished_at);
  const terminal = isTerminal(item.status);
  // The local backend may record the start a moment before the submit returns.
  const waitFrom = submitted !== null && started !== null ? Math.min(submitted, started) : submitted;
  return {
    waitFrom,
    waitTo: started !== null ? started : (waitFrom !== null ? (terminal ? finished ?? waitFrom : now) : null),
    runFrom: started,
    runTo: started === null ? null : (finished !== null ? finished : (terminal ? started : now)),
  };
}

export function gantt(run, items, hrefFor) {
  const now = Date.now();
  const t0 = parseTime(run.created_at) ?? now;
  const rows = items.slice(0, MAX_ROWS).map((item) => ({ item, ...taskSpans(item, now) }));
  let t1 = parseTime(run.finished_at) ?? now;
  for (const r of rows) t1 = Math.max(t1, r.runTo ?? 0, r.waitTo ?? 0);
  const total = Math.max(1, t1 - t0);
  const pct = (t) => `${(100 * (t - t0)) / total}%`;
  const width = (a, b) => `${Math.max(0.15, (100 * (b - a)) / total)}%`;
  const height = rows.length * ROW;

  const chart = svg('svg', { class: 'gantt-bars', width: '100%', height: AXIS + height + 2,
    role: 'img', 'aria-label': 'task timeline' });
  const step = tickStep(total / 1000);
  for (let s = 0; s * 1000 <= total; s += step) {
    const x = pct(t0 + s * 1000);
    chart.append(svg('line', { x1: x, x2: x, y1: AXIS - 3, y2: AXIS + height, class: 'tick' }),
      svg('text', { x, y: AXIS - 5, class: 'tick-label' }, fmtDuration(s)));
  }
  rows.forEach((r, i) => {
    const y = AXIS + i * ROW + 3;
    const wait = r.waitFrom !== null && r.waitTo !== null ? (r.waitTo - r.waitFrom) / 1000 : null;
    const ran = r.runFrom !== null && r.runTo !== null ? (r.runTo - r.runFrom) / 1000 : null;
    const title = `${r.item.task.id} (${r.item.status})` +
      (wait !== null ? `\nwaited ${fmtDuration(wait)}` : '') + (ran !== null ? `\nran ${fmtDuration(ran)}` : '');
    if (wait !== null)
      chart.append(svg('rect', { x: pct(r.waitFrom), y: y + 4, width: width(r.waitFrom, r.waitTo),
        height: ROW - 14, class: 'bar wait' }, svg('title', {}, title)));
    if (ran !== null)
      chart.append(svg('rect', { x: pct(r.runFrom), y, width: width(r.runFrom, r.runTo),
        height: ROW - 6, class: `bar run s-${r.item.status}` }, svg('title', {}, title)));
  });

  const labels = h('div', { class: 'gantt-labels' },
    rows.map((r) => h('a', { href: hrefFor(r.item), title: r.item.task.id }, r.item.task.id)));
  return h('div', { class: 'gantt', id: 'gantt' },
    h('div', { class: 'gantt-body' }, labels, h('div', { class: 'gantt-chart' }, chart)),
    h('div', { class: 'gantt-legend small muted' },
      h('span', { class: 'key wait' }), ' waiting in the queue  ',
      h('span', { class: 'key run' }), ' running (colour = final state)',
      items.length > MAX_ROWS ? `  ·  first ${MAX_ROWS} of ${items.length} tasks shown` : ''));
}
