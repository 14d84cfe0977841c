"""The one recording loop: every producer of episodes drives through :func:`record_episodes`.

A :class:`Rule` decides, at every step, the action that is executed and the labels that
are recorded: the privileged expert with DART noise (:class:`ExpertRule`), DAgger's
beta-mixture of expert and learner (:class:`MixtureRule`), a policy (:class:`PolicyRule`),
later a human at the keyboard. The environment declares what it observes besides the
camera (``observed``: signal name -> ``info`` key, units in the writer's ``signals``), so
the loop knows nothing about cars: a drone with 4-D actions or an adapted external
environment plugs in with its own rule and signal table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import gymnasium as gym
import numpy as np

from lnn_drive.data.log import LogWriter
from lnn_drive.envs.expert import dart_action
from lnn_drive.protocols import PolicyProtocol


@dataclass(frozen=True, kw_only=True)
class Decision:
    """One step's choice.

    Attributes:
        action: The action executed in the environment, shape of its action space.
        labels: Signals recorded for this frame that the rule decides (e.g. the expert's
            clean ``steering`` label and the executed ``command``).
        expert: Whether the executed action is the expert's (DAgger statistics).
    """

    action: np.ndarray
    labels: Mapping[str, float]
    expert: bool = False


class EndEpisode(Exception):  # noqa: N818 - a signal, not an error
    """Raised by a rule's ``decide`` to end the current episode early; the frames recorded
    so far are kept (an episode ended before its first frame is discarded)."""


class EndRecording(EndEpisode):
    """Raised by a rule's ``decide`` to end the episode and the whole recording."""


class Rule(Protocol):
    """Decides the executed action and the labels at each step."""

    def reset(self, episode: Episode) -> None:
        """Called after ``env.reset`` of each episode."""

    def decide(self, obs: np.ndarray, info: Mapping[str, Any]) -> Decision:
        """The decision for the frame ``obs`` with the environment's ``info``."""


@dataclass(frozen=True, kw_only=True)
class Episode:
    """One episode to drive.

    Attributes:
        seed: ``env.reset(seed=...)``.
        meta: Stored with the episode in the log (``seed``, ``preset``, ``group``, ...).
        steps: Frame limit; ``None``: until the environment ends the episode.
        options: Passed to ``env.reset``.
    """

    seed: int
    meta: Mapping[str, Any] = field(default_factory=dict)
    steps: int | None = None
    options: Mapping[str, Any] | None = None


@dataclass(kw_only=True)
class RecordStats:
    """What :func:`record_episodes` drove.

    Attributes:
        episodes: Episodes driven.
        frames: Frames recorded (or stepped, without a writer).
        expert_frames: Frames whose executed action was the expert's.
        terminations: Episodes the environment terminated (crashes in terminate mode).
        interventions: Interventions reported by the environment (``info["intervened"]``).
        distance_m: Sum of ``info["distance"]`` at each episode's end (0 if not reported).
        reward: Sum of the environment's rewards.
    """

    episodes: int = 0
    frames: int = 0
    expert_frames: int = 0
    terminations: int = 0
    interventions: int = 0
    distance_m: float = 0.0
    reward: float = 0.0


def env_dt(env: gym.Env) -> float:
    """Seconds per step of ``env`` (its ``dt``, else 1 / ``metadata["render_fps"]``)."""
    dt = getattr(getattr(env, "unwrapped", env), "dt", None)
    return float(dt) if dt else 1.0 / float(getattr(env, "metadata", {}).get("render_fps", 30))


@dataclass(frozen=True)
class Step:
    """What one :meth:`RowEnvs.step` returned (per row, in the envs' own layout: arrays of
    a vector environment, scalars and a dict of a single one)."""

    reward: Any
    terminated: Any
    truncated: Any
    info: Any


