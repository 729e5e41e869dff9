/** A plain decimal number (`12`, `-1e-3`, `.5`) as typed by a person or written to a CSV; NaN for anything else (hex, words, ''). */
export function parseDecimal(text: string): number {
  return /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text) ? Number(text) : NaN;
}
