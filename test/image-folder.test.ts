// Image folders (--train DIR --test DIR), as ImageFolder reads them: trained through the command, resumed
// bit-identically with augmentation, refused in one line when bad; and the loader underneath: exact
// preprocessing, pure augmentation, and at most two batches of decoded images held at a time.
import { expect } from 'chai';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { loadModel, saveModel } from '../src/onnx/io.js';
import { readDataMetadata } from '../src/export/data-metadata.js';
import { describeModel } from '../src/model/describe.js';
import { readImageFolder, listImageFolder } from '../src/data/image-folder.js';
import { channelTables, coverSize, roundHalfEven } from '../src/data/image-decode.js';
import { parseImageOptions } from '../src/data/image-options.js';
import { BatchBuffers } from '../src/train/batches.js';
import { Rng } from '../src/train/rng.js';
import type { Dataset, LazyInput } from '../src/data/dataset.js';
import { cli } from './util/cli.js';
import { fixturePath } from './util/fixtures.js';
import { classImage, imageCnn, writeImageFolder } from './util/image-folders.js';

const CLASSES = ['blue', 'green', 'red'];

describe('image folders (command)', function () {
  this.timeout(120_000);
  let tmp: string, model: string, train: string, test: string;
  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'onnx-finetune-images-'));
    model = join(tmp, 'cnn.onnx');
    saveModel(model, imageCnn(3));
    saveModel(join(tmp, 'cnn-any-size.onnx'), imageCnn(3, ['height', 'width']));
    train = await writeImageFolder(join(tmp, 'train'), 20, 1);
    test = await writeImageFolder(join(tmp, 'test'), 8, 2);
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));
  const files = () => ['--model', model, '--train', train, '--test', test];

  it('linear-probe learns the classes; the report names them and the exported model keeps classes and preprocessing', async () => {
    const out = join(tmp, 'probe');
    const run = await cli(['linear-probe', ...files(), '--epochs', '20', '--lr', '0.05', '--out', out], tmp);
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stdout).to.match(/train \(60 images\) for training, .*test \(24 images\) for testing/);
    expect(run.stdout).to.contain('classes: 0 blue, 1 green, 2 red');
    const report = JSON.parse(readFileSync(join(out, 'linear_probe.json'), 'utf8'));
    expect(report.classes).to.deep.equal(CLASSES);
    expect(report.accuracy).to.be.greaterThan(0.8); // chance is 1/3
    const meta = readDataMetadata(loadModel(join(out, 'linear_probe.onnx')));
    expect(meta.classNames).to.deep.equal(CLASSES);
    expect(meta.preprocessing).to.deep.include({ kind: 'image', size: [16, 16], mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], resize: 'shorter-side, center-crop' });
  });

  it('full-finetune with --augment flip,crop, --image-size on a model of any size, and own --mean/--std', async () => {
    const out = join(tmp, 'full');
    const run = await cli(['full-finetune', '--model', join(tmp, 'cnn-any-size.onnx'), '--train', train, '--test', test, '--image-size', '16x16', '--augment', 'flip,crop',
      '--mean', '0.5,0.5,0.5', '--std', '0.25,0.25,0.25', '--epochs', '4', '--lr', '0.02', '--batch-size', '8', '--json', '--out', out], tmp);
    expect(run.code, run.stderr).to.equal(0);
    expect(JSON.parse(run.stdout).accuracy).to.be.greaterThan(0.6);
    const exported = loadModel(join(out, 'full_fine_tune.onnx'));
    expect(readDataMetadata(exported).preprocessing).to.deep.include({ size: [16, 16], mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] });
    expect(describeModel(exported).inputs[0].shape).to.deep.equal(['batch', 3, 16, 16]); // trained, and exported, for that size
  });

  describe('SIGKILL then --resume with --augment flip,crop', () => {
    // 60 images in batches of 8: 8 steps an epoch, 4 epochs, a checkpoint every 5 steps.
    const args = () => ['full-finetune', ...files(), '--augment', 'flip,crop', '--epochs', '4', '--lr', '0.02', '--batch-size', '8', '--checkpoint-every', '5', '--json'];
    const weights = (dir: string) => readFileSync(join(dir, 'full_fine_tune.safetensors'));
    let whole: string;
    before(async () => {
      whole = join(tmp, 'whole');
      const run = await cli([...args(), '--out', whole], tmp);
      expect(run.code, run.stderr).to.equal(0);
    });
    for (const step of [6, 13, 27]) {
      it(`killed after step ${step}: bit-identical weights and epoch losses`, async () => {
        const out = join(tmp, `killed-${step}`);
        const killed = await cli([...args(), '--out', out], tmp, { ONNX_FINETUNE_FAULT: `after-step:${step}` });
        expect(killed.signal).to.equal('SIGKILL');
        const resumed = await cli([...args(), '--resume', out], tmp);
        expect(resumed.code, resumed.stderr).to.equal(0);
        expect(weights(out).equals(weights(whole))).to.equal(true);
        const losses = (dir: string) => JSON.parse(readFileSync(join(dir, 'full_fine_tune.json'), 'utf8')).epoch_losses;
        expect(losses(out)).to.deep.equal(losses(whole));
      });
    }
    it('augmentation changes training (the run without it differs), and a resume with other --augment is refused', async () => {
      const plain = join(tmp, 'plain');
      const without = args().filter((a) => a !== '--augment' && a !== 'flip,crop');
      expect((await cli([...without, '--out', plain], tmp)).code).to.equal(0);
      expect(weights(plain).equals(weights(whole))).to.equal(false);
      const out = join(tmp, 'other-augment');
      await cli([...args(), '--out', out], tmp, { ONNX_FINETUNE_FAULT: 'after-step:6' });
      const resumed = await cli([...without, '--augment', 'flip', '--resume', out], tmp);
      expect(resumed.code).to.equal(1);
      expect(resumed.stderr).to.match(/is from a run with other training data/);
    });
  });

  describe('bad input: one line naming the file or folder', () => {
    const bad = (name: string) => join(tmp, 'bad', name);
    async function refused(args: string[], pattern: RegExp) {
      const run = await cli([...args, '--epochs', '1', '--out', join(tmp, 'bad-out', String(Math.random()).slice(2))], tmp);
      expect(run.code, run.stderr).to.equal(1);
      expect(run.stderr.trim().split('\n'), run.stderr).to.have.length(1);
      expect(run.stderr.trim().replace(/^onnx-finetune: /, '')).to.match(pattern);
    }
    /** A copy of the train folder, with `change` applied. */
    function variant(name: string, change: (dir: string) => void): string {
      const dir = bad(name);
      for (const c of CLASSES) {
        mkdirSync(join(dir, c), { recursive: true });
        for (const f of listImageFolder(train).paths.filter((p) => p.includes(`/${c}/`)).slice(0, 5)) copyFileSync(f, join(dir, c, f.split('/').pop()!));
      }
      change(dir);
      return dir;
    }

    it('a corrupt image, and a truncated one', async () => {
      const corrupt = variant('corrupt', (d) => writeFileSync(join(d, 'green', 'zz-broken.png'), 'not an image at all'));
      await refused(['full-finetune', '--model', model, '--train', corrupt, '--test', test], /bad\/corrupt\/green\/zz-broken\.png: cannot read the image \(.+\)$/);
      const truncated = variant('truncated', (d) => {
        const jpeg = readFileSync(listImageFolder(train).paths.find((p) => p.endsWith('.jpg'))!);
        writeFileSync(join(d, 'red', 'zz-cut.jpg'), jpeg.subarray(0, Math.floor(jpeg.length / 2)));
      });
      await refused(['full-finetune', '--model', model, '--train', truncated, '--test', test], /bad\/truncated\/red\/zz-cut\.jpg: cannot read the image/);
    });

    it('a class folder without images', async () => {
      const empty = variant('empty-class', (d) => {
        mkdirSync(join(d, 'grey'));
        writeFileSync(join(d, 'grey', 'notes.txt'), 'no images here');
      });
      await refused(['linear-probe', '--model', model, '--train', empty, '--test', test], /bad\/empty-class\/grey: class folder 'grey' holds no images/);
    });

    it('a folder without class subfolders', async () => {
      const flat = bad('flat');
      mkdirSync(flat, { recursive: true });
      copyFileSync(listImageFolder(train).paths[0], join(flat, 'a.png'));
      await refused(['linear-probe', '--model', model, '--train', flat, '--test', test], /bad\/flat: no class folders/);
    });

    it('test classes that differ from the train classes, and more classes than the head has outputs', async () => {
      const other = variant('other-classes', (d) => rmSync(join(d, 'red'), { recursive: true }));
      await refused(['linear-probe', '--model', model, '--train', train, '--test', other], /bad\/other-classes: class folders differ from .*train's: it lacks 'red'$/);
      saveModel(join(tmp, 'cnn-2.onnx'), imageCnn(2));
      await refused(['linear-probe', '--model', join(tmp, 'cnn-2.onnx'), '--train', train, '--test', test], /train: 3 class folders \(blue, green, red\), but the model's head has 2 outputs$/);
    });

    it('a model whose input is not [batch, 3, H, W] float, or whose H and W are not fixed without --image-size', async () => {
      await refused(['linear-probe', '--model', fixturePath('torch-seed', 'model.onnx'), '--train', train, '--test', test], /train: an image folder feeds one float input of shape \[batch, 3, H, W\], but the model has the FLOAT input 'x' of shape \[batch,10\]/);
      await refused(['linear-probe', '--model', join(tmp, 'cnn-any-size.onnx'), '--train', train, '--test', test], /input 'image' has shape \[batch,3,height,width\], without a fixed height and width; give --image-size H or HxW$/);
      await refused(['linear-probe', ...files(), '--image-size', '32'], /--image-size 32x32: the model's input 'image' takes 16x16 images/);
    });

    it('bad options and a folder mixed with a file', async () => {
      await refused(['linear-probe', ...files(), '--mean', '0.5,0.5'], /^--mean: '0\.5,0\.5' is not three numbers/);
      await refused(['linear-probe', ...files(), '--std', '0.2,0,0.2'], /^--std: .* is not three positive numbers/);
      await refused(['linear-probe', ...files(), '--augment', 'flip,rotate'], /^--augment: unknown augmentation 'rotate' \(choices: flip, crop\)/);
      await refused(['linear-probe', ...files(), '--image-size', '16x'], /^--image-size: '16x' is not H or HxW/);
      const csv = ['--model', fixturePath('torch-seed', 'model.onnx'), '--train', fixturePath('torch-seed', 'train.csv'), '--test', fixturePath('torch-seed', 'test.csv')];
      await refused(['linear-probe', ...csv, '--augment', 'flip'], /^--augment applies to image folders/);
      await refused(['linear-probe', '--model', model, '--train', train, '--test', fixturePath('torch-seed', 'test.csv')], /test\.csv: an image folder .* trains and tests with image folders/);
    });
  });
});

describe('image folder loader', function () {
  this.timeout(60_000);
  let tmp: string;
  before(() => (tmp = mkdtempSync(join(tmpdir(), 'onnx-finetune-image-loader-'))));
  after(() => rmSync(tmp, { recursive: true, force: true }));
  const MEAN = [0.485, 0.456, 0.406], STD = [0.229, 0.224, 0.225];
  const tables = channelTables(MEAN, STD);
  const inputs = (size: number | string = 8) => describeModel(imageCnn(2, [size, size])).inputs;

  /** Writes one image per class (a, b) and loads the first, [3, 8, 8], without augmentation. */
  async function loadOne(name: string, write: (path: string) => Promise<unknown>, epoch?: number, augment: ('flip' | 'crop')[] = []): Promise<Float32Array> {
    const dir = join(tmp, name);
    for (const c of ['a', 'b']) mkdirSync(join(dir, c), { recursive: true });
    await write(join(dir, 'a', 'x.png'));
    copyFileSync(join(dir, 'a', 'x.png'), join(dir, 'b', 'x.png'));
    const data = readImageFolder(dir, inputs(), { ...parseImageOptions({}, 7), augment });
    const out = new Float32Array(3 * 64);
    await data.lazy!.load([0], out, epoch);
    return out;
  }

  it('writes (v/255 - mean)/std in float32, channels first, as ToTensor + Normalize', async () => {
    const pixels = classImage(new Rng(1), [100, 150, 200], 8, 8);
    const got = await loadOne('exact', (p) => sharp(pixels, { raw: { width: 8, height: 8, channels: 3 } }).png().toFile(p));
    for (let c = 0; c < 3; c++) for (let i = 0; i < 64; i++) expect(got[c * 64 + i]).to.equal(Math.fround(Math.fround(Math.fround(pixels[i * 3 + c] / 255) - Math.fround(MEAN[c])) / Math.fround(STD[c])));
  });

  it('center-crops the longer side as torchvision rounds its offset (Python round: halves to even)', async () => {
    for (const [width, left] of [[9, 0], [10, 1], [11, 2], [13, 2]]) {
      const pixels = classImage(new Rng(width), [90, 120, 60], width, 8);
      const got = await loadOne(`crop-${width}`, (p) => sharp(pixels, { raw: { width, height: 8, channels: 3 } }).png().toFile(p));
      expect(got[0], `width ${width}`).to.equal(tables[0][pixels[left * 3]]);
      expect(got[7], `width ${width}`).to.equal(tables[0][pixels[(left + 7) * 3]]);
      expect(got[64 + 8], `width ${width}`).to.equal(tables[1][pixels[(width + left) * 3 + 1]]);
    }
    expect([0.5, 1.5, 2.5, 3].map(roundHalfEven)).to.deep.equal([0, 2, 2, 3]);
    expect(coverSize(640, 480, [224, 224])).to.deep.equal([298, 224]); // torchvision: int(224 * 640 / 480)
    expect(coverSize(100, 300, [32, 48])).to.deep.equal([48, 144]);
  });

  it('grey images become RGB; alpha is dropped', async () => {
    const grey = Buffer.from(Array.from({ length: 64 }, (_, i) => i * 4));
    const g = await loadOne('grey', (p) => sharp(grey, { raw: { width: 8, height: 8, channels: 1 } }).png().toFile(p));
    for (let i = 0; i < 64; i++) for (let c = 0; c < 3; c++) expect(g[c * 64 + i]).to.equal(tables[c][grey[i]]);
    const rgba = Buffer.from(Array.from({ length: 256 }, (_, i) => (i % 4 === 3 ? 10 : (i * 7) % 256)));
    const a = await loadOne('alpha', (p) => sharp(rgba, { raw: { width: 8, height: 8, channels: 4 } }).png().toFile(p));
    for (let i = 0; i < 64; i++) for (let c = 0; c < 3; c++) expect(a[c * 64 + i]).to.equal(tables[c][rgba[i * 4 + c]]);
  });

  it('augmentation is a pure function of (seed, epoch, image); no epoch, no augmentation; a flip mirrors', async () => {
    const pixels = classImage(new Rng(3), [200, 100, 50], 8, 8);
    const write = (p: string) => sharp(pixels, { raw: { width: 8, height: 8, channels: 3 } }).png().toFile(p);
    const plain = await loadOne('flip-none', write);
    const flips = await Promise.all([0, 1, 2, 3, 4, 5, 6, 7].map((e) => loadOne(`flip-${e}`, write, e, ['flip'])));
    const mirrored = Float32Array.from(plain, (_, i) => plain[i - (i % 8) + 7 - (i % 8)]);
    const kinds = flips.map((f) => (f.every((v, i) => v === plain[i]) ? 'same' : f.every((v, i) => v === mirrored[i]) ? 'mirrored' : 'other'));
    expect(kinds).to.include('same').and.to.include('mirrored').and.not.to.include('other');
    expect(await loadOne('flip-again', write, 3, ['flip'])).to.deep.equal(flips[3]);
    expect(await loadOne('flip-no-epoch', write, undefined, ['flip', 'crop'])).to.deep.equal(plain);
  });

  it('lists classes by code point and files as ImageFolder walks them, skipping hidden and non-image files', () => {
    const dir = join(tmp, 'listing');
    for (const d of ['b', 'B', 'a/z', 'a/sub', '.hidden', 'é']) mkdirSync(join(dir, d), { recursive: true });
    for (const f of ['b/2.PNG', 'b/10.jpg', 'B/x.webp', 'a/z/1.png', 'a/sub/9.jpeg', 'a/0.png', 'a/readme.txt', 'a/.x.png', '.hidden/h.png', 'é/e.png']) writeFileSync(join(dir, f), '');
    const listed = listImageFolder(dir);
    expect(listed.classNames).to.deep.equal(['B', 'a', 'b', 'é']);
    expect(listed.paths.map((p) => p.slice(dir.length + 1))).to.deep.equal(['B/x.webp', 'a/0.png', 'a/sub/9.jpeg', 'a/z/1.png', 'b/10.jpg', 'b/2.PNG', 'é/e.png']);
    expect([...listed.labels]).to.deep.equal([0, 1, 1, 1, 2, 2, 3]);
  });

  it('BatchBuffers reads the next batch ahead and never holds more than two batches of decoded images', async () => {
    const dir = await writeImageFolder(join(tmp, 'many'), 30, 5);
    const data = readImageFolder(dir, inputs(16), { ...parseImageOptions({}, 7), augment: ['flip', 'crop'] }, 2);
    const lazy = data.lazy!;
    let inFlight = 0, maxInFlight = 0, loads = 0;
    const buffers = new Set<ArrayBufferLike>();
    const watched: LazyInput = {
      ...lazy,
      async load(indices, into, epoch) {
        loads++;
        buffers.add(into.buffer);
        maxInFlight = Math.max(maxInFlight, ++inFlight);
        try {
          await lazy.load(indices, into, epoch);
        } finally {
          inFlight--;
        }
      },
    };
    const watchedData: Dataset = { ...data, lazy: watched };
    const batches = new BatchBuffers(watchedData, ['image'], ['batch'], 'int64');
    const order = new Rng(9).permutation(data.count);
    const BATCH = 8;
    for (const epoch of [0, 1]) {
      for (let start = 0; start < data.count; start += BATCH) {
        const end = Math.min(start + BATCH, data.count);
        const batch = await batches.gather(order, start, end, epoch);
        const expected = new Float32Array((end - start) * 3 * 256);
        await lazy.load(order.subarray(start, end), expected, epoch);
        expect(Buffer.from((batch.feeds.image.data as Float32Array).buffer, (batch.feeds.image.data as Float32Array).byteOffset, expected.byteLength).equals(Buffer.from(expected.buffer)), `batch at ${start}`).to.equal(true);
        expect([...(batch.labels.data as BigInt64Array)]).to.deep.equal([...order.subarray(start, end)].map((i) => BigInt(data.labels[i])));
        await new Promise((r) => setTimeout(r, 2)); // the step: the read-ahead runs meanwhile
      }
    }
    const perEpoch = Math.ceil(data.count / BATCH);
    expect(loads).to.equal(2 * perEpoch); // every batch loaded once: read ahead, then used
    expect(maxInFlight).to.equal(1);
    expect(buffers.size).to.equal(2);
  });
});