class RowEnvs(Protocol):
    """``n`` environments stepped together (autoreset off), as :func:`drive_rows` uses them.

    ``reset_rows`` resets the rows of ``mask`` onto their episodes (``None``: an idle row;
    a vector environment resets it onto its previous seed so that it is never stepped past
    its end) and returns the observations of all rows (n, ...) and the info; ``step``
    steps the rows of ``live`` (a vector environment steps every row, the actions of idle
    rows are ignored).
    """

    num_envs: int

    def reset_rows(
        self, episodes: Sequence[Episode | None], mask: np.ndarray, seeds: Sequence[int | None]
    ) -> tuple[np.ndarray, Any]: ...

    def step(
        self, actions: np.ndarray, live: np.ndarray
    ) -> tuple[np.ndarray, Any, Any, Any, Any]: ...


class RowDriver(Protocol):
    """Decides and records for :func:`drive_rows`: a recording rule with a
    :class:`LogWriter`, or an evaluation's metrics accumulator (the "sink")."""

    def next_episode(self) -> Episode | None:
        """The next episode to start (``None``: no more)."""

    def begin(self, rows: np.ndarray, episodes: Sequence[Episode | None], info: Any) -> None:
        """The rows of the (n,) mask ``rows`` were reset onto ``episodes`` (``info``: the
        reset's; a row whose episode is ``None`` is idle from now on)."""

    def act(self, obs: np.ndarray, live: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The (n, k) actions for the frames ``obs`` (n, ...), and the (n,) mask of live
        rows whose episode ends now, before this step (a frame limit, a person quitting)."""

    def record(self, actions: np.ndarray, step: Step, live: np.ndarray) -> np.ndarray:
        """Record the step of the ``live`` rows; return the (n,) mask of rows whose episode
        the step ended."""

    def end(self, rows: np.ndarray) -> None:
        """The episodes of the rows of ``rows`` are over (recorded in full)."""


def drive_rows(envs: RowEnvs, driver: RowDriver) -> None:
    """The one loop body: step ``envs`` with one batched decision per step until the
    driver has no episode left, resetting only the rows whose episode ended onto the next.

    Every producer of drives calls it: :func:`record_episodes` (one row) for collection,
    DAgger, expert checks, teleop and explain's recordings, and the closed-loop
    evaluation (:func:`lnn_drive.eval.rollout.run_drives`, ``n`` rows).
    """
    n = int(envs.num_envs)
    current: list[Episode | None] = [None] * n
    seeds: list[int | None] = [None] * n
    live = np.zeros(n, bool)
    obs = _start_rows(envs, driver, np.ones(n, bool), current, seeds, live)
    while live.any():
        actions, stopped = driver.act(obs, live)
        stopped = np.asarray(stopped, bool) & live
        stepping = live & ~stopped
        ended = stopped.copy()
        if stepping.any():
            obs, reward, terminated, truncated, info = envs.step(actions, stepping)
            step = Step(reward=reward, terminated=terminated, truncated=truncated, info=info)
            ended |= np.asarray(driver.record(actions, step, stepping), bool)
        if ended.any():
            driver.end(ended)
            live &= ~ended
            new = _start_rows(envs, driver, ended, current, seeds, live)
            if new is not None:
                obs[ended] = new[ended]


def _start_rows(
    envs: RowEnvs,
    driver: RowDriver,
    mask: np.ndarray,
    current: list[Episode | None],
    seeds: list[int | None],
    live: np.ndarray,
) -> np.ndarray | None:
    """Start the next episodes on the rows of ``mask`` (in place in ``current``, ``seeds``,
    ``live``); returns the observations, or ``None`` when no row is left to drive."""
    for i in np.flatnonzero(mask):
        ep = driver.next_episode()
        current[i] = ep
        if ep is not None:
            seeds[i] = int(ep.seed)
            live[i] = True
    if not live.any():
        return None
    obs, info = envs.reset_rows(current, mask, seeds)
    obs = np.array(obs)
    driver.begin(mask, current, info)
    return obs


class VectorRows:
    """A gymnasium vector environment (autoreset disabled) as :class:`RowEnvs`."""

    def __init__(self, envs: Any) -> None:
        self.envs = envs
        self.num_envs = int(envs.num_envs)

    def reset_rows(
        self, episodes: Sequence[Episode | None], mask: np.ndarray, seeds: Sequence[int | None]
    ) -> tuple[np.ndarray, Any]:
        if mask.all():
            return self.envs.reset(seed=list(seeds))
        return self.envs.reset(seed=list(seeds), options={"reset_mask": mask})

    def step(self, actions: np.ndarray, live: np.ndarray) -> tuple[np.ndarray, Any, Any, Any, Any]:
        return self.envs.step(actions)


class ListRows:
    """A list of environments as :class:`RowEnvs`: only the rows with an episode are reset
    and only the live rows are stepped; the info is the list of the rows' own infos (an
    idle row keeps its last observation and info)."""

    def __init__(self, envs: Sequence[gym.Env]) -> None:
        self.envs = list(envs)
        self.num_envs = len(self.envs)
        self.obs: np.ndarray | None = None
        self.infos: list[Mapping[str, Any]] = [{} for _ in self.envs]

    def reset_rows(
        self, episodes: Sequence[Episode | None], mask: np.ndarray, seeds: Sequence[int | None]
    ) -> tuple[np.ndarray, Any]:
        for i in np.flatnonzero(mask):
            ep = episodes[i]
            if ep is None:
                continue
            options = dict(ep.options) if ep.options else None
            obs, self.infos[i] = self.envs[i].reset(seed=int(ep.seed), options=options)
            if self.obs is None:
                self.obs = np.zeros((self.num_envs, *np.shape(obs)), np.asarray(obs).dtype)
            self.obs[i] = obs
        assert self.obs is not None
        return self.obs.copy(), list(self.infos)

    def step(self, actions: np.ndarray, live: np.ndarray) -> tuple[np.ndarray, Any, Any, Any, Any]:
        assert self.obs is not None
        reward = np.zeros(self.num_envs)
        terminated = np.zeros(self.num_envs, bool)
        truncated = np.zeros(self.num_envs, bool)
        for i in np.flatnonzero(live):
            obs, reward[i], terminated[i], truncated[i], self.infos[i] = self.envs[i].step(
                actions[i]
            )
            self.obs[i] = obs
        return self.obs.copy(), reward, terminated, truncated, list(self.infos)


class _OneRow:
    """One environment (or one per episode, from a factory) as a one-row :class:`RowEnvs`;
    observations get a leading row axis, the info stays the environment's own."""

    num_envs = 1

    def __init__(self, env: gym.Env | Callable[[Episode], gym.Env]) -> None:
        self._source = env
        self.env: gym.Env | None = env if isinstance(env, gym.Env) or not callable(env) else None

    def reset_rows(
        self, episodes: Sequence[Episode | None], mask: np.ndarray, seeds: Sequence[int | None]
    ) -> tuple[np.ndarray, Any]:
        episode = episodes[0]
        assert episode is not None
        if not (isinstance(self._source, gym.Env) or not callable(self._source)):
            self.env = self._source(episode)
        options = dict(episode.options) if episode.options else None
        obs, info = self.env.reset(seed=int(episode.seed), options=options)
        return obs[None], info  # (1, ...)

    def step(self, actions: np.ndarray, live: np.ndarray) -> tuple[np.ndarray, Any, Any, Any, Any]:
        obs, reward, terminated, truncated, info = self.env.step(actions[0])
        return obs[None], reward, terminated, truncated, info  # (1, ...)


