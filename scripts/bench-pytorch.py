# PyTorch eager reference for `npm run bench`: the same workloads (models, batch sizes, losses, default Adam,
# 1 intra-op thread unless stated) timed the same way, so that both can be run side by side on one machine.
# Optional, and not part of the project's install: it needs Python with torch (`python3 scripts/bench-pytorch.py`).
import statistics
import time

import torch
import torch.nn as nn


def seed_mlp():
    return nn.Sequential(nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU()), nn.Linear(16, 1))


def digits_cnn():
    backbone = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(),
                             nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 32), nn.ReLU())
    return nn.Sequential(backbone, nn.Linear(32, 5))


def wide_mlp():
    return nn.Sequential(nn.Sequential(nn.Linear(784, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU()), nn.Linear(1024, 10))


def measure(name, model, x, y, loss_fn, groups, threads=1, target_s=0.05, repeats=15):
    """Median µs per step (zero_grad, forward, loss, backward, Adam) over `repeats` runs of about `target_s`."""
    torch.set_num_threads(threads)
    for p in model.parameters():
        p.requires_grad_(False)
    for params, _ in groups:
        for p in params:
            p.requires_grad_(True)
    optimizer = torch.optim.Adam([{'params': params, 'lr': lr} for params, lr in groups])

    def step():
        optimizer.zero_grad()
        loss_fn(model(x), y).backward()
        optimizer.step()

    start = time.perf_counter()
    warmups = 0
    while warmups < 20 or time.perf_counter() - start < 0.2:
        step()
        warmups += 1
    per_repeat = max(1, round(target_s / ((time.perf_counter() - start) / warmups)))
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(per_repeat):
            step()
        samples.append((time.perf_counter() - t0) / per_repeat * 1e6)
    samples.sort()
    median = statistics.median(samples)
    shown = f'{median / 1e3:9.1f} ms/step (min {samples[0] / 1e3:.1f})' if median >= 10_000 else f'{median:9.1f} µs/step (min {samples[0]:.1f})'
    print(f'{name:52s} {shown}', flush=True)


torch.manual_seed(0)
bce, ce = nn.BCEWithLogitsLoss(), nn.CrossEntropyLoss()
seed = seed_mlp()
xs, ys = torch.randn(64, 10), torch.randint(0, 2, (64, 1)).float()
measure('seed MLP 10-32-16-1, full fine-tune', seed, xs, ys, bce, [(list(seed.parameters()), 3e-3)])
measure('seed MLP 10-32-16-1, linear probe', seed, xs, ys, bce, [(list(seed[1].parameters()), 1e-2)])
measure('seed MLP 10-32-16-1, partial unfreeze stage 2', seed, xs, ys, bce, [(list(seed[1].parameters()), 1e-3), (list(seed[0][2].parameters()), 1e-3)])
digits = digits_cnn()
xd, yd = torch.randn(32, 1, 8, 8), torch.randint(0, 5, (32,))
measure('digits CNN, full fine-tune', digits, xd, yd, ce, [(list(digits.parameters()), 2e-3)])
measure('digits CNN, linear probe', digits, xd, yd, ce, [(list(digits[1].parameters()), 1e-2)])
measure('digits CNN, partial unfreeze stage 2', digits, xd, yd, ce, [(list(digits[1].parameters()), 1e-3), (list(digits[0][7].parameters()), 1e-3)])
wide = wide_mlp()
xw, yw = torch.randn(256, 784), torch.randint(0, 10, (256,))
for threads in (1, 2):
    measure(f'MLP 784-1024-1024-10, full fine-tune, {threads} thread{"s" if threads > 1 else ""}', wide, xw, yw, ce, [(list(wide.parameters()), 1e-3)], threads)
