"""Neuron dynamics of a closed-loop recording: neuron traces, the wiring diagram, PCA of the
neuron states, and a decision tree that explains steering from command-neuron activity.
Recording itself is :mod:`lnn_drive.explain.recording` (re-exported here).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lnn_drive.explain.recording import ClosedLoopRecord, record_closed_loop, steering_index

__all__ = [
    "ClosedLoopRecord",
    "PCAResult",
    "TreeExplanation",
    "find_wiring",
    "neuron_types",
    "pca_states",
    "plot_neuron_traces",
    "plot_pca",
    "plot_wiring",
    "record_closed_loop",
    "steering_index",
    "tree_explanation",
]

GROUP_ORDER = ("sensory", "inter", "command", "motor")
GROUP_COLOURS = {
    "sensory": "#7f7f7f",
    "inter": "#1f77b4",
    "command": "#ff7f0e",
    "motor": "#2ca02c",
    "units": "#9467bd",
}


# ------------------------------------------------------------------------------- wiring


def find_wiring(model: Any) -> Any | None:
    """The ncps ``Wiring`` inside a policy or controller (``None`` if it has none, e.g. an
    LSTM)."""
    from ncps.wirings import Wiring
    from torch import nn

    mods = model.modules() if isinstance(model, nn.Module) else [model]
    for m in mods:
        for attr in ("wiring", "_wiring"):
            w = getattr(m, attr, None)
            if isinstance(w, Wiring):
                return w
    return None


def neuron_types(wiring: Any) -> list[str]:
    """Type of each neuron of a wiring: ``inter``, ``command`` or ``motor``."""
    return [str(wiring.get_type_of_neuron(i)) for i in range(wiring.units)]


def plot_wiring(wiring: Any, path: str | os.PathLike[str], *, title: str = "NCP wiring") -> Path:
    """Draw a built wiring as layers sensory -> inter -> command -> motor; synapses green
    (excitatory, polarity +1) or red (inhibitory, -1), recurrent command synapses as arcs.

    Polarities are the adjacency matrices' (ncps' initial reversal potentials); an LTC may
    learn other reversal potentials, a CfC uses the matrices as a sparsity mask only.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch

    if wiring.sensory_adjacency_matrix is None:
        raise ValueError("wiring is not built (no sensory adjacency matrix)")
    sens = np.asarray(wiring.sensory_adjacency_matrix)  # (input_dim, units)
    adj = np.asarray(wiring.adjacency_matrix)  # (units, units)
    types = neuron_types(wiring)
    layers = {"sensory": list(range(sens.shape[0]))}
    for g in ("inter", "command", "motor"):
        layers[g] = [i for i, t in enumerate(types) if t == g]
    layers = {g: v for g, v in layers.items() if v}
    tall = max(len(v) for v in layers.values())
    pos: dict[tuple[str, int], tuple[float, float]] = {}
    for x, (g, ids) in enumerate(layers.items()):
        ys = np.linspace(0, tall - 1, len(ids) + 2)[1:-1] if len(ids) < tall else np.arange(tall)
        for i, y in zip(ids, ys, strict=True):
            pos[(g, i)] = (float(x), float(tall - 1 - y))
    # Nodes are named by group and rank (S3, I0, C5, M0), as in the traces and trees: an
    # LTC's state index is the neuron id, a CfC's is not.
    rank = {key: j for g, ids in layers.items() for j, key in enumerate((g, i) for i in ids)}
    node = {i: (types[i], i) for i in range(len(types))}

    fig, ax = plt.subplots(figsize=(2.4 * len(layers) + 1.5, max(4.0, 0.22 * tall + 1.5)))
    colour = {1: "#2ca02c", -1: "#d62728"}
    counts = {1: 0, -1: 0}

    def edge(p0, p1, pol, rad=0.0, alpha=0.35):
        counts[int(np.sign(pol))] += 1
        ax.add_patch(
            FancyArrowPatch(
                p0,
                p1,
                arrowstyle="-|>",
                mutation_scale=6,
                lw=0.6,
                color=colour[int(np.sign(pol))],
                alpha=alpha,
                connectionstyle=f"arc3,rad={rad}",
                shrinkA=4,
                shrinkB=4,
            )
        )

    for s, d in zip(*np.nonzero(sens), strict=True):
        edge(pos[("sensory", int(s))], pos[node[int(d)]], sens[s, d])
    for s, d in zip(*np.nonzero(adj), strict=True):
        same = types[s] == types[d]
        edge(pos[node[int(s)]], pos[node[int(d)]], adj[s, d], rad=0.6 if same else 0.0, alpha=0.6)
    for (g, i), (x, y) in pos.items():
        ax.scatter([x], [y], s=90, color=GROUP_COLOURS[g], zorder=3, edgecolors="k", linewidths=0.5)
        if g != "sensory" or sens.shape[0] <= 40:
            label = f"{g[0].upper()}{rank[(g, i)]}"
            ax.annotate(label, (x, y), fontsize=5, ha="center", va="center", zorder=4)
    for x, (g, ids) in enumerate(layers.items()):
        ax.text(x, tall + 0.2, f"{g}\n({len(ids)})", ha="center", va="bottom", fontsize=9)
    ax.plot([], [], color=colour[1], label=f"excitatory ({counts[1]})")
    ax.plot([], [], color=colour[-1], label=f"inhibitory ({counts[-1]})")
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, -0.08), ncol=2, fontsize=8, frameon=False)
    ax.set_xlim(-0.5, len(layers) - 0.5)
    ax.set_ylim(-1.2, tall + 1.2)
    ax.axis("off")
    ax.set_title(title, pad=28)
    return _save(fig, path)


