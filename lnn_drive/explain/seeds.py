"""Saliency and neuron dynamics over every training seed's checkpoint, with controls.

One checkpoint per model cannot carry a claim about the model, so every function here takes
a list of checkpoints (one per training seed) and returns typed records with 95% confidence
intervals over seeds (Student t on the per-seed means):

* **SSIM under noise, two normalisations.** VisualBackProp maps of the clean and the noisy
  frame are min-max normalised *jointly* (one min and max over both maps, as the Chahine et
  al. analysis code does, ``makramchahine/drone_causality`` ``analysis/ssim.py``) and *per
  map* (each map to [0, 1] on its own, this project's earlier protocol). Per-map
  normalisation can flip a two-mode map: when noise lowers one mode, the other is stretched
  to 1 and the maps look unlike each other although the mass barely moved.
* **Attention share** on the road surface, the lane markings, the horizon band and the
  roadside (off-road ground and roadside objects), from the simulator's label images.
* **An untrained-encoder control**: the same architecture with a random initialisation,
  scored the same way, so a share or an SSIM can be compared with what an untrained conv
  stack gives.
* **PCA on the hidden state only** (an LSTM's ``h``, not ``[h, c]``: the unbounded cell state
  would dominate PC1).
* **Decision-tree fidelity against a linear readout** on the same neurons: the motor neuron is
  a function of the command neurons, so a tree's R^2 on them is high by construction; the
  linear readout says how much of that the tree adds.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from lnn_drive.eval.wrappers import add_frame_noise, check_noise_scale
from lnn_drive.explain.attention import _label_ids, horizon_rows, labels_to_model
from lnn_drive.explain.saliency import visual_backprop
from lnn_drive.explain.ssim import ssim

if TYPE_CHECKING:
    import gymnasium as gym

    from lnn_drive.models.policy import Policy

__all__ = [
    "NORMALISATIONS",
    "PAPER_REGIONS",
    "DynamicsSummary",
    "MeanCI",
    "ReadoutFidelity",
    "SaliencySummary",
    "SeedDynamics",
    "SeedSaliency",
    "analysis_states",
    "SeedsConfig",
    "benchmark_checkpoints",
    "dynamics_over_seeds",
    "explain_over_seeds",
    "dynamics_table",
    "noisy_frames",
    "saliency_tables",
    "joint_minmax",
    "per_map_minmax",
    "raw_saliency",
    "region_masks",
    "region_shares",
    "saliency_over_seeds",
    "saliency_ssim",
    "seed_dynamics",
    "seed_saliency",
    "tree_vs_linear",
    "untrained_control",
]

#: SSIM normalisations, in report order.
NORMALISATIONS: tuple[str, ...] = ("joint", "per_map")

#: Attention regions of the NCP paper's discussion, in report order.
PAPER_REGIONS: tuple[str, ...] = ("road", "markings", "horizon", "roadside")

CheckpointLike = str | os.PathLike[str] | Any


# ------------------------------------------------------------------------------ statistics


@dataclass(frozen=True)
class MeanCI:
    """Mean over seeds with a two-sided Student-t confidence interval.

    Attributes:
        mean: Mean of the per-seed values.
        low, high: Interval bounds (equal to ``mean`` for a single seed: no interval).
        n: Number of seeds.
    """

    mean: float
    low: float
    high: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float], level: float = 0.95) -> MeanCI:
        """The mean of ``values`` and its t interval at ``level``."""
        from scipy import stats

        x = np.asarray(values, np.float64)
        if x.ndim != 1 or len(x) == 0:
            raise ValueError(f"MeanCI needs a non-empty list of values, got shape {x.shape}")
        m = float(x.mean())
        if len(x) < 2:
            return cls(m, m, m, 1)
        half = float(stats.t.ppf(0.5 + level / 2, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x)))
        return cls(m, m - half, m + half, len(x))

    def fmt(self, spec: str = "{:.3f}", scale: float = 1.0) -> str:
        """``mean [low, high]`` (just the mean for one seed)."""
        m = spec.format(self.mean * scale)
        if self.n < 2:
            return m
        return f"{m} [{spec.format(self.low * scale)}, {spec.format(self.high * scale)}]"


# ------------------------------------------------------------------------ normalisation, SSIM


def _as_maps(a: np.ndarray | torch.Tensor) -> np.ndarray:
    x = np.asarray(a.detach().cpu() if isinstance(a, torch.Tensor) else a, np.float64)
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3:
        raise ValueError(f"saliency maps must be (H, W) or (N, H, W), got shape {x.shape}")
    return x


def _scale(x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    span = hi - lo
    safe = np.where(span > 0, span, 1.0)
    return np.where(span > 0, (x - lo) / safe, 0.0)


def per_map_minmax(a: np.ndarray | torch.Tensor) -> np.ndarray:
    """Each (H, W) map min-max normalised to [0, 1] on its own (constant maps become 0)."""
    x = _as_maps(a)
    return _scale(x, x.min(axis=(1, 2), keepdims=True), x.max(axis=(1, 2), keepdims=True))


def joint_minmax(
    a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of maps normalised with one min and one max over both maps of each pair.

    Args:
        a, b: (N, H, W) (or (H, W)) raw maps, pair ``i`` being ``a[i]``, ``b[i]``.

    Returns:
        ``a`` and ``b`` on the pair's common [0, 1] scale.
    """
    x, y = _as_maps(a), _as_maps(b)
    if x.shape != y.shape:
        raise ValueError(f"map pairs differ in shape: {x.shape} vs {y.shape}")
    lo = np.minimum(x.min(axis=(1, 2)), y.min(axis=(1, 2)))[:, None, None]  # (N, 1, 1)
    hi = np.maximum(x.max(axis=(1, 2)), y.max(axis=(1, 2)))[:, None, None]
    return _scale(x, lo, hi), _scale(y, lo, hi)


