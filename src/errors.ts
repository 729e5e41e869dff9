/**
 * An error caused by the user's input: the CLI prints its message alone, without a stack trace. Control
 * characters (a tensor name from a hostile file may hold newlines) are escaped, so it stays one line.
 */
export class UserError extends Error {
  override name = 'UserError';

  /** The process exit status the CLI uses for it (1 unless said otherwise). */
  readonly exitCode: number;

  constructor(message: string, exitCode = 1) {
    super(message.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
    this.exitCode = exitCode;
  }
}

/** Bad input cut to a few characters for an error message: a 100 MB cell is not echoed whole. */
export function clip(text: string, max = 40): string {
  return text.length <= max ? text : `${text.slice(0, max)}…`;
}

/** A short, quoted excerpt of bad input, saying how long it really is when it was cut. */
export function excerpt(text: string, max = 40): string {
  return text.length <= max ? `'${text}'` : `'${clip(text, max)}' (${text.length} characters)`;
}

/** Names (columns, keys) for a message: each shortened, at most `max` of them, then how many there are. */
export function nameList(names: readonly string[], max: number): string {
  const shown = names.slice(0, max).map((c) => excerpt(c, 20)).join(', ');
  return names.length > max ? `${shown}, … (${names.length} in all)` : shown || 'none';
}
