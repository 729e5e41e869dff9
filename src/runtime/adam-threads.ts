// Adam on several threads: Node's worker_threads over one shared WebAssembly memory (optim/adam-kernel-threads.ts).
export { ADAM_THREADS_MIN_PARAMETERS, ThreadedAdamKernel } from '../optim/adam-kernel-threads.js';
