// The page: reads the form, hands the job to the training worker, draws the live loss curve (the report's SVG
// chart renderer), fills the results table and offers each fine-tuned model for download.
import { renderChart, type Series } from '../src/report/svg-chart.js';
import type { TrainRequest, WorkerMessage } from './protocol.js';
import type { BuiltInStrategy } from '../src/train/strategies.js';

const COLORS: Record<string, string> = { linear_probe: '#1f77b4', partial_unfreeze: '#ff7f0e', full_fine_tune: '#2ca02c' };
const ALL: BuiltInStrategy[] = ['linear_probe', 'partial_unfreeze', 'full_fine_tune'];
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const value = (id: string) => $<HTMLInputElement>(id).value;

let worker: Worker | undefined;
let curves = new Map<string, [number, number][]>();
const dropped = new Map<string, File>();

/** Results for scripts and tests: what the worker reported, by strategy. */
const results: Record<string, WorkerMessage & { type: 'result' }> = {};
(globalThis as { onnxFinetuneResults?: typeof results }).onnxFinetuneResults = results;

function status(text: string, error = false): void {
  $('status').textContent = text;
  $('status').classList.toggle('error', error);
}

let drawPending = false;

/** Redraws the curve at most once a frame: steps come faster than a page can draw them. */
function scheduleDraw(): void {
  if (drawPending) return;
  drawPending = true;
  requestAnimationFrame(() => {
    drawPending = false;
    drawCurve();
  });
}

function drawCurve(): void {
  const series: Series[] = [...curves].map(([name, points]) => ({ name, points, color: COLORS[name] ?? '#555' }));
  $('chart').innerHTML = renderChart({ id: 'loss-curve', title: 'training loss by step', xLabel: 'step', yLabel: 'batch loss', series });
}

async function request(): Promise<{ message: TrainRequest; transfer: ArrayBuffer[] }> {
  const choice = value('strategy');
  const strategies = choice === 'compare' ? ALL : [choice as BuiltInStrategy];
  const settings: TrainRequest['settings'] = {};
  for (const s of strategies) {
    const own: Record<string, number> = {};
    if (value('epochs')) own.epochs = Number(value('epochs'));
    if (value('lr')) Object.assign(own, s === 'partial_unfreeze' ? { headLr: Number(value('lr')) } : { lr: Number(value('lr')) });
    settings[s] = own;
  }
  const base = { type: 'train' as const, strategies, settings, device: value('device') as 'wasm' | 'webgpu', threads: Number(value('threads')), seed: Number(value('seed')), shuffle: $<HTMLInputElement>('shuffle').checked, batchSize: Number(value('batch-size')) };
  if ((document.querySelector('input[name=source]:checked') as HTMLInputElement).value === 'seed') return { message: { ...base, job: { kind: 'seed' } }, transfer: [] };
  const file = (id: string) => $<HTMLInputElement>(id).files?.[0] ?? dropped.get(id);
  const [model, train, test] = ['model', 'train', 'test'].map(file);
  if (!model || !train || !test) throw new Error('choose or drop a model (.onnx), a training CSV and a test CSV');
  const bytes = await Promise.all([model, train, test].map((f) => f.arrayBuffer()));
  return { message: { ...base, job: { kind: 'files', model: bytes[0], modelName: model.name, train: bytes[1], trainName: train.name, test: bytes[2], testName: test.name } }, transfer: bytes };
}

function onMessage(m: WorkerMessage): void {
  if (m.type === 'step') {
    const points = curves.get(m.strategy) ?? [];
    points.push([m.step, m.loss]);
    curves.set(m.strategy, points);
    scheduleDraw();
  } else if (m.type === 'progress') {
    status(`${m.strategy}: stage ${m.stage}, epoch ${m.epoch}/${m.epochs}, batch ${m.batch}/${m.batches}, loss ${m.loss.toFixed(4)}`);
    $<HTMLProgressElement>('progress').value = ((m.epoch - 1) * m.batches + m.batch) / (m.epochs * m.batches);
  } else if (m.type === 'result') {
    results[m.strategy] = m;
    const url = URL.createObjectURL(new Blob([m.onnx], { type: 'application/octet-stream' }));
    const row = document.createElement('tr');
    row.dataset.strategy = m.strategy;
    row.innerHTML = `<td>${m.strategy}</td><td data-value="${m.accuracy}">${m.accuracy.toFixed(4)}</td><td>${m.testLoss.toFixed(4)}</td><td>${m.steps}</td><td>${m.seconds.toFixed(2)}</td><td><a download="${m.strategy}.onnx" href="${url}">download .onnx</a></td>`;
    $('results').querySelector('tbody')!.append(row);
  } else {
    drawCurve();
    if (m.type === 'done') {
      $('notebook').textContent = m.notebook;
      status('done');
    } else if (m.type === 'stopped') status(`stopped during ${m.strategy}`);
    else status(m.message, true);
    $<HTMLButtonElement>('train-button').disabled = false;
    $<HTMLButtonElement>('stop-button').disabled = true;
    document.body.dataset.state = m.type;
  }
}

$('job').addEventListener('submit', async (e) => {
  e.preventDefault();
  let job;
  try {
    job = await request();
  } catch (thrown) {
    return status((thrown as Error).message, true);
  }
  curves = new Map();
  $('chart').innerHTML = '';
  $('results').querySelector('tbody')!.replaceChildren();
  $('notebook').textContent = '';
  for (const k of Object.keys(results)) delete results[k];
  document.body.dataset.state = 'training';
  $<HTMLButtonElement>('train-button').disabled = true;
  $<HTMLButtonElement>('stop-button').disabled = false;
  status('starting…');
  worker ??= new Worker('/app/worker.mjs', { type: 'module' });
  worker.onmessage = (ev: MessageEvent<WorkerMessage>) => onMessage(ev.data);
  worker.onerror = (ev) => onMessage({ type: 'error', message: ev.message });
  worker.postMessage(job.message, job.transfer);
});

$('stop-button').addEventListener('click', () => worker?.postMessage({ type: 'stop' }));

// Dropped files: the .onnx is the model; a CSV named *test* is the test set, any other CSV the training set.
const drop = $('drop');
drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  for (const f of e.dataTransfer?.files ?? []) dropped.set(f.name.endsWith('.onnx') ? 'model' : /test/i.test(f.name) ? 'test' : 'train', f);
  (document.querySelector('input[name=source][value=files]') as HTMLInputElement).checked = true;
  status(`dropped: ${[...dropped].map(([k, f]) => `${k} ${f.name}`).join(', ')}`);
});
