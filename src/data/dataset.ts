// An in-memory table of examples: row-major float32 features and one numeric label per row.
export interface Dataset {
  /** Where the rows came from, for error messages. */
  source: string;
  count: number;
  /** Shape of one example, without the batch dimension. */
  featureShape: number[];
  features: Float32Array;
  labels: Float64Array;
  /** File line of the first example (CSV: 2, after the header), so errors can point at a line. */
  firstLine?: number;
}

/** Where example i came from, for error messages: 'line 7' in a file, else 'row 6'. */
export function exampleLocation(d: Pick<Dataset, 'firstLine'>, i: number): string {
  return d.firstLine !== undefined ? `line ${d.firstLine + i}` : `row ${i + 1}`;
}

export function featureSize(d: Pick<Dataset, 'featureShape'>): number {
  return d.featureShape.reduce((a, b) => a * b, 1);
}
