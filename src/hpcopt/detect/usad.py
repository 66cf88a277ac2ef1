"""USAD (Audibert et al., KDD 2020, "USAD: UnSupervised Anomaly Detection on Multivariate
Time Series"): one encoder and two decoders over flattened windows, trained in two phases
-- both decoders reconstruct, then decoder 2 learns to tell decoder 1's reconstructions from
real windows while decoder 1 learns to fool it.

Here, as for :class:`~hpcopt.detect.sequence.SequenceAEDetector`, the window ending at
step ``t`` is standardised, and step ``t`` is scored by its **last** row only (causal):
``alpha * (x - AE1(x))**2 + beta * (x - AE2(AE1(x)))**2`` per metric, summed. As in the
paper, each metric is min-max scaled on the training rows and the decoders end in a sigmoid
(without that bound the adversarial phase diverges: decoder 2 can push its error up without
limit); scored rows outside the training range are clipped to [-1, 2] and cannot be
reconstructed by the sigmoid, so they score high.
"""

from __future__ import annotations

import numpy as np

from hpcopt.detect.base import ProgressFn
from hpcopt.detect.sequence import SequenceAEDetector
from hpcopt.errors import ConfigError, require

__all__ = ["USADDetector"]


def _build(torch, n_in: int, code: int):
    nn = torch.nn

    def mlp(sizes, last_act):
        layers = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(nn.Linear(a, b))
            if i < len(sizes) - 2 or last_act:
                layers.append(nn.ReLU())
        return nn.Sequential(*layers)

    h1, h2 = max(n_in // 2, code), max(n_in // 4, code)

    class USAD(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = mlp([n_in, h1, h2, code], True)
            self.decoder1 = nn.Sequential(mlp([code, h2, h1, n_in], False), nn.Sigmoid())
            self.decoder2 = nn.Sequential(mlp([code, h2, h1, n_in], False), nn.Sigmoid())

        def forward(self, x):  # x: (batch, n_in)
            z = self.encoder(x)
            w1 = self.decoder1(z)
            w2 = self.decoder2(z)
            w3 = self.decoder2(self.encoder(w1))
            return w1, w2, w3

    return USAD()


class USADDetector(SequenceAEDetector):
    """USAD over windows of ``window`` steps; score = last-step errors of AE1 and AE2(AE1).

    ``code`` is the latent size; ``alpha`` + ``beta`` weigh the two errors (the paper's
    sensitivity knob); ``epochs`` of Adam at ``lr`` (both phases each mini-batch). Other
    parameters as :class:`SequenceAEDetector` (``hidden`` is unused: the hidden layers are
    half and a quarter of the flattened window, as in the paper).
    """

    def __init__(self, *, window: int = 16, code: int = 32, epochs: int = 8, batch_size: int = 256, lr: float = 1e-3,
                 alpha: float = 0.5, beta: float = 0.5, stride: int = 1, min_scale: float = 0.01, clip: float = 10.0,
                 n_threads: int | None = None, threshold: str = "pot", risk: float = 0.01, level: float = 0.95,
                 rate: float = 0.01, smoothing: int = 5, random_state: int | None = 0) -> None:
        super().__init__(window=window, code=code, epochs=epochs, batch_size=batch_size, lr=lr, stride=stride,
                         min_scale=min_scale, clip=clip, n_threads=n_threads, threshold=threshold, risk=risk,
                         level=level, rate=rate, smoothing=smoothing, random_state=random_state)
        self.alpha = alpha
        self.beta = beta

    def _fit(self, X: np.ndarray, progress: ProgressFn | None) -> None:
        self._validate_seq()
        for name in ("alpha", "beta"):
            v = getattr(self, name)
            if not isinstance(v, (int, float, np.integer, np.floating)) or v < 0:
                raise ConfigError(f"The '{name}' parameter of USADDetector must be a number >= 0; got {v!r} instead.")
        if self.alpha + self.beta <= 0:
            raise ConfigError("USADDetector needs alpha + beta > 0")
        torch = require("torch", "detect")
        if self.n_threads is not None:
            torch.set_num_threads(int(self.n_threads))
        seed = 0 if self.random_state is None else int(self.random_state)
        torch.manual_seed(seed)
        self.mean_ = X.min(axis=0)
        self.scale_ = np.maximum(X.max(axis=0) - self.mean_, self.min_scale)
        W = self._windows(torch, self._z(X))[self.window - 1 :: self.stride]
        n, n_in = W.shape[0], int(self.window) * X.shape[1]
        model = _build(torch, n_in, int(self.code))
        opt1 = torch.optim.Adam(list(model.encoder.parameters()) + list(model.decoder1.parameters()), lr=float(self.lr))
        opt2 = torch.optim.Adam(list(model.encoder.parameters()) + list(model.decoder2.parameters()), lr=float(self.lr))
        gen = torch.Generator().manual_seed(seed)
        self.loss_history_ = []
        model.train()
        for epoch in range(int(self.epochs)):
            k = epoch + 1
            perm = torch.randperm(n, generator=gen)
            total = 0.0
            for i in range(0, n, int(self.batch_size)):
                xb = W[perm[i : i + int(self.batch_size)]].reshape(-1, n_in)
                w1, w2, w3 = model(xb)
                loss1 = torch.mean((xb - w1) ** 2) / k + (1 - 1 / k) * torch.mean((xb - w3) ** 2)
                opt1.zero_grad()
                loss1.backward()
                opt1.step()
                w1, w2, w3 = model(xb)
                loss2 = torch.mean((xb - w2) ** 2) / k - (1 - 1 / k) * torch.mean((xb - w3) ** 2)
                opt2.zero_grad()
                loss2.backward()
                opt2.step()
                total += float(loss1.detach()) * xb.shape[0]
            self.loss_history_.append(total / n)
            if progress:
                progress(k, int(self.epochs), f"loss {total / n:.4f}")
        model.eval()
        self.model_ = model

    def _z(self, X):
        return np.clip((X - self.mean_) / self.scale_, -1.0, 2.0).astype(np.float32)

    def __setstate__(self, state):
        weights = state.get("model_")
        self.__dict__.update(state)
        if isinstance(weights, dict):
            torch = require("torch", "detect")
            model = _build(torch, int(self.window) * int(self.n_features_in_), int(self.code))
            model.load_state_dict(weights)
            model.eval()
            self.model_ = model

    def _errors(self, X: np.ndarray) -> np.ndarray:
        torch = require("torch", "detect")
        if self.n_threads is not None:
            torch.set_num_threads(int(self.n_threads))
        m = X.shape[1]
        W = self._windows(torch, self._z(X))
        out = np.empty((X.shape[0], m), dtype=np.float64)
        with torch.no_grad():
            for i in range(0, W.shape[0], 4096):
                xb = W[i : i + 4096].reshape(-1, int(self.window) * m)
                w1, _, w3 = self.model_(xb)
                last = xb[:, -m:]
                e = self.alpha * (w1[:, -m:] - last) ** 2 + self.beta * (w3[:, -m:] - last) ** 2
                out[i : i + xb.shape[0]] = e.numpy()
        return out
