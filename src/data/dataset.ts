// An in-memory table of examples: row-major float32 features and one numeric label per row.
export interface Dataset {
  /** Where the rows came from, for error messages. */
  source: string;
  count: number;
  /** Shape of one example, without the batch dimension. */
  featureShape: number[];
  features: Float32Array;
  labels: Float64Array;
  /** The file line of each example, so that errors can point at it. */
  lines?: Int32Array;
  /** The file's header, label included. */
  columns?: string[];
}

/** Where example i came from, for error messages: 'line 7' in a file, else 'row 6'. */
export function exampleLocation(d: Pick<Dataset, 'lines'>, i: number): string {
  return d.lines ? `line ${d.lines[i]}` : `row ${i + 1}`;
}

export function featureSize(d: Pick<Dataset, 'featureShape'>): number {
  return d.featureShape.reduce((a, b) => a * b, 1);
}