def saliency_ssim(
    clean: np.ndarray | torch.Tensor,
    noisy: np.ndarray | torch.Tensor,
    *,
    normalisation: str = "joint",
) -> np.ndarray:
    """SSIM of each (clean, noisy) pair of *raw* (unnormalised) saliency maps.

    Args:
        clean, noisy: (N, H, W) raw maps.
        normalisation: ``joint`` (one scale per pair, the Chahine et al. analysis code) or
            ``per_map`` (each map to [0, 1] on its own).

    Returns:
        (N,) SSIM values.
    """
    if normalisation == "joint":
        a, b = joint_minmax(clean, noisy)
    elif normalisation == "per_map":
        a, b = per_map_minmax(clean), per_map_minmax(noisy)
    else:
        raise ValueError(f"normalisation must be one of {NORMALISATIONS}, got {normalisation!r}")
    return ssim(a, b, data_range=1.0)


def raw_saliency(policy: Policy, frames: np.ndarray, *, batch: int = 32) -> np.ndarray:
    """Unnormalised VisualBackProp maps of camera frames through a policy.

    Args:
        policy: A ``Policy``.
        frames: (N, H, W, 3) uint8 camera frames.
        batch: Frames per call.

    Returns:
        (N, height, width) float64 maps at the model geometry, not normalised.
    """
    geo = policy.preprocess.geometry_batch(frames)  # (N, 3, h, w) uint8
    out = np.empty((len(geo), *geo.shape[2:]), np.float64)
    for i in range(0, len(geo), batch):
        x = torch.from_numpy(geo[i : i + batch])
        out[i : i + batch] = visual_backprop(policy, x, normalise=False).double().numpy()
    return out


# ---------------------------------------------------------------------------------- regions


def region_masks(labels: np.ndarray, *, band: float = 0.1) -> dict[str, np.ndarray]:
    """Boolean (N, H, W) masks of :data:`PAPER_REGIONS` from label images.

    ``road`` is the road surface without markings, ``markings`` the lane markings,
    ``horizon`` the rows within ``band`` x height of the horizon row (overlapping the
    others), ``roadside`` the off-road ground and roadside objects.
    """
    lab = np.asarray(labels)
    if lab.ndim == 2:
        lab = lab[None]
    if lab.ndim != 3:
        raise ValueError(f"labels: expected (N, H, W) label images, got shape {lab.shape}")
    if not 0 < band < 1:
        raise ValueError(f"horizon band must be in (0, 1), got {band}")
    ids = _label_ids()
    rows = np.arange(lab.shape[1])[None, :, None]  # (1, H, 1)
    hz = horizon_rows(lab, sky=ids["sky"])[:, None, None]  # (N, 1, 1)
    return {
        "road": lab == ids["road"],
        "markings": lab == ids["marking"],
        "horizon": np.broadcast_to(np.abs(rows - hz) <= band * lab.shape[1], lab.shape),
        "roadside": np.isin(lab, [ids["ground"], ids["object"]]),
    }


