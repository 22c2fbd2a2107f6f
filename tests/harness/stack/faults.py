"""A served model with faults switchable at run time, each a real behaviour of the model code.

- ``errors``: a fraction of requests runs a residual block that widens its channels but keeps a
  projection-less identity skip, so PyTorch raises a shape error and the request fails;
- ``latency``: the request sleeps ``delay_s`` and/or runs the residual stack ``extra_blocks``
  more times (wasted compute, as after an accidentally repeated loop);
- ``memory``: every request retains clones of its activations (about ``mb_per_request`` MB) until
  the fault is switched off, capped at ``limit_mb`` so a test cannot exhaust the machine;
- ``accuracy``: the weights are perturbed with Gaussian noise of ``scale`` times each tensor's
  standard deviation (restored when the fault is switched off);
- ``nonfinite``: the classifier bias is set to NaN, so every logit is NaN.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import torch

from harness.stack.models import DigitsNet, PreActBlock

FAULTS: dict[str, dict[str, float]] = {
    "errors": {"fraction": 1.0},
    "latency": {"delay_s": 0.05, "extra_blocks": 0},
    "memory": {"mb_per_request": 4.0, "limit_mb": 512.0},
    "accuracy": {"scale": 0.3, "seed": 0},
    "nonfinite": {},
}


class FaultError(ValueError):
    """An unknown fault or parameter."""


class ServedModel:
    """One trained network plus its fault switches; ``infer`` is what Triton calls."""

    def __init__(self, name: str, net: DigitsNet, seed: int = 0) -> None:
        self.name = name
        self.net = net
        self._lock = threading.Lock()
        self._faults: dict[str, dict[str, float]] = {}
        self._pristine = {k: v.clone() for k, v in net.state_dict().items()}
        self._rng = np.random.default_rng(seed)
        stem_channels = net.stem.out_channels
        # The classic mistake: a block that doubles the channels behind an identity skip.
        self._broken_block = PreActBlock(stem_channels, 2 * stem_channels).eval()
        self.retained: list[torch.Tensor] = []
        self.retained_bytes = 0
        self.requests = 0

    def faults(self) -> dict[str, dict[str, float]]:
        with self._lock:
            return {name: dict(params) for name, params in self._faults.items()}

    def set_fault(self, fault: str, enabled: bool = True, **params: Any) -> dict[str, float]:
        """Switch ``fault`` on (with ``params`` over its defaults) or off; return its parameters."""
        if fault not in FAULTS:
            raise FaultError(f"unknown fault {fault!r} (known: {', '.join(FAULTS)})")
        unknown = set(params) - set(FAULTS[fault])
        if unknown:
            raise FaultError(f"fault {fault!r} has no parameter {', '.join(sorted(unknown))}")
        merged = {**FAULTS[fault], **{k: float(v) for k, v in params.items()}}
        with self._lock:
            if not enabled:
                self._faults.pop(fault, None)
                if fault == "memory":
                    self.retained.clear()
                    self.retained_bytes = 0
                if fault in ("accuracy", "nonfinite"):
                    self._apply_weights()
                return merged
            self._faults[fault] = merged
            if fault in ("accuracy", "nonfinite"):
                self._apply_weights()
        return merged

    def _apply_weights(self) -> None:
        """Load the pristine weights, then the weight faults that are on (called with the lock held)."""
        state = {k: v.clone() for k, v in self._pristine.items()}
        accuracy = self._faults.get("accuracy")
        if accuracy is not None:
            generator = torch.Generator().manual_seed(int(accuracy["seed"]))
            for key, tensor in state.items():
                if tensor.is_floating_point() and "running" not in key and tensor.numel() > 1:
                    noise = torch.randn(tensor.shape, generator=generator)
                    tensor += accuracy["scale"] * tensor.std() * noise
        if "nonfinite" in self._faults:
            state["head.bias"].fill_(float("nan"))
        self.net.load_state_dict(state)

    @torch.no_grad()
    def infer(self, inputs: np.ndarray) -> np.ndarray:
        """Logits (N, 10) float32 for inputs (N, 1, 8, 8) float32, with the faults that are on."""
        with self._lock:
            self.requests += 1
            faults = {name: dict(params) for name, params in self._faults.items()}
            x = torch.from_numpy(np.ascontiguousarray(inputs, dtype=np.float32))
            latency = faults.get("latency")
            if latency is not None and latency["delay_s"] > 0:
                time.sleep(latency["delay_s"])
            errors = faults.get("errors")
            if errors is not None and self._rng.random() < errors["fraction"]:
                self._broken_block(self.net.stem(x))  # raises: sizes 16 and 32 do not match
            activations: list[torch.Tensor] | None = [] if "memory" in faults else None
            logits = self.net.head(self.net.features(x, activations).mean(dim=(2, 3)))
            if latency is not None:
                for _ in range(int(latency["extra_blocks"])):
                    self.net.features(x)
            if activations is not None:
                self._retain(activations, faults["memory"])
            return logits.numpy().astype(np.float32)

    def _retain(self, activations: list[torch.Tensor], params: dict[str, float]) -> None:
        """Keep clones of this request's activations until about ``mb_per_request`` MB are held."""
        target = self.retained_bytes + params["mb_per_request"] * 2**20
        ceiling = min(target, params["limit_mb"] * 2**20)
        while activations and self.retained_bytes < ceiling:
            for tensor in activations:
                copy = tensor.clone()
                self.retained.append(copy)
                self.retained_bytes += copy.numel() * copy.element_size()
