"""Pictures and numbers that explain one or more policies (what ``lnn-drive saliency`` runs).

The command (``lnn_drive/commands/saliency.py``) loads the checkpoints and builds the
simulator; :func:`explain_policies` does the work on policies and an environment factory,
so tests can drive it with anything that has the interfaces.

Outputs, all under ``out_dir`` (the Hydra run directory by default):

- ``saliency_grid.png`` / ``gradient_grid.png``: models x frames, VisualBackProp and
  input-gradient overlays on the same frames;
- ``ssim.png`` + table: SSIM between each model's maps on clean and noisy frames;
- ``attention.png`` + table: share of saliency mass on road, horizon band, objects, ... on
  clean frames, noisy frames and each appearance preset;
- per model ``<name>/traces.png``, ``<name>/wiring.png`` (wired controllers),
  ``<name>/tree.txt`` (decision-tree rules), ``<name>/saliency.mp4``; ``pca.png``;
- ``summary.md`` and ``summary.json``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np
import torch

from lnn_drive.envs.record import Decision, Episode, ExpertRule, record_episodes
from lnn_drive.eval.report import write_json
from lnn_drive.eval.wrappers import add_frame_noise
from lnn_drive.explain.attention import (
    REGIONS,
    AttentionShares,
    attention_shares,
    labels_to_model,
    shares_table,
)
from lnn_drive.explain.dynamics import (
    ClosedLoopRecord,
    command_activity,
    find_wiring,
    pca_states,
    plot_neuron_traces,
    plot_pca,
    plot_wiring,
    record_closed_loop,
    tree_explanation,
)
from lnn_drive.explain.plots import plot_attention, plot_ssim, saliency_grid, ssim_table
from lnn_drive.explain.saliency import input_gradient
from lnn_drive.explain.seeds import analysis_states
from lnn_drive.explain.ssim import ssim
from lnn_drive.explain.video import policy_saliency, saliency_video

__all__ = ["SaliencyConfig", "collect_frames", "explain_policies"]

EnvFactory = Callable[[str | None], gym.Env]

if TYPE_CHECKING:
    from lnn_drive.models.policy import Policy


@dataclass(frozen=True, kw_only=True)
class SaliencyConfig:
    """Options of the saliency command (``conf/saliency.yaml``).

    Attributes:
        frames: Clean frames for SSIM and attention (>= 200 for the robustness claim).
        frame_stride: Keep every k-th step of the expert's drive (decorrelates frames).
        roads: Number of roads the frames are spread over.
        frame_seed: First road seed for the frames (held-out roads: training uses small seeds).
        noise_variances: Gaussian noise variances on the [0, 1] scale (paper: 0.1, 0.2, 0.3).
        noise_seed: Seed of the noise.
        presets: Appearance presets for the attention table (the base preset is "clean").
        preset_frames: Frames per preset.
        horizon_band: Half-height of the horizon band, fraction of the frame height.
        grid_frames: Frames (columns) in the overlay grids.
        dynamics_steps: Closed-loop steps recorded for traces, PCA and the tree.
        dynamics_seed: Road seed of that run.
        tree_depth: Depth of the decision tree.
        tree_heldout: Fraction of later steps held out to measure the tree's fidelity.
        video_steps: Steps of the saliency video (0: none).
        batch: Frames per saliency batch.
    """

    frames: int = 200
    frame_stride: int = 4
    roads: int = 4
    frame_seed: int = 20000
    noise_variances: list[float] = field(default_factory=lambda: [0.1, 0.2, 0.3])
    noise_seed: int = 0
    presets: list[str] = field(
        default_factory=lambda: ["summer", "autumn", "winter", "dusk", "fog"]
    )
    preset_frames: int = 60
    horizon_band: float = 0.1
    grid_frames: int = 4
    dynamics_steps: int = 600
    dynamics_seed: int = 30000
    tree_depth: int = 3
    tree_heldout: float = 0.3
    video_steps: int = 300
    batch: int = 32

    def __post_init__(self) -> None:
        for name in ("frames", "frame_stride", "roads", "grid_frames", "dynamics_steps", "batch"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"saliency.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("preset_frames", "video_steps"):
            if int(getattr(self, name)) < 0:
                raise ValueError(f"saliency.{name} must be >= 0, got {getattr(self, name)}")
        for v in self.noise_variances:
            if not float(v) > 0:
                raise ValueError(f"saliency.noise_variances must be > 0, got {v}")
        if self.grid_frames > self.frames:
            raise ValueError(
                f"saliency.grid_frames ({self.grid_frames}) > saliency.frames ({self.frames})"
            )
        if not 0 < self.horizon_band < 1:
            raise ValueError(f"saliency.horizon_band must be in (0, 1), got {self.horizon_band}")
        if self.tree_depth < 1:
            raise ValueError(f"saliency.tree_depth must be >= 1, got {self.tree_depth}")
        if not 0 < self.tree_heldout < 1:
            raise ValueError(f"saliency.tree_heldout must be in (0, 1), got {self.tree_heldout}")


# --------------------------------------------------------------------------------- frames


def collect_frames(
    make_env: EnvFactory,
    *,
    n: int,
    stride: int,
    roads: int,
    seed: int,
    preset: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Camera frames and their label images along the privileged expert's drive, spread
    evenly over ``roads`` roads (seeds ``seed``, ``seed + 1``, ...). The expert drives, so
    the frames are the same whichever models are explained.

    Returns:
        (frames (n, H, W, 3) uint8, labels (n, H, W) uint8).
    """
    env = make_env(preset)
    frames: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    per_road = -(-n // roads)
    steps: dict[str, int] = {"t": 0}

    def roads_to_drive():  # one episode per road until n frames are kept
        road = 0
        while len(frames) < n:
            if road >= roads + 50:  # every road ended at once: the env is broken
                raise RuntimeError(f"collected {len(frames)} of {n} frames from {road} roads")
            take = min(per_road, n - len(frames))
            steps["t"] = 0
            yield Episode(seed=seed + road, steps=(take - 1) * stride + 1)
            road += 1

    def keep(obs: np.ndarray, info: Mapping[str, Any], decision: Decision) -> None:
        if steps["t"] % stride == 0:
            frames.append(np.asarray(obs))
            labels.append(np.asarray(env.unwrapped.render_labels()))
        steps["t"] += 1

    try:
        record_episodes(
            env,
            None,
            ExpertRule(dart_std=0.0, rng=np.random.default_rng(0)),
            episodes=roads_to_drive(),
            on_step=keep,
        )
    finally:
        env.close()
    return np.stack(frames), np.stack(labels)


# ------------------------------------------------------------------------------- the work


def explain_policies(
    policies: Mapping[str, Policy],
    make_env: EnvFactory,
    scfg: SaliencyConfig,
    out_dir: str | os.PathLike[str],
    *,
    base_preset: str = "",
) -> dict[str, Any]:
    """Saliency pictures, SSIM under noise, attention shares and neuron dynamics for each
    policy; writes everything under ``out_dir`` and returns the summary.

    Args:
        policies: Display name -> ``Policy``.
        make_env: ``make_env(preset)`` -> a LaneKeeping env (``None``: the base preset).
        scfg: Options.
        out_dir: Output folder.
        base_preset: Name of the base preset (for the tables).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    summary: dict[str, Any] = {"config": asdict(scfg), "models": list(policies), "files": files}

    # ---- frames, shared by every model
    frames, labels = collect_frames(
        make_env,
        n=scfg.frames,
        stride=scfg.frame_stride,
        roads=scfg.roads,
        seed=scfg.frame_seed,
    )
    rng = np.random.default_rng(scfg.noise_seed)
    noisy = {
        float(v): add_frame_noise(frames, float(np.sqrt(v)), rng) for v in scfg.noise_variances
    }
    preset_sets = {
        p: collect_frames(
            make_env,
            n=scfg.preset_frames,
            stride=scfg.frame_stride,
            roads=min(scfg.roads, scfg.preset_frames),
            seed=scfg.frame_seed,
            preset=p,
        )
        for p in scfg.presets
        if scfg.preset_frames > 0 and p != base_preset
    }
    summary["frames"] = {"clean": len(frames), **{p: len(f) for p, (f, _) in preset_sets.items()}}

    # ---- saliency, SSIM, attention
    grid_idx = np.linspace(0, len(frames) - 1, scfg.grid_frames).round().astype(int)
    vbp_maps: dict[str, np.ndarray] = {}
    grad_maps: dict[str, np.ndarray] = {}
    views: dict[str, np.ndarray] = {}
    ssim_res: dict[str, dict[float, np.ndarray]] = {}
    att: dict[tuple[str, str], AttentionShares] = {}
    clean_name = f"clean ({base_preset})" if base_preset else "clean"
    for name, pol in policies.items():
        sal = policy_saliency(pol, frames, batch=scfg.batch)  # (N, h, w)
        lab = labels_to_model(labels, pol.preprocess)
        vbp_maps[name] = sal[grid_idx]
        view = pol.preprocess.geometry_batch(frames[grid_idx])  # (G, 3, h, w)
        views[name] = view
        grad_maps[name] = input_gradient(pol, torch.from_numpy(view)).numpy()
        att[(name, clean_name)] = attention_shares(sal, lab, band=scfg.horizon_band)
        ssim_res[name] = {}
        for v, nf in noisy.items():
            sal_v = policy_saliency(pol, nf, batch=scfg.batch)
            ssim_res[name][v] = ssim(sal, sal_v)
            att[(name, f"noise {v:g}")] = attention_shares(sal_v, lab, band=scfg.horizon_band)
        for p, (pf, pl) in preset_sets.items():
            sal_p = policy_saliency(pol, pf, batch=scfg.batch)
            att[(name, p)] = attention_shares(
                sal_p, labels_to_model(pl, pol.preprocess), band=scfg.horizon_band
            )
    cols = [f"frame {i}" for i in grid_idx]
    files["saliency_grid"] = str(
        saliency_grid(
            frames[grid_idx],
            vbp_maps,
            out / "saliency_grid.png",
            views=views,
            col_titles=cols,
            title="VisualBackProp saliency",
        )
    )
    files["gradient_grid"] = str(
        saliency_grid(
            frames[grid_idx],
            grad_maps,
            out / "gradient_grid.png",
            views=views,
            col_titles=cols,
            title="Input-gradient saliency (steering)",
        )
    )
    if noisy:
        files["ssim_plot"] = str(plot_ssim(ssim_res, out / "ssim.png"))
    summary["ssim"] = {
        n: {f"{v:g}": {"mean": float(np.mean(s)), "std": float(np.std(s))} for v, s in r.items()}
        for n, r in ssim_res.items()
    }
    summary["attention"] = {
        f"{m}/{c}": {"share": s.mean(), "lift": s.lift()} for (m, c), s in att.items()
    }
    files["attention_plot"] = str(
        plot_attention(
            {f"{m} / {c}": s.mean() for (m, c), s in att.items() if c == clean_name},
            out / "attention.png",
            title=f"Share of saliency mass by region ({len(frames)} clean frames)",
        )
    )

    # ---- neuron dynamics, trees, wiring, video
    pca_in: dict[str, tuple[Any, np.ndarray]] = {}
    dyn: dict[str, Any] = {}
    for name, pol in policies.items():
        sub = out / _slug(name)
        env = make_env(None)
        try:
            rec = record_closed_loop(
                pol, env, steps=scfg.dynamics_steps, seed=scfg.dynamics_seed, keep_frames=True
            )
            if scfg.video_steps > 0:
                files[f"{name}/video"] = str(
                    saliency_video(
                        pol,
                        env,
                        steps=scfg.video_steps,
                        seed=scfg.dynamics_seed,
                        path=sub / "saliency.mp4",
                        record=_head(rec, scfg.video_steps),
                    )
                )
        finally:
            env.close()
        dt = 1.0 / float(getattr(env, "metadata", {}).get("render_fps", 0) or 30)
        files[f"{name}/traces"] = str(
            plot_neuron_traces(rec, sub / "traces.png", title=f"{name}: road {rec.seed}", dt=dt)
        )
        wiring = find_wiring(pol)
        if wiring is not None:
            files[f"{name}/wiring"] = str(
                plot_wiring(wiring, sub / "wiring.png", title=f"{name}: wiring")
            )
        d: dict[str, Any] = {"steps": len(rec), "units": int(rec.states.shape[1])}
        stateful = rec.states.shape[1] > 0  # a feed-forward controller has no neurons
        if len(rec) >= 2 and stateful:
            pca = pca_states(analysis_states(pol, rec.states))  # an LSTM's h only
            pca_in[name] = (pca, rec.steering)
            d["pca_explained"] = [float(v) for v in pca.explained]
            d["pc1"] = pca.pc1
        d["steering_mae_vs_expert"] = float(np.mean(np.abs(rec.steering - rec.expert)))
        if len(rec) >= 10 and stateful:
            act, feat = command_activity(rec)
            trees = {
                kind: tree_explanation(
                    act,
                    rec.steering,
                    names=feat,
                    kind=kind,
                    max_depth=scfg.tree_depth,
                    heldout=scfg.tree_heldout,
                )
                for kind in ("regression", "classification")
            }
            d["tree"] = {k: t.to_dict() for k, t in trees.items()}
            text = "\n".join(
                f"# {t.kind}: fidelity to the network's steering "
                f"{_fid_name(t.kind)} {t.fidelity_fit:.3f} (fit), {t.fidelity_heldout:.3f} "
                f"(held-out later steps)"
                + (f"; straight when |curvature| < {t.threshold:.4f} 1/m" if t.threshold else "")
                + "\n"
                + t.rules
                for t in trees.values()
            )
            path = sub / "tree.txt"
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(".tree.txt.tmp")
            tmp.write_text(text)
            os.replace(tmp, path)
            files[f"{name}/tree"] = str(path)
        dyn[name] = d
    if pca_in:
        files["pca"] = str(plot_pca(pca_in, out / "pca.png"))
    summary["dynamics"] = dyn

    md = _markdown(summary, ssim_res, att, out)
    tmp = out / ".summary.md.tmp"
    tmp.write_text(md)
    os.replace(tmp, out / "summary.md")
    files["summary_md"] = str(out / "summary.md")
    write_json(summary, out / "summary.json")
    files["summary_json"] = str(out / "summary.json")
    return summary


def _head(rec: ClosedLoopRecord, n: int) -> ClosedLoopRecord:
    if len(rec) <= n:
        return rec
    return ClosedLoopRecord(
        frames=None if rec.frames is None else rec.frames[:n],
        labels=None if rec.labels is None else rec.labels[:n],
        actions=rec.actions[:n],
        steering=rec.steering[:n],
        expert=rec.expert[:n],
        states=rec.states[:n],
        groups=rec.groups,
        lateral_offset=rec.lateral_offset[:n],
        seed=rec.seed,
    )


def _fid_name(kind: str) -> str:
    return "R^2" if kind == "regression" else "accuracy"


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def _rel(path: str, out: Path) -> str:
    try:
        return str(Path(path).relative_to(out))
    except ValueError:
        return path


def _markdown(
    summary: dict[str, Any],
    ssim_res: Mapping[str, Mapping[float, np.ndarray]],
    att: Mapping[tuple[str, str], AttentionShares],
    out: Path,
) -> str:
    files = summary["files"]
    lines = ["# Saliency and neuron dynamics", ""]
    lines += [f"Models: {', '.join(summary['models'])}. Frames: {summary['frames']}.", ""]
    lines += [f"![VisualBackProp]({_rel(files['saliency_grid'], out)})", ""]
    if ssim_res and any(ssim_res.values()):
        lines += [
            "## Attention robustness: SSIM(clean, noisy) of VisualBackProp maps",
            "",
            ssim_table(ssim_res),
            "",
            f"![SSIM]({_rel(files['ssim_plot'], out)})",
            "",
        ]
    lines += [
        "## Where attention goes: share of saliency mass % (lift over a uniform map)",
        "",
        f"Regions: {', '.join(REGIONS)} (road includes lane markings; the horizon band "
        f"overlaps the others).",
        "",
        shares_table(att),
        "",
        f"![attention]({_rel(files['attention_plot'], out)})",
        "",
        "## Neuron dynamics",
        "",
        "| model | steps | units | PC1 variance % | tree R^2 fit / held-out | tree accuracy fit / held-out |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, d in summary["dynamics"].items():
        tr = d.get("tree", {})
        r, c = tr.get("regression"), tr.get("classification")
        lines.append(
            f"| {name} | {d['steps']} | {d['units']} | "
            + (f"{100 * d['pc1']:.1f}" if "pc1" in d else "n/a")
            + " | "
            + (f"{r['fidelity_fit']:.3f} / {r['fidelity_heldout']:.3f}" if r else "n/a")
            + " | "
            + (f"{c['fidelity_fit']:.3f} / {c['fidelity_heldout']:.3f}" if c else "n/a")
            + " |"
        )
    lines.append("")
    if "pca" in files:
        lines += [f"![PCA]({_rel(files['pca'], out)})", ""]
    for name, d in summary["dynamics"].items():
        lines += [f"### {name}", ""]
        for key, label in (("traces", "neuron traces"), ("wiring", "wiring")):
            if f"{name}/{key}" in files:
                lines += [f"![{label}]({_rel(files[f'{name}/{key}'], out)})", ""]
        if f"{name}/video" in files:
            lines += [
                f"Video: [{_rel(files[f'{name}/video'], out)}]({_rel(files[f'{name}/video'], out)})",
                "",
            ]
        if "tree" in d:
            r = d["tree"]["regression"]
            lines += [
                f"Decision tree on {'command neurons' if r['features'][0].startswith('command') else 'all units'} "
                f"explaining the commanded steering (R^2 {r['fidelity_heldout']:.3f} on held-out steps):",
                "",
                "```",
                r["rules"].rstrip(),
                "```",
                "",
            ]
    return "\n".join(lines)
