// A small line-chart renderer: series of (x, y) points drawn as inline SVG, with axes, round ticks, a legend,
// and vertical markers (stage boundaries). No script and no network: the report stays one static file.
import { escapeHtml } from './html-text.js';

export interface Series {
  name: string;
  points: [number, number][];
  color: string;
  /** Drawn thin and pale behind the others (a raw curve under its smoothed one). */
  faint?: boolean;
  /** A dot at each point, with the value as its tooltip (epoch values). */
  markers?: boolean;
}

export interface Marker { x: number; label: string }

export interface Chart {
  id: string;
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  markers?: Marker[];
}

/** A curve of more points than this is thinned to each bucket's lowest and highest (a long run's page stays small). */
const MAX_POINTS = 2000;
const W = 640, H = 280, LEFT = 64, RIGHT = 16, TOP = 28, BOTTOM = 44;

/** The chart as a <figure> holding its SVG; a chart with no finite point says so instead of drawing empty axes. */
export function renderChart(chart: Chart): string {
  // The finite points' extent in one pass: a long run's curves have thousands of points, and a run renders its report at every checkpoint.
  let xLo = Infinity, xHi = -Infinity, yLo = Infinity, yHi = -Infinity;
  for (const s of chart.series) {
    for (const [x, y] of s.points) {
      if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
      if (x < xLo) xLo = x;
      if (x > xHi) xHi = x;
      if (y < yLo) yLo = y;
      if (y > yHi) yHi = y;
    }
  }
  const head = `<figure class="chart" id="${escapeHtml(chart.id)}"><figcaption>${escapeHtml(chart.title)}</figcaption>`;
  if (xLo === Infinity) return `${head}<p class="empty">no values recorded</p></figure>`;
  const xs = ticks(xLo, xHi, 8);
  const ys = ticks(yLo, yHi, 6);
  const sx = (x: number) => LEFT + ((x - xs.lo) / (xs.hi - xs.lo)) * (W - LEFT - RIGHT);
  const sy = (y: number) => TOP + (1 - (y - ys.lo) / (ys.hi - ys.lo)) * (H - TOP - BOTTOM);
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${escapeHtml(chart.title)}">`);
  for (const t of ys.values) parts.push(`<line class="grid" x1="${LEFT}" x2="${W - RIGHT}" y1="${f(sy(t))}" y2="${f(sy(t))}"/><text class="tick" x="${LEFT - 6}" y="${f(sy(t) + 4)}" text-anchor="end">${tickText(t, ys.step)}</text>`);
  for (const t of xs.values) parts.push(`<text class="tick" x="${f(sx(t))}" y="${H - BOTTOM + 16}" text-anchor="middle">${tickText(t, xs.step)}</text>`);
  parts.push(`<line class="axis" x1="${LEFT}" x2="${W - RIGHT}" y1="${H - BOTTOM}" y2="${H - BOTTOM}"/><line class="axis" x1="${LEFT}" x2="${LEFT}" y1="${TOP}" y2="${H - BOTTOM}"/>`);
  parts.push(`<text class="label" x="${(LEFT + W - RIGHT) / 2}" y="${H - 8}" text-anchor="middle">${escapeHtml(chart.xLabel)}</text>`);
  parts.push(`<text class="label" transform="translate(14 ${(TOP + H - BOTTOM) / 2}) rotate(-90)" text-anchor="middle">${escapeHtml(chart.yLabel)}</text>`);
  for (const m of chart.markers ?? []) {
    parts.push(`<g class="marker"><line x1="${f(sx(m.x))}" x2="${f(sx(m.x))}" y1="${TOP}" y2="${H - BOTTOM}"/><text x="${f(sx(m.x) + 4)}" y="${TOP + 10}">${escapeHtml(m.label)}</text></g>`);
  }
  for (const s of [...chart.series.filter((s) => s.faint), ...chart.series.filter((s) => !s.faint)]) {
    const d = pathData(s.markers ? s.points : thin(s.points, MAX_POINTS), sx, sy);
    if (d) parts.push(`<path class="series${s.faint ? ' faint' : ''}" data-series="${escapeHtml(s.name)}" d="${d}" stroke="${s.color}"/>`);
    if (s.markers) {
      for (const [x, y] of s.points) {
        if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
        parts.push(`<circle class="point" data-series="${escapeHtml(s.name)}" data-x="${x}" data-value="${y}" cx="${f(sx(x))}" cy="${f(sy(y))}" r="3" fill="${s.color}"><title>${escapeHtml(s.name)} at ${x}: ${y.toPrecision(6)}</title></circle>`);
      }
    }
  }
  parts.push('</svg>');
  const legend = chart.series.filter((s) => !s.faint).map((s) => `<span class="key"><i style="background:${s.color}"></i>${escapeHtml(s.name)}</span>`).join('');
  return `${head}${parts.join('')}<div class="legend">${legend}</div></figure>`;
}

