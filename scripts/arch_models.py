"""Tiny random-init versions of real architectures, shared by make-arch-fixtures.py and check-safetensors.py.

Every constructor seeds torch itself, so the same call always gives the same initial weights.
"""
import sys
import types

# The mirror's torchvision wheel is built against CUDA torch; its meta registrations fail to import on CPU torch.
sys.modules.setdefault('torchvision._meta_registrations', types.ModuleType('torchvision._meta_registrations'))

import torch  # noqa: E402
from torch import nn  # noqa: E402

SEED = 10
CLASSES = 3
IMAGE_SHAPE = (3, 32, 32)
SEQ_LEN = 16
VOCAB = 64
# BERT's default initializer_range 0.02 leaves a 32-wide classifier at logits ~0 that 9 Adam steps barely move.
BERT_INIT_RANGE = 0.1


def pretrain_batchnorm(model, seed):
    """A pretrained model's BatchNorm is not the identity: give every BN random affine parameters and running stats
    measured on noise images like the fixtures' (as a pretrained model's would fit its data), so that eval-mode
    BN, folding and running-stat updates all show in the fixtures. Leaves the model in eval mode."""
    g = torch.Generator().manual_seed(seed)
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    with torch.no_grad():
        for m in bns:
            m.weight.copy_(0.75 + 0.5 * torch.rand(m.num_features, generator=g))
            m.bias.copy_(0.1 * torch.randn(m.num_features, generator=g))
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the calibration batches
        model.train()
        for _ in range(4):
            model(torch.randn(16, *IMAGE_SHAPE, generator=g))
        for m in bns:
            m.momentum = 0.1
            m.num_batches_tracked.zero_()
    return model.eval()


