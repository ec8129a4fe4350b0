"""Federation configs: TOML, PeerSim key-value files, one-line errors for bad input."""

import pytest

from peergrid import ConfigError
from peergrid.federation import FederationConfig, config_from_dict, load_config, parse_peersim
from peergrid.federation.config import DynamicNetworkConfig

PEERSIM = """
# a PeerSim configuration as Petri et al. would write it
random.seed 1234
simulation.cycles 40
network.size 500
protocol.lnk example.newscast.SimpleNewscast
protocol.lnk.cache 8
protocol.lnk.step 15
protocol.energy peergrid.Energy
protocol.energy.linkable lnk
protocol.energy.types 3
protocol.energy.request_probability = 0.3
protocol.energy.payoff 2
protocol.energy.capacity_max 6
init.rnd WireKOut
init.rnd.protocol lnk
init.rnd.k 8
control.c1 peersim.dynamics.DynamicNetwork
control.c1.add 20
control.c1.step 1
control.c1.from 400
control.c1.until 800
control.c1.maxsize 1000
control.mig peergrid.Migration
control.mig.strategy strategic
control.mig.probability 0.25
control.cl peergrid.Clusters
control.cl.count 10
"""


def test_peersim_file_translates(tmp_path):
    f = tmp_path / "petri.cfg"
    f.write_text(PEERSIM)
    cfg = load_config(f)
    assert (cfg.seed, cfg.cycles, cfg.nodes) == (1234, 40, 500)
    assert (cfg.overlay.view, cfg.overlay.period, cfg.overlay.rewiring) == (8, 15, "newscast")
    assert (cfg.energy.types, cfg.energy.payoff, cfg.energy.capacity) == (3, 2.0, (1.0, 6.0))
    assert cfg.demand.request_probability == 0.3
    dyn = cfg.dynamics[0]
    assert (dyn.add, dyn.step, dyn.from_, dyn.until, dyn.maxsize) == (20, 1, 400, 800, 1000)
    assert cfg.migration.strategy == "strategic" and cfg.clusters.count == 10


def test_toml_roundtrip(tmp_path):
    f = tmp_path / "fed.toml"
    f.write_text("nodes = 50\ncycles = 5\n[overlay]\nview = 4\n[[dynamics]]\nadd = 2\nfrom = 1\n")
    cfg = load_config(f)
    assert cfg.nodes == 50 and cfg.dynamics[0].from_ == 1
    again = config_from_dict(cfg.model_dump(by_alias=True))
    assert again == cfg


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("nodes = 10\n[overlay]\nview = 10\n", "overlay.view = 10 must be smaller than nodes = 10"),
        ("[demand]\nrequest_probability = 1.5\n", "demand.request_probability"),
        ("[migration]\nprobability = -0.1\n", "migration.probability"),
        ("[energy]\ntypes = 0\n", "energy.types"),
        ("colour = 'red'\n", "colour: unknown key"),
        ("[overlay]\nsize = 3\n", "overlay.size: unknown key"),
        ("nodes = = 3\n", "malformed TOML"),
    ],
)
def test_bad_toml_is_one_line(tmp_path, text, needle):
    f = tmp_path / "bad.toml"
    f.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(f)
    msg = str(err.value)
    assert needle in msg and "\n" not in msg and str(f) in msg


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("network.size 100\nprotocol.x peersim.Unknown\n", "unsupported protocol class"),
        ("network.size 100\nnetwork.colour 3\n", "network.colour: unknown key"),
        ("network.size 100\nprotocol.e peergrid.Energy\nprotocol.e.colour 3\n", "protocol.e.colour: unknown key"),
        ("network.size 100\nsimulation.cycles\n", "missing value"),
        ("network.size 5\ninit.r WireKOut\ninit.r.k 5\n", "must be smaller than nodes"),
    ],
)
def test_bad_peersim_is_one_line(tmp_path, text, needle):
    f = tmp_path / "bad.cfg"
    f.write_text(text)
    with pytest.raises(ConfigError, match=needle):
        load_config(f)


def test_missing_file():
    with pytest.raises(ConfigError, match="not found"):
        load_config("/nonexistent/fed.toml")


def test_dynamic_network_schedule_is_peersims():
    d = DynamicNetworkConfig(add=1, step=3, **{"from": 2}, until=9)
    assert [t for t in range(12) if d.active(t)] == [2, 5, 8]


def test_parse_peersim_accepts_equals_and_colons():
    out = parse_peersim("network.size = 30\nsimulation.cycles: 7\n")
    assert out["nodes"] == 30 and out["cycles"] == 7


def test_migration_needs_clusters():
    with pytest.raises(ConfigError, match=r"clusters\.count >= 2"):
        config_from_dict({"migration": {"strategy": "random"}})
    assert FederationConfig().energy.type_prices()[:3] == (0.10, 0.08, 0.12)