def region_shares(
    saliency: np.ndarray, labels: np.ndarray, *, band: float = 0.1
) -> tuple[dict[str, float], dict[str, float]]:
    """Mean share of saliency mass per region and mean share of pixels (area) per region.

    Args:
        saliency: (N, H, W) non-negative maps (normalisation does not change the share).
        labels: (N, H, W) label images at the maps' size.
        band: Horizon half-band, fraction of the height.

    Returns:
        (share, area): region -> mean over frames.
    """
    sal = _as_maps(saliency)
    masks = region_masks(labels, band=band)
    if masks["road"].shape != sal.shape:
        raise ValueError(
            f"saliency {sal.shape} and labels {masks['road'].shape} differ in shape "
            "(map labels through labels_to_model first)"
        )
    total = sal.sum(axis=(1, 2))  # (N,)
    safe = np.where(total > 0, total, 1.0)
    share = {k: float(np.mean((sal * m).sum(axis=(1, 2)) / safe)) for k, m in masks.items()}
    area = {k: float(np.mean(m)) for k, m in masks.items()}
    return share, area


# ------------------------------------------------------------------------------ saliency


@dataclass(frozen=True)
class SeedSaliency:
    """One checkpoint's saliency figures.

    Attributes:
        source: Checkpoint path (or ``"untrained seed <k>"`` for the control).
        ssim: normalisation -> noise variance -> mean SSIM(clean, noisy) over frames.
        share: region -> mean share of saliency mass on clean frames.
        area: region -> mean pixel share (a uniform map's share).
    """

    source: str
    ssim: dict[str, dict[float, float]]
    share: dict[str, float]
    area: dict[str, float]


@dataclass(frozen=True)
class SaliencySummary:
    """A model's saliency over seeds.

    Attributes:
        model: Display name.
        seeds: Per-checkpoint records.
        ssim: normalisation -> variance -> mean and CI over seeds.
        share: region -> mean and CI over seeds.
        area: region -> mean pixel share over seeds.
        control: ``True`` for the untrained-encoder control row.
    """

    model: str
    seeds: list[SeedSaliency]
    ssim: dict[str, dict[float, MeanCI]]
    share: dict[str, MeanCI]
    area: dict[str, float]
    control: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""

        def ci(c: MeanCI) -> dict[str, float]:
            return {"mean": c.mean, "low": c.low, "high": c.high, "n": c.n}

        return {
            "model": self.model,
            "control": self.control,
            "sources": [s.source for s in self.seeds],
            "ssim": {k: {f"{v:g}": ci(c) for v, c in d.items()} for k, d in self.ssim.items()},
            "share": {k: ci(c) for k, c in self.share.items()},
            "area": dict(self.area),
        }


def seed_saliency(
    policy: Policy,
    frames: np.ndarray,
    labels: np.ndarray,
    noisy: Mapping[float, np.ndarray],
    *,
    source: str,
    band: float = 0.1,
    batch: int = 32,
) -> SeedSaliency:
    """SSIM under each noise level (both normalisations) and region shares for one policy.

    Args:
        policy: The policy.
        frames: (N, H, W, 3) clean camera frames.
        labels: (N, H, W) their label images at camera size.
        noisy: variance -> (N, H, W, 3) noisy versions of ``frames``.
        source: Name recorded in the result.
        band: Horizon half-band.
        batch: Saliency batch size.
    """
    clean = raw_saliency(policy, frames, batch=batch)
    lab = labels_to_model(labels, policy.preprocess)
    sims: dict[str, dict[float, float]] = {k: {} for k in NORMALISATIONS}
    for v, nf in noisy.items():
        sal_v = raw_saliency(policy, nf, batch=batch)
        for k in NORMALISATIONS:
            sims[k][float(v)] = float(np.mean(saliency_ssim(clean, sal_v, normalisation=k)))
    share, area = region_shares(clean, lab, band=band)
    return SeedSaliency(source=source, ssim=sims, share=share, area=area)


