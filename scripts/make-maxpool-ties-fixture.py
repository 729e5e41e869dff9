# Writes test/fixtures/maxpool-ties/cases.json: MaxPool inputs full of tied maxima, an upstream gradient, and the
# input gradient PyTorch's autograd gives (a tied window's gradient goes to its first maximum in row-major
# order). Integer values, so every sum is exact in float32 and float64.
#   /work/venv/bin/python scripts/make-maxpool-ties-fixture.py
import json
import os

import torch
import torch.nn.functional as F

CASES = [
    # name, input shape, kernel, stride, padding, dilation, ceil_mode, value range
    ('2d_k2_s2', [2, 3, 4, 4], 2, 2, 0, 1, False, 3),
    ('2d_k2_s2_all_equal', [1, 2, 4, 4], 2, 2, 0, 1, False, 1),
    ('2d_k3_s2_pad1_overlapping', [2, 2, 7, 7], 3, 2, 1, 1, False, 3),
    ('2d_k3_s1_pad1_overlapping', [1, 2, 5, 5], 3, 1, 1, 1, False, 2),
    ('2d_k2_s2_ceil_mode', [1, 2, 5, 5], 2, 2, 0, 1, True, 3),
    ('2d_k2_dilation2', [1, 2, 6, 6], 2, 1, 0, 2, False, 3),
    ('1d_k3_s2_pad1', [2, 2, 9], 3, 2, 1, 1, False, 2),
]

torch.manual_seed(5)
out = []
for name, shape, k, s, p, d, ceil, values in CASES:
    x = torch.randint(0, values, shape).double().requires_grad_(True)
    pool = F.max_pool1d if len(shape) == 3 else F.max_pool2d
    y = pool(x, k, s, p, d, ceil_mode=ceil)
    upstream = torch.randint(-3, 4, y.shape).double()
    y.backward(upstream)
    rank = len(shape) - 2
    out.append({
        'name': name, 'x_shape': shape, 'x': x.detach().flatten().tolist(), 'upstream': upstream.flatten().tolist(),
        'dx': x.grad.flatten().tolist(),
        'attrs': {'kernel_shape': [k] * rank, 'strides': [s] * rank, 'pads': [p] * (2 * rank), 'dilations': [d] * rank, 'ceil_mode': int(ceil)},
    })

path = os.path.join(os.path.dirname(__file__), '..', 'test', 'fixtures', 'maxpool-ties', 'cases.json')
with open(path, 'w') as f:
    json.dump({'torch': torch.__version__, 'cases': out}, f)
print(f'wrote {len(out)} cases to {os.path.normpath(path)}')
