"""Saliency maps: VisualBackProp (Bojarski et al. 2016/2018) and input gradients.

VisualBackProp explains a convolutional encoder with one forward pass: the post-ReLU feature
maps of each conv layer are averaged over channels; starting from the deepest layer, the
running mask is scaled up with a transposed convolution of all-ones weights (that layer's
kernel size, stride, padding and dilation, output size matched to the layer below) and
multiplied pointwise with the layer below's averaged map; after the shallowest layer the
mask is at input resolution and is normalised to [0, 1] per sample.

Works for any ``nn.Module`` whose conv layers are known: a project ``Policy`` (its
``encoder.conv_layers()``), an encoder with ``conv_layers()``, or any module (all its
``nn.Conv2d`` in registration order, or the list you pass).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "SaliencyError",
    "capture_conv_means",
    "find_conv_layers",
    "input_gradient",
    "vbp_from_means",
    "visual_backprop",
]

#: Activation modules whose output counts as the "post-ReLU" map of the conv before them.
_ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU)


class SaliencyError(ValueError):
    """Saliency was asked of a model or input it cannot explain (no conv layers, frames of
    the wrong shape or size)."""


# --------------------------------------------------------------------------- model plumbing


def _is_policy(model: nn.Module) -> bool:
    return hasattr(model, "encoder") and hasattr(model, "encoder_forward")


def find_conv_layers(model: nn.Module) -> list[nn.Conv2d]:
    """The conv layers of ``model`` in forward order.

    Uses ``model.encoder.conv_layers()`` (a Policy) or ``model.conv_layers()`` (an encoder)
    when present, else every ``nn.Conv2d`` in registration order.

    Raises:
        SaliencyError: if the model has no ``nn.Conv2d``.
    """
    for owner in (getattr(model, "encoder", None), model):
        if owner is not None and callable(getattr(owner, "conv_layers", None)):
            layers = list(owner.conv_layers())
            break
    else:
        layers = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    if not layers:
        raise SaliencyError(
            f"{type(model).__name__} has no conv layers (nn.Conv2d): saliency needs a "
            "convolutional encoder"
        )
    bad = [type(m).__name__ for m in layers if not isinstance(m, nn.Conv2d)]
    if bad:
        raise SaliencyError(f"conv_layers must be nn.Conv2d, got {', '.join(bad)}")
    return layers


def _activation_after(model: nn.Module, conv: nn.Conv2d) -> nn.Module | None:
    """The activation module that follows ``conv`` inside the same ``nn.Sequential`` (before
    the next conv), if any: hooking it gives the post-ReLU map even with a norm layer in
    between. ``None`` when the activation is functional (then ReLU is applied to the conv
    output)."""
    for seq in model.modules():
        if not isinstance(seq, nn.Sequential):
            continue
        children = list(seq.children())
        for i, child in enumerate(children):
            if child is conv:
                for nxt in children[i + 1 :]:
                    if isinstance(nxt, nn.Conv2d):
                        return None
                    if isinstance(nxt, _ACTIVATIONS):
                        return nxt
                return None
    return None


def _expected_input(
    model: nn.Module, convs: Sequence[nn.Conv2d]
) -> tuple[int, int | None, int | None]:
    """(channels, height, width) the model expects; height/width ``None`` when unknown."""
    pre = getattr(model, "preprocess", None)
    if pre is not None and hasattr(pre, "height"):
        return convs[0].in_channels, int(pre.height), int(pre.width)
    return convs[0].in_channels, None, None


def _check_input(x: torch.Tensor, model: nn.Module, convs: Sequence[nn.Conv2d]) -> None:
    if not isinstance(x, torch.Tensor):
        raise SaliencyError(f"frames: expected a torch.Tensor (B, C, H, W), got {type(x).__name__}")
    c, h, w = _expected_input(model, convs)
    want = f"(B, {c}, {h if h else 'H'}, {w if w else 'W'})"
    if x.ndim != 4:
        raise SaliencyError(f"frames: expected shape {want}, got {tuple(x.shape)}")
    got_c, got_h, got_w = x.shape[1:]
    if got_c != c or (h is not None and (got_h, got_w) != (h, w)):
        raise SaliencyError(
            f"frames of the wrong size: expected {want}, got {tuple(x.shape)}"
            + (" (preprocess camera frames with policy.preprocess first)" if h else "")
        )
    if x.shape[0] == 0:
        raise SaliencyError("frames: empty batch")


def _features_fn(model: nn.Module) -> Callable[[torch.Tensor], Any]:
    """The forward that runs the conv layers: a Policy's encoder on standardised frames,
    an encoder's ``features``/``forward`` otherwise."""
    if _is_policy(model):
        standardise = getattr(model, "standardise", None)

        def run(x: torch.Tensor) -> Any:
            z = standardise(x) if standardise is not None else x.float()
            return model.encoder_forward(z)

        return run
    return lambda x: model(x.float() if not x.is_floating_point() else x)