def _summarise(model: str, seeds: list[SeedSaliency], *, control: bool) -> SaliencySummary:
    variances = list(seeds[0].ssim[NORMALISATIONS[0]])
    return SaliencySummary(
        model=model,
        seeds=seeds,
        ssim={
            k: {v: MeanCI.of([s.ssim[k][v] for s in seeds]) for v in variances}
            for k in NORMALISATIONS
        },
        share={r: MeanCI.of([s.share[r] for s in seeds]) for r in PAPER_REGIONS},
        area={r: float(np.mean([s.area[r] for s in seeds])) for r in PAPER_REGIONS},
        control=control,
    )


def noisy_frames(
    frames: np.ndarray, variances: Sequence[float], *, seed: int = 0, scale: str = "unit"
) -> dict[float, np.ndarray]:
    """variance -> noisy copies of ``frames`` (the evaluation's noise, either scale)."""
    relative = check_noise_scale(scale, "noise scale") == "snr"
    rng = np.random.default_rng(seed)
    return {
        float(v): add_frame_noise(frames, float(np.sqrt(v)), rng, relative=relative)
        for v in variances
    }


def _load(c: CheckpointLike, loader: Callable[[Any], Policy] | None) -> tuple[Policy, str]:
    if hasattr(c, "encoder") and hasattr(c, "preprocess"):
        return c, getattr(c, "model_name", type(c).__name__)
    if loader is None:
        from lnn_drive.train.checkpoint import load_policy as loader
    return loader(c), str(c)


def saliency_over_seeds(
    checkpoints: Sequence[CheckpointLike],
    frames: np.ndarray,
    labels: np.ndarray,
    *,
    model: str,
    noise_variances: Sequence[float] = (0.1, 0.2, 0.3),
    noise_seed: int = 0,
    noise_scale: str = "unit",
    band: float = 0.1,
    batch: int = 32,
    control_seeds: Sequence[int] = (),
    loader: Callable[[Any], Policy] | None = None,
) -> tuple[SaliencySummary, SaliencySummary | None]:
    """Saliency figures of one model over its seeds' checkpoints, plus the control.

    Args:
        checkpoints: One checkpoint path (or loaded ``Policy``) per training seed.
        frames: (N, H, W, 3) clean camera frames shared by every model.
        labels: (N, H, W) their label images.
        model: Display name.
        noise_variances: Frame-noise variances.
        noise_seed: Noise seed (the same noisy frames for every checkpoint).
        noise_scale: ``unit`` or ``snr`` (see :mod:`lnn_drive.eval.wrappers`).
        band: Horizon half-band.
        batch: Saliency batch size.
        control_seeds: Initialisation seeds of the untrained-encoder control (same
            architecture as the first checkpoint); empty: no control.
        loader: Checkpoint loader (default ``lnn_drive.train.checkpoint.load_policy``).

    Returns:
        (the model's summary, the control's summary or ``None``).
    """
    if not checkpoints:
        raise ValueError(f"{model}: no checkpoints (one per training seed is needed)")
    noisy = noisy_frames(frames, noise_variances, seed=noise_seed, scale=noise_scale)
    records = []
    first: Policy | None = None
    for c in checkpoints:
        pol, src = _load(c, loader)
        first = first or pol
        records.append(
            seed_saliency(pol, frames, labels, noisy, source=src, band=band, batch=batch)
        )
    summary = _summarise(model, records, control=False)
    if not control_seeds:
        return summary, None
    assert first is not None
    ctrl = [
        seed_saliency(
            untrained_control(first, seed=int(s)),
            frames,
            labels,
            noisy,
            source=f"untrained seed {int(s)}",
            band=band,
            batch=batch,
        )
        for s in control_seeds
    ]
    return summary, _summarise(f"{model} (untrained encoder)", ctrl, control=True)


