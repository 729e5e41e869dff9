// Small tokenizer.json files in the Hugging Face format, written by the tests: a BERT-style WordPiece one and a
// GPT-2-style byte-level BPE one, both small enough for the fixtures' 64-row embedding tables. And sentences.
import { Rng } from '../../src/train/rng.js';

const special = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });

export const WORDPIECE_VOCAB = [
  '[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'the', 'movie', 'was', 'good', 'bad', 'okay', 'very', 'not', '!', '.', ',', 'un', '##believ', '##able',
  'play', '##ing', '##s', 'it', 'film', 'plot', 'acting', 'is', 'a', 'really', 'quite', 'story', 'and', 'music', 'ending', 'cast', 'this', 'show',
  'book', 'cafe',
];

/** BERT's tokenizer.json layout: BertNormalizer (lowercase, accents stripped), BertPreTokenizer, WordPiece, [CLS] $A [SEP]. */
export function wordPieceTokenizer(vocab: string[] = WORDPIECE_VOCAB, extra: Record<string, unknown> = {}) {
  const sep = (type: number) => ({ SpecialToken: { id: '[SEP]', type_id: type } });
  return {
    version: '1.0', truncation: null, padding: null,
    added_tokens: ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'].map((t) => special(vocab.indexOf(t), t)),
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, sep(0)],
      pair: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, sep(0), { Sequence: { id: 'B', type_id: 1 } }, sep(1)],
      special_tokens: Object.fromEntries(['[CLS]', '[SEP]'].map((t) => [t, { id: t, ids: [vocab.indexOf(t)], tokens: [t] }])),
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab: Object.fromEntries(vocab.map((w, i) => [w, i])) },
    ...extra,
  };
}

export const BPE_VOCAB = ['<|endoftext|>', '!', ',', '.', 'a', 'b', 'd', 'e', 'g', 'h', 'o', 't', 'Ġ', 'oo', 'Ġg', 'Ġgoo', 'Ġgood', 'Ġb', 'ad', 'Ġbad', 'th', 'the', 'Ġthe'];
export const BPE_MERGES = ['o o', 'Ġ g', 'Ġg oo', 'Ġgoo d', 'Ġ b', 'a d', 'Ġb ad', 't h', 'th e', 'Ġ the'];

/** GPT-2's layout: ByteLevel pre-tokenizer (its regex split, bytes as characters), BPE without an unknown token, no special tokens added. */
export function bpeTokenizer(extra: Record<string, unknown> = {}) {
  return {
    version: '1.0', truncation: null, padding: null,
    added_tokens: [{ ...special(0, '<|endoftext|>'), normalized: true }],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, byte_fallback: false, ignore_merges: false,
      vocab: Object.fromEntries(BPE_VOCAB.map((w, i) => [w, i])), merges: BPE_MERGES,
    },
    ...extra,
  };
}

const FILLERS = ['the', 'movie', 'was', 'very', 'it', 'film', 'plot', 'acting', 'is', 'a', 'really', 'quite', 'story', 'and', 'music', 'ending', 'cast', 'this', 'show', 'book'];
export const CLASS_WORDS = ['bad', 'good', 'okay'];

/**
 * Sentences whose class is the one class word in them (0 bad, 1 good, 2 okay) among 3 to 9 fillers, in mixed
 * case, some with a word split into pieces; every tenth one is long enough to be truncated at 16 tokens, its
 * class word early.
 */
export function sentences(count: number, seed: number): { text: string; label: number }[] {
  const rng = new Rng(seed);
  const pick = <T>(list: T[]) => list[rng.int(list.length)];
  return Array.from({ length: count }, (_, i) => {
    const label = i % 3;
    const long = i % 10 === 9;
    const words = Array.from({ length: long ? 20 : 3 + rng.int(7) }, () => pick(FILLERS));
    if (rng.next() < 0.3) words.push('unbelievable');
    words.splice(long ? 1 : rng.int(words.length + 1), 0, rng.next() < 0.5 ? CLASS_WORDS[label].toUpperCase() : CLASS_WORDS[label]);
    return { text: `${words.join(' ')}${pick(['!', '.', ''])}`, label };
  });
}

/** CSV with a quoted text column (commas inside) and the label. */
export function sentencesCsv(rows: { text: string; label: number }[], header = 'text,label'): string {
  return `${header}\n${rows.map((r) => `"${r.text.replaceAll('"', '""')}",${r.label}`).join('\n')}\n`;
}

export function sentencesJsonl(rows: { text: string; label: number }[]): string {
  return rows.map((r) => JSON.stringify({ text: r.text, label: r.label })).join('\n') + '\n';
}
