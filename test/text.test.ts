// Text with a tokenizer (issue 13, item 2): tokenizer.json files the tests write (WordPiece as BERT's, byte-level
// BPE as GPT-2's) give the ids the Rust tokenizers would (worked out by hand below), truncated and padded as it
// does; the command fine-tunes the tiny BERT fixture on sentences from CSV and JSONL alike; bad input is one line.
import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataType } from '../src/onnx/builder.js';
import { loadModel } from '../src/onnx/io.js';
import { describeModel, type DataInputInfo } from '../src/model/describe.js';
import { readTextDataset, textDatasetFromRows, type TextRows, type TextPreprocessing } from '../src/data/text.js';
import { readDataMetadata } from '../src/export/data-metadata.js';
import { createSession, ort } from '../src/runtime/session.js';
import { countCorrect } from '../src/train/evaluate.js';
import { UserError } from '../src/errors.js';
import { cli } from './util/cli.js';
import { fixturePath } from './util/fixtures.js';
import { bpeTokenizer, CLASS_WORDS, sentences, sentencesCsv, sentencesJsonl, wordPieceTokenizer, WORDPIECE_VOCAB } from './util/tokenizers.js';

const rowsOf = (texts: string[]): TextRows => ({
  count: texts.length, text: (i) => texts[i], labels: new Float64Array(texts.length), lines: Int32Array.from(texts, (_, i) => i + 1),
});
const input = (name: string, elemType = DataType.INT64, length: number | string = 'sequence'): DataInputInfo => ({ name, elemType, shape: ['batch', length] });
const BERT_INPUTS = [input('input_ids'), input('attention_mask'), input('token_type_ids', DataType.INT32)];

/** Each example's values of one input, as plain numbers. */
function rowsOfInput(values: ArrayLike<number | bigint>, length: number): number[][] {
  const all = Array.from(values as ArrayLike<number>, Number);
  return Array.from({ length: all.length / length }, (_, i) => all.slice(i * length, (i + 1) * length));
}

