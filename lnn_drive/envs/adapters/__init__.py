"""Adapters: other people's gymnasium image environments seen through this project's conventions.

An adapter is a :class:`gymnasium.Wrapper` around an external environment that

- keeps the environment's camera frame as the observation (uint8 RGB (H, W, 3)); what the
  policy must not see (a dashboard that shows the label, say) is cut away by the
  :class:`~lnn_drive.data.preprocess.Preprocess` the adapter declares, the one object used
  by training, closed loop and export alike;
- takes the policy's physical outputs as its action (a ``Box`` whose bounds and units are
  declared by :attr:`ImageEnvAdapter.outputs`) and converts them to the wrapped
  environment's action space;
- adds the signals that evaluation and logging need to ``info`` (declared, with units, by
  :attr:`ImageEnvAdapter.info_signals`), including the privileged expert's label
  ``info["expert_outputs"]`` (and its first output as ``info["expert_action"]``).

:func:`adapter_metadata` is what goes into a dataset's metadata (outputs with units and
bounds, the preprocessing); a checkpoint trained on that dataset carries the output names
and units from the dataset's signals.
Importing ``lnn_drive`` registers the adapted environments with gymnasium
(``lnn_drive/CarRacing-v3``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from lnn_drive.data.preprocess import Preprocess


@dataclass(frozen=True, kw_only=True)
class SignalSpec:
    """One physical output of a policy (one motor neuron).

    Attributes:
        name: Signal name (an identifier; the log column and the checkpoint output name).
        unit: Unit string (``1/m``, ``m/s``, ``1`` for a dimensionless fraction).
        low, high: Bounds the adapter clips to before converting.
        description: What the signal means, sign convention included.
    """

    name: str
    unit: str
    low: float
    high: float
    description: str = ""

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"SignalSpec.name must be an identifier, got {self.name!r}")
        if not (math.isfinite(self.low) and math.isfinite(self.high) and self.low < self.high):
            raise ValueError(
                f"SignalSpec {self.name}: need finite low < high, got [{self.low}, {self.high}]"
            )


class ImageEnvAdapter(gym.Wrapper):
    """Base class of the adapters (see the module docstring).

    Subclasses set the class attributes :attr:`outputs` and :attr:`info_signals`, and
    implement :meth:`to_env_action`, :meth:`from_env_action`, :meth:`signals` and
    :meth:`expert_outputs`; :meth:`preprocess` returns the frame geometry the policy uses.

    Args:
        env: The wrapped environment (its observations uint8 RGB (H, W, 3)).
    """

    #: The policy's physical outputs, in order.
    outputs: tuple[SignalSpec, ...] = ()
    #: ``info`` keys the adapter adds, name -> unit.
    info_signals: dict[str, str] = {}

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        shape = getattr(env.observation_space, "shape", None)
        if shape is None or len(shape) != 3 or shape[2] != 3:
            raise ValueError(f"adapter: observations of shape {shape} are not RGB frames (H, W, 3)")
        if not self.outputs:
            raise TypeError(f"{type(self).__name__} declares no outputs")
        self.action_space = gym.spaces.Box(
            low=np.array([s.low for s in self.outputs], np.float32),
            high=np.array([s.high for s in self.outputs], np.float32),
            dtype=np.float32,
        )

    # ------------------------------------------------------------ to be implemented
    def to_env_action(self, physical: np.ndarray) -> Any:
        """Physical outputs (k,), already clipped to their bounds -> the env's action."""
        raise NotImplementedError

    def from_env_action(self, action: Any) -> np.ndarray:
        """The env's action -> physical outputs (k,) (for logs made by other producers)."""
        raise NotImplementedError

    def signals(self) -> dict[str, float]:
        """The current values of :attr:`info_signals`."""
        raise NotImplementedError

    def expert_outputs(self) -> np.ndarray:
        """The privileged expert's physical outputs (k,) in the current state."""
        raise NotImplementedError

    def preprocess(self) -> Preprocess:
        """Frame geometry for the policy (crops what would leak the label)."""
        raise NotImplementedError

    # ------------------------------------------------------------ gymnasium API
    def clip(self, physical: np.ndarray) -> np.ndarray:
        """Clip physical outputs (k,) to their declared bounds (NaN is an error)."""
        a = np.asarray(physical, np.float64).reshape(-1)
        if a.shape != (len(self.outputs),):
            raise ValueError(
                f"{type(self).__name__}: action of shape {np.shape(physical)}, expected "
                f"({len(self.outputs)},) = {[s.name for s in self.outputs]}"
            )
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{type(self).__name__}: non-finite action {a.tolist()}")
        return np.clip(a, self.action_space.low, self.action_space.high)

    def _with_signals(self, info: dict[str, Any]) -> dict[str, Any]:
        info = dict(info)
        info.update(self.signals())
        expert = self.expert_outputs()
        info["expert_outputs"] = expert
        info["expert_action"] = float(expert[0])
        return info

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        return obs, self._with_signals(info)

    def step(self, action: np.ndarray):
        obs, reward, terminated, truncated, info = self.env.step(
            self.to_env_action(self.clip(action))
        )
        return obs, reward, terminated, truncated, self._with_signals(info)


