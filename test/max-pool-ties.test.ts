// MaxPool's gradient where a window's maximum is tied: PyTorch sends it to the first maximum in row-major
// order (and only there). The cases and PyTorch's gradients come from scripts/make-maxpool-ties-fixture.py;
// integer values keep every sum exact, so the gradients must agree bit for bit.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { makeNode, type AttrValue } from '../src/onnx/builder.js';
import { runBackward } from './util/gradcheck.js';

interface TieCase {
  name: string;
  x_shape: number[];
  x: number[];
  upstream: number[];
  dx: number[];
  attrs: Record<string, number[] | number>;
}

const { cases } = JSON.parse(readFileSync('test/fixtures/maxpool-ties/cases.json', 'utf8')) as { cases: TieCase[] };

describe('MaxPool gradients at tied maxima, against PyTorch', () => {
  for (const c of cases) {
    for (const batch of ['static', 'dynamic'] as const) {
      it(`${c.name} (${batch} batch)`, async () => {
        expect(c.x.some((v, i) => c.x.indexOf(v) !== i), 'the case has ties').to.equal(true);
        const { gradients } = await runBackward({
          name: `maxpool_ties_${c.name}_${batch}`,
          nodes: [makeNode('MaxPool', ['x'], ['y'], c.attrs as Record<string, AttrValue>)],
          inputs: [{ name: 'x', dims: c.x_shape, shape: batch === 'dynamic' ? ['batch', ...c.x_shape.slice(1)] : undefined, values: c.x }],
          output: 'y',
          upstream: c.upstream,
        });
        expect(Array.from(gradients.get('x')!.data as Float64Array)).to.deep.equal(c.dx);
      });
    }
  }
});
