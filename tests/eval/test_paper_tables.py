"""The paper's tables beside ours: verified figures only, connectivity, the report section."""

from __future__ import annotations

import pytest

from lnn_drive.data.preprocess import Preprocess
from lnn_drive.eval import paper_tables as P
from lnn_drive.models.config import NCP_CFC_CONTROLLER, ModelConfig
from lnn_drive.models.policy import Policy


def _policy(kind: str) -> Policy:
    ctrl = {**NCP_CFC_CONTROLLER, "type": kind} if kind.startswith("ncp") else {"type": kind}
    return Policy(
        model_cfg=ModelConfig(name=kind, controller=ctrl),
        preprocess=Preprocess(),
        output_names=["steering"],
    )


@pytest.mark.parametrize("kind", ["ncp_cfc", "ncp_ltc"])
def test_connectivity_adds_up_to_the_effective_parameters(kind: str) -> None:
    pol = _policy(kind)
    c = P.ncp_connectivity(pol)
    assert c is not None and c.neurons == 19
    assert c.synapses == pol.controller.wiring_stats()["synapses"]
    assert c.total == pol.controller.effective_parameters()
    assert c.in_graph + c.per_neuron + c.outside_graph == c.total
    assert sum(c.breakdown.values()) == c.outside_graph
    if kind == "ncp_cfc":
        # 2 weights per wiring edge; recurrence and time gates dense, outside the graph
        assert c.in_graph == 2 * c.synapses and c.per_neuron == 4 * 19
        assert c.outside_graph > c.in_graph
    else:
        assert c.in_graph == 4 * c.synapses and c.per_neuron == 3 * 19


def test_no_connectivity_for_a_controller_without_wiring() -> None:
    assert P.ncp_connectivity(_policy("lstm")) is None


def test_paper_figures_need_a_source() -> None:
    assert str(P.PaperFigure()) == "not verified"
    with pytest.raises(ValueError, match="source"):
        P.PaperFigure("1,065", None)
    assert all(f.source for f in P.PAPER.values())
    assert str(P.PAPER["ncp/synapses"]) == "253"


def _run(vals: dict[str, float], loss: float, model: str, params: int) -> dict:
    return {
        "val_loss": loss,
        "summary": {"model": model, "neurons": 19, "synapses": 252, "controller_params": params},
        "metrics": {c: {"interventions_per_km": v} for c, v in vals.items()},
    }


def _results(ncp_worst: float) -> dict:
    conds = {"clean": 0.0, "noise=0.1": 0.5, "noise=0.3": ncp_worst, "snr=0.1": 0.2}
    cnn = {"clean": 0.0, "noise=0.1": 1.0, "noise=0.3": 5.0, "snr=0.1": 0.4}
    return {
        "NCP (CfC)": [_run(conds, 0.02, "ncp_cfc", 2218), _run(conds, 0.03, "ncp_cfc", 2218)],
        "CNN (feedforward)": [_run(cnn, 0.01, "feedforward", 2177)],
    }


def test_section_has_paper_and_ours_columns_and_an_honest_verdict() -> None:
    conds = ["clean", "noise=0.1", "noise=0.3", "snr=0.1", "preset=fog"]
    conn = {"cfc": P.ncp_connectivity(_policy("ncp_cfc"))}
    text = "\n".join(P.paper_tables_section(_results(1.0), conds, connectivity=conn))
    assert "cf. NCP paper Table 1" in text and "cf. NCP paper Table 2" in text
    assert "paper noise=0.3 / ours noise=0.3" in text and "ours snr=0.1" in text
    assert "preset=fog" not in text  # not a noise condition
    assert "19 / 19" in text and "253 / 252" in text
    assert "1,638 of 2,218" in text and "lie outside the NCP graph" in text
    assert "0.0250 ± 0.0071" in text  # mean ± sample std of the two seeds' val loss
    assert "agrees with the paper's claim" in text
    worse = "\n".join(P.paper_tables_section(_results(9.0), conds, connectivity=conn))
    assert "does not reproduce the paper's claim" in worse
    assert "Chahine" in text and "snr" in text  # the noise-scale sentence


def test_noise_table_without_noise_conditions() -> None:
    out = P.noise_table(_results(1.0), ["clean"])
    assert out == ["No noise conditions were run (`eval.noise_variances` is empty)."]