def adapter_metadata(env: gym.Env) -> dict[str, Any]:
    """What a dataset's and a checkpoint's metadata record about an adapted environment:
    the env id, the outputs with units and bounds, the ``info`` signals with units and
    the preprocessing.

    Args:
        env: An adapter, possibly wrapped further (``TimeLimit``...).
    """
    a = find_adapter(env)
    spec = getattr(env, "spec", None)
    return {
        "env_id": spec.id if spec is not None else type(a.unwrapped).__name__,
        "adapter": f"{type(a).__module__}.{type(a).__qualname__}",
        "outputs": [asdict(s) for s in a.outputs],
        "units": {s.name: s.unit for s in a.outputs},
        "info_signals": dict(a.info_signals),
        "preprocess": a.preprocess().to_config(),
    }


def find_adapter(env: gym.Env) -> ImageEnvAdapter:
    """The :class:`ImageEnvAdapter` inside a wrapper stack (``ValueError`` if none)."""
    e: Any = env
    while True:
        if isinstance(e, ImageEnvAdapter):
            return e
        if not hasattr(e, "env"):
            raise ValueError(f"{env} holds no ImageEnvAdapter")
        e = e.env


def dart_outputs(
    label: np.ndarray,
    std: np.ndarray | float,
    low: np.ndarray,
    high: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """DART (Laskey et al. 2017) for vector outputs: ``label`` plus N(0, std^2) noise per
    output, clipped to ``[low, high]``; the clean label is what gets recorded."""
    std = np.broadcast_to(np.asarray(std, np.float64), np.shape(label))
    if not np.any(std > 0):
        return np.asarray(label, np.float64).copy()
    noisy = np.asarray(label, np.float64) + std * rng.standard_normal(np.shape(label))
    return np.clip(noisy, low, high)


def log_signals(env: gym.Env) -> dict[str, str]:
    """The driving-log columns :func:`record_adapter_episodes` writes, name -> unit: the
    expert's clean outputs (the labels, under the output names), the executed outputs
    (``command_<name>``) and the adapter's ``info`` signals."""
    a = find_adapter(env)
    cols = {s.name: s.unit for s in a.outputs}
    cols.update({f"command_{s.name}": s.unit for s in a.outputs})
    cols.update(a.info_signals)
    return cols


@dataclass
class AdapterExpertRule:
    """:func:`~lnn_drive.envs.record.record_episodes` rule: the adapter's privileged expert
    (``info["expert_outputs"]``) with DART noise on every output; labels are the clean
    outputs (under their names) and the executed ones (``command_<name>``).

    Args:
        names: Output names, in order.
        low, high: Output bounds (the noisy action is clipped to them).
        dart_std: Noise std per output, in the outputs' units (0: clean driving).
        rng: Noise generator.
    """

    names: list[str]
    low: np.ndarray
    high: np.ndarray
    dart_std: np.ndarray | float
    rng: np.random.Generator

    @classmethod
    def for_env(
        cls, env: gym.Env, dart_std: np.ndarray | float, rng: np.random.Generator
    ) -> AdapterExpertRule:
        a = find_adapter(env)
        return cls(
            names=[s.name for s in a.outputs],
            low=a.action_space.low.astype(np.float64),
            high=a.action_space.high.astype(np.float64),
            dart_std=dart_std,
            rng=rng,
        )

    def reset(self, episode: Any) -> None:
        return None

    def decide(self, obs: np.ndarray, info: Mapping[str, Any]) -> Any:
        from lnn_drive.envs.record import Decision

        label = np.asarray(info["expert_outputs"], np.float64)
        cmd = dart_outputs(label, self.dart_std, self.low, self.high, self.rng)
        labels = {n: float(v) for n, v in zip(self.names, label, strict=True)}
        labels.update({f"command_{n}": float(v) for n, v in zip(self.names, cmd, strict=True)})
        return Decision(action=cmd.astype(np.float32), labels=labels, expert=True)


@dataclass
class AdapterMixtureRule:
    """DAgger's beta-mixture on an adapted env: the expert's outputs with probability
    ``beta``, the learner's otherwise; the labels are always the expert's clean outputs
    (the expert reads the state, so it labels any state the learner drives into).

    Args:
        policy: The learner (``reset(batch_size)``, ``act(frame) -> (k,)`` physical outputs).
        names: Output names, in order.
        beta: Probability of executing the expert's outputs.
        rng: Generator of the coin flips.
    """

    policy: Any
    names: list[str]
    beta: float
    rng: np.random.Generator

    def __post_init__(self) -> None:
        if not 0 <= self.beta <= 1:
            raise ValueError(f"DAgger beta must be in [0, 1], got {self.beta}")

    def reset(self, episode: Any) -> None:
        self.policy.reset(1)

    def decide(self, obs: np.ndarray, info: Mapping[str, Any]) -> Any:
        from lnn_drive.envs.record import Decision

        learner = np.asarray(self.policy.act(obs), np.float64).reshape(-1)[: len(self.names)]
        expert = np.asarray(info["expert_outputs"], np.float64)
        use_expert = bool(self.rng.random() < self.beta)
        cmd = expert if use_expert else learner
        labels = {n: float(v) for n, v in zip(self.names, expert, strict=True)}
        labels.update({f"command_{n}": float(v) for n, v in zip(self.names, cmd, strict=True)})
        return Decision(action=cmd.astype(np.float32), labels=labels, expert=use_expert)


def record_adapter_episodes(
    env: gym.Env,
    log: Any,
    *,
    seeds: list[int],
    dart_std: np.ndarray | float,
    rng: np.random.Generator,
    meta: Mapping[str, Any] | None = None,
    on_step: Any = None,
    rule: Any = None,
    steps: int | None = None,
) -> list[dict[str, Any]]:
    """Drive the privileged expert with DART noise through the one recording loop
    (:func:`~lnn_drive.envs.record.record_episodes`) and record every frame.

    Each frame is the env's full camera frame (the preprocessing crops it later, the same
    way in training and closed loop), with the :class:`AdapterExpertRule` labels and the
    adapter's ``info`` signals.

    Args:
        env: An adapted environment (``info`` carries ``expert_outputs``).
        log: A :class:`~lnn_drive.data.log.LogWriter` whose signals are
            :func:`log_signals` ``(env)``.
        seeds: One episode per seed.
        dart_std: DART noise std per output, in the outputs' units (0: clean driving).
        rng: Noise generator.
        meta: Extra per-episode metadata.
        on_step: Called with no arguments after every step (a progress bar's update).
        rule: What drives instead of the DART expert (DAgger's :class:`AdapterMixtureRule`);
            its labels must be :func:`log_signals`' output columns.
        steps: Frame limit per episode (``None``: until the env ends it).

    Returns:
        Per episode: ``{"seed", "frames", "terminated", "expert_frames",
        **final info signals}``.
    """
    from lnn_drive.envs.record import Episode, record_episodes

    a = find_adapter(env)
    rule = rule if rule is not None else AdapterExpertRule.for_env(env, dart_std, rng)
    observed = {k: k for k in a.info_signals}
    out = []
    for seed in seeds:
        last: dict[str, Any] = {}

        def after(info: Mapping[str, Any], _last: dict[str, Any] = last) -> None:
            _last.update(info)
            if on_step is not None:
                on_step()

        ep = Episode(
            seed=int(seed),
            meta={"seed": int(seed), "group": f"track{seed}", **(meta or {})},
            steps=steps,
        )
        stats = record_episodes(env, log, rule, episodes=[ep], observed=observed, after_step=after)
        out.append(
            {
                "seed": int(seed),
                "frames": stats.frames,
                "terminated": bool(stats.terminations),
                "expert_frames": stats.expert_frames,
                **{k: float(last[k]) for k in a.info_signals},
            }
        )
    return out


def collect_adapter_round(
    policy: Any,
    env: gym.Env,
    root: Any,
    *,
    seeds: list[int],
    beta: float,
    seed: int,
    steps: int | None = None,
) -> dict[str, Any]:
    """One DAgger round on an adapted environment: drive ``beta``'s mixture of the
    privileged expert and ``policy`` on ``seeds`` and write every visited frame, labelled
    with the expert's clean outputs, as a driving log at ``root`` (the same columns and
    adapter metadata as the expert's logs, so the rounds aggregate with them).

    Returns:
        ``{"root", "frames", "expert_share", "interventions", "per_episode"}``
        (``interventions``: episodes the environment ended early, e.g. off the map).
    """
    from pathlib import Path

    from lnn_drive.data.log import LogWriter
    from lnn_drive.envs.record import env_dt

    a = find_adapter(env)
    rule = AdapterMixtureRule(
        policy=policy,
        names=[o.name for o in a.outputs],
        beta=beta,
        rng=np.random.default_rng([int(seed), 0xDA66]),
    )
    h, w = env.observation_space.shape[:2]
    with LogWriter(
        root,
        height=h,
        width=w,
        fps=1.0 / env_dt(env),
        signals=log_signals(env),
        source=f"dagger (beta={beta:.3f})",
        extra={**adapter_metadata(env), "beta": beta, "road_seeds": [int(s) for s in seeds]},
    ) as log:
        per = record_adapter_episodes(
            env,
            log,
            seeds=seeds,
            dart_std=0.0,
            rng=np.random.default_rng(0),
            meta={"dagger_beta": beta},
            rule=rule,
            steps=steps,
        )
    frames = sum(e["frames"] for e in per)
    return {
        "root": str(Path(root)),
        "frames": frames,
        "expert_share": sum(e["expert_frames"] for e in per) / max(frames, 1),
        "interventions": sum(int(e["terminated"]) for e in per),
        "per_episode": per,
    }


__all__ = [
    "AdapterExpertRule",
    "AdapterMixtureRule",
    "ImageEnvAdapter",
    "SignalSpec",
    "adapter_metadata",
    "collect_adapter_round",
    "dart_outputs",
    "find_adapter",
    "log_signals",
    "record_adapter_episodes",
]
