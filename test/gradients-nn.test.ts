// Checks of the CNN-side rules that the per-rule case table (test/gradients.test.ts, cases from
// test/gradients-nn.ts) cannot express: Dropout in training mode, whose forward is random, and the claim that
// float32 Conv gradients on the checker's 1/64 grid are exact.
import { expect } from 'chai';
import { DataType, makeNode, makeTensor } from '../src/onnx/builder.js';
import { createSession } from '../src/runtime/session.js';
import { buildCase, gradCheck, runBackward, toOrt, type GradCheckSpec } from './util/gradcheck.js';
import { convCases } from './gradients-nn.js';

describe('Dropout in training mode against finite differences', () => {
  // The forward draws a mask, so the function differentiated is Y = X · M / (1 - ratio) for the mask M of the
  // run. With a seed attribute onnxruntime draws the same M on the first run of every new session (the forward
  // check below fails if it does not), so M is read once and the reference is X · M · 2 (ratio 0.5).
  async function maskOf(spec: GradCheckSpec): Promise<Uint8Array> {
    const built = buildCase({ ...spec, reference: ({ x }) => x });
    const session = await createSession(built.forward);
    try {
      const out = await session.run(toOrt(built.feeds));
      return Uint8Array.from(out.mask.data as Uint8Array);
    } finally {
      await session.release();
    }
  }

  async function check(name: string, nodes: GradCheckSpec['nodes'], extra: Partial<GradCheckSpec> = {}, training = true) {
    const spec: GradCheckSpec = {
      name,
      nodes,
      inputs: [{ name: 'x', dims: [4, 6] }],
      constants: [makeTensor('ratio', DataType.DOUBLE, [], [0.5])],
      output: 'y',
      wrt: ['x'],
      ...extra,
    };
    const mask = await maskOf(spec);
    const kept = mask.reduce((a, b) => a + b, 0);
    if (training) expect(kept, 'some elements dropped, some kept').to.be.within(1, mask.length - 1);
    else expect(kept).to.equal(mask.length);
    const scale = training ? 2 : 1;
    const report = await gradCheck({ ...spec, reference: ({ x }) => x.map((v, i) => (mask[i] ? v * scale : 0)) });
    const g = report.gradients.get('x')!;
    // Exactly dY · M · scale: dropped elements get exactly 0.
    Array.from(g.analytic).forEach((v, i) => expect(v).to.equal(mask[i] ? report.upstream[i] * scale : 0));
  }

  it('dropout_training_constant_true', async () => {
    await check('dropout_training_constant_true', [makeNode('Dropout', ['x', 'ratio', 'training'], ['y', 'mask'], { seed: 7 })], {
      constants: [makeTensor('ratio', DataType.DOUBLE, [], [0.5]), makeTensor('training', DataType.BOOL, [], [1])],
    });
  });

  // training_mode computed in the graph (here from an int64 input) is only known at run time.
  const dynamicNodes = [
    makeNode('Cast', ['t'], ['training'], { to: DataType.BOOL }),
    makeNode('Dropout', ['x', 'ratio', 'training'], ['y', 'mask'], { seed: 11 }),
  ];
  it('dropout_training_mode_at_run_time_true', async () => {
    await check('dropout_training_mode_at_run_time_true', dynamicNodes, { inputs: [{ name: 'x', dims: [4, 6] }, { name: 't', dims: [], type: 'int64', values: [1] }] });
  });
  it('dropout_training_mode_at_run_time_false', async () => {
    await check('dropout_training_mode_at_run_time_false', dynamicNodes, { inputs: [{ name: 'x', dims: [4, 6] }, { name: 't', dims: [], type: 'int64', values: [0] }] }, false);
  });
});

describe('float32 Conv gradients on the 1/64 grid', () => {
  // The claim the float32 checks rest on (test/util/gradcheck.ts): on this data onnxruntime's float32 Conv,
  // ConvTranspose and ReduceSum are exact. Each variable enters y linearly, so a central difference with a
  // step on the grid itself (1/64) is exact in float64 too: the two must agree to the last bit.
  for (const name of ['conv_2d_group2', 'conv_2d_stride2_remainder', 'conv_1d_stride3_dilation2_cut', 'conv_2d_same_lower_stride2']) {
    it(`${name} is exact`, async () => {
      const spec = convCases().find((c) => c.name === name)!;
      const r = await runBackward(spec);
      const inputs = Object.fromEntries(Object.entries(r.built.feeds).map(([k, f]) => [k, f.data as Float64Array]));
      const f = () => spec.reference!(inputs).reduce((s, v, k) => s + v * r.upstream[k], 0);
      for (const [tensor, g] of r.gradients) {
        const x = inputs[tensor], analytic = g.data as Float64Array;
        for (let i = 0; i < x.length; i++) {
          const original = x[i];
          x[i] = original + 1 / 64;
          const plus = f();
          x[i] = original - 1 / 64;
          const minus = f();
          x[i] = original;
          expect(analytic[i], `d/d${tensor}[${i}]`).to.equal((plus - minus) * 32);
        }
      }
    });
  }
});
