# PyTorch eager reference for `npm run bench`: the same workloads (models, batch sizes, losses, default Adam,
# 1 intra-op thread unless stated) timed the same way, so that both can be run side by side on one machine.
# Optional, and not part of the project's install: it needs Python with torch, and torchvision and transformers
# for the ResNet-18, EfficientNet-B0 and BERT rows (skipped with a note where missing).
#   python3 scripts/bench-pytorch.py             every row, printed
#   python3 scripts/bench-pytorch.py --serve     rows by name from stdin, one JSON line each (npm run bench)
#   python3 scripts/bench-pytorch.py --notebook  the seed notebook's job, start to end (timed as a process)
#   python3 scripts/bench-pytorch.py --images    the image folder rows alone
import os
import statistics
import sys
import tempfile
import time
import types

import torch
import torch.nn as nn

# Some torchvision wheels (the local mirror's) fail to import their meta-kernel registrations against this torch;
# the models do not need them.
sys.modules.setdefault('torchvision._meta_registrations', types.ModuleType('torchvision._meta_registrations'))


def seed_mlp():
    return nn.Sequential(nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU()), nn.Linear(16, 1))


def digits_cnn():
    backbone = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(),
                             nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 32), nn.ReLU())
    return nn.Sequential(backbone, nn.Linear(32, 5))


