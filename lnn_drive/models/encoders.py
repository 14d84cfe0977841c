"""Perception encoders: standardised frames (N, 3, H, W) -> features (N, F).

``ConvHead`` is the NCP paper's CNN (Lechner, Hasani et al. 2020): five 'same'-padded
convolutions with ReLU, then each of the 8 final maps through its own dense layer to 4
units, 32 features, 79,420 parameters at 78x200. The 8 per-map dense layers are stored as
one (8, H5*W5, 4) tensor and applied as a single batched matmul (``einsum``), which is the
same function as eight ``nn.Linear`` s with fewer kernel launches.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

#: The paper's convolutions: (filters, kernel, stride).
PAPER_CONVS: tuple[tuple[int, int, int], ...] = (
    (24, 5, 2),
    (36, 5, 2),
    (48, 3, 2),
    (64, 3, 1),
    (8, 3, 1),
)


def _same_out(size: int, stride: int) -> int:
    return -(-size // stride)  # ceil(size / stride), TensorFlow 'same'


def _same_conv(cin: int, cout: int, kernel: int, stride: int) -> nn.Conv2d:
    # Symmetric padding k//2 gives TF 'same' output sizes for odd kernels.
    return nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2)


class Encoder(nn.Module):
    """Base class: ``features(x)`` and ``conv_layers()``; ``feature_dim`` attribute."""

    feature_dim: int

    def conv_layers(self) -> list[nn.Conv2d]:
        """The convolutions in forward order (for saliency and gradient scaling)."""
        return [m for m in self.modules() if isinstance(m, nn.Conv2d)]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Standardised float frames (N, 3, H, W) -> (N, feature_dim)."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


def _conv_stack(
    convs: Sequence[Sequence[int]], height: int, width: int
) -> tuple[nn.ModuleList, tuple[int, int, int]]:
    """'Same'-padded convolutions ``(filters, kernel, stride)`` from 3 input channels, and
    the (channels, height, width) of their output."""
    layers: list[nn.Conv2d] = []
    cin, h, w = 3, height, width
    for filters, kernel, stride in convs:
        layers.append(_same_conv(cin, int(filters), int(kernel), int(stride)))
        cin, h, w = int(filters), _same_out(h, int(stride)), _same_out(w, int(stride))
    return nn.ModuleList(layers), (cin, h, w)


class ConvHead(Encoder):
    """The NCP paper's perception head.

    Args:
        height, width: Input size (paper: 78x200).
        convs: (filters, kernel, stride) per convolution; the last one's filters are the
            number of maps, each with its own dense layer.
        units_per_map: Dense units per map (paper: 4).
    """

    def __init__(
        self,
        *,
        height: int = 78,
        width: int = 200,
        convs: Sequence[Sequence[int]] = PAPER_CONVS,
        units_per_map: int = 4,
    ) -> None:
        super().__init__()
        self.convs, (cin, h, w) = _conv_stack(convs, int(height), int(width))
        self.maps, self.map_hw = cin, (h, w)
        self.units_per_map = int(units_per_map)
        # One dense layer per map, stored stacked: (maps, H5*W5, units).
        self.map_weight = nn.Parameter(torch.empty(cin, h * w, self.units_per_map))
        self.map_bias = nn.Parameter(torch.zeros(cin, self.units_per_map))
        bound = 1.0 / (h * w) ** 0.5  # nn.Linear's default init, per map
        nn.init.uniform_(self.map_weight, -bound, bound)
        nn.init.uniform_(self.map_bias, -bound, bound)
        self.feature_dim = cin * self.units_per_map

    def conv_layers(self) -> list[nn.Conv2d]:
        return list(self.convs)

    def feature_maps(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) -> the last convolution's maps (N, maps, H5, W5), after ReLU."""
        for conv in self.convs:
            x = torch.relu(conv(x))
        return x

    def features(self, x: torch.Tensor) -> torch.Tensor:
        maps = self.feature_maps(x)  # (N, M, H5, W5)
        n = maps.shape[0]
        flat = maps.reshape(n, self.maps, -1)  # (N, M, H5*W5)
        out = torch.einsum("nmp,mpk->nmk", flat, self.map_weight) + self.map_bias  # (N, M, K)
        return torch.relu(out).reshape(n, self.feature_dim)  # (N, M*K)


class PilotNet(Encoder):
    """A PilotNet-style CNN (Bojarski et al. 2016): five convolutions then dense layers.

    Args:
        height, width: Input size.
        convs: (filters, kernel, stride) per convolution.
        dense: Hidden dense sizes; the last is the feature size.
    """

    def __init__(
        self,
        *,
        height: int = 78,
        width: int = 200,
        convs: Sequence[Sequence[int]] = (
            (24, 5, 2),
            (36, 5, 2),
            (48, 5, 2),
            (64, 3, 1),
            (64, 3, 1),
        ),
        dense: Sequence[int] = (100, 50),
    ) -> None:
        super().__init__()
        self.convs, (cin, h, w) = _conv_stack(convs, int(height), int(width))
        fcs: list[nn.Module] = []
        n_in = cin * h * w
        for n_out in dense:
            fcs += [nn.Linear(n_in, int(n_out)), nn.ReLU()]
            n_in = int(n_out)
        self.dense = nn.Sequential(*fcs)
        self.feature_dim = n_in

    def conv_layers(self) -> list[nn.Conv2d]:
        return list(self.convs)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            x = torch.relu(conv(x))
        return self.dense(x.reshape(x.shape[0], -1))  # (N, C*H*W) -> (N, F)


ENCODERS: dict[str, type[Encoder]] = {"conv_head": ConvHead, "pilotnet": PilotNet}


def build_encoder(cfg: Mapping[str, Any], *, height: int, width: int) -> Encoder:
    """Build an encoder from its config (``type`` plus constructor arguments).

    Raises:
        ValueError: unknown ``type`` or argument, naming it.
    """
    cfg = dict(cfg)
    kind = cfg.pop("type", "conv_head")
    if kind not in ENCODERS:
        raise ValueError(
            f"model.encoder.type={kind!r} is unknown; choose one of {sorted(ENCODERS)}"
        )
    try:
        return ENCODERS[kind](height=height, width=width, **cfg)
    except TypeError as e:
        raise ValueError(f"model.encoder ({kind}): {e}") from e
