// The vocabulary shared by every gradient rule (after onnxruntime's gradient builder): I/O name the forward
// node's inputs and outputs, GO the gradient arriving at an output, GI the name to write an input's gradient to.
// Intermediates are named `<node>_Grad/<suffix>` (tmp) and nodes `<node>_Grad/<opType>_<k>` (make).
import type { AttributeProto, NodeProto } from '../onnx/proto.js';
import type { Emitter } from '../graph/emitter.js';
import type { Shape } from '../graph/shapes.js';

export interface GradContext extends Emitter {
  readonly node: NodeProto;
  I(i: number): string;
  O(i: number): string;
  /** Gradient of output i; '' when no gradient reaches that output. */
  GO(i: number): string;
  GI(i: number): string;
  /** GI(i) for a gradient the rule writes at input i's own shape, though the input is in broadcastInputs: no un-broadcast follows. */
  GIAtInputShape(i: number): string;
  needsGrad(i: number): boolean;
  attr(name: string): AttributeProto | undefined;
  attrInt(name: string, fallback: number): number;
  attrFloat(name: string, fallback: number): number;
  attrInts(name: string): number[] | undefined;
  shape(tensor: string): Shape;
  /** Element type of a tensor, when known. */
  dtypeOf(tensor: string): number | undefined;
  /** Rank of a tensor; throws when shape inference could not tell it. */
  rank(tensor: string): number;
  /** Integer values of a constant input, if it is one. */
  intValues(tensor: string): number[] | undefined;
  /** Values of a constant input of any numeric type (a float ratio, a constant exponent), if it is one. */
  values(tensor: string): number[] | undefined;
}

export interface GradRule {
  opType: string;
  /**
   * Inputs whose gradient the rule writes at the output's (broadcast) shape; the backward driver reduces
   * it back to the input's shape. This is the one place broadcasting is undone.
   */
  broadcastInputs?: number[];
  /** Float inputs that only lend their type (CastLike's target): no gradient flows to them. */
  typeOnlyInputs?: number[];
  grad(ctx: GradContext): NodeProto[];
}
