// Text and numbers as the report's HTML shows them.

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** A figure in a table: four decimals shown, the exact value in data-value (what a test or a script reads back). */
export function numberCell(x: number | null | undefined, digits = 4): string {
  if (x === null || x === undefined) return '<td class="num">-</td>';
  return `<td class="num" data-value="${x}">${Number.isFinite(x) ? x.toFixed(digits) : String(x)}</td>`;
}

/** Seconds and other figures that differ from one run of the same job to the next. */
export function timing(text: string): string {
  return `<span class="timing">${escapeHtml(text)}</span>`;
}
