// An in-memory table of examples: row-major float32 features and one numeric label per row.
export interface Dataset {
  /** Where the rows came from, for error messages. */
  source: string;
  count: number;
  /** Shape of one example, without the batch dimension. */
  featureShape: number[];
  features: Float32Array;
  labels: Float64Array;
}

export function featureSize(d: Pick<Dataset, 'featureShape'>): number {
  return d.featureShape.reduce((a, b) => a * b, 1);
}
