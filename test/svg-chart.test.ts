// The report's chart renderer: round ticks, TensorBoard's smoothing, thinning of long curves, and the SVG drawn.
import { expect } from 'chai';
import { renderChart, smooth, thin, ticks } from '../src/report/svg-chart.js';

describe('svg-chart', () => {
  it('ticks_round: 0…0.73 in 6 steps is 0, 0.2, …, 0.8 (raw step 0.12 rounds up to 0.2)', () => {
    expect(ticks(0, 0.73, 6)).to.deep.equal({ lo: 0, hi: 0.8, step: 0.2, values: [0, 0.2, 0.4, 0.6, 0.8] });
    // One value: a span around it rather than a zero-height axis.
    expect(ticks(0.01, 0.01, 4).values[0]).to.be.below(0.01);
  });

  it('smooth_debiased: the EMA divided by 1 − w^t, so it starts at the first value, as TensorBoard draws it', () => {
    // w = 0.5: t=1: (0.5·0)/0.5 = 0; t=2: (0.5·0 + 0.5·1)/0.75 = 2/3.
    expect(smooth([0, 1], 0.5)).to.deep.equal([0, 0.5 / 0.75]);
    expect(smooth([3, 3, 3], 0.6).map((v) => Number(v.toFixed(12)))).to.deep.equal([3, 3, 3]);
    expect(smooth([1, NaN, 1], 0.6)[1]).to.be.NaN;
  });

  it('thin_extremes: a 10000-point curve keeps about 2000 points, in order, with its lowest and highest', () => {
    const points = Array.from({ length: 10000 }, (_, i) => [i + 1, Math.sin(i / 50) + (i === 4321 ? 5 : 0)] as [number, number]);
    const kept = thin(points, 2000);
    expect(kept.length).to.be.within(1000, 2000);
    expect(kept.map((p) => p[0])).to.deep.equal([...kept.map((p) => p[0])].sort((a, b) => a - b));
    expect(kept).to.deep.include([4322, points[4321][1]]);
    expect(thin(points.slice(0, 10), 2000)).to.deep.equal(points.slice(0, 10));
  });

  it('draws a curve of 300000 steps (no spread into Math.min) as a path of about 2000 points', () => {
    const points = Array.from({ length: 300_000 }, (_, i) => [i + 1, 1 / (i + 1)] as [number, number]);
    const svg = renderChart({ id: 'long', title: 'L', xLabel: 'step', yLabel: 'loss', series: [{ name: 'a', color: '#000', points }] });
    expect(svg.match(/<path class="series"[^>]* d="([^"]+)"/)![1].split(/[ML]/).length - 1).to.be.within(1000, 2000);
  });

  it('draws a path per series, dots with their values for marked ones, and says so when nothing is finite', () => {
    const svg = renderChart({ id: 'c', title: 'T <1>', xLabel: 'step', yLabel: 'loss', series: [{ name: 'a', color: '#000', points: [[1, 2], [2, NaN], [3, 1]], markers: true }], markers: [{ x: 2, label: 'stage' }] });
    expect(svg).to.include('T &lt;1&gt;');
    expect(svg.match(/<path class="series"[^>]* d="([^"]+)"/)![1]).to.match(/^M[\d.]+ [\d.]+h0\.01M[\d.]+ [\d.]+h0\.01$/);
    expect(svg.match(/<circle/g)).to.have.length(2);
    expect(svg).to.include('data-value="2"');
    expect(renderChart({ id: 'e', title: 'E', xLabel: 'x', yLabel: 'y', series: [{ name: 'a', color: '#000', points: [[1, NaN]] }] })).to.include('no values recorded');
  });
});
