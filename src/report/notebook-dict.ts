// The seed notebook's closing line, {'linear_probe': 0.627, 'partial_unfreeze': 0.783, 'full_fine_tune': 0.883}:
// printed by compare and shown in the report, from the same function so the two never differ.

/** The notebook's strategies only (its dict has no LoRA entry), accuracies rounded to 3 digits as Python prints them. */
export function notebookDict(results: readonly { strategy: string; accuracy: number }[]): string {
  return `{${results.filter((r) => r.strategy !== 'lora').map((r) => `'${r.strategy}': ${pythonFloat(Number(r.accuracy.toFixed(3)))}`).join(', ')}}`;
}

/** A float as Python's repr prints it for these values: 0.78, 1.0, 0.0. */
function pythonFloat(x: number): string {
  return Number.isInteger(x) ? x.toFixed(1) : String(x);
}
