# PyTorch eager reference for `npm run bench`: the same workloads (models, batch sizes, losses, default Adam,
# 1 intra-op thread unless stated) timed the same way, so that both can be run side by side on one machine.
# Optional, and not part of the project's install: it needs Python with torch (`python3 scripts/bench-pytorch.py`),
# and torchvision and transformers for the ResNet-18 and BERT workloads (skipped with a note where missing).
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


def measure(name, model, x, y, loss_fn, groups, threads=1, target_s=0.05, repeats=15, train_mode=True):
    """Median µs per step (zero_grad, forward, loss, backward, Adam) over `repeats` runs of about `target_s`."""
    torch.set_num_threads(threads)
    model.train(train_mode)
    for p in model.parameters():
        p.requires_grad_(False)
    for params, _ in groups:
        for p in params:
            p.requires_grad_(True)
    optimizer = torch.optim.Adam([{'params': params, 'lr': lr} for params, lr in groups])

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


def training_steps():
    """The training-step workloads, as `npm run bench` times them."""
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

    try:
        import torchvision
    except ImportError as e:
        print(f'ResNet-18 workloads skipped: {e}')
    else:
        # torchvision's resnet18 on 3x32x32 images; BatchNorm as onnx-finetune's default (--batchnorm auto) runs it:
        # batch statistics (train()) in a full fine-tune, running statistics (eval()) in a linear probe.
        resnet = torchvision.models.resnet18(num_classes=10)
        xr, yr = torch.randn(32, 3, 32, 32), torch.randint(0, 10, (32,))
        measure('ResNet-18 3x32x32, full fine-tune', resnet, xr, yr, ce, [(list(resnet.parameters()), 1e-3)])
        measure('ResNet-18 3x32x32, full fine-tune, BN frozen', resnet, xr, yr, ce, [(list(resnet.parameters()), 1e-3)], train_mode=False)
        measure('ResNet-18 3x32x32, linear probe', resnet, xr, yr, ce, [(list(resnet.fc.parameters()), 1e-2)], train_mode=False)

    try:
        bert = bert_tiny()
    except ImportError as e:
        print(f'BERT workloads skipped: {e}')
    else:
        xb, yb = token_batch(16, 128, 30522), torch.randint(0, 2, (16,))
        print(f'(transformers {__import__("transformers").__version__}, attention: {bert.config._attn_implementation})', flush=True)
        measure('BERT-Tiny L2-H128, seq 128, full fine-tune', bert, xb, yb, ce, [(list(bert.parameters()), 1e-4)])
        measure('BERT-Tiny L2-H128, seq 128, linear probe', bert, xb, yb, ce, [(list(bert.classifier.parameters()), 1e-2)])


def lora_steps():
    """PEFT's LoRA step on the same BERT-Tiny, as `npm run bench` times onnx-finetune's: r 8, alpha 16 on query
    and value, the classifier trained in full (modules_to_save), one Adam at 1e-3 (issue 16)."""
    try:
        from peft import LoraConfig, get_peft_model
        bert = bert_tiny()
    except ImportError as e:
        print(f'LoRA workload skipped: {e}')
        return
    torch.manual_seed(0)
    xb, yb = token_batch(16, 128, 30522), torch.randint(0, 2, (16,))
    lora = get_peft_model(bert, LoraConfig(r=8, lora_alpha=16, target_modules=['query', 'value'], lora_dropout=0.0, modules_to_save=['classifier']))
    trainable = [p for p in lora.parameters() if p.requires_grad]
    # measure() sets requires_grad from the groups: the frozen base weights stay out of backward, as in PEFT.
    measure('BERT-Tiny L2-H128, seq 128, LoRA r8 query+value', lora, xb, yb, nn.CrossEntropyLoss(), [(trainable, 1e-3)])


def measure_images(folder, threads, passes=3):
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
    print(f'{"image folder -> 3x224x224 (JPEG 500x375), " + str(threads) + " thread" + ("s" if threads > 1 else ""):52s} {rate:9.0f} images/s', flush=True)


# `--images`: the image pipeline alone, to interleave with `node dist/scripts/bench.js --images THREADS DIR`.
if '--images' not in sys.argv:
    training_steps()
    lora_steps()

# The image pipeline on the folder `npm run bench` writes (320 JPEGs of 500x375 in two classes).
images = os.path.join(tempfile.gettempdir(), 'onnx-finetune-bench-images')
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
