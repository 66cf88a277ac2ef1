"""A sequence model: an LSTM autoencoder over sliding windows, on torch CPU.

Each time step ``t`` is scored by reconstructing the window ``X[t-W+1 .. t]`` (standardised
like :class:`~hpcopt.detect.detectors.PCADetector`) through an LSTM encoder -> fixed-size
code -> LSTM decoder, and taking the squared error of the **last** step, so the score is
causal (needs only the past) and works online. The first ``W-1`` rows of an array are
scored with the first row repeated as padding. A metric's contribution is its squared
error at that last step.

Install with ``pip install torch==2.13.0`` (CPU build) or the ``detect`` extra.
"""

from __future__ import annotations

import numpy as np

from hpcopt.detect.base import BaseDetector, ProgressFn
from hpcopt.detect.detectors import _check_pos, standard_scale
from hpcopt.errors import ConfigError, require

__all__ = ["SequenceAEDetector"]


def _build(torch, n_features: int, hidden: int, code: int):
    nn = torch.nn

    class LSTMAutoencoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = nn.LSTM(n_features, hidden, batch_first=True)
            self.to_code = nn.Linear(hidden, code)
            self.from_code = nn.Linear(code, hidden)
            self.decoder = nn.LSTM(hidden, hidden, batch_first=True)
            self.out = nn.Linear(hidden, n_features)

        def forward(self, x):  # x: (batch, window, features)
            _, (h, _) = self.encoder(x)
            z = torch.tanh(self.to_code(h[-1]))
            seed = self.from_code(z).unsqueeze(1).expand(-1, x.shape[1], -1)
            y, _ = self.decoder(seed.contiguous())
            return self.out(y)

    return LSTMAutoencoder()


class SequenceAEDetector(BaseDetector):
    """LSTM autoencoder on windows of ``window`` steps; score = last-step squared error.

    Parameters are stored as given; ``fit`` trains for ``epochs`` passes of Adam
    (learning rate ``lr``, mini-batches of ``batch_size`` windows taken every ``stride``
    steps), seeded by ``random_state``. ``n_threads`` caps torch's intra-op threads
    (``None`` leaves torch's default).
    """

    def __init__(self, *, window: int = 16, hidden: int = 32, code: int = 16, epochs: int = 8, batch_size: int = 256,
                 lr: float = 2e-3, stride: int = 1, min_scale: float = 0.01, clip: float = 10.0,
                 n_threads: int | None = None, threshold: str = "pot", risk: float = 0.01, level: float = 0.95,
                 rate: float = 0.01, smoothing: int = 5, random_state: int | None = 0) -> None:
        super().__init__(threshold=threshold, risk=risk, level=level, rate=rate, smoothing=smoothing,
                         random_state=random_state)
        self.window = window
        self.hidden = hidden
        self.code = code
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.stride = stride
        self.min_scale = min_scale
        self.clip = clip
        self.n_threads = n_threads

    @property
    def context_(self) -> int:  # type: ignore[override]
        return int(self.window) - 1

    def _validate_seq(self) -> None:
        for name in ("window", "hidden", "code", "epochs", "batch_size", "stride"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or v < 1:
                raise ConfigError(f"The '{name}' parameter of SequenceAEDetector must be an int >= 1; got {v!r} instead.")
        _check_pos(self, "lr", self.lr)
        _check_pos(self, "min_scale", self.min_scale)
        _check_pos(self, "clip", self.clip)

    def _z(self, X):
        return np.clip((X - self.mean_) / self.scale_, -self.clip, self.clip).astype(np.float32)

    def _windows(self, torch, Z: np.ndarray):
        """All windows ending at each row, edge-padded at the start: (n, window, m)."""
        pad = np.repeat(Z[:1], self.window - 1, axis=0)
        T = torch.from_numpy(np.ascontiguousarray(np.concatenate([pad, Z], axis=0)))
        return T.unfold(0, self.window, 1).permute(0, 2, 1)  # (n, window, m), a view

    def _fit(self, X: np.ndarray, progress: ProgressFn | None) -> None:
        self._validate_seq()
        torch = require("torch", "detect")
        if self.n_threads is not None:
            torch.set_num_threads(int(self.n_threads))
        seed = 0 if self.random_state is None else int(self.random_state)
        torch.manual_seed(seed)
        self.mean_, self.scale_ = standard_scale(X, self.min_scale)
        Z = self._z(X)
        W = self._windows(torch, Z)[self.window - 1 :: self.stride]  # only full windows for training
        model = _build(torch, X.shape[1], int(self.hidden), int(self.code))
        opt = torch.optim.Adam(model.parameters(), lr=float(self.lr))
        gen = torch.Generator().manual_seed(seed)
        n = W.shape[0]
        self.loss_history_ = []
        model.train()
        for epoch in range(int(self.epochs)):
            perm = torch.randperm(n, generator=gen)
            total = 0.0
            for i in range(0, n, int(self.batch_size)):
                xb = W[perm[i : i + int(self.batch_size)]]
                opt.zero_grad()
                loss = torch.mean((model(xb) - xb) ** 2)
                loss.backward()
                opt.step()
                total += float(loss.detach()) * xb.shape[0]
            self.loss_history_.append(total / n)
            if progress:
                progress(epoch + 1, int(self.epochs), f"loss {total / n:.4f}")
        model.eval()
        self.model_ = model

    # a saved file holds the network's state dict as float32 arrays (see model_file); the
    # module is rebuilt from the parameters and the weights loaded strictly (shapes checked)
    def _saved_state(self):
        state = super()._saved_state()
        if "model_" in state:
            state["model_"] = {k: v.detach().cpu().numpy().copy() for k, v in self.model_.state_dict().items()}
        return state

    def _restore_state(self, state) -> None:
        weights = state.pop("model_", None)
        super()._restore_state(state)
        self._validate_seq()
        if weights is None:  # an unfitted member or wrapped template
            return
        if not isinstance(weights, dict) or not all(isinstance(v, np.ndarray) and v.dtype == np.float32
                                                    for v in weights.values()):
            raise ValueError("model_ must be the network's state dict as float32 arrays")
        torch = require("torch", "detect")
        model = _build(torch, int(self.n_features_in_), int(self.hidden), int(self.code))
        model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in weights.items()}, strict=True)
        model.eval()
        self.model_ = model

    # pickles (deepcopy, and detectors saved by older versions): the weights, not the class
    def __getstate__(self):
        state = self.__dict__.copy()
        if "model_" in state:
            state["model_"] = {k: v.detach().clone() for k, v in state["model_"].state_dict().items()}
        return state

    def __setstate__(self, state):
        weights = state.get("model_")
        self.__dict__.update(state)
        if isinstance(weights, dict):
            torch = require("torch", "detect")
            model = _build(torch, int(self.n_features_in_), int(self.hidden), int(self.code))
            model.load_state_dict(weights)
            model.eval()
            self.model_ = model

    def _errors(self, X: np.ndarray) -> np.ndarray:
        torch = require("torch", "detect")
        if self.n_threads is not None:
            torch.set_num_threads(int(self.n_threads))
        W = self._windows(torch, self._z(X))
        out = np.empty((X.shape[0], X.shape[1]), dtype=np.float64)
        with torch.no_grad():
            for i in range(0, W.shape[0], 4096):
                xb = W[i : i + 4096]
                rec = self.model_(xb)
                out[i : i + xb.shape[0]] = ((rec[:, -1, :] - xb[:, -1, :]) ** 2).numpy()
        return out

    def _raw_scores(self, X):
        return self._errors(X).sum(axis=1)

    def _contributions(self, X):
        return self._errors(X)
