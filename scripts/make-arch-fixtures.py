#!/usr/bin/env python3
"""Regenerates test/fixtures/torch-arch/: tiny real architectures exported to ONNX, their data, and PyTorch's own
fine-tuning results on them (expected.json).

    python3 -m venv /work/venv && /work/venv/bin/pip install -r scripts/requirements-fixtures.txt
    /work/venv/bin/python scripts/make-arch-fixtures.py [FIXTURE ...]

With no arguments every fixture is made; the data files are always rewritten (same seed, same bytes).
"""
import collections
import contextlib
import copy
import fnmatch
import io
import json
import os
import sys
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import arch_models as A  # noqa: E402  (stubs torchvision's meta registrations before anything imports it)

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
import torch  # noqa: E402

ort.set_default_logger_severity(3)  # its CastLike constant-folding warnings on dynamo exports are noise here
import torch.nn.functional as F  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(REPO, 'test', 'fixtures', 'torch-arch')
REL = os.path.relpath(OUT, REPO)
BATCH = 16
N_TRAIN, N_TEST = 48, 24
ADAM = dict(betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
TOLERANCE = 1e-4  # onnxruntime vs PyTorch eval logits

TORCHSCRIPT_UNFOLDED = dict(exporter='torchscript', opset=17, options={'dynamo': False, 'do_constant_folding': False})
TORCHSCRIPT_DEFAULTS = dict(exporter='torchscript', opset=17, options={'dynamo': False})
TORCHSCRIPT_TRAINING = dict(exporter='torchscript', opset=17,
                            options={'dynamo': False, 'do_constant_folding': False, 'training': 'TRAINING'})
# optimize=True (the default) folds BatchNorm into Conv under the conv's own name, pre-transposes MatMul weights
# into unnamed initializers and merges equal-valued initializers (LayerNorm ones/zeros) into one.
DYNAMO_UNOPTIMIZED = dict(exporter='dynamo', opset=18, options={'dynamo': True, 'optimize': False})

# Per fixture: export form, head / unfreeze globs, learning rates and epochs. `same_as`: the PyTorch results are
# those of another fixture (same model, same initial weights, another export).
SPECS = {
    'resnet': dict(export=TORCHSCRIPT_UNFOLDED, head='fc.*', unfreeze='layer2.*', full_lr=1e-3,
                   extra_bn_results=True),
    'resnet-folded': dict(export=TORCHSCRIPT_DEFAULTS, head='fc.*', unfreeze='layer2.*', full_lr=1e-3,
                          folded=True),
    'resnet-dynamo': dict(export=DYNAMO_UNOPTIMIZED, head='fc.*', unfreeze='layer2.*', full_lr=1e-3,
                          same_as='resnet', extra_bn_results=True),
    'resnet-training-export': dict(export=TORCHSCRIPT_TRAINING, head='fc.*', unfreeze='layer2.*', full_lr=1e-3,
                                   same_as='resnet', extra_bn_results=True),
    # full_batchnorm: with batch statistics the linear-bottleneck BatchNorm biases (features.{1,2}.block.2.1.bias,
    # features.3.block.3.1.bias) feed a 1x1 conv and another batch-statistics BatchNorm, which subtracts any constant:
    # their gradient is exactly 0, float32 leaves ~1e-9 of rounding, and Adam turns that into steps of up to lr.
    # PyTorch's own run moves them 2e-3 when the input moves 1 ulp; with running statistics nothing is that noisy.
    'mobilenet': dict(export=TORCHSCRIPT_UNFOLDED, head='classifier.*', unfreeze='features.3.*', full_lr=3e-3,
                      full_batchnorm='frozen'),
    'vit': dict(export=DYNAMO_UNOPTIMIZED, head='head.*', unfreeze='blocks.1.*', full_lr=1e-3),
    'convnext': dict(export=TORCHSCRIPT_UNFOLDED, head='head.fc.*', unfreeze='stages.1.*', full_lr=1e-3),
    'bert': dict(export=DYNAMO_UNOPTIMIZED, head='classifier.*', unfreeze='bert.encoder.layer.1.*', full_lr=3e-3),
    'gpt2': dict(export=TORCHSCRIPT_UNFOLDED, head='score.*', unfreeze='transformer.h.1.*', full_lr=1e-3),
    # The dynamo exporter splits GPT-2's qkv with SplitToSequence + SequenceAt and picks the last token with GatherND.
    'gpt2-dynamo': dict(export=DYNAMO_UNOPTIMIZED, head='score.*', unfreeze='transformer.h.1.*', full_lr=1e-3,
                        same_as='gpt2'),
}
PARTIAL = dict(head_lr=1e-2, head_epochs=2, backbone_lr=1e-3, epochs=2)
FULL_EPOCHS = 3


# ---------------------------------------------------------------- data

def two_decimals(v):
    """'%.2f' without '-0.00'."""
    s = f'{v:.2f}'
    return '0.00' if s == '-0.00' else s


def make_images(rng, n):
    """Class 0: reddish horizontal stripes, 1: greenish vertical stripes, 2: bluish checkerboard; random phase,
    amplitude and strong pixel noise, so a small CNN learns it only partly in a few epochs."""
    yy, xx = np.mgrid[0:32, 0:32].astype(np.float64)
    labels = np.tile(np.arange(A.CLASSES), n // A.CLASSES + 1)[:n]
    rng.shuffle(labels)
    rows = []
    for k in labels:
        phase = rng.uniform(0, 2 * np.pi)
        if k == 0:
            pattern = np.sin(2 * np.pi * yy / 8 + phase)
        elif k == 1:
            pattern = np.sin(2 * np.pi * xx / 8 + phase)
        else:
            pattern = np.sin(2 * np.pi * xx / 8 + phase) * np.sin(2 * np.pi * yy / 8 + phase)
        colour = np.full(3, -0.05)
        colour[k] = 0.15
        amplitude = rng.uniform(0.1, 0.5)
        image = colour[:, None, None] + amplitude * pattern[None] + rng.normal(0, 1.0, (3, 32, 32))
        rows.append((image.reshape(-1), int(k)))
    return rows


def write_images_csv(path, rows):
    with open(path, 'w') as f:
        f.write(','.join([f'x{i}' for i in range(3 * 32 * 32)] + ['y']) + '\n')
        for values, y in rows:
            f.write(','.join(two_decimals(v) for v in values) + f',{y}\n')


def make_text(rng, n):
    """Right-padded token sequences (pad 0) of 5..16 tokens starting with a [CLS]-like token 1; the class is which
    marker set appears (class k: tokens 2+5k..6+5k, in 2 to half the positions), the rest are filler tokens 17..63."""
    labels = np.tile(np.arange(A.CLASSES), n // A.CLASSES + 1)[:n]
    rng.shuffle(labels)
    rows = []
    for k in labels:
        length = int(rng.integers(5, A.SEQ_LEN + 1))
        ids = [1] + [int(t) for t in rng.integers(17, A.VOCAB, length - 1)]
        for pos in rng.choice(np.arange(1, length), size=int(rng.integers(2, length // 2 + 2)), replace=False):
            ids[pos] = int(2 + 5 * k + rng.integers(0, 5))
        pad = A.SEQ_LEN - length
        rows.append({'input_ids': ids + [0] * pad, 'attention_mask': [1] * length + [0] * pad, 'y': int(k)})
    return rows


def write_jsonl(path, rows):
    with open(path, 'w') as f:
        for r in rows:
            f.write(json.dumps(r, separators=(',', ':')) + '\n')


def make_data():
    rng = np.random.default_rng(A.SEED)
    train_csv, test_csv = A.DATA_FILES['images']
    write_images_csv(os.path.join(OUT, train_csv), make_images(rng, N_TRAIN))
    write_images_csv(os.path.join(OUT, test_csv), make_images(rng, N_TEST))
    rng = np.random.default_rng(A.SEED + 1)
    train_jsonl, test_jsonl = A.DATA_FILES['text']
    write_jsonl(os.path.join(OUT, train_jsonl), make_text(rng, N_TRAIN))
    write_jsonl(os.path.join(OUT, test_jsonl), make_text(rng, N_TEST))


def load_data(kind):
    """(train, test), each (inputs tuple, labels), read back from the files as the CLI reads them."""
    return tuple(A.read_data(kind, os.path.join(OUT, name)) for name in A.DATA_FILES[kind])


# ---------------------------------------------------------------- export

def dynamic_axes(names):
    return {n: {0: 'batch'} for n in names + ['logits']}


def export(model, spec, inputs, names, path):
    options = dict(spec['options'])
    kwargs = dict(opset_version=spec['opset'], input_names=names, output_names=['logits'])
    if options.get('training') == 'TRAINING':
        options['training'] = torch.onnx.TrainingMode.TRAINING
    if options['dynamo']:
        batch = torch.export.Dim('batch')
        kwargs.update(dynamic_shapes=tuple({0: batch} for _ in names), external_data=False)
    else:
        kwargs.update(dynamic_axes=dynamic_axes(names))
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter('ignore')
        torch.onnx.export(model, inputs, path, **kwargs, **options)
    strip_metadata(path)


def restore_buffers(path, model):
    """Sets the file's initializers named like the model's state_dict entries to the model's values."""
    proto = onnx.load(path)
    state = model.state_dict()
    for t in proto.graph.initializer:
        if t.name in state and state[t.name].is_floating_point():
            t.CopyFrom(onnx.numpy_helper.from_array(state[t.name].detach().numpy(), t.name))
    onnx.save(proto, path)


def strip_metadata(path):
    """The dynamo exporter records stack traces (with this machine's file paths) on every node."""
    proto = onnx.load(path)
    graphs = [proto.graph] + [f for f in proto.functions]
    for g in graphs:
        for node in g.node:
            del node.metadata_props[:]
            node.doc_string = ''
    del proto.graph.metadata_props[:]
    onnx.save(proto, path)


def identity_aliases(path):
    """{PyTorch name: initializer}: the TorchScript exporter stores equal-valued tensors once and reads the copies
    through Identity nodes whose outputs carry the other PyTorch names (zero biases, LayerNorm ones)."""
    graph = onnx.load(path).graph
    init = {i.name for i in graph.initializer}
    return {n.output[0]: n.input[0] for n in graph.node if n.op_type == 'Identity' and n.input[0] in init}


def op_types(path):
    return sorted({n.op_type for n in onnx.load(path).graph.node})


def ort_logits(path, names, inputs):
    session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    return session.run(['logits'], {n: t.numpy() for n, t in zip(names, inputs)})[0]


def check_parity(model, path, names, inputs, train_mode=False):
    """Max |onnxruntime - PyTorch| on these inputs (PyTorch in eval mode, or train mode for a training export)."""
    if train_mode:
        reference = __import__('copy').deepcopy(model).train()
    else:
        reference = model.eval()
    with torch.no_grad():
        expected = reference(*inputs).numpy()
    diff = float(np.abs(ort_logits(path, names, inputs) - expected).max())
    if not diff <= TOLERANCE:
        raise SystemExit(f'{path}: onnxruntime differs from PyTorch by {diff}')
    return diff


# ---------------------------------------------------------------- training

def is_batchnorm(m):
    return isinstance(m, torch.nn.modules.batchnorm._BatchNorm)


def set_modes(model, trainable, bn_mode):
    """Everything in eval mode but BatchNorm as bn_mode says (auto: train mode iff its weight or bias trains)."""
    model.eval()
    for name, m in model.named_modules():
        if not is_batchnorm(m):
            continue
        if bn_mode == 'train' or (bn_mode == 'auto' and (f'{name}.weight' in trainable or f'{name}.bias' in trainable)):
            m.train()


def select(model, glob):
    names = [n for n, _ in model.named_parameters() if fnmatch.fnmatchcase(n, glob)]
    if not names:
        raise SystemExit(f'glob {glob!r} selects no parameter')
    return names


def batches(data):
    inputs, y = data
    for i in range(0, len(y), BATCH):
        yield tuple(t[i:i + BATCH] for t in inputs), y[i:i + BATCH]


def run_stage(model, groups, epochs, bn_mode, train):
    """One Adam over groups [(names, lr)] for `epochs` epochs; returns the epoch losses."""
    params = dict(model.named_parameters())
    trainable = {n for names, _ in groups for n in names}
    for n, p in params.items():
        p.requires_grad_(n in trainable)
    optimizer = torch.optim.Adam([{'params': [params[n] for n in names], 'lr': lr} for names, lr in groups], **ADAM)
    set_modes(model, trainable, bn_mode)
    losses = []
    for _ in range(epochs):
        batch_losses = []
        for inputs, y in batches(train):
            optimizer.zero_grad()
            loss = F.cross_entropy(model(*inputs), y)
            loss.backward()
            optimizer.step()
            batch_losses.append(loss.item())
        losses.append(float(np.mean(batch_losses)))
    return losses


def accuracy(model, test):
    model.eval()
    inputs, y = test
    with torch.no_grad():
        return float((model(*inputs).argmax(1) == y).float().mean())


def float_state(model):
    """Every float state_dict entry (parameters and BatchNorm running stats), flattened row-major, 8 digits."""
    return {k: [float(f'{v:.8g}') for v in t.detach().reshape(-1).tolist()]
            for k, t in model.state_dict().items() if t.is_floating_point()}


def full_fine_tune(fixture, spec, data, bn_mode=None):
    bn_mode = bn_mode or spec.get('full_batchnorm', 'auto')
    model = A.build(fixture)
    all_params = [n for n, _ in model.named_parameters()]
    losses = run_stage(model, [(all_params, spec['full_lr'])], FULL_EPOCHS, bn_mode, data[0])
    return dict(accuracy=accuracy(model, data[1]), epoch_losses=losses, params=float_state(model))


def partial_unfreeze(fixture, spec, data, bn_mode='auto'):
    model = A.build(fixture)
    head, unfreeze = select(model, spec['head']), select(model, spec['unfreeze'])
    losses = run_stage(model, [(head, PARTIAL['head_lr'])], PARTIAL['head_epochs'], bn_mode, data[0])
    losses += run_stage(model, [(head, PARTIAL['head_lr']), (unfreeze, PARTIAL['backbone_lr'])], PARTIAL['epochs'],
                        bn_mode, data[0])
    return dict(accuracy=accuracy(model, data[1]), epoch_losses=losses, params=float_state(model))


def zero_gradient(fixture, spec, data):
    """Parameters whose gradient is zero by construction (an attention key bias: softmax ignores a per-query
    constant; a bias just before a batch-statistics BatchNorm): in float32 their gradient is rounding noise, which
    Adam turns into steps of up to the learning rate, so no two float32 runs agree on them. Found as the
    parameters whose float64 gradient on the first batch of a full fine-tune is below 1e-12 of the largest."""
    model = A.build(fixture).double()
    set_modes(model, {n for n, _ in model.named_parameters()}, spec.get('full_batchnorm', 'auto'))
    inputs, y = next(batches(data[0]))
    F.cross_entropy(model(*(t.double() if t.is_floating_point() else t for t in inputs)), y).backward()
    grads = {n: float(p.grad.abs().max()) for n, p in model.named_parameters()}
    largest = max(grads.values())
    return sorted(n for n, g in grads.items() if g <= 1e-12 * largest)


# ---------------------------------------------------------------- expected.json

def commands(fixture, spec, kind):
    train, test = (f'{REL}/{name}' for name in A.DATA_FILES[kind])
    common = f'--model {REL}/{fixture}/model.onnx --train {train} --test {test} --no-shuffle --batch-size {BATCH}'
    full = f'onnx-finetune full-finetune {common} --lr {spec["full_lr"]:g} --epochs {FULL_EPOCHS}'
    if 'full_batchnorm' in spec:
        full += f' --batchnorm {spec["full_batchnorm"]}'
    partial = (f"onnx-finetune partial-unfreeze {common} --head '{spec['head']}' --head-lr {PARTIAL['head_lr']:g} "
               f"--head-epochs {PARTIAL['head_epochs']} --unfreeze '{spec['unfreeze']}' "
               f"--backbone-lr {PARTIAL['backbone_lr']:g} --epochs {PARTIAL['epochs']}")
    out = {'full_fine_tune': full, 'partial_unfreeze': partial}
    if spec.get('extra_bn_results'):
        out['partial_unfreeze_bn_train'] = partial + ' --batchnorm train'
        out['full_fine_tune_bn_frozen'] = full + ' --batchnorm frozen'
    return out


def config(fixture, spec, kind, model, path):
    export = spec['export']
    return {
        'seed': A.SEED,
        'torch_version': torch.__version__,
        'exporter': export['exporter'],
        'opset': export['opset'],
        'export_options': export['options'],
        'inputs': {i.name: onnx.helper.printable_type(i.type) for i in onnx.load(path).graph.input},
        'output': 'logits',
        'op_types': op_types(path),
        'identity_aliases': identity_aliases(path),
        'classes': A.CLASSES,
        'loss': 'cross_entropy',
        'label': 'y',
        'data': dict(zip(('train', 'test'), A.DATA_FILES[kind])),
        'shuffle': False,
        'batch': BATCH,
        'head': spec['head'],
        'unfreeze': spec['unfreeze'],
        'full': {'lr': spec['full_lr'], 'epochs': FULL_EPOCHS,
                 **({'batchnorm': spec['full_batchnorm']} if 'full_batchnorm' in spec else {})},
        'partial': dict(PARTIAL, unfreeze=spec['unfreeze'], head=spec['head']),
        'batchnorm': 'auto',
        'initial_params': [k for k, t in model.state_dict().items() if t.is_floating_point()],
        'commands': commands(fixture, spec, kind),
    }


def folded_names(path, model):
    """Which initializers the exporter made up (and which Conv slot of which node reads each), and the PyTorch
    tensors it folded away."""
    proto = onnx.load(path)
    init = [i.name for i in proto.graph.initializer]
    torch_names = [k for k, t in model.state_dict().items() if t.is_floating_point()]
    made_up = [n for n in init if n not in torch_names]
    read_by = {name: f'{node.name} input {slot}' for node in proto.graph.node
               for slot, name in zip(('X', 'W', 'B'), node.input) if name in made_up}
    return {'onnx_initializers': init, 'exporter_named': read_by,
            'folded_away': [n for n in torch_names if n not in init]}


def make_fixture(fixture):
    spec = SPECS[fixture]
    _, kind = A.FIXTURES[fixture]
    names = A.INPUT_NAMES[kind]
    train, test = load_data(kind)
    folder = os.path.join(OUT, fixture)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, 'model.onnx')

    model = A.build(fixture)
    sample = tuple(t[:2] for t in test[0])
    training_export = spec['export']['options'].get('training') == 'TRAINING'
    if training_export:
        # Tracing runs the model once in train mode, which moves its running statistics: export a copy and
        # give the file the statistics the model really has, so its PyTorch results are the eval export's.
        export(copy.deepcopy(model).train(), spec['export'], sample, names, path)
        restore_buffers(path, model)
    else:
        export(model, spec['export'], sample, names, path)
    model.eval()
    diff = check_parity(model, path, names, test[0], train_mode=training_export)
    ops = op_types(path)
    print(f'{fixture}: {os.path.getsize(path)} bytes, onnxruntime vs PyTorch max |diff| {diff:.2e}, ops {ops}',
          flush=True)

    expected = {'config': config(fixture, spec, kind, model, path)}
    expected['config']['parity_max_abs_diff'] = diff
    if spec.get('folded'):
        del expected['config']['commands']
        expected['config']['folding'] = folded_names(path, model)
    elif spec.get('same_as'):
        expected['same_as'] = spec['same_as']
    else:
        data = (train, test)
        results = {'full_fine_tune': full_fine_tune(fixture, spec, data),
                   'partial_unfreeze': partial_unfreeze(fixture, spec, data)}
        if spec.get('extra_bn_results'):
            results['partial_unfreeze_bn_train'] = partial_unfreeze(fixture, spec, data, bn_mode='train')
            results['full_fine_tune_bn_frozen'] = full_fine_tune(fixture, spec, data, bn_mode='frozen')
        for strategy, r in results.items():
            print(f'  {strategy}: losses {[round(v, 4) for v in r["epoch_losses"]]} accuracy {r["accuracy"]:.3f}',
                  flush=True)
        expected['config']['zero_gradient'] = zero_gradient(fixture, spec, data)
        expected['results'] = results
    with open(os.path.join(folder, 'expected.json'), 'w') as f:
        json.dump(expected, f, separators=(',', ':'))
    return ops


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    make_data()
    if sys.argv[1:] == ['--data']:
        return
    fixtures = sys.argv[1:] or list(SPECS)
    ops = {f: make_fixture(f) for f in fixtures}
    print(json.dumps(ops))


if __name__ == '__main__':
    main()
