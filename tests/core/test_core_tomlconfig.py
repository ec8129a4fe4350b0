"""peergrid.core.tomlconfig: one-line errors for configuration files."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ConfigDict, Field, model_validator

from peergrid.core.errors import ConfigError
from peergrid.core.tomlconfig import format_loc, read_toml, validate_model


class Inner(BaseModel):
    model_config = ConfigDict(extra="forbid")
    size: int = Field(1, ge=1)


class Outer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    nodes: int = 10
    overlay: Inner = Inner()
    items: list[Inner] = []

    @model_validator(mode="after")
    def _check(self) -> Outer:
        if self.overlay.size >= self.nodes:
            raise ValueError(f"overlay.size = {self.overlay.size} must be smaller than nodes = {self.nodes}")
        return self


def test_format_loc():
    assert format_loc(("overlay", "size")) == "overlay.size"
    assert format_loc(("overlay", "size"), tables=True) == "[overlay].size"
    assert format_loc(("nodes",), tables=True) == "nodes"
    assert format_loc(("items", 2, "size")) == "items.size"  # list positions dropped
    assert format_loc(("dynamics", 0, "from_")) == "dynamics.from"
    assert format_loc(()) == ""


@pytest.mark.parametrize(
    ("data", "tables", "message"),
    [
        ({"colour": 1}, False, "f.toml: colour: unknown key"),
        ({"overlay": {"colour": 1}}, True, "f.toml: [overlay].colour: unknown key"),
        ({"overlay": {"size": 0}}, False, "f.toml: overlay.size: Input should be greater than or equal to 1"),
        ({"nodes": 3, "overlay": {"size": 5}}, False, "f.toml: overlay.size = 5 must be smaller than nodes = 3"),
    ],
)
def test_validate_model_one_line(data, tables, message):
    with pytest.raises(ConfigError) as err:
        validate_model(Outer, data, "f.toml", tables=tables)
    assert str(err.value) == message


def test_validate_model_ok():
    assert validate_model(Outer, {"overlay": {"size": 2}}, "f.toml").overlay.size == 2


def test_read_toml(tmp_path):
    good = tmp_path / "a.toml"
    good.write_text('name = "x"\n[t]\nk = 1\n', encoding="utf-8")
    assert read_toml(good) == {"name": "x", "t": {"k": 1}}
    with pytest.raises(ConfigError, match=r"b\.toml: scenario file not found$"):
        read_toml(tmp_path / "b.toml", "scenario file")
    bad = tmp_path / "bad.toml"
    bad.write_text("name = = 1\n")
    with pytest.raises(ConfigError, match=r"bad\.toml: malformed TOML \("):
        read_toml(bad)
    latin = tmp_path / "latin.toml"
    latin.write_bytes('name = "caf\xe9"\n'.encode("latin-1"))
    with pytest.raises(ConfigError, match=r"latin\.toml: cannot read \("):
        read_toml(latin)
