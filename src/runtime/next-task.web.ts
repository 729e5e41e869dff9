// Browsers have no setImmediate, and nested setTimeout(0) waits at least 4 ms: a message to ourselves is
// the next task without the wait, so a Stop message or a progress post gets in between steps.
const channel = new MessageChannel();
const waiting: (() => void)[] = [];
channel.port1.onmessage = () => waiting.shift()?.();

export const nextTask = (): Promise<void> => new Promise((resolve) => {
  waiting.push(resolve);
  channel.port2.postMessage(null);
});