class _Recorder:
    """:class:`RowDriver` of :func:`record_episodes`: one row, a rule decides, a
    :class:`LogWriter` (or nothing) records."""

    def __init__(self, envs: _OneRow, writer: LogWriter | None, rule: Rule, **kw: Any) -> None:
        self.envs, self.writer, self.rule = envs, writer, rule
        self.episodes: Iterator[Episode] = iter(kw["episodes"])
        self.observed = dict(kw["observed"] or {})
        self.fixed = dict(kw["fixed"] or {})
        self.on_step, self.after_step, self.stop = kw["on_step"], kw["after_step"], kw["stop"]
        self.stats = RecordStats()
        self.ep: Any = None
        self.ended: EndEpisode | None = None
        self.quit = False

    def next_episode(self) -> Episode | None:
        if self.quit or (self.stop is not None and self.stop(self.stats)):
            return None
        return next(self.episodes, None)

    def begin(self, rows: np.ndarray, episodes: Sequence[Episode | None], info: Any) -> None:
        self.episode = episodes[0]
        assert self.episode is not None
        self.dt = env_dt(self.envs.env)
        self.info, self.i, self.ended = info, 0, None
        self.rule.reset(self.episode)
        if self.writer is not None:
            self.ep = self.writer.episode(meta=dict(self.episode.meta)).__enter__()

    def act(self, obs: np.ndarray, live: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        frame, info = obs[0], self.info
        if self.episode.steps is not None and self.i >= self.episode.steps:
            return np.zeros((1, 1), np.float32), np.ones(1, bool)
        try:
            decision = self.rule.decide(frame, info)
        except EndEpisode as e:  # the rule (a person at the keyboard) ends it
            self.ended = e
            return np.zeros((1, 1), np.float32), np.ones(1, bool)
        if self.on_step is not None:
            self.on_step(frame, info, decision)
        if self.ep is not None:
            signals = {k: float(info[key]) for k, key in self.observed.items()}
            self.ep.append(
                frame, timestamp=self.i * self.dt, **self.fixed, **signals, **decision.labels
            )
        self.stats.frames += 1
        self.stats.expert_frames += int(decision.expert)
        return np.asarray(decision.action)[None], np.zeros(1, bool)  # (1, k)

    def record(self, actions: np.ndarray, step: Step, live: np.ndarray) -> np.ndarray:
        info, terminated, truncated = step.info, step.terminated, step.truncated
        self.info = info
        self.stats.reward += float(step.reward)
        self.stats.interventions += int(bool(info.get("intervened", False)))
        if self.after_step is not None:
            self.after_step(info)
        self.i += 1
        if terminated or truncated:
            self.stats.terminations += int(terminated)
            return np.ones(1, bool)
        return np.zeros(1, bool)

    def end(self, rows: np.ndarray) -> None:
        self.close_episode(None)
        self.stats.episodes += int(self.i > 0 or self.ended is None)
        self.stats.distance_m += float(self.info.get("distance", 0.0))
        self.quit = isinstance(self.ended, EndRecording)

    def close_episode(self, error: BaseException | None) -> None:
        ep, self.ep = self.ep, None
        if ep is None:
            return
        if error is None and len(ep) == 0:
            ep.abort()
        ep.__exit__(type(error) if error else None, error, None)


def record_episodes(
    env: gym.Env | Callable[[Episode], gym.Env],
    writer: LogWriter | None,
    rule: Rule,
    *,
    episodes: Iterable[Episode],
    observed: Mapping[str, str] | None = None,
    fixed: Mapping[str, float] | None = None,
    on_step: Callable[[np.ndarray, Mapping[str, Any], Decision], None] | None = None,
    after_step: Callable[[Mapping[str, Any]], None] | None = None,
    stop: Callable[[RecordStats], bool] | None = None,
) -> RecordStats:
    """Drive ``episodes`` with ``rule`` and append every frame to ``writer``.

    The loop is :func:`drive_rows` with one row.

    Args:
        env: The environment, or a function giving the environment for an episode (e.g.
            one per appearance preset; the caller closes them).
        writer: An open :class:`LogWriter` (each episode becomes one log episode), or
            ``None`` to drive without recording (expert checks, replays).
        rule: Decides the executed action and the rule's labels.
        episodes: What to drive, in order.
        observed: Recorded signal name -> ``info`` key, read at the frame's time.
        fixed: Recorded signals that are constant (e.g. the car's speed).
        on_step: Called with (frame, info, decision) before each step.
        after_step: Called with the ``info`` each step returns.
        stop: Checked before each episode; ``True`` ends the recording.

    Returns:
        The totals (:class:`RecordStats`).
    """
    rows = _OneRow(env)
    recorder = _Recorder(
        rows,
        writer,
        rule,
        episodes=episodes,
        observed=observed,
        fixed=fixed,
        on_step=on_step,
        after_step=after_step,
        stop=stop,
    )
    try:
        drive_rows(rows, recorder)
    except BaseException as e:
        recorder.close_episode(e)
        raise
    return recorder.stats


@dataclass
class ExpertRule:
    """The privileged expert (``info[expert_key]``) with DART noise on the executed action.

    Labels: ``steering`` (the clean expert action) and ``command`` (what was executed).

    Args:
        dart_std: Standard deviation of the noise on the executed action (0: clean).
        rng: Generator of the noise.
    """

    dart_std: float
    rng: np.random.Generator
    expert_key: str = "expert_action"

    def reset(self, episode: Episode) -> None:
        return None

    def decide(self, obs: np.ndarray, info: Mapping[str, Any]) -> Decision:
        label = float(info[self.expert_key])
        cmd = dart_action(label, self.dart_std, self.rng)
        return Decision(
            action=np.array([cmd], np.float32),
            labels={"steering": label, "command": cmd},
            expert=True,
        )


@dataclass
class MixtureRule:
    """DAgger's beta-mixture: the expert's action with probability ``beta``, the
    learner's otherwise; the label is always the expert's.

    Args:
        policy: The learner.
        beta: Probability of executing the expert's action.
        rng: Generator of the coin flips.
    """

    policy: PolicyProtocol
    beta: float
    rng: np.random.Generator
    expert_key: str = "expert_action"

    def reset(self, episode: Episode) -> None:
        self.policy.reset(1)

    def decide(self, obs: np.ndarray, info: Mapping[str, Any]) -> Decision:
        learner = float(np.asarray(self.policy.act(obs)).reshape(-1)[0])
        expert = float(info[self.expert_key])
        use_expert = bool(self.rng.random() < self.beta)
        cmd = expert if use_expert else learner
        return Decision(
            action=np.array([cmd], np.float32),
            labels={"steering": expert, "command": cmd},
            expert=use_expert,
        )


@dataclass
class PolicyRule:
    """A policy drives; its action is executed and recorded as ``command`` (and, with an
    expert in ``info``, the expert's action as ``steering``)."""

    policy: PolicyProtocol
    expert_key: str = "expert_action"

    def reset(self, episode: Episode) -> None:
        self.policy.reset(1)

    def decide(self, obs: np.ndarray, info: Mapping[str, Any]) -> Decision:
        action = np.asarray(self.policy.act(obs), np.float32).reshape(-1)
        labels = {"command": float(action[0])}
        if self.expert_key in info:
            labels["steering"] = float(info[self.expert_key])
        return Decision(action=action, labels=labels)


@dataclass
class FunctionRule:
    """A rule from a function ``act(obs, info) -> action`` (which may raise
    :class:`EndEpisode` / :class:`EndRecording`); nothing is labelled. For drives that
    are replayed rather than recorded (calibration frames, figures, expert checks)."""

    act: Callable[[np.ndarray, Mapping[str, Any]], Any]
    on_reset: Callable[[Episode], None] | None = None

    def reset(self, episode: Episode) -> None:
        if self.on_reset is not None:
            self.on_reset(episode)

    def decide(self, obs: np.ndarray, info: Mapping[str, Any]) -> Decision:
        return Decision(action=np.asarray(self.act(obs, info)), labels={})


#: What the lane-keeping car observes besides the camera: signal -> ``info`` key.
CAR_OBSERVED: dict[str, str] = {
    "lateral_offset": "lateral_offset",
    "heading_error": "heading_error",
    "road_curvature": "road_curvature",
}

#: The signals a lane-keeping log holds, with their units.
CAR_SIGNALS: dict[str, str] = {
    "steering": "1/m",
    "speed": "m/s",
    "command": "1/m",
    "lateral_offset": "m",
    "heading_error": "rad",
    "road_curvature": "1/m",
}
