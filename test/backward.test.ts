// The backward driver's behaviour, apart from the rules themselves: clear errors for ops without a rule,
// pruning to the gradient path, gradient naming, and byte-identical output from two builds.
import { expect } from 'chai';
import { DataType, makeGraph, makeModel, makeNode, makeTensor, makeValueInfo } from '../src/onnx/builder.js';
import type { NodeProto } from '../src/onnx/proto.js';
import { encodeModel } from '../src/onnx/io.js';
import { indexGraph, nameNodes } from '../src/graph/graph-index.js';
import { inferShapes } from '../src/graph/shapes.js';
import { buildBackward, gradName } from '../src/autodiff/backward.js';
import { expectUserError, seededBackward } from './util/backward.js';
import { buildCase, gradCheck, type GradCheckSpec } from './util/gradcheck.js';

/** buildBackward over a float64 graph whose inputs are all [2, 3] unless given, seeded at y. */
function backwardOf(nodes: NodeProto[], wrt: string[], inputs: Record<string, (number | string)[] | null> = {}) {
  const names = [...new Set(nodes.flatMap((n) => n.input))].filter((i) => i && !nodes.some((n) => n.output.includes(i)));
  const graph = makeGraph(nodes, 'g', names.map((n) => makeValueInfo(n, DataType.DOUBLE, n in inputs ? inputs[n] : [2, 3])),
    [makeValueInfo('y', DataType.DOUBLE, null)]);
  return seededBackward(graph, wrt);
}


