"""Writes test/fixtures/torch-rng/*.json: what PyTorch's CPU default generator draws, as float32 bit patterns,
for src/train/torch-rng.ts to match bit for bit. Also runs the seed notebook's job (as reconstructed below) and
records its heads, shuffles and accuracies.

    /work/venv/bin/python scripts/make-torch-rng-fixtures.py

randn on 16 or more elements takes the vectorized path of the CPU build (AVX2 here); ATEN_CPU_CAPABILITY=default
gives other last bits, so the fixtures refuse to be written without AVX2 or better.
The committed files come from torch 2.13.0+cpu; torch 2.14.1+cu130 writes identical ones (apart from the version).
"""
import copy, hashlib, json, os, sys
import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset, random_split

OUT = os.path.join(os.path.dirname(__file__), '..', 'test', 'fixtures', 'torch-rng')
capability = torch.backends.cpu.get_cpu_capability()
if capability not in ('AVX2', 'AVX512'):
    sys.exit(f'CPU capability {capability}: the fixtures need the AVX2 normal_fill path')

def bits(t):
    return t.detach().contiguous().view(-1).to(torch.float32).numpy().view(np.uint32).tolist()

def sha(t):
    return hashlib.sha256(t.detach().contiguous().numpy().astype('<f4').tobytes()).hexdigest()

def write(name, value):
    value = {'torch': torch.__version__, 'capability': capability, **value}
    with open(os.path.join(OUT, name), 'w') as f:
        json.dump(value, f, separators=(',', ':'))
        f.write('\n')

def generator():
    randn = {}
    for shape in [(1,), (15,), (16,), (17,), (1200, 10)]:
        torch.manual_seed(17)
        randn['x'.join(map(str, shape))] = bits(torch.randn(*shape))
    # Scalar Box-Muller caches its second sample in the generator: a chain shows where it is used up.
    torch.manual_seed(5)
    chain = [bits(torch.randn(n)) for n in (1, 3, 16, 1, 17, 2)]
    torch.manual_seed(17)
    rand = bits(torch.rand(40))
    torch.manual_seed(17)
    uniform = bits(torch.empty(20).uniform_(-0.3, 0.7))
    torch.manual_seed(17)
    int64 = [str(int(torch.empty((), dtype=torch.int64).random_().item())) for _ in range(4)]
    torch.manual_seed(2 ** 40 + 17)  # only the low 32 bits seed mt19937
    big_seed = bits(torch.rand(4))
    randperm = torch.randperm(900, generator=torch.Generator().manual_seed(17)).tolist()
    split = [s.indices for s in random_split(range(1200), [900, 300], generator=torch.Generator().manual_seed(17))]
    torch.manual_seed(17)
    loader = DataLoader(range(900), batch_size=64, shuffle=True)
    epochs = [[int(i) for batch in loader for i in batch] for _ in range(2)]
    after_loader = bits(torch.rand(3))
    torch.manual_seed(17)
    linear = nn.Linear(10, 32)
    # Long runs, kept as SHA-256 of the little-endian float32 bytes: every rounding of the fused paths.
    torch.manual_seed(3)
    long_randn = sha(torch.randn(1_000_003))
    torch.manual_seed(4)
    long_uniform = sha(torch.empty(100_000).uniform_(-0.05, 0.05))
    torch.manual_seed(5)
    big_linear = nn.Linear(512, 256)
    big_linear_sha = sha(torch.cat([big_linear.weight.detach().view(-1), big_linear.bias.detach()]))
    write('generator.json', {
        'seed': 17, 'randn': randn, 'randn_chain_seed5': chain, 'rand40': rand, 'uniform20_-0.3_0.7': uniform,
        'int64_random4': int64, 'rand4_seed_2^40+17': big_seed, 'randperm900': randperm, 'random_split_900_300': split,
        'dataloader_900_batch64_two_epochs': epochs, 'rand3_after_loader': after_loader,
        'linear_10_32': {'weight': bits(linear.weight), 'bias': bits(linear.bias)},
        'sha256': {'randn_1000003_seed3': long_randn, 'uniform_100000_-0.05_0.05_seed4': long_uniform, 'linear_512_256_seed5': big_linear_sha},
    })

# ---- The seed notebook's job, as its numbers pin it down ----
# torch.manual_seed(17) once; X = randn(1200, 10), noise = randn(1200); random_split with its own
# Generator().manual_seed(17); the backbone Linear(10,32)-ReLU-Linear(32,16)-ReLU plus 0.1·randn_like noise;
# then each strategy in turn on a deep copy of the backbone with a fresh nn.Linear(16,1) head, drawn from the
# global generator where the previous strategy left it. DataLoader(shuffle=True) draws two int64 per epoch and
# every pass over the test loader one; partial unfreeze evaluates after its head-only stage too. No reseeding.
class Net(nn.Module):
    def __init__(self, backbone):
        super().__init__()
        self.backbone = copy.deepcopy(backbone)
        self.head = nn.Linear(16, 1)

    def forward(self, x):
        return self.head(self.backbone(x)).squeeze(-1)

