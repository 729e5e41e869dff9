// The registry: every gradient rule, keyed by the ONNX op type it differentiates.
import type { GradRule } from '../rule.js';
import { add } from './add.js';
import { averagePool } from './average-pool.js';
import { batchNormalization } from './batch-norm.js';
import { cast, castLike } from './cast.js';
import { clip } from './clip.js';
import { concat } from './concat.js';
import { conv } from './conv.js';
import { div } from './div.js';
import { dropout } from './dropout.js';
import { einsum } from './einsum.js';
import { erf } from './erf.js';
import { exp } from './exp.js';
import { expand } from './expand.js';
import { gather } from './gather.js';
import { gatherElements } from './gather-elements.js';
import { gatherND } from './gather-nd.js';
import { gelu } from './gelu.js';
import { gemm } from './gemm.js';
import { globalAveragePool, globalMaxPool } from './global-pool.js';
import { hardSigmoid } from './hard-sigmoid.js';
import { hardSwish } from './hard-swish.js';
import { identity } from './identity.js';
import { layerNormalization } from './layer-norm.js';
import { leakyRelu } from './leaky-relu.js';
import { log } from './log.js';
import { matmul } from './matmul.js';
import { maxPool } from './max-pool.js';
import { mul } from './mul.js';
import { neg } from './neg.js';
import { pad } from './pad.js';
import { pow } from './pow.js';
import { reduceMean, reduceSum } from './reduce.js';
import { relu } from './relu.js';
import { flatten, reshape, squeeze, unsqueeze } from './reshape-like.js';
import { sigmoid } from './sigmoid.js';
import { slice } from './slice.js';
import { split } from './split.js';
import { splitToSequence } from './split-to-sequence.js';
import { logSoftmax, softmax } from './softmax.js';
import { sqrt } from './sqrt.js';
import { sub } from './sub.js';
import { tanh } from './tanh.js';
import { transpose } from './transpose.js';
import { where } from './where.js';

const ALL: GradRule[] = [
  add, averagePool, batchNormalization, cast, castLike, clip, concat, conv, div, dropout, einsum, erf, exp, expand, flatten,
  gather, gatherElements, gatherND, gelu, gemm, globalAveragePool, globalMaxPool, hardSigmoid, hardSwish, identity,
  layerNormalization, leakyRelu, log, logSoftmax, matmul, maxPool, mul, neg, pad, pow, reduceMean, reduceSum, relu,
  reshape, sigmoid, slice, softmax, split, splitToSequence, sqrt, squeeze, sub, tanh, transpose, unsqueeze, where,
];

export const RULES: ReadonlyMap<string, GradRule> = new Map(ALL.map((rule) => [rule.opType, rule]));
