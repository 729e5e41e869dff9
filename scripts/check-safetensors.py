#!/usr/bin/env python3
"""Checks that onnx-finetune's <strategy>.safetensors restores its fine-tuned model in PyTorch.

    /work/venv/bin/python scripts/check-safetensors.py test/fixtures/torch-arch/resnet RUN_DIR full_fine_tune

Rebuilds the fixture's PyTorch model, loads RUN_DIR/STRATEGY.safetensors with load_state_dict(strict=False),
reports missing and unexpected keys, and compares its eval-mode logits on the fixture's test data with
onnxruntime's on RUN_DIR/STRATEGY.onnx. Exits non-zero when the max abs difference is above 1e-4 or the file
restores nothing.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import arch_models as A  # noqa: E402  (stubs torchvision's meta registrations before anything imports it)

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
import safetensors.torch  # noqa: E402
import torch  # noqa: E402

ort.set_default_logger_severity(3)  # its CastLike constant-folding warnings on dynamo exports are noise here

TOLERANCE = 1e-4


def main(fixture_dir, run_dir, strategy):
    fixture = os.path.basename(os.path.normpath(fixture_dir))
    if fixture not in A.FIXTURES:
        raise SystemExit(f'{fixture_dir}: unknown fixture (known: {", ".join(A.FIXTURES)})')
    _, kind = A.FIXTURES[fixture]
    names = A.INPUT_NAMES[kind]
    inputs, _ = A.read_data(kind, os.path.join(os.path.dirname(os.path.normpath(fixture_dir)), A.DATA_FILES[kind][1]))

    model = A.build(fixture)
    state = safetensors.torch.load_file(os.path.join(run_dir, f'{strategy}.safetensors'))
    result = model.load_state_dict(state, strict=False)
    # Integer buffers (num_batches_tracked, position ids) are PyTorch bookkeeping that ONNX does not carry.
    missing_floats = [k for k in result.missing_keys if model.state_dict()[k].is_floating_point()]
    print(f'loaded {len(state) - len(result.unexpected_keys)} of {len(state)} tensors')
    print(f'missing keys ({len(result.missing_keys)}, float: {len(missing_floats)}): {result.missing_keys}')
    print(f'unexpected keys ({len(result.unexpected_keys)}): {result.unexpected_keys}')

    model.eval()
    with torch.no_grad():
        torch_logits = model(*inputs).numpy()
    session = ort.InferenceSession(os.path.join(run_dir, f'{strategy}.onnx'), providers=['CPUExecutionProvider'])
    onnx_logits = session.run(['logits'], {n: t.numpy() for n, t in zip(names, inputs)})[0]
    diff = float(np.abs(torch_logits - onnx_logits).max())
    print(f'max |PyTorch - onnxruntime| logits on {A.DATA_FILES[kind][1]}: {diff:.3e}')
    if len(state) == len(result.unexpected_keys):
        raise SystemExit('no tensor of the safetensors file matched a PyTorch name')
    if not diff <= TOLERANCE:
        raise SystemExit(f'logits differ by {diff:.3e} > {TOLERANCE:g}')


if __name__ == '__main__':
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    main(*sys.argv[1:])
