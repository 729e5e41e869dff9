"""PEFT's LoRA results for test/fixtures/torch-lora/ (issue 16). Tests never run Python; this script made the files.

For each case (the seed MLP, targets backbone.0/backbone.2; the torch-arch BERT, targets query/value):
  1. the PyTorch model at the ONNX fixture's weights (initializers carry the state_dict names);
  2. get_peft_model(LoraConfig(r, lora_alpha, target_modules, lora_dropout=0, modules_to_save=[head])), A drawn by
     PEFT (torch.manual_seed), saved with save_pretrained as <case>/initial-adapter/: both sides start from it;
  3. PEFT trains: one Adam over every trainable parameter, batches in file order, BCE-with-logits (seed) or
     cross-entropy (BERT); expected.json records the epoch losses, the test accuracy, the trained A, B and head;
  4. merge_and_unload(): its logits on the test set (the merged .onnx must give them);
  5. with --check RUN_DIR (an onnx-finetune lora run from initial-adapter): PeftModel.from_pretrained loads
     RUN_DIR/lora.adapter onto the base model, and its logits are compared with onnxruntime's on RUN_DIR/lora.onnx;
     the result is recorded in expected.json as `exported_adapter_check`.

  /work/venv/bin/python scripts/make-lora-fixtures.py                 # writes every case
  /work/venv/bin/python scripts/make-lora-fixtures.py --check seed RUN_DIR
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import arch_models  # noqa: E402  (stubs torchvision's meta registrations before transformers imports it)
import numpy as np  # noqa: E402
import onnx  # noqa: E402
import torch  # noqa: E402
from onnx import numpy_helper  # noqa: E402
from torch import nn  # noqa: E402
from peft import LoraConfig, PeftModel, get_peft_model  # noqa: E402

ROOT = os.path.join(os.path.dirname(__file__), '..')
OUT = os.path.join(ROOT, 'test', 'fixtures', 'torch-lora')


class SeedMLP(nn.Module):
    """The seed notebook's model: backbone Linear(10,32) ReLU Linear(32,16) ReLU, head Linear(16,1)."""

    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU())
        self.head = nn.Linear(16, 1)

    def forward(self, x):
        return self.head(self.backbone(x))


def read_seed_csv(path):
    x, y = arch_models.read_label_csv(path)
    return (torch.from_numpy(x),), torch.from_numpy(y)


CASES = {
    'seed': dict(model='test/fixtures/torch-seed/model.onnx', build=SeedMLP, head='head', head_glob='head.*',
                 train='test/fixtures/torch-seed/train.csv', test='test/fixtures/torch-seed/test.csv', read=read_seed_csv,
                 targets=['backbone.0', 'backbone.2'], targets_glob='backbone.*', r=4, alpha=8, lr=1e-2, epochs=3, batch=64, loss='bce'),
    'bert': dict(model='test/fixtures/torch-arch/bert/model.onnx', build=arch_models.bert, head='classifier', head_glob='classifier.*',
                 train='test/fixtures/torch-arch/text-train.jsonl', test='test/fixtures/torch-arch/text-test.jsonl', read=arch_models.read_text_jsonl,
                 targets=['query', 'value'], targets_glob='*.{query,value}.weight', r=4, alpha=16, lr=2e-2, epochs=3, batch=16, loss='ce'),
}
PEFT_SEED = 1234


def base_model(case):
    """The PyTorch model at the ONNX fixture's initial weights."""
    model = case['build']()
    weights = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in onnx.load(os.path.join(ROOT, case['model'])).graph.initializer}
    state = model.state_dict()
    loaded = {k: weights[k] for k in state if k in weights}
    missing = [k for k in state if k not in weights and not k.endswith('position_ids') and 'token_type_ids' not in k]
    assert not missing, missing
    model.load_state_dict(loaded, strict=False)
    return model


def loss_of(case, logits, y):
    if case['loss'] == 'bce':
        return nn.functional.binary_cross_entropy_with_logits(logits, y.float().unsqueeze(1))
    return nn.functional.cross_entropy(logits, y)


