"""Small residual networks on scikit-learn's 8x8 handwritten digits, trained at start-up.

Three architectures, each a real PyTorch network (CPU):

- ``resnet_baseline``: a stem convolution, pre-activation residual blocks with identity skips,
  global average pooling and a linear classifier;
- ``resnet_deep``: the same with more blocks (slower, more activation memory), the usual canary;
- ``resnet_concat``: dense (concatenative) skips, each layer appending ``growth`` channels, so its
  activation memory grows with depth.

The digits are split once, with a fixed seed, into a training part and a held-out golden set the
exporter's accuracy probe uses (``write_golden_set``). No downloads: the digits ship with
scikit-learn. Every model takes one FP32 input ``input`` shaped (N, 1, 8, 8), pixel values in
[0, 1], and returns FP32 ``logits`` shaped (N, 10).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

INPUT_NAME = "input"
OUTPUT_NAME = "logits"
INPUT_SHAPE = (1, 8, 8)  # one sample; a batch is (N, 1, 8, 8)
NUM_CLASSES = 10
GOLDEN_SIZE = 300
SPLIT_SEED = 20240607


class PreActBlock(nn.Module):
    """BN-ReLU-Conv-BN-ReLU-Conv plus an identity skip (He et al. 2016, pre-activation)."""

    def __init__(self, in_channels: int, out_channels: int | None = None) -> None:
        super().__init__()
        out_channels = out_channels or in_channels
        self.body = nn.Sequential(
            nn.BatchNorm2d(in_channels),
            nn.ReLU(),
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # With out_channels != in_channels and no projection this raises a shape error: the
        # "failing requests" fault uses exactly that mistake.
        return x + self.body(x)


class DenseLayer(nn.Module):
    """BN-ReLU-Conv producing ``growth`` new channels, concatenated onto its input."""

    def __init__(self, in_channels: int, growth: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.BatchNorm2d(in_channels), nn.ReLU(), nn.Conv2d(in_channels, growth, 3, padding=1, bias=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.body(x)], dim=1)


class DigitsNet(nn.Module):
    """Stem, a stack of residual units, pooling and a linear head."""

    def __init__(self, units: list[nn.Module], stem_channels: int, head_channels: int) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, stem_channels, 3, padding=1, bias=False)
        self.units = nn.ModuleList(units)
        self.head_norm = nn.BatchNorm2d(head_channels)
        self.head = nn.Linear(head_channels, NUM_CLASSES)

    def features(self, x: torch.Tensor, activations: list[torch.Tensor] | None = None) -> torch.Tensor:
        x = self.stem(x)
        for unit in self.units:
            x = unit(x)
            if activations is not None:
                activations.append(x)
        return torch.relu(self.head_norm(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean(dim=(2, 3)))


@dataclass(frozen=True)
class Architecture:
    name: str
    description: str
    blocks: int
    kind: str  # "residual" (identity skips) or "dense" (concatenative skips)
    channels: int = 16
    growth: int = 8

    def build(self) -> DigitsNet:
        if self.kind == "residual":
            units: list[nn.Module] = [PreActBlock(self.channels) for _ in range(self.blocks)]
            return DigitsNet(units, self.channels, self.channels)
        units = [DenseLayer(self.channels + i * self.growth, self.growth) for i in range(self.blocks)]
        return DigitsNet(units, self.channels, self.channels + self.blocks * self.growth)


ARCHITECTURES: dict[str, Architecture] = {
    a.name: a
    for a in (
        Architecture("resnet_baseline", "pre-activation ResNet, 2 blocks, identity skips", 2, "residual"),
        Architecture("resnet_deep", "the same with 6 residual blocks (the usual canary)", 6, "residual"),
        Architecture("resnet_concat", "dense skips, 4 layers adding 8 channels each", 4, "dense"),
    )
}
MODEL_NAMES = tuple(ARCHITECTURES)


@dataclass(frozen=True)
class Digits:
    train_x: np.ndarray
    train_y: np.ndarray
    golden_x: np.ndarray
    golden_y: np.ndarray


def load_digits_split() -> Digits:
    """scikit-learn's digits as (N, 1, 8, 8) float32 in [0, 1], split into training and golden parts."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    x = (data.images.astype(np.float32) / 16.0)[:, None, :, :]
    y = data.target.astype(np.int64)
    train_x, golden_x, train_y, golden_y = train_test_split(
        x, y, test_size=GOLDEN_SIZE, random_state=SPLIT_SEED, stratify=y
    )
    return Digits(train_x, train_y, np.ascontiguousarray(golden_x), np.ascontiguousarray(golden_y))


def write_golden_set(path: Path | str) -> Path:
    """Write the held-out golden set as .npz: ``inputs`` float32 (N, 1, 8, 8), ``labels`` int64 (N)."""
    digits = load_digits_split()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:  # np.savez would append ".npz" to a name without it
        np.savez(fh, inputs=digits.golden_x.astype(np.float32), labels=digits.golden_y.astype(np.int64))
    return path


def train(arch: Architecture, digits: Digits, epochs: int = 8, seed: int = 0) -> tuple[DigitsNet, float]:
    """Train ``arch`` on the training part; return the model (eval mode) and its golden-set accuracy."""
    torch.manual_seed(seed)
    model = arch.build()
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    x = torch.from_numpy(digits.train_x)
    y = torch.from_numpy(digits.train_y)
    generator = torch.Generator().manual_seed(seed)
    batches_per_epoch = -(-len(x) // 64)
    # Annealing to zero settles the BatchNorm statistics, so a few epochs give a stable accuracy.
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=1e-2, total_steps=epochs * batches_per_epoch, pct_start=0.2
    )
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=generator).split(64):
            optimiser.zero_grad()
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            optimiser.step()
            schedule.step()
    model.eval()
    return model, accuracy(model, digits.golden_x, digits.golden_y)


@torch.no_grad()
def accuracy(model: nn.Module, inputs: np.ndarray, labels: np.ndarray) -> float:
    logits = model(torch.from_numpy(inputs))
    return float((logits.argmax(dim=1).numpy() == labels).mean())


def load_or_train(name: str, digits: Digits, cache_dir: Path | None) -> tuple[DigitsNet, float]:
    """The trained model ``name``: from ``cache_dir`` when an earlier start saved it, else trained now."""
    arch = ARCHITECTURES[name]
    cached = cache_dir / f"{name}.pt" if cache_dir else None
    if cached is not None and cached.is_file():
        model = arch.build()
        model.load_state_dict(torch.load(cached, weights_only=True))
        model.eval()
        return model, accuracy(model, digits.golden_x, digits.golden_y)
    model, acc = train(arch, digits)
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        torch.save(model.state_dict(), cached)
    return model, acc


if __name__ == "__main__":  # quick look: python -m harness.stack.models
    torch.set_num_threads(1)
    split = load_digits_split()
    for arch_name in MODEL_NAMES:
        start = time.perf_counter()
        _, acc = train(ARCHITECTURES[arch_name], split)
        print(f"{arch_name}: golden accuracy {acc:.3f}, trained in {time.perf_counter() - start:.1f} s")
