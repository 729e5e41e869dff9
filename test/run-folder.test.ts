// The run folder's lock: two runs never write into one folder.
import { expect } from 'chai';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { claimFolder } from '../src/cli/run-folder.js';

describe('run folders', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'onnx-finetune-folder-'));
  const lockedByLiveRun = (dir: string) => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, '.onnx-finetune.lock'), String(process.pid)); // this test process: alive
  };

  it('a default folder in use makes the run take the next free name and say so', () => {
    const dir = join(tmp, 'runs', 'linear_probe-20261128-090000');
    lockedByLiveRun(dir);
    const claimed = claimFolder({ dir, given: false });
    expect(claimed.dir).to.equal(`${dir}-2`);
    expect(claimed.note).to.equal(`${dir} is in use by another run; writing to ${dir}-2`);
    claimed.release();
    expect(existsSync(`${dir}-2`)).to.equal(false); // it wrote nothing
  });

  it('an --out folder in use is refused, naming the other run', () => {
    const dir = join(tmp, 'given');
    lockedByLiveRun(dir);
    expect(() => claimFolder({ dir, given: true })).to.throw(`--out ${dir} is in use by another onnx-finetune run (pid ${process.pid})`);
  });

  it('a lock held by a run on another host is refused, naming the host (its pid cannot be checked from here)', () => {
    const dir = join(tmp, 'other-host');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, '.onnx-finetune.lock'), JSON.stringify({ pid: 999999999, host: 'elsewhere' }));
    expect(() => claimFolder({ dir, given: true })).to.throw(`--out ${dir} is in use by another onnx-finetune run (pid 999999999 on elsewhere)`);
  });

  it('takes over the lock of a run that died', () => {
    const dir = join(tmp, 'stale');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, '.onnx-finetune.lock'), '999999999');
    const claimed = claimFolder({ dir, given: true });
    expect(claimed.dir).to.equal(dir);
    claimed.release();
  });
});
