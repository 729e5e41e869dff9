// Shared by the backward-driver tests: buildBackward seeded at y, and catching the UserError a case expects.
import { expect } from 'chai';
import type { GraphProto } from '../../src/onnx/proto.js';
import { indexGraph, nameNodes } from '../../src/graph/graph-index.js';
import { inferShapes } from '../../src/graph/shapes.js';
import { buildBackward } from '../../src/autodiff/backward.js';
import { UserError } from '../../src/errors.js';

/** The backward pass of a small graph whose output y is seeded with y_grad. */
export function seededBackward(graph: GraphProto, wrt: string[], opset = 17) {
  nameNodes(graph);
  const index = indexGraph(graph);
  return buildBackward({ graph, index, infos: inferShapes(graph, index, opset), opset, seeds: new Map([['y', 'y_grad']]), wrt });
}

/** The message of the UserError `fn` throws; fails the test when it throws none. */
export function expectUserError(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).to.be.instanceOf(UserError);
    return (e as Error).message;
  }
  expect.fail('expected a UserError');
}
