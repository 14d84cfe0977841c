"""Small stand-ins with the shared interfaces' surface (Policy, LaneKeeping env), so the
explain area is tested without the models and simulator branches."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from lnn_drive.data.preprocess import Preprocess

H, W = 24, 40


class FakeEnv:
    """A road seen from above-ish: sky on top, a road band that drifts; labels match."""

    def __init__(self, *, end_after: int | None = None) -> None:
        self.unwrapped = self
        self.end_after = end_after
        self.t = 0
        self.k = 0.0

    def _labels(self) -> np.ndarray:
        lab = np.ones((H, W), np.uint8)
        lab[: H // 3] = 0
        centre = W // 2 + int(8 * np.sin(self.t / 9 + self.phase))
        lab[H // 3 :, max(centre - 6, 0) : centre + 6] = 2
        lab[H // 3 :, centre] = 3
        lab[H // 3 : H // 3 + 3, 2:6] = 4
        return lab

    def render_labels(self) -> np.ndarray:
        return self._labels()

    def _obs(self) -> np.ndarray:
        palette = np.array(
            [[120, 170, 230], [70, 120, 60], [90, 90, 90], [240, 240, 240], [200, 40, 40]],
            np.uint8,
        )
        return palette[self._labels()]

    def _info(self) -> dict:
        return {
            "expert_action": 0.02 * np.cos(self.t / 9 + self.phase),
            "lateral_offset": 0.1 * np.sin(self.t / 5),
        }

    def reset(self, *, seed=None, options=None):
        self.t, self.phase = 0, float(seed or 0)
        return self._obs(), self._info()

    def step(self, action):
        action = np.asarray(action, np.float32)
        assert action.shape == (1,)
        self.t += 1
        done = self.end_after is not None and self.t >= self.end_after
        return self._obs(), 0.0, done, False, self._info()

    def close(self) -> None:
        pass


class FakeEncoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            [nn.Conv2d(3, 6, 5, stride=2, padding=2), nn.Conv2d(6, 4, 3, stride=2, padding=1)]
        )
        self.fc = nn.Linear(4 * 6 * 10, 8)

    def conv_layers(self) -> list[nn.Conv2d]:
        return list(self.convs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for c in self.convs:
            x = torch.relu(c(x))
        return torch.tanh(self.fc(x.flatten(1)))


class FakePolicy(nn.Module):
    """Encoder + a 19-unit NCP CfC, with the Policy surface the explain area uses."""

    model_name = "fake_ncp"
    output_names = ["steering"]

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        from ncps.torch import CfC
        from ncps.wirings import NCP

        torch.manual_seed(seed)
        self.preprocess = Preprocess(height=H, width=W).with_input(H, W)
        self.encoder = FakeEncoder()
        self.controller = CfC(8, NCP(8, 6, 1, 4, 4, 3, 3, seed=seed), batch_first=True)
        self._hx: torch.Tensor | None = None

    def standardise(self, x: torch.Tensor) -> torch.Tensor:
        return Preprocess.standardise(x)

    def encoder_forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def forward(self, frames: torch.Tensor, hx=None):
        b, t = frames.shape[:2]
        z = self.encoder_forward(self.standardise(frames.flatten(0, 1))).view(b, t, -1)
        out, hx = self.controller(z, hx)
        return 0.05 * out, hx

    def reset(self, batch_size: int = 1) -> None:
        self._hx = torch.zeros(batch_size, 15)

    def act(self, frame: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(self.preprocess.geometry(frame))[None, None]  # (1, 1, 3, H, W)
        with torch.no_grad():
            y, self._hx = self(x, self._hx)
        return y[0, 0].numpy().astype(np.float64)

    def neuron_state(self) -> np.ndarray:
        return self._hx.numpy().copy()

    def neuron_groups(self) -> dict[str, list[int]]:
        w = self.controller.wiring
        return {
            g: [i for i in range(w.units) if w.get_type_of_neuron(i) == g]
            for g in ("inter", "command", "motor")
        }
