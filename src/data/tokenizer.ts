// A Hugging Face tokenizer.json, read by @huggingface/tokenizers (pure JavaScript, no dependencies: the library
// transformers.js itself uses), and the few things it leaves to the caller: truncation and padding, done as the
// Rust `tokenizers` crate does them. The post-processor's special tokens ([CLS] ... [SEP]) do not depend on the
// text, so they are found once and put around each text's own ids, which are truncated to make room for them.
import type { Tokenizer } from '@huggingface/tokenizers';
import { requirePackage } from '../require.js';
import { excerpt, UserError } from '../errors.js';

export interface TokenSequence {
  ids: number[];
  typeIds: number[];
}

export interface TextTokenizer {
  /** Where the tokenizer came from, for error messages. */
  source: string;
  /** One more than the largest id the tokenizer can give. */
  vocabularySize: number;
  /** Special tokens before and after one text (the post-processor's template for a single sequence). */
  prefix: TokenSequence;
  suffix: TokenSequence;
  /** The token type id of the text's own tokens. */
  textTypeId: number;
  /** Padding: from the tokenizer's padding settings, else [PAD] (or <pad>, else id 0) on the right. */
  pad: { id: number; typeId: number; left: boolean };
  /** Truncation keeps the text's first tokens unless the tokenizer's truncation direction is Left. */
  truncateLeft: boolean;
  /** The tokenizer's own truncation length, if it has one. */
  maxLength?: number;
  /** The ids of a text's tokens, without special tokens. */
  encode(text: string): number[];
}

interface TokenizerJson {
  model?: { type?: unknown };
  padding?: { direction?: unknown; pad_id?: unknown; pad_type_id?: unknown } | null;
  truncation?: { direction?: unknown; max_length?: unknown } | null;
}

/** A placeholder for the text in the post-processor's template: no tokenizer has it as a token. */
const TEXT_MARK = '\u0000onnx-finetune text\u0000';

/** The tokenizer a tokenizer.json file's text describes; `source` names the file in errors. */
export function loadTokenizer(json: string, source: string): TextTokenizer {
  const config = parseConfig(json, source);
  const { Tokenizer: TokenizerClass } = requirePackage('@huggingface/tokenizers') as typeof import('@huggingface/tokenizers');
  let tokenizer: Tokenizer;
  try {
    tokenizer = new TokenizerClass(config, {});
  } catch (e) {
    throw new UserError(`${source}: not a tokenizer.json that @huggingface/tokenizers reads (${(e as Error).message.split('\n')[0].slice(0, 200)})`);
  }
  let vocabularySize = 0; // a loop, not Math.max(...ids): vocabularies of 250,000 tokens overflow an argument list
  for (const id of tokenizer.get_vocab(true).values()) vocabularySize = Math.max(vocabularySize, id + 1);
  const idOf = (token: string, role: string) => {
    const id = tokenizer.token_to_id(token);
    if (id === undefined) throw new UserError(`${source}: the ${role} ${excerpt(token)} is not in the tokenizer's vocabulary`);
    return id;
  };
  const { prefix, suffix, textTypeId } = template(tokenizer, idOf, source);
  const padding = config.padding ?? undefined;
  const truncation = config.truncation ?? undefined;
  const padToken = ['[PAD]', '<pad>'].find((t) => tokenizer.token_to_id(t) !== undefined);
  const unknownId = (tokenizer.model as unknown as { unk_token_id?: number } | null)?.unk_token_id;
  return {
    source, vocabularySize, prefix, suffix, textTypeId,
    pad: {
      id: integerOr(padding?.pad_id, padToken === undefined ? 0 : idOf(padToken, 'padding token')),
      typeId: integerOr(padding?.pad_type_id, 0),
      left: padding?.direction === 'Left',
    },
    truncateLeft: truncation?.direction === 'Left',
    maxLength: typeof truncation?.max_length === 'number' && truncation.max_length >= 1 ? truncation.max_length : undefined,
    encode(text) {
      const { ids, tokens } = tokenizer.encode(text, { add_special_tokens: false });
      // Without an unknown token the model drops what it cannot spell; a token it kept must have an id.
      const missing = ids.findIndex((id: number | undefined) => typeof id !== 'number');
      if (missing >= 0) throw new UserError(`token ${excerpt(tokens[missing])} has no id in ${source}${unknownId === undefined ? ', which has no unknown token' : ''}`);
      return ids;
    },
  };
}

function parseConfig(json: string, source: string): TokenizerJson & Record<string, unknown> {
  let config: unknown;
  try {
    config = JSON.parse(json.replace(/^\ufeff/, ''));
  } catch (e) {
    throw new UserError(`${source}: not a tokenizer.json (not valid JSON: ${(e as Error).message.slice(0, 120)})`);
  }
  const model = (config as TokenizerJson | null)?.model;
  if (typeof config !== 'object' || config === null || Array.isArray(config) || typeof model !== 'object' || model === null || typeof model.type !== 'string') {
    throw new UserError(`${source}: not a Hugging Face tokenizer.json (no "model" object with a "type"; save one with tokenizer.save("tokenizer.json") or AutoTokenizer's save_pretrained)`);
  }
  // The library expects every top-level part to be there; tokenizers omits none of them, but hand-written files may.
  const parts = { added_tokens: [], normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null };
  return { ...parts, ...(config as Record<string, unknown>) } as TokenizerJson & Record<string, unknown>;
}

/** What the post-processor puts around a single text, by post-processing a placeholder for it. */
function template(tokenizer: Tokenizer, idOf: (token: string, role: string) => number, source: string) {
  const processor = tokenizer.post_processor as unknown as ((tokens: string[], pair: null, addSpecial: boolean) => { tokens: string[]; token_type_ids?: number[] }) | null;
  if (!processor) return { prefix: { ids: [], typeIds: [] }, suffix: { ids: [], typeIds: [] }, textTypeId: 0 };
  const { tokens, token_type_ids: types } = processor([TEXT_MARK], null, true);
  const at = tokens.indexOf(TEXT_MARK);
  if (at < 0 || tokens.lastIndexOf(TEXT_MARK) !== at) throw new UserError(`${source}: its post-processor does not keep the text once between its special tokens`);
  const part = (from: number, to: number): TokenSequence => ({
    ids: tokens.slice(from, to).map((t) => idOf(t, 'special token')),
    typeIds: tokens.slice(from, to).map((_, k) => types?.[from + k] ?? 0),
  });
  return { prefix: part(0, at), suffix: part(at + 1, tokens.length), textTypeId: types?.[at] ?? 0 };
}

const integerOr = (value: unknown, fallback: number) => (Number.isSafeInteger(value) && (value as number) >= 0 ? (value as number) : fallback);