def untrained_control(policy: Policy, *, seed: int) -> Policy:
    """A copy of ``policy`` whose encoder is freshly initialised (same architecture; the
    input standardisation and the controller are kept). The global torch RNG is left as
    it was.

    Raises:
        ValueError: the encoder has no resettable layers.
    """
    ctrl = copy.deepcopy(policy)
    layers = [m for m in ctrl.encoder.modules() if callable(getattr(m, "reset_parameters", None))]
    if not layers:
        raise ValueError(f"{type(ctrl.encoder).__name__} has no layers to re-initialise")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        for m in layers:
            m.reset_parameters()
    ctrl.eval()
    return ctrl


# ------------------------------------------------------------------------------ dynamics


def analysis_states(policy: Any, states: np.ndarray) -> np.ndarray:
    """The state columns to analyse: an LSTM's hidden state ``h`` only (its state packs
    ``[h, c]``), every column otherwise."""
    from lnn_drive.models.controllers import LSTMController

    x = np.asarray(states, np.float64)
    c = getattr(policy, "controller", None)
    if isinstance(c, LSTMController):
        return x[:, : c.units]
    return x


@dataclass(frozen=True)
class ReadoutFidelity:
    """A decision tree's fidelity next to a linear readout's, on the same neurons and split.

    Attributes:
        features: Neuron names.
        tree_fit, tree_heldout: Tree R^2 on the fit steps and on the later held-out steps.
        linear_fit, linear_heldout: The same for an ordinary least-squares readout.
    """

    features: list[str]
    tree_fit: float
    tree_heldout: float
    linear_fit: float
    linear_heldout: float

    @property
    def tree_gain(self) -> float:
        """Held-out R^2 of the tree minus the linear readout's (> 0: the tree adds)."""
        return self.tree_heldout - self.linear_heldout


def tree_vs_linear(
    activity: np.ndarray,
    steering: np.ndarray,
    *,
    names: Sequence[str],
    max_depth: int = 3,
    heldout: float = 0.3,
) -> ReadoutFidelity:
    """Fit a depth-``max_depth`` regression tree and a linear readout from ``activity`` to
    ``steering`` on the first ``1 - heldout`` of the steps; R^2 on fit and later steps."""
    from sklearn.linear_model import LinearRegression
    from sklearn.metrics import r2_score

    from lnn_drive.explain.dynamics import tree_explanation

    tree = tree_explanation(
        activity, steering, names=names, kind="regression", max_depth=max_depth, heldout=heldout
    )
    x = np.asarray(activity, np.float64)
    y = np.asarray(steering, np.float64)
    n_fit = int(round(len(y) * (1 - heldout)))
    lin = LinearRegression().fit(x[:n_fit], y[:n_fit])
    return ReadoutFidelity(
        features=list(names),
        tree_fit=tree.fidelity_fit,
        tree_heldout=tree.fidelity_heldout,
        linear_fit=float(r2_score(y[:n_fit], lin.predict(x[:n_fit]))),
        linear_heldout=float(r2_score(y[n_fit:], lin.predict(x[n_fit:]))),
    )


@dataclass(frozen=True)
class SeedDynamics:
    """One checkpoint's closed-loop dynamics figures.

    Attributes:
        source: Checkpoint path.
        units: Analysed state columns (an LSTM's ``h`` only).
        pc1: Variance share of the first principal component of those states.
        readout: Tree vs linear readout on the command neurons (all analysed units for a
            model without an NCP wiring).
    """

    source: str
    units: int
    pc1: float
    readout: ReadoutFidelity


@dataclass(frozen=True)
class DynamicsSummary:
    """A model's dynamics over seeds (mean and 95% CI)."""

    model: str
    seeds: list[SeedDynamics]
    pc1: MeanCI
    tree_heldout: MeanCI
    linear_heldout: MeanCI
    extra: dict[str, Any] = field(default_factory=dict)


def seed_dynamics(
    policy: Policy, record: Any, *, source: str, max_depth: int = 3, heldout: float = 0.3
) -> SeedDynamics:
    """PCA (hidden state only) and tree-vs-linear fidelity of one closed-loop record."""
    from lnn_drive.explain.dynamics import pca_states

    states = analysis_states(policy, record.states)
    if states.shape[1] == 0:
        raise ValueError(f"{source}: the model has no state to analyse")
    pca = pca_states(states)
    ids = record.groups.get("command")
    if ids:
        act, names = states[:, ids], [f"command_{j}" for j in range(len(ids))]
    else:
        act, names = states, [f"unit_{j}" for j in range(states.shape[1])]
    return SeedDynamics(
        source=source,
        units=int(states.shape[1]),
        pc1=float(pca.pc1),
        readout=tree_vs_linear(
            act, record.steering, names=names, max_depth=max_depth, heldout=heldout
        ),
    )


