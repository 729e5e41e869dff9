// The page's training thread: runs the engine (onnx-finetune/web) so the page stays responsive, posts each
// step's loss and each strategy's result, and stops cleanly (after the current step) when asked.
import { fineTune, notebookDict, readCsvFor, readModel, seedJob, strategyPlan, UserError } from '../src/web/index.js';
import { InterruptedError } from '../src/train/breathe.js';
import type { TrainRequest, WorkerMessage } from './protocol.js';
import type { BuiltInStrategy } from '../src/train/strategies.js';

const post = (m: WorkerMessage, transfer: Transferable[] = []) => (self as unknown as Worker).postMessage(m, transfer);
let stop: AbortController | undefined;

self.onmessage = async (e: MessageEvent<TrainRequest | { type: 'stop' }>) => {
  if (e.data.type === 'stop') return stop?.abort();
  const request = e.data;
  stop = new AbortController();
  let strategy = '';
  let current: BuiltInStrategy;
  try {
    const { model, data } = await jobOf(request);
    const results = [];
    for (current of request.strategies) {
      strategy = current;
      const result = await fineTune(model, data, strategyPlan(current, request.settings[current]), {
        device: request.device, threads: request.threads, seed: request.seed, shuffle: request.shuffle, batchSize: request.batchSize, signal: stop.signal,
        onProgress: (p) => post({ type: 'progress', strategy, stage: p.stage, epoch: p.epoch, epochs: p.epochs, batch: p.step, batches: p.steps, loss: p.loss }),
        onEvent: (ev) => ev.type === 'step' && post({ type: 'step', strategy, step: ev.step, loss: ev.loss }),
      });
      const onnx = result.onnx.slice().buffer as ArrayBuffer;
      const parameters = Object.fromEntries([...result.parameters].map(([k, v]) => [k, [...v]]));
      post({ type: 'result', strategy, accuracy: result.accuracy, testLoss: result.testLoss, steps: result.steps, seconds: result.seconds, epochLosses: result.epochLosses, onnx, parameters }, [onnx]);
      results.push(result);
    }
    post({ type: 'done', notebook: notebookDict(results) });
  } catch (thrown) {
    if (thrown instanceof InterruptedError) post({ type: 'stopped', strategy });
    else post({ type: 'error', message: thrown instanceof UserError ? thrown.message : String((thrown as Error)?.stack ?? thrown) });
  }
};

async function jobOf(request: TrainRequest) {
  const { job } = request;
  if (job.kind === 'seed') {
    const backbone = await (await fetch(new URL('../models/seed-backbone.onnx', import.meta.url))).arrayBuffer();
    return seedJob(backbone, request.seed);
  }
  const model = readModel(job.model, job.modelName);
  return { model, data: { train: readCsvFor(model, job.train, job.trainName), test: readCsvFor(model, job.test, job.testName) } };
}
