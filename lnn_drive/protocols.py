"""The one protocol for everything that acts, shared by every package.

The torch :class:`~lnn_drive.models.Policy`, ``FastActor``, an exported ONNX policy, a
safety-filtered policy and scripted experts all satisfy :class:`PolicyProtocol`; closed
loop, recording, saliency and export are typed against it, never against ``Any``. It lives
at the top of the package so environments and evaluation can name it without importing
models.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class PolicyProtocol(Protocol):
    """Acts from camera frames and carries its own recurrent state.

    ``reset(batch_size)`` zeroes the state for that many parallel episodes;
    ``reset_rows(mask)`` zeroes only the rows whose episode ended (bool ``(B,)``);
    ``act(frame)`` maps one uint8 ``(H, W, 3)`` frame to a ``(k,)`` action;
    ``act_batch(frames)`` maps uint8 ``(B, H, W, 3)`` to ``(B, k)``.
    """

    def reset(self, batch_size: int = 1) -> None: ...

    def reset_rows(self, mask: np.ndarray) -> None: ...

    def act(self, frame: np.ndarray) -> np.ndarray: ...

    def act_batch(self, frames: np.ndarray) -> np.ndarray: ...


@runtime_checkable
class InspectablePolicy(PolicyProtocol, Protocol):
    """A policy whose recurrent state can be read (neuron traces, PCA, decision trees).

    ``neuron_state()`` is the current state ``(B, n)``; ``neuron_groups()`` maps group
    names (``inter``, ``command``, ``motor`` for an NCP) to state indices, ``{}`` if none.
    """

    def neuron_state(self) -> np.ndarray: ...

    def neuron_groups(self) -> dict[str, list[int]]: ...
