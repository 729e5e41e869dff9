// The target table `npm run bench` ends with: issue 14's rows, onnx-finetune's figure beside PyTorch's from the
// same run, the ratio (PyTorch's time over ours) and the target. Each row names the workloads that can stand
// for our side, the first one the run measured being used, and the PyTorch row (bench-pytorch.py) to compare with.

export interface Measured {
  workload: string;
  median_us?: number;
  peak_rss_mb?: number;
  cpu_us?: number;
  error?: string;
  note?: string;
}

export interface TargetRow {
  what: string;
  /** Our workloads for this row, preferred first (a name, or a pattern over the names the run measured). */
  ours: (string | RegExp)[];
  /** bench-pytorch.py's row; absent where the target is not a ratio against PyTorch. */
  pytorch?: string;
  /** At least this many times PyTorch's speed, or at most this long. */
  goal: { ratio: number } | { maxMs: number };
  /** A peak RSS ceiling for our side, in MB. */
  maxRssMb?: number;
}

export const COMPARE_ROW = 'onnx-finetune compare --no-lora (whole process)';
export const NOTEBOOK_ROW = 'seed notebook (whole Python process)';
const MLP = (threads: number) => `MLP 784-1024-1024-10, full fine-tune, ${threads} thread${threads > 1 ? 's' : ''}`;

export const TARGETS: TargetRow[] = [
  {
    what: 'seed full fine-tune step, as a user runs it (default checkpointing)',
    ours: [/^seed.*full fine-tune.*(as a user|checkpoint)/i, 'seed MLP 10-32-16-1, full fine-tune'],
    pytorch: 'seed notebook full fine-tune step (DataLoader, by difference of 42 and 2 epochs)',
    goal: { ratio: 10 },
  },
  { what: 'seed linear probe step', ours: [/^seed.*linear probe.*(as a user|checkpoint)/i, 'seed MLP 10-32-16-1, linear probe'], pytorch: 'seed MLP 10-32-16-1, linear probe', goal: { ratio: 10 } },
  { what: '`compare`, whole process through node, vs the notebook', ours: [COMPARE_ROW], pytorch: NOTEBOOK_ROW, goal: { ratio: 8 }, maxRssMb: 120 },
  ...[1, 2].map((threads) => ({
    what: `MLP 784-1024-1024-10, batch 256, ${threads} thread${threads > 1 ? 's' : ''}, vs fused Adam`,
    ours: [`MLP 784-1024-1024-10, train() with default checkpoints, ${threads} thread${threads > 1 ? 's' : ''}`, MLP(threads)],
    pytorch: `${MLP(threads)}, fused Adam`,
    goal: { ratio: 1.3 },
  })),
  { what: 'ResNet-18 3x32x32, batch 32, full fine-tune step', ours: ['ResNet-18 3x32x32, full fine-tune'], pytorch: 'ResNet-18 3x32x32, full fine-tune', goal: { ratio: 1.5 } },
  { what: 'EfficientNet-B0 3x32x32, batch 32, full fine-tune step', ours: ['EfficientNet-B0 3x32x32, full fine-tune'], pytorch: 'EfficientNet-B0 3x32x32, full fine-tune', goal: { ratio: 1.2 } },
  { what: 'digits CNN, batch 32, full fine-tune step', ours: ['digits CNN, full fine-tune'], pytorch: 'digits CNN, full fine-tune', goal: { ratio: 5 } },
  {
    what: '27 MB checkpoint, cost to the training thread',
    ours: [/checkpoint.*(cost|training thread|27 MB)/i],
    pytorch: 'checkpoint of the 784-1024-1024-10 MLP with Adam state',
    goal: { maxMs: 30 },
  },
];

/** The workload standing for our side of a row: the first of its candidates the run measured without error. */
export function oursFor(row: TargetRow, results: Map<string, Measured>): Measured | undefined {
  for (const candidate of row.ours) {
    const found = typeof candidate === 'string' ? results.get(candidate) : [...results.values()].find((r) => candidate.test(r.workload));
    if (found && found.error === undefined) return found;
  }
  return undefined;
}

/** PyTorch rows some target asks for beyond the workloads' own names, to be measured right after `workload`. */
export function extraPyTorchRows(workload: string): string[] {
  return TARGETS.filter((t) => t.pytorch && t.pytorch !== workload && t.ours.some((c) => (typeof c === 'string' ? c === workload : c.test(workload))))
    .map((t) => t.pytorch!);
}

const time = (us: number) => (us >= 1e6 ? `${(us / 1e6).toFixed(2)} s` : us >= 10_000 ? `${(us / 1e3).toFixed(1)} ms` : `${us.toFixed(0)} µs`);

/** The table, as Markdown, so that it can go into the README as it is. */
export function targetTable(ours: Map<string, Measured>, pytorch: Map<string, Measured>, havePyTorch: boolean): string[] {
  const lines = ['| what | onnx-finetune | PyTorch | ratio | ratio of CPU times | target | |', '|---|---:|---:|---:|---:|---:|---|'];
  for (const row of TARGETS) {
    const mine = oursFor(row, ours);
    const theirs = row.pytorch ? pytorch.get(row.pytorch) : undefined;
    const stand = mine && typeof row.ours[0] !== 'string' && !(row.ours[0] as RegExp).test(mine.workload) ? ` ²` : '';
    const rss = row.maxRssMb && mine?.peak_rss_mb ? `, ${mine.peak_rss_mb.toFixed(0)} MB peak RSS` : '';
    const ourText = mine?.median_us !== undefined ? `${time(mine.median_us)}${rss}${stand}` : 'not measured';
    const theirText = theirs?.median_us !== undefined ? time(theirs.median_us) : havePyTorch ? (theirs?.error ?? '—') : 'PyTorch not found';
    let ratio = '', target = '', verdict = '';
    const cpuRatio = mine?.cpu_us && theirs?.cpu_us ? `${(theirs.cpu_us / mine.cpu_us).toFixed(2)}×` : '';
    if ('ratio' in row.goal) {
      target = `≥ ${row.goal.ratio}×${row.maxRssMb ? `, ≤ ${row.maxRssMb} MB` : ''}`;
      if (mine?.median_us !== undefined && theirs?.median_us !== undefined) {
        const r = theirs.median_us / mine.median_us;
        ratio = `${r >= 10 ? r.toFixed(0) : r.toFixed(2)}×`;
        const rssOk = !row.maxRssMb || (mine.peak_rss_mb ?? Infinity) <= row.maxRssMb;
        verdict = r >= row.goal.ratio && rssOk ? 'met' : '**missed**';
        if (stand) verdict = `(${verdict.replace(/\*/g, '')} by the stand-in)`;
      }
    } else {
      target = `≤ ${row.goal.maxMs} ms`;
      if (mine?.median_us !== undefined) verdict = mine.median_us / 1e3 <= row.goal.maxMs ? 'met' : '**missed**';
    }
    lines.push(`| ${row.what} | ${ourText} | ${theirText} | ${ratio} | ${cpuRatio} | ${target} | ${verdict} |`);
  }
  return lines;
}

export const TARGET_NOTES = [
  'ratio: PyTorch\'s time over onnx-finetune\'s, medians, the two sides measured back to back in this run; the',
  '  verdict reads it. Ratio of CPU times: the same for CPU time per step (user + system), steadier where',
  '  other processes share the machine.',
  '² measured by a stand-in workload (the step alone, without the checkpointing the row asks for): the',
  '  workload the row prefers was not in this run.',
];
