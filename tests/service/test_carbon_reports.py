"""The service's reports carry emissions (issue 17, item 6): settled grid import × a flat carbon intensity."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from peergrid.data.carbon import DEFAULT_CARBON_INTENSITY
from peergrid.service.models import Base, Community
from peergrid.service.reports import carbon_intensity, report_from_totals, set_carbon_intensity

TOTALS = {"bought_wh": 1000, "sold_wh": 1000, "grid_import_wh": 2500, "grid_export_wh": 500, "paid_minor": 30,
          "received_minor": 30, "fee_minor": 0, "grid_paid_minor": 75, "grid_received_minor": 5}  # fmt: skip


@pytest.fixture
def session():
    engine = sa.create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with Session(engine) as s:
        s.add(Community(name="c", currency="EUR", tz="UTC", tariff={"energy": 0.3, "feed_in": 0.05}))
        s.commit()
        yield s
    engine.dispose()


def test_report_emissions_at_the_default_and_a_set_factor(session):
    c = session.scalars(sa.select(Community)).one()
    rep = report_from_totals(c, TOTALS, None, None, 2, 3500, 1500, 1.0)
    assert rep["carbon_intensity"] == DEFAULT_CARBON_INTENSITY
    assert rep["emissions_kg"] == pytest.approx(2.5 * DEFAULT_CARBON_INTENSITY)
    set_carbon_intensity(session, 0.2)
    session.commit()
    assert carbon_intensity(session) == 0.2
    rep = report_from_totals(c, TOTALS, None, None, 2, 3500, 1500, 1.0)
    assert rep["emissions_kg"] == pytest.approx(0.5)  # export earns no credit
    set_carbon_intensity(session, 0.3)  # an update, not a second row
    assert carbon_intensity(session) == 0.3
    with pytest.raises(ValueError, match=">= 0"):
        set_carbon_intensity(session, -1.0)
