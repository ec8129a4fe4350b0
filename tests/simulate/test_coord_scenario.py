"""Scenario keys of price-responsive coordination and every controller (coordination part)."""

import pytest

from peergrid import ConfigError
from peergrid.control import CONTROLLERS
from peergrid.data import synthetic_community
from peergrid.simulate.scenario import recorded_scenario, scenario_from_dict


def test_mpc_community_is_selectable():  # regression: the schema rejected it
    sc = scenario_from_dict({"simulation": {"control": "mpc-community"}})
    assert sc.simulation.control == "mpc-community"


@pytest.mark.parametrize("name", list(CONTROLLERS))
def test_every_controller_is_selectable(name):
    assert scenario_from_dict({"simulation": {"control": name.upper()}}).simulation.control == name


def test_unknown_control_names_the_key_and_the_choices():
    with pytest.raises(ConfigError, match=r"control.*unknown control 'magic'.*mpc-community"):
        scenario_from_dict({"simulation": {"control": "magic"}}, "s.toml")


@pytest.mark.parametrize(
    ("key", "value"), [("coordination", "nash"), ("max_iterations", -1), ("tolerance", -1.0), ("tolerance", "inf")]
)
def test_bad_coordination_keys(key, value):
    with pytest.raises(ConfigError, match=key):
        scenario_from_dict({"simulation": {key: float(value) if value == "inf" else value}}, "s.toml")


def test_defaults_and_recorded_scenario_keeps_the_keys():
    sc = scenario_from_dict({})
    assert (sc.simulation.coordination, sc.simulation.max_iterations, sc.simulation.tolerance) == ("none", 10, 1e-4)
    sc = scenario_from_dict(
        {"simulation": {"control": "lp", "coordination": "price-response", "max_iterations": 3, "tolerance": 1e-3}}
    )
    com = synthetic_community(3, periods=24, freq="1h", seed=1)
    rec = recorded_scenario(sc, com)
    assert rec["simulation"] | {"markets": None} == {
        "control": "lp", "coordination": "price-response", "max_iterations": 3, "tolerance": 1e-3, "markets": None,
    }  # fmt: skip
    again = scenario_from_dict(rec)
    assert again.simulation == sc.simulation


def test_price_blind_record_has_no_loop_keys_unless_written():
    com = synthetic_community(3, periods=24, freq="1h", seed=1)
    assert "coordination" not in recorded_scenario(scenario_from_dict({}), com)["simulation"]
    written = scenario_from_dict({"simulation": {"coordination": "none"}})
    assert recorded_scenario(written, com)["simulation"]["coordination"] == "none"