def predictions(case, logits):
    return (logits[:, 0] > 0).long() if case['loss'] == 'bce' else logits.argmax(1)


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def make(name):
    case = CASES[name]
    folder = os.path.join(OUT, name)
    os.makedirs(folder, exist_ok=True)
    config = LoraConfig(r=case['r'], lora_alpha=case['alpha'], target_modules=case['targets'], lora_dropout=0.0, modules_to_save=[case['head']])
    torch.manual_seed(PEFT_SEED)
    peft_model = get_peft_model(base_model(case), config)
    peft_model.save_pretrained(os.path.join(folder, 'initial-adapter'))
    os.remove(os.path.join(folder, 'initial-adapter', 'README.md'))

    train_x, train_y = case['read'](os.path.join(ROOT, case['train']))
    test_x, test_y = case['read'](os.path.join(ROOT, case['test']))
    trainable = [p for p in peft_model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(trainable, lr=case['lr'])
    peft_model.train()
    epoch_losses = []
    n, b = len(train_y), case['batch']
    for _ in range(case['epochs']):
        losses = []
        for start in range(0, n, b):
            optimizer.zero_grad()
            loss = loss_of(case, peft_model(*(x[start:start + b] for x in train_x)), train_y[start:start + b])
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        epoch_losses.append(sum(losses) / len(losses))
    peft_model.eval()
    with torch.no_grad():
        logits = peft_model(*test_x)
    accuracy = (predictions(case, logits) == test_y).float().mean().item()
    trained = {}
    for module_name, module in peft_model.named_modules():
        if hasattr(module, 'lora_A') and 'default' in module.lora_A:
            short = module_name.removeprefix('base_model.model.')
            trained[f'{short}.lora_A.weight'] = flat(module.lora_A['default'].weight)
            trained[f'{short}.lora_B.weight'] = flat(module.lora_B['default'].weight)
    for pname, p in peft_model.named_parameters():
        if '.modules_to_save.default.' in pname:
            trained[pname.removeprefix('base_model.model.').replace('.modules_to_save.default.', '.')] = flat(p)
    merged = peft_model.merge_and_unload()
    with torch.no_grad():
        merged_logits = merged(*test_x)
    expected = {
        'config': {k: case[k] for k in ('model', 'train', 'test', 'head_glob', 'targets', 'targets_glob', 'r', 'alpha', 'lr', 'epochs', 'batch', 'loss')}
        | {'optimizer': 'adam', 'shuffle': False, 'peft_seed': PEFT_SEED, 'torch': torch.__version__, 'peft': __import__('peft').__version__},
        'results': {'epoch_losses': epoch_losses, 'accuracy': accuracy, 'trained': trained,
                    'merged_logits': [flat(row) for row in merged_logits],
                    'merged_vs_adapter_max_abs_diff': (merged_logits - logits).abs().max().item()},
    }
    path = os.path.join(folder, 'expected.json')
    if os.path.exists(path):
        old = json.load(open(path))
        if 'exported_adapter_check' in old:
            expected['exported_adapter_check'] = old['exported_adapter_check']
    json.dump(expected, open(path, 'w'), indent=1)
    print(name, 'accuracy', accuracy, 'losses', epoch_losses)


def check(name, run_dir):
    """PEFT loads onnx-finetune's exported adapter; its logits match onnxruntime's on the merged lora.onnx."""
    import onnxruntime as ort
    case = CASES[name]
    peft_model = PeftModel.from_pretrained(base_model(case), os.path.join(run_dir, 'lora.adapter')).eval()
    test_x, _ = case['read'](os.path.join(ROOT, case['test']))
    with torch.no_grad():
        peft_logits = peft_model(*test_x).numpy()
    session = ort.InferenceSession(os.path.join(run_dir, 'lora.onnx'))
    feeds = {i.name: x.numpy() for i, x in zip(session.get_inputs(), test_x)}
    onnx_logits = session.run(None, feeds)[0]
    diff = float(np.abs(peft_logits - onnx_logits).max())
    path = os.path.join(OUT, name, 'expected.json')
    expected = json.load(open(path))
    expected['exported_adapter_check'] = {'loaded_by': 'PeftModel.from_pretrained', 'max_abs_diff_vs_merged_onnx': diff, 'ok': diff < 1e-4}
    json.dump(expected, open(path, 'w'), indent=1)
    print(name, 'PEFT loaded the exported adapter; max |logits diff| vs lora.onnx:', diff)
    sys.exit(0 if diff < 1e-4 else 1)


if __name__ == '__main__':
    if len(sys.argv) > 1 and sys.argv[1] == '--check':
        check(sys.argv[2], sys.argv[3])
    for case_name in (sys.argv[1:] or CASES):
        make(case_name)
