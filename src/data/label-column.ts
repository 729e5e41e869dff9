// A file's labels as it gives them: numbers (class indices, 0/1, regression targets), or class names
// ('dog', 'cat'), which become indices in sorted order (as torchvision's ImageFolder and scikit-learn's
// LabelEncoder number them). A file that mixes the two holds names: its numbers are names too.
import { float64Store, int32Store, type GrowableArray } from './store.js';
import { exampleLocation, type Dataset } from './dataset.js';
import { excerpt, UserError } from '../errors.js';
import { parseDecimal } from '../decimal.js';

export class LabelColumn {
  private readonly numbers = float64Store();
  private named: { ids: GrowableArray<Int32Array>; names: Map<string, number> } | undefined;

  get length(): number {
    return this.named ? this.named.ids.length : this.numbers.length;
  }

  reserve(total: number): void {
    if (this.named) this.named.ids.reserve(total);
    else this.numbers.reserve(total);
  }

  pushNumber(value: number): void {
    if (this.named) this.pushName(String(value));
    else this.numbers.push(value);
  }

  pushName(name: string): void {
    if (!this.named) {
      const numbers = this.numbers.finish();
      this.named = { ids: int32Store(), names: new Map() };
      for (const value of numbers) this.pushName(String(value));
    }
    const { ids, names } = this.named;
    let id = names.get(name);
    if (id === undefined) names.set(name, (id = names.size));
    ids.push(id);
  }

  /** The labels as numbers, and the class names where the file named its classes. */
  finish(): { labels: Float64Array; classNames?: string[] } {
    if (!this.named) return { labels: this.numbers.finish() };
    const classNames = [...this.named.names.keys()].sort(byCodePoint);
    const index = new Map(classNames.map((name, i) => [name, i]));
    const rank = new Float64Array(this.named.names.size);
    for (const [name, id] of this.named.names) rank[id] = index.get(name)!;
    const ids = this.named.ids.finish();
    return { labels: Float64Array.from(ids, (id) => rank[id]), classNames };
  }
}

/** A word ('dog', 'n01440764') names a class; a cell that reads as a number, NaN, infinity or nothing does not. */
export function isClassName(text: string): boolean {
  return text !== '' && Number.isNaN(parseDecimal(text)) && !/^[+-]?(nan|inf(inity)?)$/i.test(text);
}

const encoder = new TextEncoder();

/** Python's string order (by code point, as sorted() and torchvision sort): UTF-8 byte order is code-point order. */
export function byCodePoint(a: string, b: string): number {
  const [x, y] = [encoder.encode(a), encoder.encode(b)];
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}

/**
 * Another file's labels in the training data's class numbering: where the training file named its classes,
 * every other file (test, validation, new data) must use those names, and its labels are renumbered to them.
 */
export function alignClasses(train: { source: string; classNames?: string[] }, other: Dataset): Dataset {
  if (!train.classNames && !other.classNames) return other;
  if (!train.classNames || !other.classNames) {
    const [named, numbered] = train.classNames ? [train, other] : [other, train];
    if (Number.isNaN(other.labels[0])) return other; // no labels (predict on new data)
    throw new UserError(`${other.source}: ${named === other ? 'its labels are class names' : 'its labels are numbers'}, but ${numbered === train ? train.source : named.source}'s are ${named === other ? 'numbers' : 'class names'}; label both files the same way`);
  }
  const index = new Map(train.classNames.map((name, i) => [name, i]));
  const renumber = other.classNames.map((name) => index.get(name));
  const unknown = other.classNames.findIndex((_, i) => renumber[i] === undefined);
  if (unknown >= 0) {
    const row = other.labels.indexOf(unknown);
    throw new UserError(`${other.source}: ${exampleLocation(other, row)}: class ${excerpt(other.classNames[unknown])} is not among the training data's classes (${train.classNames.slice(0, 20).join(', ')}${train.classNames.length > 20 ? ', …' : ''})`);
  }
  return { ...other, labels: Float64Array.from(other.labels, (y) => renumber[y]!), classNames: train.classNames };
}