def dynamics_over_seeds(
    checkpoints: Sequence[CheckpointLike],
    make_env: Callable[[], gym.Env],
    *,
    model: str,
    steps: int = 600,
    seed: int = 30000,
    max_depth: int = 3,
    heldout: float = 0.3,
    loader: Callable[[Any], Policy] | None = None,
) -> DynamicsSummary:
    """One closed-loop run per checkpoint (same road), PCA and tree-vs-linear per seed."""
    from lnn_drive.explain.recording import record_closed_loop

    if not checkpoints:
        raise ValueError(f"{model}: no checkpoints (one per training seed is needed)")
    out = []
    for c in checkpoints:
        pol, src = _load(c, loader)
        env = make_env()
        try:
            rec = record_closed_loop(pol, env, steps=steps, seed=seed, keep_frames=False)
        finally:
            env.close()
        out.append(seed_dynamics(pol, rec, source=src, max_depth=max_depth, heldout=heldout))
    return DynamicsSummary(
        model=model,
        seeds=out,
        pc1=MeanCI.of([d.pc1 for d in out]),
        tree_heldout=MeanCI.of([d.readout.tree_heldout for d in out]),
        linear_heldout=MeanCI.of([d.readout.linear_heldout for d in out]),
    )


# ------------------------------------------------------------------------------- tables


