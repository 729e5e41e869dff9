// The registry: every gradient rule, keyed by the ONNX op type it differentiates.
import type { GradRule } from '../rule.js';
import { add } from './add.js';
import { div } from './div.js';
import { exp } from './exp.js';
import { gemm } from './gemm.js';
import { identity } from './identity.js';
import { leakyRelu } from './leaky-relu.js';
import { log } from './log.js';
import { matmul } from './matmul.js';
import { mul } from './mul.js';
import { neg } from './neg.js';
import { reduceMean, reduceSum } from './reduce.js';
import { relu } from './relu.js';
import { flatten, reshape, squeeze, unsqueeze } from './reshape-like.js';
import { sigmoid } from './sigmoid.js';
import { sub } from './sub.js';
import { tanh } from './tanh.js';
import { transpose } from './transpose.js';

const ALL: GradRule[] = [
  add, div, exp, flatten, gemm, identity, leakyRelu, log, matmul, mul, neg, reduceMean, reduceSum, relu, reshape,
  sigmoid, squeeze, sub, tanh, transpose, unsqueeze,
];

export const RULES: ReadonlyMap<string, GradRule> = new Map(ALL.map((rule) => [rule.opType, rule]));
