// Fault injection for the kill-and-resume tests: ONNX_FINETUNE_FAULT=<point>:<n> makes the process kill
// itself with SIGKILL at the n-th time it reaches that point, as a power cut or the OOM killer would.
// Points: 'after-step' (n: the run's step count), 'mid-checkpoint' (n-th checkpoint, half written).
const [point, at] = (process.env.ONNX_FINETUNE_FAULT ?? '').split(':');

export function fault(name: 'after-step' | 'mid-checkpoint', n: number): boolean {
  return point === name && Number(at) === n;
}

export function killNow(): never {
  process.kill(process.pid, 'SIGKILL');
  throw new Error('unreachable');
}