def saliency_tables(summaries: Sequence[SaliencySummary]) -> str:
    """Markdown: SSIM (both normalisations) and region shares, mean [95% CI] over seeds."""
    if not summaries:
        return ""
    variances = list(summaries[0].ssim[NORMALISATIONS[0]])
    head = "| model | seeds | " + " | ".join(
        f"SSIM var {v:g} {k.replace('_', '-')}" for v in variances for k in NORMALISATIONS
    )
    lines = [head + " |", "|---|---:|" + "---:|" * (len(variances) * len(NORMALISATIONS))]
    for s in summaries:
        cells = [s.ssim[k][v].fmt() for v in variances for k in NORMALISATIONS]
        lines.append(f"| {s.model} | {s.seeds.__len__()} | " + " | ".join(cells) + " |")
    lines += ["", "| model | " + " | ".join(f"{r} % (area %)" for r in PAPER_REGIONS) + " |"]
    lines.append("|---|" + "---:|" * len(PAPER_REGIONS))
    for s in summaries:
        cells = [f"{s.share[r].fmt('{:.1f}', 100)} ({100 * s.area[r]:.1f})" for r in PAPER_REGIONS]
        lines.append(f"| {s.model} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def dynamics_table(summaries: Sequence[DynamicsSummary]) -> str:
    """Markdown: PC1 share (hidden state only) and tree vs linear readout held-out R^2."""
    lines = [
        "| model | seeds | units analysed | PC1 variance % | tree R^2 held-out | linear R^2 held-out |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for s in summaries:
        lines.append(
            f"| {s.model} | {len(s.seeds)} | {s.seeds[0].units} | {s.pc1.fmt('{:.1f}', 100)} | "
            f"{s.tree_heldout.fmt()} | {s.linear_heldout.fmt()} |"
        )
    return "\n".join(lines)


# ------------------------------------------------------------------------- the whole path


@dataclass(frozen=True, kw_only=True)
class SeedsConfig:
    """Options of ``lnn-drive saliency-seeds`` (``conf/saliency_seeds.yaml``).

    Attributes:
        noise_variances: Frame-noise variances for the SSIM.
        noise_seed: Noise seed (the same noisy frames for every checkpoint).
        noise_scale: ``unit`` (variance on [0, 1], the paper's convention as read here) or
            ``snr`` (signal-to-noise matched).
        frames: Clean frames along the privileged expert's drive, shared by every model.
        frame_stride: Keep every k-th step of that drive.
        roads: Roads the frames are spread over.
        frame_seed: First road seed of the frames (held-out roads).
        horizon_band: Horizon half-band, fraction of the frame height.
        control_seeds: Initialisation seeds of the untrained-encoder control (one control
            row per model; empty: none).
        dynamics_steps: Closed-loop steps per checkpoint for PCA and the readouts (0: skip).
        dynamics_seed: Road of that run.
        tree_depth: Decision-tree depth.
        tree_heldout: Fraction of later steps held out for the fidelities.
        batch: Frames per saliency batch.
    """

    noise_variances: list[float] = field(default_factory=lambda: [0.1, 0.2, 0.3])
    noise_scale: str = "unit"
    noise_seed: int = 0
    frames: int = 200
    frame_stride: int = 4
    roads: int = 4
    frame_seed: int = 20000
    horizon_band: float = 0.1
    control_seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    dynamics_steps: int = 600
    dynamics_seed: int = 30000
    tree_depth: int = 3
    tree_heldout: float = 0.3
    batch: int = 32

    def __post_init__(self) -> None:
        for name in ("frames", "frame_stride", "roads", "batch", "tree_depth"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"seeds.{name} must be >= 1, got {getattr(self, name)}")
        if self.dynamics_steps != 0 and self.dynamics_steps < 10:
            raise ValueError(f"seeds.dynamics_steps must be 0 or >= 10, got {self.dynamics_steps}")
        if not self.noise_variances:
            raise ValueError("seeds.noise_variances must list at least one variance")
        for v in self.noise_variances:
            if not float(v) > 0:
                raise ValueError(f"seeds.noise_variances must be > 0, got {v}")
        check_noise_scale(self.noise_scale, "seeds.noise_scale")
        if not 0 < self.horizon_band < 1:
            raise ValueError(f"seeds.horizon_band must be in (0, 1), got {self.horizon_band}")
        if not 0 < self.tree_heldout < 1:
            raise ValueError(f"seeds.tree_heldout must be in (0, 1), got {self.tree_heldout}")


def benchmark_checkpoints(bench_dir: str | os.PathLike[str]) -> dict[str, list[str]]:
    """Model tag -> its seeds' ``best.pt`` under a benchmark output folder
    (``runs/<model>/seed<k>/checkpoints/best.pt``), seeds in numeric order.

    Raises:
        FileNotFoundError: no such folder, or no checkpoint under it.
    """
    from pathlib import Path

    root = Path(bench_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"benchmark_dir: no such folder: {root}")
    found: dict[str, list[tuple[int, str]]] = {}
    for p in root.glob("runs/*/seed*/checkpoints/best.pt"):
        seed_dir = p.parent.parent.name
        try:
            k = int(seed_dir[len("seed") :])
        except ValueError:
            continue
        found.setdefault(p.parent.parent.parent.name, []).append((k, str(p)))
    if not found:
        raise FileNotFoundError(
            f"benchmark_dir: no runs/<model>/seed<k>/checkpoints/best.pt under {root}"
        )
    return {m: [p for _, p in sorted(v)] for m, v in sorted(found.items())}


def explain_over_seeds(
    checkpoints: Mapping[str, Sequence[CheckpointLike]],
    make_env: Callable[[str | None], gym.Env],
    cfg: SeedsConfig,
    out_dir: str | os.PathLike[str],
    *,
    loader: Callable[[Any], Policy] | None = None,
) -> dict[str, Any]:
    """Saliency (both SSIM normalisations, region shares, untrained control) and dynamics
    (h-only PCA, tree vs linear readout) of every model over its seeds; writes
    ``seeds.md`` and ``seeds.json`` under ``out_dir`` and returns the summary.

    Args:
        checkpoints: Model name -> one checkpoint (path or ``Policy``) per training seed.
        make_env: ``make_env(preset)`` -> a LaneKeeping env (``None``: the base preset).
        cfg: Options.
        out_dir: Output folder.
        loader: Checkpoint loader (default ``load_policy``).
    """
    from pathlib import Path

    from lnn_drive.eval.report import write_json
    from lnn_drive.explain.pipeline import collect_frames

    if not checkpoints:
        raise ValueError("no models given")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    frames, labels = collect_frames(
        make_env, n=cfg.frames, stride=cfg.frame_stride, roads=cfg.roads, seed=cfg.frame_seed
    )
    sal: list[SaliencySummary] = []
    dyn: list[DynamicsSummary] = []
    for model, cks in checkpoints.items():
        summ, ctrl = saliency_over_seeds(
            cks,
            frames,
            labels,
            model=model,
            noise_variances=cfg.noise_variances,
            noise_seed=cfg.noise_seed,
            noise_scale=cfg.noise_scale,
            band=cfg.horizon_band,
            batch=cfg.batch,
            control_seeds=cfg.control_seeds,
            loader=loader,
        )
        sal += [summ] + ([ctrl] if ctrl is not None else [])
        first = _load(cks[0], loader)[0]
        stateful = getattr(getattr(first, "controller", None), "state_size", 1) > 0
        if cfg.dynamics_steps and stateful:
            dyn.append(
                dynamics_over_seeds(
                    cks,
                    lambda: make_env(None),
                    model=model,
                    steps=cfg.dynamics_steps,
                    seed=cfg.dynamics_seed,
                    max_depth=cfg.tree_depth,
                    heldout=cfg.tree_heldout,
                    loader=loader,
                )
            )
    summary = {
        "config": {k: getattr(cfg, k) for k in cfg.__dataclass_fields__},
        "frames": len(frames),
        "saliency": [s.to_dict() for s in sal],
        "dynamics": [
            {
                "model": d.model,
                "sources": [x.source for x in d.seeds],
                "units": d.seeds[0].units,
                "pc1": d.pc1.__dict__,
                "tree_heldout": d.tree_heldout.__dict__,
                "linear_heldout": d.linear_heldout.__dict__,
                "per_seed": [
                    {
                        "pc1": x.pc1,
                        "tree_fit": x.readout.tree_fit,
                        "tree_heldout": x.readout.tree_heldout,
                        "linear_fit": x.readout.linear_fit,
                        "linear_heldout": x.readout.linear_heldout,
                    }
                    for x in d.seeds
                ],
            }
            for d in dyn
        ],
    }
    md = _seeds_markdown(sal, dyn, cfg, len(frames))
    tmp = out / ".seeds.md.tmp"
    tmp.write_text(md)
    os.replace(tmp, out / "seeds.md")
    write_json(summary, out / "seeds.json")
    summary["files"] = {"md": str(out / "seeds.md"), "json": str(out / "seeds.json")}
    return summary


def _seeds_markdown(
    sal: Sequence[SaliencySummary], dyn: Sequence[DynamicsSummary], cfg: SeedsConfig, n: int
) -> str:
    scale = "variance on [0, 1]" if cfg.noise_scale == "unit" else "signal-to-noise matched"
    lines = [
        "# Saliency and dynamics over training seeds",
        "",
        f"{n} clean frames along the privileged expert's drive on roads {cfg.frame_seed}+; "
        f"noise {scale}. Mean [95% t interval] over seeds. SSIM 'joint': clean and noisy "
        "VisualBackProp maps min-max normalised together (Chahine et al.'s analysis code); "
        "'per-map': each map on its own. Untrained-encoder rows: the same architecture "
        f"re-initialised (seeds {list(cfg.control_seeds)}), the chance level of a share or "
        "SSIM. Region shares: road surface, lane markings, horizon band (overlaps the "
        "others), roadside (off-road ground and objects); area = share of a uniform map.",
        "",
        saliency_tables(sal),
        "",
    ]
    if dyn:
        lines += [
            "## Neuron dynamics",
            "",
            f"One {cfg.dynamics_steps}-step closed-loop run per checkpoint on road "
            f"{cfg.dynamics_seed}. PCA on the hidden state only (an LSTM's h, not [h, c]). "
            f"Readouts of the commanded steering from the command neurons (all analysed units "
            f"without an NCP wiring): a depth-{cfg.tree_depth} tree and a linear least-squares "
            f"readout, fitted on the first {100 * (1 - cfg.tree_heldout):.0f}% of the steps, "
            "R^2 on the later steps. A tree that does not beat the linear readout explains "
            "nothing a weighted sum of the same neurons would not.",
            "",
            dynamics_table(dyn),
            "",
        ]
    return "\n".join(lines)