describe('backward driver', () => {
  describe('ops without a gradient rule', () => {
    it('throws naming the op type and the node when the op is on the gradient path', () => {
      const message = expectUserError(() => backwardOf([
        makeNode('Mul', ['x', 'w'], ['h'], {}, 'scale'),
        makeNode('Abs', ['h'], ['a'], {}, 'magnitude'),
        makeNode('Neg', ['a'], ['y'], {}, 'flip'),
      ], ['w']));
      expect(message).to.include("'Abs'");
      expect(message).to.include("'magnitude'");
    });

    it('names an unnamed node by the name the project gives it', () => {
      const message = expectUserError(() => backwardOf([makeNode('Mul', ['x', 'w'], ['h']), makeNode('Softplus', ['h'], ['y'])], ['w']));
      expect(message).to.include("'Softplus'");
      expect(message).to.include("'Softplus_1'");
    });

    it('accepts them where no gradient is needed: on the data side, on a dead branch, behind an integer tensor', async () => {
      // Abs only transforms data (x), Abs on w feeds an output the loss never reads, and Shape's int64 output
      // carries no gradient: none of them lies on a path from w to y.
      const spec: GradCheckSpec = {
        name: 'no_rule_off_path',
        nodes: [
          makeNode('Abs', ['x'], ['ax'], {}, 'data_abs'),
          makeNode('Abs', ['w'], ['unused'], {}, 'dead_abs'),
          makeNode('Mul', ['ax', 'w'], ['h'], {}, 'scale'),
          makeNode('Shape', ['h'], ['h_shape'], {}, 'shape_of_h'),
          makeNode('Flatten', ['h'], ['flat'], { axis: 0 }, 'flatten'),
          makeNode('Reshape', ['flat', 'h_shape'], ['y'], {}, 'reshape_back'),
        ],
        inputs: [{ name: 'x', dims: [2, 3] }, { name: 'w', dims: [2, 3] }],
        output: 'y',
        wrt: ['w'],
      };
      const report = await gradCheck(spec);
      const backwardOps = report.built.result.nodes.map((n) => n.name);
      expect(backwardOps.filter((n) => /^(data_abs|dead_abs|shape_of_h)_Grad/.test(n))).to.deep.equal([]);
    });

    it('refuses a parameter that does not reach the loss', () => {
      const message = expectUserError(() => backwardOf([makeNode('Mul', ['x', 'w'], ['y']), makeNode('Neg', ['v'], ['z'])], ['w', 'v']));
      expect(message).to.include("'v'");
    });

    it('explains a reduction whose axes are not a constant', () => {
      const graph = makeGraph([makeNode('Mul', ['x', 'w'], ['h']), makeNode('ReduceSum', ['h', 'axes'], ['y'], {}, 'sum_rows')], 'g',
        [makeValueInfo('x', DataType.DOUBLE, [2, 3]), makeValueInfo('w', DataType.DOUBLE, [2, 3]), makeValueInfo('axes', DataType.INT64, [1])],
        [makeValueInfo('y', DataType.DOUBLE, null)]);
      nameNodes(graph);
      const index = indexGraph(graph);
      const message = expectUserError(() => buildBackward({ graph, index, infos: inferShapes(graph, index, 17), opset: 17, seeds: new Map([['y', 'y_grad']]), wrt: ['w'] }));
      expect(message).to.include("'sum_rows'");
    });

    it('explains a rule that needs a rank shape inference could not find', () => {
      const message = expectUserError(() => backwardOf([makeNode('MatMul', ['a', 'b'], ['y'], {}, 'mm')], ['b'], { a: null, b: [3, 2] }));
      expect(message).to.include("'mm'");
    });
  });

  describe('names', () => {
    // x·Wᵀ + b → Relu → times s, plus s: s has two consumers, everything else one.
    const nodes = () => [
      makeNode('Gemm', ['x', 'W', 'b'], ['h'], { transB: 1 }, 'fc'),
      makeNode('Relu', ['h'], ['r'], {}, 'act'),
      makeNode('Mul', ['r', 's'], ['m'], {}, 'mix'),
      makeNode('Add', ['m', 's'], ['y'], {}, 'shift'),
    ];
    const inputs = { x: [4, 3], W: [2, 3], b: [2], s: [2] };
    const wrt = ['W', 'b', 's'];

    it('calls a gradient <tensor>_grad, and names intermediates and constants <node>_Grad/...', () => {
      const result = backwardOf(nodes(), wrt, inputs);
      expect(Object.fromEntries(result.gradients)).to.deep.equal({ W: 'W_grad', b: 'b_grad', s: 's_grad' });
      const forwardNodes = ['fc', 'act', 'mix', 'shift'];
      const tensors = ['x', 'W', 'b', 's', 'h', 'r', 'm', 'y'];
      const underNode = (name: string) => forwardNodes.some((n) => name.startsWith(`${n}_Grad/`));
      for (const node of result.nodes) {
        expect(underNode(node.name) || tensors.some((t) => node.name === `${t}_Grad/Sum`), `node name ${node.name}`).to.equal(true);
        for (const out of node.output) {
          expect(underNode(out) || tensors.some((t) => out === gradName(t)), `tensor name ${out}`).to.equal(true);
        }
      }
      for (const t of result.initializers) expect(underNode(t.name), `initializer ${t.name}`).to.equal(true);
      // Lone contributions are written straight under their final names.
      for (const t of ['W', 'b', 'h', 'r']) expect(result.nodes.some((n) => n.output.includes(gradName(t))), gradName(t)).to.equal(true);
      // m's gradient is y's, passed through the Add: readers take y's gradient, and no Identity copies it.
      expect(result.nodes.map((n) => n.opType)).to.not.include('Identity');
      expect(result.nodes.find((n) => n.name.startsWith('mix_Grad/'))!.input).to.include(gradName('y'));
      // s gets two contributions, named by node and input slot, summed into s_grad.
      const sum = result.nodes.find((n) => n.output[0] === 's_grad')!;
      expect(sum.opType).to.equal('Sum');
      expect(sum.name).to.equal('s_Grad/Sum');
      expect([...sum.input].sort()).to.deep.equal(['mix_Grad/s_grad_1', 'shift_Grad/s_grad_1']);
      // x is data, not a parameter: nothing is built for it.
      expect(result.nodes.some((n) => n.output.some((o) => o.includes('x_grad')))).to.equal(false);
    });

    it('emits each node before its outputs are read', () => {
      const result = backwardOf(nodes(), wrt, inputs);
      const available = new Set(['x', 'W', 'b', 's', 'h', 'r', 'm', 'y', 'y_grad', ...result.initializers.map((t) => t.name)]);
      for (const node of result.nodes) {
        for (const i of node.input) expect(available.has(i), `${node.name} reads ${i}`).to.equal(true);
        node.output.forEach((o) => available.add(o));
      }
    });
  });

  describe('determinism', () => {
    const spec = (): GradCheckSpec => ({
      name: 'determinism',
      nodes: [
        makeNode('Gemm', ['x', 'W1', 'b1'], ['h'], { transB: 1, alpha: 0.5 }),
        makeNode('LeakyRelu', ['h'], ['a'], { alpha: 0.1 }),
        makeNode('Reshape', ['a', 'shape'], ['a3']),
        makeNode('ReduceMean', ['a3'], ['m'], { axes: [2], keepdims: 1 }),
        makeNode('Sub', ['a3', 'm'], ['c']),
        makeNode('Mul', ['c', 'c'], ['sq']),
        makeNode('Div', ['sq', 'z'], ['d']),
        makeNode('ReduceSum', ['d', 'axes'], ['y'], { keepdims: 0 }),
      ],
      inputs: [{ name: 'x', dims: [3, 4] }, { name: 'W1', dims: [6, 4] }, { name: 'b1', dims: [6] }, { name: 'z', dims: [2, 1], draw: 'positive' }],
      constants: [makeTensor('shape', DataType.INT64, [3], [3, 2, 3]), makeTensor('axes', DataType.INT64, [1], [1])],
      output: 'y',
      wrt: ['W1', 'b1', 'z'],
    });

    it('two builds of the same graph encode to identical bytes', () => {
      const first = encodeModel(buildCase(spec()).backward);
      const second = encodeModel(buildCase(spec()).backward);
      expect(first.length).to.be.greaterThan(0);
      expect(Buffer.from(first).equals(Buffer.from(second))).to.equal(true);
    });

    it('two builds straight from buildBackward give identical nodes and initializers', () => {
      const build = () => {
        const s = spec();
        const graph = makeGraph(s.nodes, 'g', s.inputs.map((i) => makeValueInfo(i.name, DataType.DOUBLE, i.dims)), [makeValueInfo('y', DataType.DOUBLE, null)], s.constants);
        nameNodes(graph);
        const index = indexGraph(graph);
        const result = buildBackward({ graph, index, infos: inferShapes(graph, index, 17), opset: 17, seeds: new Map([['y', 'y_grad']]), wrt: s.wrt! });
        return encodeModel(makeModel(makeGraph(result.nodes, 'backward', [], [], result.initializers)));
      };
      expect(Buffer.from(build()).equals(Buffer.from(build()))).to.equal(true);
    });

    it('and the build is correct', async () => {
      await gradCheck(spec());
    });
  });
});
