"""PyTorch's side of the schedule and recipe tests (issue 15, part A), committed under test/fixtures/torch-schedules/.

schedules.json: for each case, the lr (and OneCycle's beta1 or momentum) of two parameter groups before every
optimizer update, as torch.optim.lr_scheduler sets them (Hugging Face's warmup schedules as the LambdaLR that
transformers builds, its lambdas written out below).
recipes.json: full runs on the torch-seed fixture (shuffle off), one per recipe family: accuracy, per-epoch
mean batch losses and final parameters, trained as a PyTorch user would write the loop.

Run: /work/venv/bin/python scripts/make-schedule-fixtures.py
"""
import json
import math
import os

import numpy as np
import torch
from torch import nn
from torch.optim import lr_scheduler as S

ROOT = os.path.join(os.path.dirname(__file__), '..')
OUT = os.path.join(ROOT, 'test', 'fixtures', 'torch-schedules')
SEED = os.path.join(ROOT, 'test', 'fixtures', 'torch-seed')


# transformers.optimization, as of 4.x: the lambdas LambdaLR applies to the base lr.
def hf_cosine(warmup, total, cycles=0.5):
    def f(step):
        if step < warmup:
            return float(step) / float(max(1, warmup))
        progress = float(step - warmup) / float(max(1, total - warmup))
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * float(cycles) * 2.0 * progress)))
    return f


def hf_linear(warmup, total):
    def f(step):
        if step < warmup:
            return float(step) / float(max(1, warmup))
        return max(0.0, float(total - step) / float(max(1, total - warmup)))
    return f


def warmup_steps(spec, updates):
    if 'warmupSteps' in spec:
        return spec['warmupSteps']
    return math.ceil(updates * spec.get('warmupRatio', 0))


def scheduler(spec, opt, updates):
    k = spec['kind']
    if k == 'warmup':
        return S.LinearLR(opt, start_factor=spec.get('startFactor', 1 / 3), end_factor=1.0, total_iters=warmup_steps(spec, updates))
    if k == 'linear':
        return S.LinearLR(opt, start_factor=spec.get('startFactor', 1 / 3), end_factor=spec.get('endFactor', 1.0), total_iters=spec.get('totalSteps', updates))
    if k == 'cosine':
        return S.CosineAnnealingLR(opt, T_max=spec.get('tMax', updates), eta_min=spec.get('etaMin', 0))
    if k == 'step':
        return S.StepLR(opt, step_size=spec['stepSize'], gamma=spec.get('gamma', 0.1))
    if k == 'onecycle':
        max_lr = spec.get('maxLr', [g['lr'] for g in opt.param_groups])
        return S.OneCycleLR(opt, max_lr=max_lr, total_steps=spec.get('totalSteps', updates), pct_start=spec.get('pctStart', 0.3),
                            anneal_strategy=spec.get('annealStrategy', 'cos'), cycle_momentum=spec.get('cycleMomentum', True),
                            base_momentum=spec.get('baseMomentum', 0.85), max_momentum=spec.get('maxMomentum', 0.95),
                            div_factor=spec.get('divFactor', 25.0), final_div_factor=spec.get('finalDivFactor', 1e4), three_phase=spec.get('threePhase', False))
    if k == 'warmup-cosine':
        return S.LambdaLR(opt, hf_cosine(warmup_steps(spec, updates), updates, spec.get('numCycles', 0.5)))
    if k == 'warmup-linear':
        return S.LambdaLR(opt, hf_linear(warmup_steps(spec, updates), updates))
    raise ValueError(k)


SCHEDULE_CASES = [
    ('warmup steps', {'kind': 'warmup', 'warmupSteps': 5}, 'adam'),
    ('warmup ratio, start factor', {'kind': 'warmup', 'warmupRatio': 0.1, 'startFactor': 0.01}, 'adam'),
    ('linear defaults', {'kind': 'linear'}, 'adam'),
    ('linear decay', {'kind': 'linear', 'startFactor': 1.0, 'endFactor': 0.0, 'totalSteps': 30}, 'adam'),
    ('cosine', {'kind': 'cosine'}, 'adam'),
    ('cosine past tMax', {'kind': 'cosine', 'tMax': 10, 'etaMin': 1e-4}, 'adam'),
    ('step', {'kind': 'step', 'stepSize': 7, 'gamma': 0.5}, 'adam'),
    ('onecycle', {'kind': 'onecycle'}, 'adam'),
    ('onecycle three phases, linear', {'kind': 'onecycle', 'maxLr': 0.02, 'pctStart': 0.25, 'annealStrategy': 'linear', 'threePhase': True, 'divFactor': 10, 'finalDivFactor': 100}, 'adam'),
    ('onecycle sgd momentum', {'kind': 'onecycle', 'totalSteps': 40, 'baseMomentum': 0.8, 'maxMomentum': 0.9}, 'sgd'),
    ('onecycle without momentum', {'kind': 'onecycle', 'cycleMomentum': False}, 'adam'),
    ('warmup-cosine', {'kind': 'warmup-cosine', 'warmupSteps': 5}, 'adam'),
    ('warmup-cosine ratio, cycles', {'kind': 'warmup-cosine', 'warmupRatio': 0.1, 'numCycles': 1.5}, 'adam'),
    ('warmup-linear', {'kind': 'warmup-linear', 'warmupSteps': 5}, 'adam'),
    ('warmup-linear ratio', {'kind': 'warmup-linear', 'warmupRatio': 0.2}, 'adam'),
]
UPDATES = 37
BASE_LRS = [0.01, 0.003]


