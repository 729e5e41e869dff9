// Node's way to let the event loop in: setImmediate runs after pending I/O and timers, with no 1 ms clamp.
export const nextTask = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
