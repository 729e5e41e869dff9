// Adam/AdamW as one ONNX graph over all trainable parameters. For millions of parameters the JavaScript
// loop (a dozen float32 roundings per element) costs more than the model's GEMMs; ONNX Runtime's vectorized
// elementwise kernels do the same float32 operations, in the same order, for a fraction of the time. So
// this gives the same bits as optimizer.ts's loop (the tests compare them).
import { DataType, makeGraph, makeModel, makeValueInfo } from '../onnx/builder.js';
import type { NodeProto, TensorProto } from '../onnx/proto.js';
import { createEmitter } from '../graph/emitter.js';
import { createStepSession, ort, type SessionOptions, type StepSession } from '../runtime/session.js';
import { adamScalars, type Optimizer, type UpdateKernel } from './optimizer.js';

/** Models with at least this many trainable parameters update in a graph. */
export const GRAPH_UPDATE_MIN_PARAMETERS = 1 << 17;

export class AdamGraphUpdate implements UpdateKernel {
  private constructor(private readonly session: StepSession) {}

  /** Undefined where the update would not run synchronously (no native binding): the JavaScript loop serves. */
  static async create(optimizer: Optimizer, shapes: ReadonlyMap<string, number[]>, options: SessionOptions): Promise<AdamGraphUpdate | undefined> {
    const nodes: NodeProto[] = [];
    const initializers: TensorProto[] = [];
    const inputs = [], outputs = [];
    const decoupled = optimizer.kind === 'adamw';
    for (const [k, group] of optimizer.groups.entries()) {
      const e = createEmitter(`group${k}`, DataType.FLOAT, 17, initializers);
      const d = createEmitter(`group${k}`, DataType.DOUBLE, 17, initializers);
      const { w1, b2, w2, eps, wd, decay } = adamScalars(group, 1);
      inputs.push(makeValueInfo(`group${k}/neg_step`, DataType.FLOAT, []), makeValueInfo(`group${k}/bc2`, DataType.FLOAT, []));
      for (const name of group.params) {
        // Elementwise math: every tensor is fed flat.
        const dims = [shapes.get(name)!.reduce((a, b) => a * b, 1)];
        const t = (suffix: string) => `${name}/${suffix}`;
        for (const x of ['p', 'g', 'm', 'v']) inputs.push(makeValueInfo(t(x), DataType.FLOAT, dims));
        for (const x of ['p_new', 'm_new', 'v_new']) outputs.push(makeValueInfo(t(x), DataType.FLOAT, dims));
        // a + b·c rounded once, as PyTorch's fused multiply-add: exact product and sum in float64, then float32.
        const fusedMultiplyAdd = (a: string, b: string, c: number, out: string) => [
          e.make('Cast', [a], [t(`${out}/a`)], { to: DataType.DOUBLE }),
          e.make('Cast', [b], [t(`${out}/b`)], { to: DataType.DOUBLE }),
          e.make('Mul', [t(`${out}/b`), d.constant(`${out}_c`, [c])], [t(`${out}/bc`)]),
          e.make('Add', [t(`${out}/a`), t(`${out}/bc`)], [t(`${out}/sum`)]),
          e.make('Cast', [t(`${out}/sum`)], [t(out)], { to: DataType.FLOAT }),
        ];
        let p = t('p'), grad = t('g');
        if (group.weightDecay !== 0 && decoupled) nodes.push(e.make('Mul', [p, e.constant('decay', [decay])], [(p = t('p_decayed'))]));
        if (group.weightDecay !== 0 && !decoupled) {
          nodes.push(...fusedMultiplyAdd(grad, p, wd, 'g_decayed'));
          grad = t('g_decayed');
        }
        nodes.push(
          // m = m + (1 - beta1)(g - m), PyTorch's lerp
          e.make('Sub', [grad, t('m')], [t('g_minus_m')]),
          ...fusedMultiplyAdd(t('m'), t('g_minus_m'), w1, 'm_new'),
          // v = v·beta2 + ((1 - beta2)·g)·g
          e.make('Mul', [t('v'), e.constant('b2', [b2])], [t('v_decayed')]),
          e.make('Mul', [grad, e.constant('w2', [w2])], [t('w2_g')]),
          e.make('Mul', [t('w2_g'), grad], [t('w2_g_g')]),
          e.make('Add', [t('v_decayed'), t('w2_g_g')], [t('v_new')]),
          // p = p + (−step_size·m) / (sqrt(v) / sqrt(1 − beta2^t) + eps)
          e.make('Sqrt', [t('v_new')], [t('sqrt_v')]),
          e.make('Div', [t('sqrt_v'), `group${k}/bc2`], [t('sqrt_v_hat')]),
          e.make('Add', [t('sqrt_v_hat'), e.constant('eps', [eps])], [t('denom')]),
          e.make('Mul', [t('m_new'), `group${k}/neg_step`], [t('neg_step_m')]),
          e.make('Div', [t('neg_step_m'), t('denom')], [t('update')]),
          e.make('Add', [p, t('update')], [t('p_new')]),
        );
      }
    }
    const model = makeModel(makeGraph(nodes, 'adam_update', inputs, outputs, initializers));
    const session = await createStepSession(model, options);
    if (session.synchronous) return new AdamGraphUpdate(session);
    await session.release();
    return undefined;
  }

  step(optimizer: Optimizer, params: ReadonlyMap<string, Float32Array>, grads: ReadonlyMap<string, Float32Array>): void {
    const feeds: Record<string, ort.Tensor> = {};
    const tensor = (data: Float32Array) => new ort.Tensor('float32', data, [data.length]);
    for (const [k, group] of optimizer.groups.entries()) {
      const { negStep, bc2 } = adamScalars(group, optimizer.state.get(group.params[0])!.step);
      feeds[`group${k}/neg_step`] = new ort.Tensor('float32', Float32Array.of(negStep), []);
      feeds[`group${k}/bc2`] = new ort.Tensor('float32', Float32Array.of(bc2), []);
      for (const name of group.params) {
        const state = optimizer.state.get(name)!;
        const p = params.get(name)!;
        state.expAvg ??= new Float32Array(p.length);
        state.expAvgSq ??= new Float32Array(p.length);
        feeds[`${name}/p`] = tensor(p);
        feeds[`${name}/g`] = tensor(grads.get(name)!);
        feeds[`${name}/m`] = tensor(state.expAvg);
        feeds[`${name}/v`] = tensor(state.expAvgSq);
      }
    }
    const out = this.session.run(feeds) as Record<string, ort.Tensor>;
    for (const name of optimizer.parameterNames) {
      const state = optimizer.state.get(name)!;
      params.get(name)!.set(out[`${name}/p_new`].data as Float32Array);
      state.expAvg!.set(out[`${name}/m_new`].data as Float32Array);
      state.expAvgSq!.set(out[`${name}/v_new`].data as Float32Array);
    }
  }

  release(): Promise<void> {
    return this.session.release();
  }
}
