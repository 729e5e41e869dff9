// The distributed path's one contact with Redis: BullMQ's queue of sweep runs, its connection options, and a
// first check that the server answers, so that an unreachable Redis is one line, not endless reconnect errors.
import type { ConnectionOptions } from 'bullmq';
import { UserError } from '../errors.js';
import { requirePackage } from '../require.js';

export const QUEUE_NAME = 'onnx-finetune-runs';

/** bullmq (and ioredis under it) is loaded when a queue is used, not at every start of the command. */
export const bullmq = (): typeof import('bullmq') => requirePackage('bullmq');

export function checkQueueUrl(url: string, option = '--queue'): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UserError(`${option} '${url}': not a Redis URL (redis://host:port)`);
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') throw new UserError(`${option} '${url}': not a Redis URL (redis://host:port or rediss:// for TLS)`);
}

/**
 * Connection options: reconnects are spaced out (up to 5 s apart) and each lost connection is reported once
 * through `onLost`, rather than at every attempt.
 */
export function connection(url: string, onLost: (message: string) => void): ConnectionOptions {
  let reported = false;
  return {
    url,
    maxRetriesPerRequest: null,
    retryStrategy: (times: number) => {
      if (!reported) onLost(`lost the connection to Redis at ${url}; reconnecting`);
      reported = true;
      return Math.min(5000, 200 * times);
    },
  };
}

/** Connects once, without retrying: Redis must answer now, at a version BullMQ supports. */
export async function probeRedis(url: string, option = '--queue'): Promise<void> {
  checkQueueUrl(url, option);
  const IORedis = requirePackage('ioredis') as typeof import('ioredis').default;
  const client = new IORedis(url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0, connectTimeout: 5000, enableOfflineQueue: false });
  let cause: Error | undefined;
  client.on('error', (e: Error) => (cause ??= e)); // the socket's own error (ECONNREFUSED); connect() only says it closed
  try {
    await client.connect();
    const info = await client.info('server');
    const version = /redis_version:(\S+)/.exec(info)?.[1] ?? '0';
    const [major, minor] = version.split('.').map(Number);
    if (major < 6 || (major === 6 && minor < 2)) throw new UserError(`${option} ${url}: Redis ${version} is too old for BullMQ (6.2 or later)`);
  } catch (e) {
    if (e instanceof UserError) throw e;
    const first = (cause ?? e) as NodeJS.ErrnoException;
    const code = first.code ?? first.message;
    throw new UserError(`${option} ${url}: cannot reach Redis (${code}); start it (redis-server --port PORT) or check the address`);
  } finally {
    // After a failed connect, disconnect() would keep the process alive for seconds: only a live client needs it.
    if (client.status === 'ready') client.disconnect();
  }
}
