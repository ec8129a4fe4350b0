"""Finding 6: figures are paper-ready — PNG, SVG or PDF at a chosen dpi, reproducible bytes."""

from __future__ import annotations

import base64
import io
import re
import struct

import pytest

import peergrid
from peergrid.report import DEFAULT_DPI, plot_energy_flows, save_figure, write_report

STEMS = ("daily_profiles", "prices", "savings", "soc", "energy_flows")


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height in pixels from a PNG's IHDR chunk."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


@pytest.mark.parametrize("fmt", ["svg", "pdf"])
def test_vector_formats_written_and_valid(comparison, tmp_path, fmt):
    path = write_report(comparison, tmp_path, format=fmt)
    for stem in STEMS:
        data = (tmp_path / f"{stem}.{fmt}").read_bytes()
        if fmt == "svg":
            assert data.lstrip().startswith((b"<?xml", b"<svg")), stem
            assert b"</svg>" in data[-200:]
        else:
            assert data.startswith(b"%PDF"), stem
            assert b"%%EOF" in data[-64:]
        assert not (tmp_path / f"{stem}.png").exists()
    text = path.read_text(encoding="utf-8")
    embedded = "svg+xml" if fmt == "svg" else "png"
    assert text.count(f'src="data:image/{embedded};base64,') == len(STEMS)
    assert f"<code>prices.{fmt}</code>" in text


def test_dpi_is_honoured(comparison, tmp_path):
    write_report(comparison, tmp_path / "lo")
    write_report(comparison, tmp_path / "hi", dpi=300)
    for stem in STEMS:
        w_lo, h_lo = png_size((tmp_path / "lo" / f"{stem}.png").read_bytes())
        w_hi, h_hi = png_size((tmp_path / "hi" / f"{stem}.png").read_bytes())
        assert w_hi == pytest.approx(w_lo * 300 / DEFAULT_DPI, abs=2)
        assert h_hi == pytest.approx(h_lo * 300 / DEFAULT_DPI, abs=2)
    fig = plot_energy_flows(comparison)
    w_in, h_in = fig.get_size_inches()
    assert png_size((tmp_path / "hi" / "energy_flows.png").read_bytes()) == (round(w_in * 300), round(h_in * 300))
    # the page shows a 300-dpi figure at the same size as a 110-dpi one
    page = (tmp_path / "hi" / "report.html").read_text(encoding="utf-8")
    assert f'width="{round(w_in * DEFAULT_DPI)}"' in page


@pytest.mark.parametrize("fmt", ["png", "svg", "pdf"])
def test_save_figure_is_reproducible(comparison, fmt):
    outs = []
    for _ in range(2):
        buf = io.BytesIO()
        save_figure(plot_energy_flows(comparison), buf, fmt, 72)
        outs.append(buf.getvalue())
    assert outs[0] == outs[1]


def test_png_report_embeds_the_written_files(comparison, tmp_path):
    text = write_report(comparison, tmp_path, dpi=90).read_text(encoding="utf-8")
    embedded = {base64.b64decode(u) for u in re.findall(r'src="data:image/png;base64,([^"]+)"', text)}
    assert {(tmp_path / f"{s}.png").read_bytes() for s in STEMS} == embedded


@pytest.mark.parametrize(("fmt", "dpi"), [("jpg", 100), ("png", 0), ("png", 5000), ("svg", 1.5)])
def test_bad_format_or_dpi_is_a_config_error(comparison, tmp_path, fmt, dpi):
    with pytest.raises(peergrid.ConfigError):
        write_report(comparison, tmp_path, format=fmt, dpi=dpi)
    assert not (tmp_path / "report.html").exists()