@contextmanager
def _hooks(model: nn.Module, convs: Sequence[nn.Conv2d], store: list[torch.Tensor | None]):
    """Record the channel mean of each conv layer's post-activation map into ``store``."""
    handles = []
    for i, conv in enumerate(convs):
        act = _activation_after(model, conv)

        def hook(_m, _inp, out, i=i, relu=act is None):
            if relu:
                out = F.relu(out)
            store[i] = out.mean(dim=1, keepdim=True)  # (B, 1, h, w)

        handles.append((act if act is not None else conv).register_forward_hook(hook))
    try:
        yield
    finally:
        for h in handles:
            h.remove()


@contextmanager
def _eval_run(model: nn.Module, x: torch.Tensor):  # noqa: ANN202 - a context manager
    """``model`` in eval mode for the block (restored after); a forward that fails on
    these frames becomes a :class:`SaliencyError` naming the shape."""
    was_training = model.training
    model.eval()
    try:
        yield
    except RuntimeError as e:
        raise SaliencyError(
            f"{type(model).__name__} cannot run on frames of shape {tuple(x.shape)}: {e}"
        ) from e
    finally:
        model.train(was_training)


def capture_conv_means(
    model: nn.Module, x: torch.Tensor, conv_layers: Sequence[nn.Conv2d] | None = None
) -> list[torch.Tensor]:
    """Run one forward pass (no grad) and return the channel-averaged post-ReLU map of each
    conv layer, shallowest first, each (B, 1, h_l, w_l).

    Raises:
        SaliencyError: no conv layers, wrong frame shape, or a layer that did not run.
    """
    convs = list(conv_layers) if conv_layers is not None else find_conv_layers(model)
    if not convs:
        raise SaliencyError(f"{type(model).__name__}: conv_layers is empty")
    _check_input(x, model, convs)
    store: list[torch.Tensor | None] = [None] * len(convs)
    with _eval_run(model, x), torch.no_grad(), _hooks(model, convs, store):
        _features_fn(model)(x)
    missing = [i for i, s in enumerate(store) if s is None]
    if missing:
        raise SaliencyError(f"conv layer(s) {missing} did not run in the model's forward")
    return store  # type: ignore[return-value]


def _pair(v: Any) -> tuple[int, int]:
    return (int(v[0]), int(v[1])) if isinstance(v, (tuple, list)) else (int(v), int(v))