def fit(model, loader, opt, epochs):
    """Trains with BCE-with-logits; returns each epoch's mean batch loss."""
    loss_fn, means = nn.BCEWithLogitsLoss(), []
    for _ in range(epochs):
        losses = []
        for xb, yb in loader:
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        means.append(sum(losses) / len(losses))
    return means

def accuracy(model, loader):
    with torch.no_grad():
        correct = sum(((torch.sigmoid(model(xb)) > 0.5).float() == yb).sum().item() for xb, yb in loader)
    return correct / len(loader.dataset)

def head_only(model):
    for p in model.backbone.parameters():
        p.requires_grad_(False)
    return torch.optim.Adam(model.head.parameters(), lr=1e-2)

def partial_unfreeze(model, train_loader, test_loader):
    """Head alone for 5 epochs, a test pass, then head + backbone.2 for 8 with a fresh Adam; returns the losses."""
    losses = fit(model, train_loader, head_only(model), 5)
    accuracy(model, test_loader)
    for p in model.backbone[2].parameters():
        p.requires_grad_(True)
    groups = [{'params': model.head.parameters(), 'lr': 1e-2}, {'params': model.backbone[2].parameters(), 'lr': 1e-3}]
    return losses + fit(model, train_loader, torch.optim.Adam(groups), 8)

def head_bits(model):
    return {'weight': bits(model.head.weight), 'bias': bits(model.head.bias)}

def notebook(seed=17):
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    X = torch.randn(1200, 10)
    noise = torch.randn(1200)
    score = 1.5 * X[:, 0] - 0.7 * X[:, 1] + 0.4 * X[:, 2] * X[:, 3] + 0.4 * noise
    y = (score > 0).float()
    train_ds, test_ds = random_split(TensorDataset(X, y), [900, 300], generator=torch.Generator().manual_seed(seed))
    backbone = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU())
    with torch.no_grad():
        for p in backbone.parameters():
            p.add_(0.1 * torch.randn_like(p))
    train_loader = DataLoader(train_ds, batch_size=64, shuffle=True)
    test_loader = DataLoader(test_ds, batch_size=128)
    heads, results, losses = {}, {}, {}

    m = Net(backbone); heads['linear_probe'] = head_bits(m)
    losses['linear_probe'] = fit(m, train_loader, head_only(m), 10)
    results['linear_probe'] = round(accuracy(m, test_loader), 3)
    m = Net(backbone); heads['partial_unfreeze'] = head_bits(m)
    losses['partial_unfreeze'] = partial_unfreeze(m, train_loader, test_loader)
    results['partial_unfreeze'] = round(accuracy(m, test_loader), 3)
    m = Net(backbone); heads['full_fine_tune'] = head_bits(m)
    losses['full_fine_tune'] = fit(m, train_loader, torch.optim.Adam(m.parameters(), lr=3e-3), 10)
    results['full_fine_tune'] = round(accuracy(m, test_loader), 3)
    return X, y, train_ds, backbone, heads, results, losses

# ---- An imported model with --rng torch: the torch-seed fixture's model, partial unfreeze, shuffled ----
# The model is built and loaded before torch.manual_seed(17), so training alone draws from the generator.
def imported_partial_unfreeze():
    torch.set_num_threads(1)
    root = os.path.join(os.path.dirname(__file__), '..', 'test', 'fixtures', 'torch-seed')
    config = json.load(open(os.path.join(root, 'expected.json')))['config']
    def read(name):
        rows = np.loadtxt(os.path.join(root, name), delimiter=',', skiprows=1, dtype=np.float32)
        return TensorDataset(torch.from_numpy(rows[:, :-1].copy()), torch.from_numpy(rows[:, -1].copy()))
    model = Net(nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU()))
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.tensor(config['initial_params'][name]).view_as(p))
    torch.manual_seed(17)
    train_loader = DataLoader(read('train.csv'), batch_size=64, shuffle=True)
    test_loader = DataLoader(read('test.csv'), batch_size=128)
    losses = partial_unfreeze(model, train_loader, test_loader)
    return {'accuracy': accuracy(model, test_loader), 'epoch_losses': losses,
            'params': {name: p.detach().view(-1).tolist() for name, p in model.named_parameters()}}

def notebook_fixture():
    X, y, train_ds, backbone, heads, results, losses = notebook(17)
    write('notebook.json', {
        'seed': 17, 'x': bits(X), 'y': y.tolist(), 'train_indices': train_ds.indices,
        'backbone': {'backbone.' + k: bits(v) for k, v in backbone.state_dict().items()},
        'heads': heads, 'results': results, 'epoch_losses': losses,
        'results_seed13': notebook(13)[5],
        'imported_partial_unfreeze_seed17': imported_partial_unfreeze(),
    })

if __name__ == '__main__':
    generator()
    notebook_fixture()
    print('wrote', OUT)