describe('text with a tokenizer.json', function () {
  describe('tokenizing (@huggingface/tokenizers, truncation and padding as the Rust tokenizers)', () => {
    const wordPiece = JSON.stringify(wordPieceTokenizer());
    const texts = ['The movie was GOOD!', 'Unbelievable playing, xyz.', '', 'CAFÉ plays'];

    it('WordPiece (BERT): lowercased, accents stripped, words split into ## pieces, [UNK] for an unknown word, [CLS] ... [SEP], [PAD] on the right', () => {
      const d = textDatasetFromRows('sentences', rowsOf(texts), BERT_INPUTS, { tokenizerJson: wordPiece });
      // the=5 movie=6 was=7 good=8 !=13 | un=16 ##believ=17 ##able=18 play=19 ##ing=20 ,=15 xyz=[UNK]=1 .=14 | cafe=38 play ##s=21
      expect(rowsOfInput(d.inputs.input_ids.values, 10)).to.deep.equal([
        [2, 5, 6, 7, 8, 13, 3, 0, 0, 0],
        [2, 16, 17, 18, 19, 20, 15, 1, 14, 3],
        [2, 3, 0, 0, 0, 0, 0, 0, 0, 0],
        [2, 38, 19, 21, 3, 0, 0, 0, 0, 0],
      ]);
      expect(rowsOfInput(d.inputs.attention_mask.values, 10).map((r) => r.join(''))).to.deep.equal(['1111111000', '1111111111', '1100000000', '1111100000']);
      expect(d.inputs.input_ids.values).to.be.instanceOf(BigInt64Array);
      expect(d.inputs.token_type_ids.values).to.deep.equal(new Int32Array(40)); // int32, as the model's input
      expect(d.inputs.input_ids.shape).to.deep.equal([10]); // no fixed length: the longest example's
      const preprocessing = d.preprocessing as TextPreprocessing;
      expect(preprocessing).to.deep.equal({ kind: 'text', column: 'text', maxLength: 10, tokenizer: wordPiece });
    });

    it('truncation keeps [CLS] and [SEP]: the text is cut to make room for them', () => {
      const d = textDatasetFromRows('sentences', rowsOf(texts), BERT_INPUTS, { tokenizerJson: wordPiece, maxLength: 5 });
      expect(rowsOfInput(d.inputs.input_ids.values, 5)).to.deep.equal([[2, 5, 6, 7, 3], [2, 16, 17, 18, 3], [2, 3, 0, 0, 0], [2, 38, 19, 21, 3]]);
      expect(() => textDatasetFromRows('sentences', rowsOf(texts), BERT_INPUTS, { tokenizerJson: wordPiece, maxLength: 2 }))
        .to.throw(UserError, '--max-length 2 leaves no room for text: tokenizer.json adds 2 special tokens to each example');
    });

    it("byte-level BPE (GPT-2): 'Ġ' for a leading space, merges by rank, no special tokens, bytes the vocabulary lacks dropped", () => {
      // the → t h → th → the (21) | Ġgood: o o first (rank 0), then Ġ g, Ġg oo, Ġgoo d (16) | Ġdog: no merges, Ġ d o g (12 6 10 8)
      // ',' (2) | Ġbad: Ġ b (rank 4) before a d, then Ġb ad (19) | '!' (1). 'good' at the start has no Ġ: g oo d. 'x' is no token.
      const d = textDatasetFromRows('bpe', rowsOf(['the good dog, bad!', 'good', 'the x']), [input('ids')], { tokenizerJson: JSON.stringify(bpeTokenizer()) });
      expect(rowsOfInput(d.inputs.ids.values, 9)).to.deep.equal([
        [21, 16, 12, 6, 10, 8, 2, 19, 1],
        [8, 13, 6, 0, 0, 0, 0, 0, 0],
        [21, 12, 0, 0, 0, 0, 0, 0, 0],
      ]);
    });

    it("the tokenizer's own padding and truncation settings: side, pad id and length", () => {
      const json = JSON.stringify(bpeTokenizer({
        truncation: { direction: 'Left', max_length: 5, strategy: 'LongestFirst', stride: 0 },
        padding: { strategy: 'BatchLongest', direction: 'Left', pad_to_multiple_of: null, pad_id: 3, pad_type_id: 0, pad_token: '.' },
      }));
      const d = textDatasetFromRows('bpe', rowsOf(['the good dog, bad!', 'good']), [input('input_ids', DataType.INT32), input('attention_mask')], { tokenizerJson: json });
      expect(rowsOfInput(d.inputs.input_ids.values, 5)).to.deep.equal([[10, 8, 2, 19, 1], [3, 3, 8, 13, 6]]);
      expect(rowsOfInput(d.inputs.attention_mask.values, 5)).to.deep.equal([[1, 1, 1, 1, 1], [0, 0, 1, 1, 1]]);
    });

    it("a model's fixed sequence length is the default, and --max-length must agree with it", () => {
      const fixed = [input('input_ids', DataType.INT64, 12), input('attention_mask', DataType.INT64, 12)];
      expect(textDatasetFromRows('s', rowsOf(texts), fixed, { tokenizerJson: wordPiece }).inputs.input_ids.shape).to.deep.equal([12]);
      expect(() => textDatasetFromRows('s', rowsOf(texts), fixed, { tokenizerJson: wordPiece, maxLength: 8 }))
        .to.throw(UserError, "--max-length 8: the model's input 'input_ids' takes exactly 12 tokens per example");
      expect(() => textDatasetFromRows('s', rowsOf(texts), [input('input_ids'), input('pixel_values')], { tokenizerJson: wordPiece }))
        .to.throw(UserError, "s: the model's input 'pixel_values' is none that a tokenizer fills (input_ids, attention_mask, token_type_ids)");
    });

    it("finds the embedding table behind input_ids, through GPT-2's Reshape too", () => {
      const table = (name: string) => describeModel(loadModel(fixturePath(`torch-arch/${name}`, 'model.onnx'))).inputs.find((i) => i.name === 'input_ids')!.embedding;
      expect(table('bert')).to.deep.equal({ table: 'bert.embeddings.word_embeddings.weight', rows: 64 });
      expect(table('gpt2')).to.deep.equal({ table: 'transformer.wte.weight', rows: 64 });
      expect(table('gpt2-dynamo')).to.deep.equal({ table: 'transformer.wte.weight', rows: 64 });
    });
  });

  describe('the command, on the BERT fixture (vocab 64, 16 positions, 3 classes)', function () {
    it('labels that name their classes: numbered in sorted order, the same run as with numbers', async () => {
      const named = (rows: { text: string; label: number }[]) => sentencesCsv(rows.map((r) => ({ ...r, label: CLASS_WORDS[r.label] as unknown as number })));
      file('named-train.csv', named(sentences(96, 1)));
      file('named-test.csv', named(sentences(48, 2)));
      const byName = await train(['--tokenizer', 'tokenizer.json', '--train', 'named-train.csv', '--test', 'named-test.csv', '--json', '--out', 'named']);
      const byNumber = await train(['--tokenizer', 'tokenizer.json', '--train', 'train.csv', '--test', 'test.csv', '--json', '--out', 'numbered']);
      expect(byName.code, byName.stderr).to.equal(0);
      expect(JSON.parse(byName.stdout).epoch_losses).to.deep.equal(JSON.parse(byNumber.stdout).epoch_losses); // CLASS_WORDS is sorted
      expect(JSON.parse(readFileSync(join(tmp, 'named', 'full_fine_tune.json'), 'utf8')).classes).to.deep.equal(CLASS_WORDS);
    });

    this.timeout(120_000);
    const bert = fixturePath('torch-arch/bert', 'model.onnx');
    let tmp: string;
    const file = (name: string, content: string) => {
      const path = join(tmp, name);
      writeFileSync(path, content);
      return path;
    };
    const train = (args: string[]) => cli(['full-finetune', '--model', bert, '--epochs', '5', ...args], tmp);
    before(() => {
      tmp = mkdtempSync(join(tmpdir(), 'onnx-finetune-text-'));
      file('tokenizer.json', JSON.stringify(wordPieceTokenizer(), null, 1));
      file('train.csv', sentencesCsv(sentences(96, 1)));
      file('test.csv', sentencesCsv(sentences(48, 2)));
      file('train.jsonl', sentencesJsonl(sentences(96, 1)));
      file('test.jsonl', sentencesJsonl(sentences(48, 2)));
    });
    after(() => rmSync(tmp, { recursive: true, force: true }));

    it('fine-tunes on a CSV of sentences: exit 0, accuracy well above chance; the exported model keeps the tokenizer, which tokenizes new text alike', async () => {
      const run = await train(['--tokenizer', 'tokenizer.json', '--train', 'train.csv', '--test', 'test.csv', '--out', 'csv']);
      expect(run.code, run.stderr).to.equal(0);
      const report = JSON.parse(readFileSync(join(tmp, 'csv', 'full_fine_tune.json'), 'utf8'));
      expect(report.accuracy).to.be.above(0.6); // chance: 1/3
      // What predict does: the tokenizer and length from the model's metadata alone, on the test file's text.
      const exported = loadModel(join(tmp, 'csv', 'full_fine_tune.onnx'));
      const preprocessing = readDataMetadata(exported).preprocessing as TextPreprocessing;
      expect(preprocessing).to.include({ kind: 'text', column: 'text', maxLength: 16 });
      expect(preprocessing.tokenizer).to.equal(readFileSync(join(tmp, 'tokenizer.json'), 'utf8'));
      const test = sentences(48, 2);
      const data = textDatasetFromRows('new text', { ...rowsOf(test.map((s) => s.text)), labels: Float64Array.from(test, (s) => s.label) }, describeModel(exported).inputs,
        { tokenizerJson: preprocessing.tokenizer, maxLength: preprocessing.maxLength });
      const session = await createSession(exported);
      const feeds = Object.fromEntries(Object.entries(data.inputs).map(([name, i]) => [name, new ort.Tensor('int64', i.values as BigInt64Array, [data.count, 16])]));
      const logits = (await session.run(feeds)).logits;
      await session.release();
      expect(countCorrect(logits.data as Float32Array, 3, data.labels) / data.count).to.equal(report.accuracy);
    });

    it('JSONL text trains exactly as the same CSV text', async () => {
      const run = await train(['--tokenizer', 'tokenizer.json', '--train', 'train.jsonl', '--test', 'test.jsonl', '--out', 'jsonl']);
      expect(run.code, run.stderr).to.equal(0);
      const [csv, jsonl] = ['csv', 'jsonl'].map((out) => JSON.parse(readFileSync(join(tmp, out, 'full_fine_tune.json'), 'utf8')));
      expect(jsonl.accuracy).to.equal(csv.accuracy);
      expect(jsonl.epoch_losses).to.have.length(5).and.deep.equal(csv.epoch_losses);
      expect(readFileSync(join(tmp, 'jsonl', 'full_fine_tune.safetensors'))).to.deep.equal(readFileSync(join(tmp, 'csv', 'full_fine_tune.safetensors')));
    });

    it('another text column and label, an empty text, extra columns ignored, --max-length on the GPT-2 fixture with a BPE tokenizer', async () => {
      const rows = sentences(48, 3);
      rows[5].text = '';
      file('review.csv', `id,review,stars\n${rows.map((r, i) => `${i},"${r.text}",${r.label}`).join('\n')}\n`);
      const run = await train(['--tokenizer', 'tokenizer.json', '--text-column', 'review', '--label', 'stars', '--train', 'review.csv', '--test', 'review.csv', '--out', 'review']);
      expect(run.code, run.stderr).to.equal(0);
      file('bpe.json', JSON.stringify(bpeTokenizer()));
      const gpt2 = await cli(['linear-probe', '--model', fixturePath('torch-arch/gpt2', 'model.onnx'), '--head', 'score.*', '--tokenizer', 'bpe.json', '--max-length', '16',
        '--train', 'train.csv', '--test', 'test.csv', '--epochs', '1', '--out', 'gpt2'], tmp);
      expect(gpt2.code, gpt2.stderr).to.equal(0);
    });

    it('new text without labels (what predict reads): label null, labels NaN', () => {
      const path = file('new.jsonl', '{"text": "The movie was GOOD!"}\n{"text": ""}\n');
      const d = readTextDataset(path, BERT_INPUTS, { tokenizerJson: JSON.stringify(wordPieceTokenizer()), maxLength: 8, label: null });
      expect(rowsOfInput(d.inputs.input_ids.values, 8)).to.deep.equal([[2, 5, 6, 7, 8, 13, 3, 0], [2, 3, 0, 0, 0, 0, 0, 0]]);
      expect([...d.labels]).to.deep.equal([NaN, NaN]);
      expect([...d.lines!]).to.deep.equal([1, 2]);
    });

    describe('bad input: one line naming the file, exit 1', () => {
      const fails = async (args: string[], message: string | RegExp) => {
        const run = await train(['--train', 'train.csv', '--test', 'test.csv', '--out', 'never', ...args]);
        expect(run.code, run.stderr).to.equal(1);
        expect(run.stderr.trim().split('\n'), run.stderr).to.have.length(1);
        if (typeof message === 'string') expect(run.stderr.trim()).to.equal(`onnx-finetune: ${message}`);
        else expect(run.stderr.trim()).to.match(message);
      };

      it('a tokenizer file that is missing, not JSON, or not a tokenizer.json', async () => {
        await fails(['--tokenizer', 'missing.json'], /^onnx-finetune: missing\.json: cannot .*no such file/);
        file('broken.json', '{"model": {"type": "WordPiece", ');
        await fails(['--tokenizer', 'broken.json'], /^onnx-finetune: broken\.json: not a tokenizer\.json \(not valid JSON: /);
        file('vocab.json', JSON.stringify({ the: 0, movie: 1 }));
        await fails(['--tokenizer', 'vocab.json'], 'vocab.json: not a Hugging Face tokenizer.json (no "model" object with a "type"; save one with tokenizer.save("tokenizer.json") or AutoTokenizer\'s save_pretrained)');
        file('unknown-model.json', JSON.stringify(wordPieceTokenizer(undefined, { model: { type: 'Sentencepiece9' } })));
        await fails(['--tokenizer', 'unknown-model.json'], /^onnx-finetune: unknown-model\.json: not a tokenizer\.json that @huggingface\/tokenizers reads \(.*Sentencepiece9/);
      });

      it('no text column: the columns listed', async () => {
        file('no-text.csv', 'sentence,label\n"good one",1\n');
        await fails(['--tokenizer', 'tokenizer.json', '--train', 'no-text.csv'], "no-text.csv: no text column 'text' (columns: 'sentence', 'label'); choose one with --text-column");
      });

      it('a JSONL text that is not a string, a label that is neither a number nor a class name', async () => {
        file('number.jsonl', '{"text": "good", "label": 1}\n{"text": 42, "label": 0}\n');
        await fails(['--tokenizer', 'tokenizer.json', '--train', 'number.jsonl'], "number.jsonl: line 2, key 'text': 42, not a string of text");
        file('label.csv', 'text,label\ngood,1\nbad,NaN\n');
        await fails(['--tokenizer', 'tokenizer.json', '--train', 'label.csv'], "label.csv: line 3, column 'label': label 'NaN', not a number or a class name");
      });

      it("a tokenizer whose vocabulary is past the model's embedding table", async () => {
        const vocab = [...WORDPIECE_VOCAB, ...Array.from({ length: 70 - WORDPIECE_VOCAB.length }, (_, i) => `word${i}`)];
        file('big.json', JSON.stringify(wordPieceTokenizer(vocab)));
        await fails(['--tokenizer', 'big.json'], "big.json: the tokenizer's vocabulary has ids up to 69, but the model's embedding table 'bert.embeddings.word_embeddings.weight' (read by input 'input_ids') has 64 rows; use the tokenizer the model was trained with");
      });

      it('a token id past the embedding table in pre-tokenized JSONL: the line, the id and the table size', async () => {
        const line = (ids: number[]) => JSON.stringify({ input_ids: [...ids, ...new Array(16 - ids.length).fill(0)], attention_mask: [...ids.map(() => 1), ...new Array(16 - ids.length).fill(0)], y: 0 });
        file('ids.jsonl', `${line([1, 5, 63])}\n\n${line([1, 64, 2])}\n`);
        await fails(['--train', 'ids.jsonl', '--test', 'ids.jsonl'], "ids.jsonl: line 3, input 'input_ids': token id 64 is past the vocabulary; the model's embedding table 'bert.embeddings.word_embeddings.weight' has 64 rows (ids 0 to 63)");
      });

      it('--max-length against the fixed length, and text options without --tokenizer', async () => {
        await fails(['--tokenizer', 'tokenizer.json', '--max-length', '8'], "--max-length 8: the model's input 'input_ids' takes exactly 16 tokens per example");
        await fails(['--text-column', 'review'], '--text-column goes with --tokenizer (the text\'s tokenizer.json)');
      });
    });
  });
});