def _padding(conv: nn.Conv2d) -> tuple[int, int]:
    p = conv.padding
    if isinstance(p, str):  # 'valid' or 'same' (stride 1 only in torch)
        if p == "valid":
            return (0, 0)
        return tuple(d * (k - 1) // 2 for k, d in zip(conv.kernel_size, conv.dilation, strict=True))  # type: ignore[return-value]
    return _pair(p)


def _upscale(mask: torch.Tensor, conv: nn.Conv2d, size: tuple[int, int]) -> torch.Tensor:
    """Transposed convolution of ``mask`` (B, 1, h, w) with an all-ones kernel of ``conv``'s
    geometry, output size ``size`` (the map that fed ``conv``)."""
    k, s, d, p = _pair(conv.kernel_size), _pair(conv.stride), _pair(conv.dilation), _padding(conv)
    b = mask.shape[0]
    base = [(mask.shape[2 + i] - 1) * s[i] - 2 * p[i] + d[i] * (k[i] - 1) + 1 for i in range(2)]
    extra = [size[i] - base[i] for i in range(2)]
    op = tuple(e if 0 <= e < max(s[i], d[i]) else 0 for i, e in enumerate(extra))
    # The batch goes into the channel axis with one group per sample: a single-channel
    # transposed conv over a batch is ~20x slower on CPU than the grouped form.
    ones = torch.ones(b, 1, *k, dtype=mask.dtype, device=mask.device)
    up = F.conv_transpose2d(
        mask.reshape(1, b, *mask.shape[2:]),  # (1, B, h, w)
        ones,
        stride=s,
        padding=p,
        output_padding=op,
        dilation=d,
        groups=b,
    )
    up = up.reshape(b, 1, *up.shape[2:])  # (B, 1, H', W')
    if tuple(up.shape[2:]) != tuple(size):
        # Geometry the output_padding cannot express (e.g. asymmetric 'same'): crop or
        # zero-pad at the bottom/right, where torch puts the odd pixel.
        dh, dw = size[0] - up.shape[2], size[1] - up.shape[3]
        up = F.pad(up, (0, max(dw, 0), 0, max(dh, 0)))[:, :, : size[0], : size[1]]
    return up


def vbp_from_means(
    means: Sequence[torch.Tensor],
    conv_layers: Sequence[nn.Conv2d],
    input_size: tuple[int, int],
    *,
    normalise: bool = True,
) -> torch.Tensor:
    """The VisualBackProp mask from channel-averaged maps.

    Args:
        means: Per conv layer, shallowest first, the (B, 1, h_l, w_l) channel mean of its
            post-ReLU output.
        conv_layers: The matching conv layers (their kernel size, stride, padding, dilation).
        input_size: (H, W) of the frames.
        normalise: Min-max normalise each sample to [0, 1] (an all-constant mask becomes 0).

    Returns:
        (B, H, W) float tensor.
    """
    if len(means) != len(conv_layers) or not means:
        raise SaliencyError(f"{len(means)} feature maps for {len(conv_layers)} conv layers")
    mask = means[-1]
    for lvl in range(len(means) - 1, 0, -1):
        below = means[lvl - 1]
        mask = _upscale(mask, conv_layers[lvl], tuple(below.shape[2:])) * below
    mask = _upscale(mask, conv_layers[0], tuple(input_size))[:, 0]  # (B, H, W)
    if normalise:
        mask = _minmax(mask)
    return mask


def _minmax(m: torch.Tensor) -> torch.Tensor:
    flat = m.reshape(m.shape[0], -1)  # (B, H*W)
    lo = flat.min(dim=1, keepdim=True).values
    hi = flat.max(dim=1, keepdim=True).values
    span = hi - lo
    out = torch.where(span > 0, (flat - lo) / span.clamp_min(torch.finfo(m.dtype).tiny), 0.0)
    return out.reshape(m.shape)


def visual_backprop(
    model: nn.Module,
    x: torch.Tensor,
    conv_layers: Sequence[nn.Conv2d] | None = None,
    *,
    normalise: bool = True,
) -> torch.Tensor:
    """VisualBackProp saliency of a batch of frames.

    Args:
        model: A ``Policy`` (frames are standardised by it and run through its encoder), an
            encoder with ``conv_layers()``, or any module taking (B, C, H, W) input.
        x: (B, C, H, W) frames: for a Policy, preprocessed uint8 or float frames at the
            model geometry (``policy.preprocess.geometry_batch`` of camera frames); for
            other modules, exactly what the module's forward takes.
        conv_layers: The conv layers in forward order (default: found from the model).
        normalise: Min-max normalise each sample to [0, 1].

    Returns:
        (B, H, W) float tensor in [0, 1], on ``x``'s device.

    Raises:
        SaliencyError: the model has no conv layers, or ``x`` has the wrong shape or size.
    """
    convs = list(conv_layers) if conv_layers is not None else find_conv_layers(model)
    means = capture_conv_means(model, x, convs)
    with torch.no_grad():
        return vbp_from_means(means, convs, (x.shape[2], x.shape[3]), normalise=normalise)


def input_gradient(
    model: nn.Module,
    x: torch.Tensor,
    *,
    output: int = 0,
    normalise: bool = True,
) -> torch.Tensor:
    """Input-gradient saliency: |d output / d pixel|, max over colour channels.

    For a Policy the frames run through the whole model (``forward`` on a one-step sequence
    from a zero state) and ``output`` indexes its outputs (0: steering); for another module
    it indexes the flattened output of ``model(x)``.

    Args:
        model: As for :func:`visual_backprop`; it needs no conv layers.
        x: (B, C, H, W) frames, as for :func:`visual_backprop`.
        output: Which output to explain.
        normalise: Min-max normalise each sample to [0, 1].

    Returns:
        (B, H, W) float tensor.
    """
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[0] == 0:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise SaliencyError(f"frames: expected a (B, C, H, W) tensor, got {shape}")
    if _is_policy(model):
        try:
            convs = find_conv_layers(model)
        except SaliencyError:
            convs = []
        if convs:
            _check_input(x, model, convs)
    xin = x.detach().float().requires_grad_(True)
    with _eval_run(model, x), torch.enable_grad():
        if _is_policy(model):
            y, _ = model(xin[:, None])  # (B, 1, k)
        else:
            y = model(xin)
            if isinstance(y, (tuple, list)):
                y = y[0]
        y = y.reshape(y.shape[0], -1)  # (B, k)
        if not 0 <= output < y.shape[1]:
            raise SaliencyError(f"output={output} out of range: the model has {y.shape[1]}")
        (grad,) = torch.autograd.grad(y[:, output].sum(), xin)
    sal = grad.abs().amax(dim=1)  # (B, H, W)
    return _minmax(sal) if normalise else sal