# ------------------------------------------------------------------------------ traces


def _unit_groups(record: ClosedLoopRecord) -> dict[str, list[int]]:
    groups = {g: record.groups[g] for g in GROUP_ORDER if record.groups.get(g)}
    if not groups and record.states.shape[1] > 0:
        groups = {"units": list(range(record.states.shape[1]))}
    return groups  # empty for a stateless controller


def plot_neuron_traces(
    record: ClosedLoopRecord,
    path: str | os.PathLike[str],
    *,
    title: str = "",
    dt: float | None = None,
    max_units: int = 64,
) -> Path:
    """Steering (commanded and expert) above the traces of every neuron, one panel per
    group (inter, command, motor; or all units for a model without groups).

    Args:
        record: A closed-loop recording.
        path: Output PNG.
        title: Figure title.
        dt: Seconds per step for the time axis (steps if ``None``).
        max_units: Draw at most this many units per panel.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = _unit_groups(record)
    t = np.arange(len(record)) * (dt or 1.0)
    fig, axes = plt.subplots(
        1 + len(groups), 1, figsize=(9, 1.9 * (1 + len(groups))), sharex=True, squeeze=False
    )
    ax0 = axes[0, 0]
    ax0.plot(t, record.expert, color="#2ca02c", lw=1.2, label="expert")
    ax0.plot(t, record.steering, color="#1f77b4", lw=1.0, label="commanded")
    ax0.axhline(0, color="0.7", lw=0.5)
    ax0.set_ylabel("curvature 1/m", fontsize=8)
    ax0.legend(fontsize=7, loc="upper right", ncol=2)
    cmap = plt.get_cmap("tab20")
    for ax, (g, ids) in zip(axes[1:, 0], groups.items(), strict=True):
        for j, i in enumerate(ids[:max_units]):
            ax.plot(t, record.states[:, i], lw=0.8, color=cmap(j % 20), label=f"{g[0].upper()}{j}")
        ax.set_ylabel(f"{g}\n({len(ids)})", fontsize=8, color=GROUP_COLOURS.get(g, "k"))
        if 0 < len(ids) <= 12:
            ax.legend(fontsize=6, loc="upper right", ncol=min(len(ids), 6))
    axes[-1, 0].set_xlabel("time (s)" if dt else "step")
    for ax in axes[:, 0]:
        ax.tick_params(labelsize=7)
    fig.suptitle(title or f"neuron traces, road {record.seed}", fontsize=10)
    return _save(fig, path)


# --------------------------------------------------------------------------------- PCA


@dataclass(frozen=True)
class PCAResult:
    """PCA of neuron states.

    Attributes:
        explained: (k,) variance ratio of each component, descending.
        projected: (T, k) states projected onto the components.
    """

    explained: np.ndarray
    projected: np.ndarray

    @property
    def pc1(self) -> float:
        """Variance explained by the first component."""
        return float(self.explained[0])


def pca_states(states: np.ndarray, *, components: int = 5) -> PCAResult:
    """PCA of (T, n) neuron states (centred, not scaled: the NCP paper's protocol)."""
    from sklearn.decomposition import PCA

    states = np.asarray(states, np.float64)
    if states.ndim != 2 or len(states) < 2:
        raise ValueError(f"states: expected (T >= 2, n) array, got shape {states.shape}")
    k = int(min(components, *states.shape))
    pca = PCA(n_components=k).fit(states)
    return PCAResult(explained=pca.explained_variance_ratio_, projected=pca.transform(states))


def plot_pca(
    results: Mapping[str, tuple[PCAResult, np.ndarray]], path: str | os.PathLike[str]
) -> Path:
    """Per model: variance explained per component, and the PC1-PC2 trajectory coloured by
    steering. ``results`` maps model name -> (PCA result, (T,) steering)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(results)
    fig, axes = plt.subplots(2, n, figsize=(3.4 * n, 6), squeeze=False)
    for j, (name, (res, steer)) in enumerate(results.items()):
        ax = axes[0, j]
        ax.bar(np.arange(1, len(res.explained) + 1), 100 * res.explained, color="#1f77b4")
        ax.set_title(f"{name}: PC1 {100 * res.pc1:.0f}%", fontsize=9)
        ax.set_xlabel("component", fontsize=8)
        ax.set_ylabel("variance explained %", fontsize=8)
        ax = axes[1, j]
        p = res.projected
        y = p[:, 1] if p.shape[1] > 1 else np.zeros(len(p))
        lim = float(np.max(np.abs(steer))) or 1.0
        sc = ax.scatter(p[:, 0], y, c=steer, cmap="coolwarm", vmin=-lim, vmax=lim, s=5)
        ax.set_xlabel("PC1", fontsize=8)
        ax.set_ylabel("PC2", fontsize=8)
        fig.colorbar(sc, ax=ax, label="steering 1/m")
        for a in axes[:, j]:
            a.tick_params(labelsize=7)
    fig.tight_layout()
    return _save(fig, path)


# ------------------------------------------------------------------------ decision tree


@dataclass(frozen=True)
class TreeExplanation:
    """A depth-limited decision tree mimicking the network's steering from neuron activity.

    Attributes:
        kind: ``regression`` (curvature) or ``classification`` (left/straight/right).
        rules: The tree as readable if/else rules.
        fidelity_fit: R^2 (regression) or accuracy (classification) to the network's
            output on the steps the tree was fitted to.
        fidelity_heldout: The same on the later, held-out steps.
        features: Feature names (the neurons used).
        threshold: For classification, |curvature| below which steering counts as straight.
    """

    kind: str
    rules: str
    fidelity_fit: float
    fidelity_heldout: float
    features: list[str]
    threshold: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "fidelity_fit": self.fidelity_fit,
            "fidelity_heldout": self.fidelity_heldout,
            "features": self.features,
            "threshold": self.threshold,
            "rules": self.rules,
        }


def steering_classes(steering: np.ndarray, threshold: float) -> np.ndarray:
    """``left`` (curvature > threshold: positive curvature turns left), ``right``
    (< -threshold) or ``straight``."""
    s = np.asarray(steering)
    return np.where(s > threshold, "left", np.where(s < -threshold, "right", "straight"))


def tree_explanation(
    activity: np.ndarray,
    steering: np.ndarray,
    *,
    names: Sequence[str],
    kind: str = "regression",
    max_depth: int = 3,
    heldout: float = 0.3,
    threshold: float | None = None,
    seed: int = 0,
) -> TreeExplanation:
    """Fit a small decision tree from neuron activity to the network's steering.

    The first ``1 - heldout`` of the steps fit the tree; fidelity is also reported on the
    remaining later steps (closed-loop steps are strongly correlated in time, so a random
    split would flatter the tree).

    Args:
        activity: (T, c) neuron states (e.g. the command neurons).
        steering: (T,) the network's commanded curvature.
        names: c feature names.
        kind: ``regression`` or ``classification``.
        max_depth: Tree depth (3 gives at most 8 readable rules).
        heldout: Fraction of (later) steps held out.
        threshold: Classification only: |curvature| below which steering is ``straight``
            (default: half the standard deviation of ``steering``).
        seed: Tree random state.
    """
    from sklearn.metrics import accuracy_score, r2_score
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor, export_text

    x = np.asarray(activity, np.float64)
    y = np.asarray(steering, np.float64)
    if x.ndim != 2 or len(x) != len(y) or x.shape[1] != len(names):
        raise ValueError(
            f"activity {x.shape}, steering {y.shape} and {len(names)} names do not match"
        )
    if kind not in ("regression", "classification"):
        raise ValueError(f"kind must be 'regression' or 'classification', got {kind!r}")
    if not 0 < heldout < 1:
        raise ValueError(f"heldout must be in (0, 1), got {heldout}")
    n_fit = int(round(len(y) * (1 - heldout)))
    if n_fit < 2 or len(y) - n_fit < 1:
        raise ValueError(f"{len(y)} steps are too few for a decision tree")
    if kind == "regression":
        tree = DecisionTreeRegressor(max_depth=max_depth, random_state=seed)
        target, score = y, r2_score
        thr = None
    else:
        thr = float(threshold) if threshold is not None else 0.5 * float(np.std(y))
        tree = DecisionTreeClassifier(max_depth=max_depth, random_state=seed)
        target, score = steering_classes(y, thr), accuracy_score
    tree.fit(x[:n_fit], target[:n_fit])
    fit = float(score(target[:n_fit], tree.predict(x[:n_fit])))
    held = float(score(target[n_fit:], tree.predict(x[n_fit:])))
    rules = export_text(tree, feature_names=list(names), decimals=3)
    return TreeExplanation(
        kind=kind,
        rules=rules,
        fidelity_fit=fit,
        fidelity_heldout=held,
        features=list(names),
        threshold=thr,
    )


def command_activity(record: ClosedLoopRecord) -> tuple[np.ndarray, list[str]]:
    """The command neurons' states, named ``command_<rank>`` (C<rank> in the wiring
    picture); all units (``unit_<index>``) for a model without groups."""
    ids = record.groups.get("command") or list(range(record.states.shape[1]))
    label = "command" if record.groups.get("command") else "unit"
    return record.states[:, ids], [f"{label}_{j}" for j in range(len(ids))]


def _save(fig: Any, path: str | os.PathLike[str]) -> Path:
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
    fig.savefig(tmp, dpi=110, bbox_inches="tight")
    plt.close(fig)
    os.replace(tmp, path)
    return path
