// `onnx-finetune serve`: the browser page (web/) and its scripts (dist/browser/app/, built by scripts/bundle.mjs)
// from a small static server. It serves a fixed list of its own files, found at start, and nothing else (no
// directory listing, no path from the URL reaches the file system), with COOP/COEP headers so that the page is
// cross-origin isolated and onnxruntime-web may use WebAssembly threads.
import { createServer, type Server } from 'node:http';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Argv as Yargs } from 'yargs';
import { UserError } from '../errors.js';
import { readString, yargsOptions, SERVE_OPTIONS, type Argv } from './options.js';

export const SERVE_COMMAND = 'serve';

/** The package root: this file runs from dist/src/cli/ (serve.js, or the bundled onnx-finetune.mjs). */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
  '.onnx': 'application/octet-stream',
};

/** URL path → file: the page, its stylesheet, the bundled scripts with onnxruntime-web's wasm, the seed backbone. */
export function servedFiles(root = ROOT): Map<string, string> {
  const app = join(root, 'dist', 'browser', 'app');
  if (!existsSync(app)) throw new UserError(`${app}: the page's scripts are missing; build them with: npm run build`);
  const files = new Map<string, string>([
    ['/', join(root, 'web', 'index.html')],
    ['/index.html', join(root, 'web', 'index.html')],
    ['/style.css', join(root, 'web', 'style.css')],
    ['/models/seed-backbone.onnx', join(root, 'models', 'seed-backbone.onnx')],
  ]);
  for (const name of readdirSync(app)) if (MIME[extname(name)]) files.set(`/app/${name}`, join(app, name));
  return files;
}

export function withServeCommand(cli: Yargs, stdout: NodeJS.WritableStream): Yargs {
  return cli.command(SERVE_COMMAND, 'serve the browser page: fine-tune in the browser on onnxruntime-web (WASM, WebGPU), with a live loss curve',
    (y) => y.options(yargsOptions(SERVE_OPTIONS)).group(Object.keys(SERVE_OPTIONS), 'serve options:'),
    async (argv) => {
      const server = await serve(argv as Argv);
      const address = server.address() as { port: number; address: string };
      stdout.write(`onnx-finetune: serving the page at http://${address.address.includes(':') ? `[${address.address}]` : address.address}:${address.port}/ (Ctrl-C stops)\n`);
      await new Promise<void>((resolve) => {
        const stop = () => server.close(() => resolve());
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });
}

function readPort(argv: Argv): number {
  const text = readString(argv, 'port') ?? '8080';
  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65535) throw new UserError(`--port ${text}: expected a port number from 0 to 65535`);
  return port;
}

export async function serve(argv: Argv): Promise<Server> {
  const port = readPort(argv);
  const host = readString(argv, 'host') ?? '127.0.0.1';
  const files = servedFiles();
  const server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    const file = files.get(path);
    const headers = {
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
      'Cross-Origin-Resource-Policy': 'same-origin',
      'X-Content-Type-Options': 'nosniff',
      'Cache-Control': 'no-cache',
    };
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { ...headers, Allow: 'GET, HEAD' }).end();
    } else if (!file || !existsSync(file)) {
      response.writeHead(404, { ...headers, 'Content-Type': 'text/plain; charset=utf-8' }).end('not found\n');
    } else {
      const body = readFileSync(file);
      response.writeHead(200, { ...headers, 'Content-Type': MIME[extname(file)] ?? 'application/octet-stream', 'Content-Length': body.length });
      response.end(request.method === 'HEAD' ? undefined : body);
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => reject(e.code === 'EADDRINUSE' ? new UserError(`--port ${port}: already in use on ${host}; choose another (--port 0 takes any free one)`) : e));
    server.listen(port, host, resolve);
  });
  return server;
}