/** Line segments through the finite points; a non-finite one breaks the line, and a lone point still shows (a dot-length stroke). */
function pathData(points: [number, number][], sx: (x: number) => number, sy: (y: number) => number): string {
  let d = '', run = 0;
  const end = () => {
    if (run === 1) d += 'h0.01';
    run = 0;
  };
  for (const [x, y] of points) {
    if (!Number.isFinite(x) || !Number.isFinite(y)) {
      end();
      continue;
    }
    d += `${run === 0 ? 'M' : 'L'}${f(sx(x))} ${f(sy(y))}`;
    run++;
  }
  end();
  return d;
}

/** At most about `max` points: per bucket of consecutive points, the lowest and the highest in order; non-finite ones kept (they break the line). */
export function thin(points: [number, number][], max: number): [number, number][] {
  if (points.length <= max) return points;
  const size = Math.ceil(points.length / (max / 2));
  const kept: [number, number][] = [];
  for (let start = 0; start < points.length; start += size) {
    const end = Math.min(start + size, points.length);
    // The first lowest and the first highest finite point of the bucket; its non-finite ones kept as they are.
    let low = -1, high = -1;
    for (let i = start; i < end; i++) {
      const y = points[i][1];
      if (!Number.isFinite(y)) kept.push(points[i]);
      else {
        if (low < 0 || y < points[low][1]) low = i;
        if (high < 0 || y > points[high][1]) high = i;
      }
    }
    if (low < 0) continue;
    if (low === high) kept.push(points[low]);
    else if (points[low][0] < points[high][0]) kept.push(points[low], points[high]);
    else kept.push(points[high], points[low]);
  }
  return kept.sort((a, b) => a[0] - b[0]);
}

/** Round tick values covering [lo, hi]: steps of 1, 2 or 5 times a power of ten. */
export function ticks(lo: number, hi: number, count: number): { lo: number; hi: number; step: number; values: number[] } {
  if (lo === hi) {
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    [lo, hi] = [lo - pad, hi + pad];
  }
  const raw = (hi - lo) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw)!;
  const first = Math.floor(lo / step) * step, last = Math.ceil(hi / step) * step;
  const values: number[] = [];
  for (let v = first; v <= last + step / 2; v += step) values.push(Number(v.toPrecision(12)));
  return { lo: first, hi: last, step, values };
}

function tickText(v: number, step: number): string {
  if (v !== 0 && (Math.abs(v) < 1e-3 || Math.abs(v) >= 1e5)) return v.toExponential(1);
  const digits = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  return v.toFixed(digits);
}

const f = (v: number) => v.toFixed(1);

/** The smallest and largest value, by a loop: spreading a long run's steps into Math.min would overflow the stack. */
export function extent(values: number[]): [number, number] {
  let lo = Infinity, hi = -Infinity;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

/** TensorBoard's smoothing: an exponential moving average, debiased at the start; non-finite values are passed over. */
export function smooth(values: number[], weight: number): number[] {
  let last = 0, debias = 0;
  return values.map((v) => {
    if (!Number.isFinite(v)) return NaN;
    last = last * weight + (1 - weight) * v;
    debias = debias * weight + (1 - weight);
    return last / debias;
  });
}