def wide_mlp():
    return nn.Sequential(nn.Sequential(nn.Linear(784, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU()), nn.Linear(1024, 10))


def bert_tiny():
    from transformers import BertConfig, BertForSequenceClassification
    # google/bert_uncased_L-2_H-128_A-2's shape, dropout 0, as scripts/bench-models.ts builds it.
    config = BertConfig(vocab_size=30522, hidden_size=128, num_hidden_layers=2, num_attention_heads=2, intermediate_size=512,
                        max_position_embeddings=512, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, num_labels=2)
    return BertForSequenceClassification(config)


def token_batch(batch, sequence, vocab):
    """Token ids in 1..vocab-1 and a mask of ones, each row padded (id 0, mask 0) after a length in [sequence/2, sequence]."""
    lengths = torch.randint(sequence // 2, sequence + 1, (batch, 1))
    mask = (torch.arange(sequence) < lengths).long()
    return {'input_ids': torch.randint(1, vocab, (batch, sequence)) * mask, 'attention_mask': mask}


def logits_of(model, x):
    """A tensor input is the model's one input; a dict holds its keyword inputs (transformers models return .logits)."""
    if isinstance(x, dict):
        return model(**x).logits
    return model(x)


def measure(name, model, x, y, loss_fn, groups, threads=1, target_s=0.05, repeats=15, train_mode=True, fused=False):
    """Median µs per step (zero_grad, forward, loss, backward, Adam) over `repeats` runs of about `target_s`."""
    torch.set_num_threads(threads)
    model.train(train_mode)
    for p in model.parameters():
        p.requires_grad_(False)
    for params, _ in groups:
        for p in params:
            p.requires_grad_(True)
    optimizer = torch.optim.Adam([{'params': params, 'lr': lr} for params, lr in groups], fused=fused or None)

    def step():
        optimizer.zero_grad()
        loss_fn(logits_of(model, x), y).backward()
        optimizer.step()

    # Warm-up: 20 steps, or 1 s of a slow one's; at least 200 ms.
    start = time.perf_counter()
    warmups = 0
    while (warmups < 20 and time.perf_counter() - start < 1) or time.perf_counter() - start < 0.2:
        step()
        warmups += 1
    per_repeat = max(1, round(target_s / ((time.perf_counter() - start) / warmups)))
    samples, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(per_repeat):
            step()
        samples.append((time.perf_counter() - t0) / per_repeat * 1e6)
        cpu.append((time.process_time() - c0) / per_repeat * 1e6)
    return result(name, samples, cpu_us=statistics.median(cpu))


def result(name, samples_us, **extra):
    samples_us = sorted(samples_us)
    return {'workload': name, 'median_us': statistics.median(samples_us), 'min_us': samples_us[0], 'max_us': samples_us[-1], **extra}


# ---------------------------------------------------------------- the seed notebook's job

def seed_data(seed=17, n=1200, n_train=900, d=10):
    """The notebook's synthetic task: score = 1.5·x0 − 0.7·x1 + 0.4·x2·x3 + 0.4·noise, label score > 0."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    score = 1.5 * x[:, 0] - 0.7 * x[:, 1] + 0.4 * x[:, 2] * x[:, 3] + 0.4 * torch.randn(n, generator=g)
    y = (score > 0).float().unsqueeze(1)
    return (x[:n_train], y[:n_train]), (x[n_train:], y[n_train:])


def pretend_pretrained(seed=17):
    """The notebook's backbone: nn.Linear's default init plus 0.1·N(0, 1) noise, and a fresh Linear(16, 1) head."""
    torch.manual_seed(seed)
    model = seed_mlp()
    with torch.no_grad():
        for p in model[0].parameters():
            p.add_(0.1 * torch.randn_like(p))
    return model


def train(model, data, groups, epochs, batch=64):
    """The notebook's loop: a shuffled DataLoader of batches of 64, BCE with logits, Adam over the given groups."""
    from torch.utils.data import DataLoader, TensorDataset
    for p in model.parameters():
        p.requires_grad_(False)
    for params, _ in groups:
        for p in params:
            p.requires_grad_(True)
    optimizer = torch.optim.Adam([{'params': params, 'lr': lr} for params, lr in groups])
    loss_fn = nn.BCEWithLogitsLoss()
    loader = DataLoader(TensorDataset(*data), batch_size=batch, shuffle=True)
    model.train()
    for _ in range(epochs):
        for xb, yb in loader:
            optimizer.zero_grad()
            loss_fn(model(xb), yb).backward()
            optimizer.step()


def accuracy(model, data, batch=128):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(data[0]), batch):
            correct += ((model(data[0][i:i + batch]) > 0).float() == data[1][i:i + batch]).sum().item()
    return round(correct / len(data[0]), 3)


def notebook():
    """The seed notebook, start to end: the three strategies at its hyperparameters, then the accuracy dict."""
    torch.set_num_threads(1)
    train_data, test_data = seed_data()
    results = {}
    model = pretend_pretrained()
    train(model, train_data, [(list(model[1].parameters()), 1e-2)], 10)
    results['linear_probe'] = accuracy(model, test_data)
    model = pretend_pretrained()
    train(model, train_data, [(list(model[1].parameters()), 1e-2)], 5)
    train(model, train_data, [(list(model[1].parameters()), 1e-2), (list(model[0][2].parameters()), 1e-3)], 8)
    results['partial_unfreeze'] = accuracy(model, test_data)
    model = pretend_pretrained()
    train(model, train_data, [(list(model.parameters()), 3e-3)], 10)
    results['full_fine_tune'] = accuracy(model, test_data)
    print(results)


def notebook_step(name):
    """The notebook's full fine-tune step as it runs there (DataLoader, default Adam): the time of 42 epochs less
    that of 2, over the 40 epochs' steps; median of 3."""
    torch.set_num_threads(1)
    train_data, _ = seed_data()
    steps = -(-len(train_data[0]) // 64)
    samples, cpu = [], []
    for _ in range(3):
        times, cpus = [], []
        for epochs in (42, 2):
            model = pretend_pretrained()
            t0, c0 = time.perf_counter(), time.process_time()
            train(model, train_data, [(list(model.parameters()), 3e-3)], epochs)
            times.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
        samples.append((times[0] - times[1]) / (40 * steps) * 1e6)
        cpu.append((cpus[0] - cpus[1]) / (40 * steps) * 1e6)
    return result(name, samples, cpu_us=statistics.median(cpu))


def checkpoint_cost(name):
    """torch.save of the 784-1024-1024-10 MLP's parameters and Adam state (after one step) to a file, with fsync."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = wide_mlp()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    nn.CrossEntropyLoss()(model(torch.randn(256, 784)), torch.randint(0, 10, (256,))).backward()
    optimizer.step()
    samples = []
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, 'checkpoint.pt')
        for _ in range(7):
            t0 = time.perf_counter()
            with open(path, 'wb') as f:
                torch.save({'model': model.state_dict(), 'optimizer': optimizer.state_dict()}, f)
                f.flush()
                os.fsync(f.fileno())
            samples.append((time.perf_counter() - t0) * 1e6)
        size = os.path.getsize(path)
    return result(name, samples, note=f'torch.save + fsync, {size / 1e6:.1f} MB')


# ---------------------------------------------------------------- the rows

def rows():
    """Each workload `npm run bench` can ask for, by the name it prints, as a function that measures it."""
    torch.manual_seed(0)
    bce, ce = nn.BCEWithLogitsLoss(), nn.CrossEntropyLoss()
    table = {}
    seed = seed_mlp()
    xs, ys = torch.randn(64, 10), torch.randint(0, 2, (64, 1)).float()
    table['seed MLP 10-32-16-1, full fine-tune'] = lambda n: measure(n, seed, xs, ys, bce, [(list(seed.parameters()), 3e-3)])
    table['seed MLP 10-32-16-1, linear probe'] = lambda n: measure(n, seed, xs, ys, bce, [(list(seed[1].parameters()), 1e-2)])
    table['seed MLP 10-32-16-1, partial unfreeze stage 2'] = lambda n: measure(
        n, seed, xs, ys, bce, [(list(seed[1].parameters()), 1e-3), (list(seed[0][2].parameters()), 1e-3)])
    table['seed notebook full fine-tune step (DataLoader, by difference of 42 and 2 epochs)'] = notebook_step
    digits = digits_cnn()
    xd, yd = torch.randn(32, 1, 8, 8), torch.randint(0, 5, (32,))
    table['digits CNN, full fine-tune'] = lambda n: measure(n, digits, xd, yd, ce, [(list(digits.parameters()), 2e-3)])
    table['digits CNN, linear probe'] = lambda n: measure(n, digits, xd, yd, ce, [(list(digits[1].parameters()), 1e-2)])
    table['digits CNN, partial unfreeze stage 2'] = lambda n: measure(
        n, digits, xd, yd, ce, [(list(digits[1].parameters()), 1e-3), (list(digits[0][7].parameters()), 1e-3)])
    wide = wide_mlp()
    xw, yw = torch.randn(256, 784), torch.randint(0, 10, (256,))
    for threads in (1, 2):
        name = f'MLP 784-1024-1024-10, full fine-tune, {threads} thread{"s" if threads > 1 else ""}'
        table[name] = lambda n, t=threads: measure(n, wide, xw, yw, ce, [(list(wide.parameters()), 1e-3)], t)
        # The target compares against Adam's fused CPU kernel.
        table[name + ', fused Adam'] = lambda n, t=threads: measure(n, wide, xw, yw, ce, [(list(wide.parameters()), 1e-3)], t, fused=True)
    table['checkpoint of the 784-1024-1024-10 MLP with Adam state'] = checkpoint_cost

    def vision(build):
        def run(n, train_mode=True, probe=False):
            import torchvision  # noqa: F401 (a clear ImportError when it is missing)
            torch.manual_seed(0)
            model = build()
            xr, yr = torch.randn(32, 3, 32, 32), torch.randint(0, 10, (32,))
            head = model.fc if hasattr(model, 'fc') else model.classifier
            return measure(n, model, xr, yr, ce, [(list((head if probe else model).parameters()), 1e-2 if probe else 1e-3)], train_mode=train_mode)
        return run

    # torchvision's models on 3x32x32 images; BatchNorm as onnx-finetune's default (--batchnorm auto) runs it:
    # batch statistics (train()) in a full fine-tune, running statistics (eval()) in a linear probe.
    resnet = vision(lambda: __import__('torchvision').models.resnet18(num_classes=10))
    table['ResNet-18 3x32x32, full fine-tune'] = resnet
    table['ResNet-18 3x32x32, full fine-tune, BN frozen'] = lambda n: resnet(n, train_mode=False)
    table['ResNet-18 3x32x32, linear probe'] = lambda n: resnet(n, train_mode=False, probe=True)
    # train() also runs its Dropout(0.2) and stochastic depth: mask multiplies, small beside the convolutions.
    table['EfficientNet-B0 3x32x32, full fine-tune'] = vision(lambda: __import__('torchvision').models.efficientnet_b0(num_classes=10))

    def bert_row(probe):
        def run(n):
            model = bert_tiny()
            xb, yb = token_batch(16, 128, 30522), torch.randint(0, 2, (16,))
            return measure(n, model, xb, yb, ce, [(list((model.classifier if probe else model).parameters()), 1e-2 if probe else 1e-4)])
        return run
    table['BERT-Tiny L2-H128, seq 128, full fine-tune'] = bert_row(False)
    table['BERT-Tiny L2-H128, seq 128, linear probe'] = bert_row(True)
    table['BERT-Tiny L2-H128, seq 128, LoRA r8 query+value'] = lora_row
    return table


def measure_row(table, name):
    if name not in table:
        return {'workload': name, 'error': 'no PyTorch counterpart'}
    try:
        return table[name](name)
    except ImportError as e:
        return {'workload': name, 'error': f'skipped: {e}'}


def lora_row(n):
    """PEFT's LoRA step on the same BERT-Tiny, as `npm run bench` times onnx-finetune's: r 8, alpha 16 on query
    and value, the classifier trained in full (modules_to_save), one Adam at 1e-3 (issue 16)."""
    from peft import LoraConfig, get_peft_model
    bert = bert_tiny()
    torch.manual_seed(0)
    xb, yb = token_batch(16, 128, 30522), torch.randint(0, 2, (16,))
    lora = get_peft_model(bert, LoraConfig(r=8, lora_alpha=16, target_modules=['query', 'value'], lora_dropout=0.0, modules_to_save=['classifier']))
    trainable = [p for p in lora.parameters() if p.requires_grad]
    # measure() sets requires_grad from the groups: the frozen base weights stay out of backward, as in PEFT.
    return measure(n, lora, xb, yb, nn.CrossEntropyLoss(), [(trainable, 1e-3)])


def show(r):
    if 'error' in r:
        print(f'{r["workload"]:52s} {r["error"]}', flush=True)
        return
    median, low = r['median_us'], r['min_us']
    shown = f'{median / 1e3:9.1f} ms/step (min {low / 1e3:.1f})' if median >= 10_000 else f'{median:9.1f} µs/step (min {low:.1f})'
    print(f'{r["workload"]:52s} {shown}{"  [" + r["note"] + "]" if "note" in r else ""}', flush=True)


def measure_images(folder, threads, passes=3, quiet=False):
    """Images/s through ImageFolder + DataLoader (Resize(224), CenterCrop, ToTensor, Normalize) at batch 32, `threads` worker processes."""
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms
    transform = transforms.Compose([transforms.Resize(224), transforms.CenterCrop(224), transforms.ToTensor(),
                                    transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    dataset = datasets.ImageFolder(folder, transform)
    loader = DataLoader(dataset, batch_size=32, num_workers=threads, persistent_workers=True)
    for _ in loader:  # warm-up: the workers start
        pass
    seconds = []
    for _ in range(passes):
        t0 = time.perf_counter()
        for _ in loader:
            pass
        seconds.append(time.perf_counter() - t0)
    rate = len(dataset) / statistics.median(seconds)
    if quiet:
        return rate
    print(f'{"image folder -> 3x224x224 (JPEG 500x375), " + str(threads) + " thread" + ("s" if threads > 1 else ""):52s} {rate:9.0f} images/s', flush=True)


def images_folder():
    return os.path.join(tempfile.gettempdir(), 'onnx-finetune-bench-images')


if __name__ == '__main__':
    if '--serve' in sys.argv:
        # `npm run bench` asks for one row at a time (its name on a line) and reads back one JSON line, so that
        # the two sides of each row run back to back.
        import json
        table = rows()
        print(json.dumps({'ready': True, 'torch': torch.__version__}), flush=True)
        for line in sys.stdin:
            name = line.strip()
            if name.startswith('--images '):
                threads = int(name.split()[1])
                try:
                    torch.set_num_threads(1)
                    r = {'workload': name, 'images_per_s': measure_images(images_folder(), threads, quiet=True)}
                except ImportError as e:
                    r = {'workload': name, 'error': f'skipped: {e}'}
            else:
                r = measure_row(table, name)
            print(json.dumps(r), flush=True)
    elif '--notebook' in sys.argv:
        notebook()
    else:
        # Standalone: every row, then (with --images, only) the image folder rows.
        if '--images' not in sys.argv:
            table = rows()
            for name in table:
                show(measure_row(table, name))
        images = images_folder()
        try:
            import torchvision  # noqa: F401
        except ImportError as e:
            print(f'image folder rows skipped: {e}')
        else:
            if not os.path.isdir(images):
                print(f'image folder rows skipped: run `npm run bench` first, which writes {images}')
            else:
                torch.set_num_threads(1)
                for threads in (1, 2):
                    measure_images(images, threads)