def resnet():
    from torchvision.models.resnet import BasicBlock, ResNet

    class TinyResNet(ResNet):
        """torchvision's ResNet with a 3x3 stem and two stages of one BasicBlock (16 and 32 channels).
        Module names are torchvision's: conv1, bn1, layer1, layer2, fc."""

        def __init__(self):
            nn.Module.__init__(self)
            self._norm_layer = nn.BatchNorm2d
            self.inplanes, self.dilation, self.groups, self.base_width = 16, 1, 1, 64
            self.conv1 = nn.Conv2d(3, 16, kernel_size=3, stride=1, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(16)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
            self.layer1 = self._make_layer(BasicBlock, 16, 1)
            self.layer2 = self._make_layer(BasicBlock, 32, 1, stride=2)
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.fc = nn.Linear(32, CLASSES)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer2(self.layer1(x))
            return self.fc(torch.flatten(self.avgpool(x), 1))

    torch.manual_seed(SEED)
    model = TinyResNet()
    pretrain_batchnorm(model, SEED)
    return model


def mobilenet():
    from torchvision.models.mobilenetv3 import InvertedResidualConfig, MobileNetV3

    # (input_channels, kernel, expanded_channels, out_channels, use_se, activation, stride, dilation, width_mult)
    setting = [
        InvertedResidualConfig(16, 3, 16, 16, True, 'RE', 2, 1, 1.0),
        InvertedResidualConfig(16, 3, 48, 24, False, 'RE', 2, 1, 1.0),
        InvertedResidualConfig(24, 5, 64, 24, True, 'HS', 1, 1, 1.0),
    ]
    torch.manual_seed(SEED)
    model = MobileNetV3(setting, last_channel=32, num_classes=CLASSES, dropout=0.0)
    # torchvision draws Linear weights from N(0, 0.01): logits ~0 that a few Adam steps barely move. Use nn.Linear's
    # own initialisation, as a freshly attached head would have.
    for m in model.classifier:
        if isinstance(m, nn.Linear):
            m.reset_parameters()
    pretrain_batchnorm(model, SEED)
    return model


def vit():
    from timm.models.vision_transformer import VisionTransformer

    torch.manual_seed(SEED)
    return VisionTransformer(img_size=32, patch_size=8, in_chans=3, num_classes=CLASSES, embed_dim=32, depth=2,
                             num_heads=2, mlp_ratio=2.0, class_token=True, global_pool='token',
                             drop_rate=0.0, pos_drop_rate=0.0, proj_drop_rate=0.0, attn_drop_rate=0.0,
                             drop_path_rate=0.0)


def convnext():
    from timm.models.convnext import ConvNeXt

    torch.manual_seed(SEED)
    # Layer scale starts at 0.1 (timm's default 1e-6 makes every block an identity at first).
    model = ConvNeXt(in_chans=3, num_classes=CLASSES, depths=(1, 1, 1, 1), dims=(16, 32, 32, 32), ls_init_value=0.1,
                     drop_rate=0.0, drop_path_rate=0.0)
    # timm always builds four stages; keep two (stem 8x8 -> stages.0 8x8 -> stages.1 4x4), names unchanged.
    model.stages = model.stages[:2]
    return model


def bert():
    from transformers import BertConfig, BertForSequenceClassification

    class BertLogits(BertForSequenceClassification):
        """The library class, called with (input_ids, attention_mask) and returning the logits tensor alone.
        A subclass (not a wrapper) keeps the state_dict names unchanged."""

        def forward(self, input_ids, attention_mask):
            return super().forward(input_ids=input_ids, attention_mask=attention_mask, return_dict=False)[0]

    config = BertConfig(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=SEQ_LEN, type_vocab_size=2,
                        num_labels=CLASSES, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                        classifier_dropout=0.0, pad_token_id=0, initializer_range=BERT_INIT_RANGE)
    torch.manual_seed(SEED)
    return BertLogits(config)


def gpt2():
    from transformers import GPT2Config, GPT2ForSequenceClassification

    class GPT2Logits(GPT2ForSequenceClassification):
        """The library class, called with (input_ids, attention_mask) and returning the logits tensor alone."""

        def forward(self, input_ids, attention_mask):
            return super().forward(input_ids=input_ids, attention_mask=attention_mask, use_cache=False,
                                   return_dict=False)[0]

    config = GPT2Config(vocab_size=VOCAB, n_embd=32, n_layer=2, n_head=2, n_positions=SEQ_LEN, num_labels=CLASSES,
                        pad_token_id=0, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, summary_first_dropout=0.0,
                        bos_token_id=None, eos_token_id=None, use_cache=False)
    torch.manual_seed(SEED)
    return GPT2Logits(config)


# fixture folder -> (constructor, data kind)
FIXTURES = {
    'resnet': (resnet, 'images'),
    'resnet-folded': (resnet, 'images'),
    'resnet-dynamo': (resnet, 'images'),
    'resnet-training-export': (resnet, 'images'),
    'mobilenet': (mobilenet, 'images'),
    'vit': (vit, 'images'),
    'convnext': (convnext, 'images'),
    'bert': (bert, 'text'),
    'gpt2': (gpt2, 'text'),
    'gpt2-dynamo': (gpt2, 'text'),
}

INPUT_NAMES = {'images': ['x'], 'text': ['input_ids', 'attention_mask']}


def build(fixture):
    """The fixture's PyTorch model at its initial weights, in eval mode."""
    constructor, _ = FIXTURES[fixture]
    return constructor().eval()


def read_label_csv(path):
    """(x float32 [N, features], y int64 [N]) from a CSV with a `y` column, parsed from its exact strings."""
    import numpy as np
    with open(path) as f:
        header = f.readline().strip().split(',')
        rows = [line.strip().split(',') for line in f if line.strip()]
    label = header.index('y')
    x = np.array([[np.float32(v) for i, v in enumerate(r) if i != label] for r in rows], dtype=np.float32)
    y = np.array([int(r[label]) for r in rows], dtype=np.int64)
    return x, y


def read_images_csv(path):
    """(x float32 [N,3,32,32], y int64 [N]) parsed from the CSV's exact strings."""
    x, y = read_label_csv(path)
    return torch.from_numpy(x.reshape(-1, *IMAGE_SHAPE)), torch.from_numpy(y)


def read_text_jsonl(path):
    """((input_ids int64 [N,16], attention_mask int64 [N,16]), y int64 [N])."""
    import json
    rows = [json.loads(line) for line in open(path) if line.strip()]
    ids = torch.tensor([r['input_ids'] for r in rows], dtype=torch.int64)
    mask = torch.tensor([r['attention_mask'] for r in rows], dtype=torch.int64)
    return (ids, mask), torch.tensor([r['y'] for r in rows], dtype=torch.int64)


def read_data(kind, path):
    """(inputs tuple, labels) for a data file of this kind."""
    if kind == 'images':
        x, y = read_images_csv(path)
        return (x,), y
    return read_text_jsonl(path)


DATA_FILES = {'images': ('images-train.csv', 'images-test.csv'), 'text': ('text-train.jsonl', 'text-test.jsonl')}
