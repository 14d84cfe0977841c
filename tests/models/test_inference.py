"""FastActor: compiled single-frame stepping matches the fp32 policy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lnn_drive.models.inference import FastActor, max_action_error
from tests.models.test_models import make_policy


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_fast_actor_tracks_the_policy(precision: str) -> None:
    torch.manual_seed(0)
    p = make_policy("ncp_cfc", h=24, w=64).eval()
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (40, 3, 24, 64), dtype=np.uint8)
    actor = FastActor(p, precision=precision, calibration=frames[:16])
    err = max_action_error(actor, p, frames)
    assert err < (1e-5 if precision == "fp32" else 1e-2)
    actor.reset()
    a = actor.act(frames[0].transpose(1, 2, 0).copy())
    assert a.shape == (1,)
    with pytest.raises(ValueError, match="calibration"):
        FastActor(p, precision="int8")
    with pytest.raises(ValueError, match="precision"):
        FastActor(p, precision="fp8")


def test_fast_actor_satisfies_the_policy_protocol() -> None:
    from lnn_drive.data import Preprocess
    from lnn_drive.models import Policy
    from lnn_drive.models.config import ModelConfig
    from lnn_drive.models.inference import FastActor
    from lnn_drive.protocols import PolicyProtocol

    torch.manual_seed(0)
    p = Policy(model_cfg=ModelConfig(), preprocess=Preprocess(), output_names=["steering"])
    p = p.eval()
    actor = FastActor(p, precision="fp32")
    assert isinstance(actor, PolicyProtocol) and isinstance(p, PolicyProtocol)
    frames = np.random.default_rng(0).integers(0, 255, (3, 78, 200, 3), dtype=np.uint8)
    actor.reset(1)
    p.reset(1)
    for f in frames:
        np.testing.assert_allclose(actor.act_batch(f[None]), p.act_batch(f[None]), atol=1e-4)
    actor.reset_rows(np.array([True]))
    p.reset(1)
    np.testing.assert_allclose(actor.act(frames[0]), p.act(frames[0]), atol=1e-4)
    # batches of episodes: the state must be sized for them first
    with pytest.raises(ValueError, match="reset"):
        actor.act_batch(frames[:2])
    actor.reset(2)
    assert actor.act_batch(frames[:2]).shape == (2, 1)


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_fast_actor_pickles_as_its_compiled_graph(precision: str) -> None:
    """A worker process receives the built actor: the copy acts exactly like the original
    at every batch size, carries no eager policy, and its state is its own."""
    import pickle

    torch.manual_seed(0)
    p = make_policy("ncp_cfc", h=24, w=64).eval()
    frames = np.random.default_rng(1).integers(0, 255, (12, 3, 24, 64), dtype=np.uint8)
    actor = FastActor(p, precision=precision, calibration=frames)
    actor.max_error = 1e-3
    copy = pickle.loads(pickle.dumps(actor))
    assert copy.policy is None and copy.max_error == 1e-3 and copy.precision == precision
    for b in (1, 3, 8):
        batch = np.stack([np.roll(frames, r, axis=0) for r in range(b)], axis=1)  # (T, b, ...)
        actor.reset(b)
        copy.reset(b)
        ours = np.stack([actor.step_batch(np.ascontiguousarray(x)) for x in batch])
        theirs = np.stack([copy.step_batch(np.ascontiguousarray(x)) for x in batch])
        np.testing.assert_array_equal(ours, theirs)
        with torch.no_grad():  # one trace serves every batch size
            ref, _ = p(torch.from_numpy(batch.transpose(1, 0, 2, 3, 4).copy()))  # (b, T, k)
        tol = 1e-5 if precision == "fp32" else 1e-2
        assert np.abs(ours.transpose(1, 0, 2) - ref.numpy()).max() < tol


def test_camera_frames_at_model_size_skip_the_transpose_copy() -> None:
    """Frames already at model size go to the graph as a channels-last view; the actions
    are those of the explicit geometry path."""
    torch.manual_seed(0)
    p = make_policy("ncp_cfc", h=24, w=64).eval()
    actor = FastActor(p, precision="fp32")
    raw = np.random.default_rng(2).integers(0, 255, (6, 4, 24, 64, 3), dtype=np.uint8)
    assert actor._is_model_geometry(raw[0])
    actor.reset(4)
    fast = np.stack([actor.act_batch(f) for f in raw])
    actor.reset(4)
    slow = np.stack([actor.step_batch(p.preprocess.geometry_batch(f)) for f in raw])
    np.testing.assert_allclose(fast, slow, atol=1e-6)
    assert not actor._is_model_geometry(raw[0][:, :20])


def test_fast_standardise_matches_the_preprocessing_in_both_memory_formats() -> None:
    from lnn_drive.data import Preprocess
    from lnn_drive.models.inference import standardise

    raw = np.random.default_rng(3).integers(0, 255, (5, 24, 64, 3), dtype=np.uint8)
    raw[2] = 7  # a flat frame: the std floor, not a division by zero
    nhwc = torch.from_numpy(raw)
    for frames in (nhwc.permute(0, 3, 1, 2), nhwc.permute(0, 3, 1, 2).contiguous()):
        ours, ref = standardise(frames), Preprocess.standardise(frames)
        assert ours.is_contiguous(memory_format=torch.channels_last) == (not frames.is_contiguous())
        assert torch.isfinite(ours).all()
        torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)
    assert (raw == np.asarray(nhwc)).all()  # the uint8 input is left as it was