def schedule_values(spec, kind):
    params = [nn.Parameter(torch.zeros(2)), nn.Parameter(torch.zeros(3))]
    groups = [{'params': [p], 'lr': lr} for p, lr in zip(params, BASE_LRS)]
    opt = torch.optim.Adam(groups) if kind == 'adam' else torch.optim.SGD(groups, momentum=0.9)
    sched = scheduler(spec, opt, UPDATES)
    lrs, momenta = [], []
    for _ in range(UPDATES):
        lrs.append([g['lr'] for g in opt.param_groups])
        momenta.append([g['betas'][0] if kind == 'adam' else g['momentum'] for g in opt.param_groups])
        opt.step()
        sched.step()
    return lrs, momenta


# The torch-seed fixture's model and data.
seed = json.load(open(os.path.join(SEED, 'expected.json')))
cfg = seed['config']


def load(name):
    a = np.loadtxt(os.path.join(SEED, name), delimiter=',', skiprows=1, dtype=np.float64)
    return torch.tensor(a[:, :-1], dtype=torch.float32), torch.tensor(a[:, -1])


xtr, ytr = load('train.csv')
xte, yte = load('test.csv')


def seed_model(classes=1, head=None):
    m = nn.Sequential()
    m.backbone = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU())
    m.head = nn.Linear(16, classes)
    with torch.no_grad():
        for name, p in m.named_parameters():
            if name.startswith('head') and head is not None:
                p.copy_(torch.tensor(head[name], dtype=torch.float32).reshape(p.shape))
            else:
                p.copy_(torch.tensor(cfg['initial_params'][name], dtype=torch.float32).reshape(p.shape))
    return m


def run(model, opt, epochs, criterion, multiclass=False, sched=None, clip=None, accumulate=1):
    """The usual PyTorch loop, batches of 64 in file order; the scheduler steps after every optimizer update."""
    batches = [(xtr[i:i + 64], ytr[i:i + 64]) for i in range(0, len(xtr), 64)]
    losses, clipped = [], 0
    for _ in range(epochs):
        total = 0.0
        opt.zero_grad()
        for i, (x, y) in enumerate(batches):
            out = model(x)
            loss = criterion(out, y.long()) if multiclass else criterion(out.squeeze(1), y.float())
            total += loss.item()
            (loss / accumulate if accumulate > 1 else loss).backward()
            if (i + 1) % accumulate == 0 or i + 1 == len(batches):
                if clip is not None:
                    norm = nn.utils.clip_grad_norm_(model.parameters(), clip)
                    clipped += int(norm.item() > clip)
                opt.step()
                opt.zero_grad()
                if sched is not None:
                    sched.step()
        losses.append(total / len(batches))
    with torch.no_grad():
        logits = model(xte)
        pred = logits.argmax(1).double() if multiclass else (logits.squeeze(1) > 0).double()
        accuracy = (pred == yte).double().mean().item()
    params = {n: p.detach().reshape(-1).tolist() for n, p in model.named_parameters()}
    return {'accuracy': accuracy, 'epoch_losses': losses, 'params': params, 'clipped_updates': clipped}


def recipes():
    bce = nn.BCEWithLogitsLoss()
    epochs, batches = 10, math.ceil(len(xtr) / 64)
    updates = epochs * batches
    out = {}

    m = seed_model()
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    out['warmup_cosine'] = run(m, opt, epochs, bce, sched=S.LambdaLR(opt, hf_cosine(math.ceil(updates * 0.1), updates)))

    m = seed_model()
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    out['onecycle'] = run(m, opt, epochs, bce, sched=S.OneCycleLR(opt, max_lr=1e-2, total_steps=updates))

    # --lr-decay 0.8 --no-decay bias with AdamW: depth 0 the head, 1 backbone.2, 2 backbone.0; biases without decay.
    m = seed_model()
    named = dict(m.named_parameters())
    groups = []
    for depth, layer in enumerate(['head', 'backbone.2', 'backbone.0']):
        lr = 3e-3 * 0.8 ** depth
        groups.append({'params': [named[f'{layer}.weight']], 'lr': lr, 'weight_decay': 0.01})
        groups.append({'params': [named[f'{layer}.bias']], 'lr': lr, 'weight_decay': 0.0})
    out['discriminative'] = run(m, torch.optim.AdamW(groups), epochs, bce)

    m = seed_model()
    out['clipping'] = run(m, torch.optim.SGD(m.parameters(), lr=0.1), epochs, bce, clip=0.2)

    m = seed_model()
    out['accumulation'] = run(m, torch.optim.Adam(m.parameters(), lr=3e-3), epochs, bce, accumulate=4)

    torch.manual_seed(0)
    head = nn.Linear(16, 2)
    head_init = {'head.weight': head.weight.detach().reshape(-1).tolist(), 'head.bias': head.bias.detach().tolist()}
    m = seed_model(2, head_init)
    out['label_smoothing'] = run(m, torch.optim.Adam(m.parameters(), lr=3e-3), epochs, nn.CrossEntropyLoss(label_smoothing=0.1), multiclass=True)
    out['label_smoothing']['head_init'] = head_init
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    cases = []
    for name, spec, kind in SCHEDULE_CASES:
        lrs, momenta = schedule_values(spec, kind)
        cases.append({'name': name, 'spec': spec, 'optimizer': kind, 'updates': UPDATES, 'base_lrs': BASE_LRS, 'lrs': lrs, 'momenta': momenta})
    with open(os.path.join(OUT, 'schedules.json'), 'w') as f:
        json.dump({'torch_version': torch.__version__, 'cases': cases}, f)
    with open(os.path.join(OUT, 'recipes.json'), 'w') as f:
        json.dump({'torch_version': torch.__version__, 'epochs': 10, 'batch': 64, 'results': recipes()}, f)


if __name__ == '__main__':
    main()
