"""Rate-distortion plots (matplotlib, Agg backend; never opens a window, never prints).

``plot_rd`` draws our curves bold with markers and the anchors thinner and dashed, on a linear rate
axis (the usual presentation in the INR-codec papers), and writes the PNG atomically: it is saved
to a temporary file in the destination directory and moved into place with ``os.replace``, so a
reader never sees a half-written file.

``anchors`` may be ``{name: (rates, psnrs)}`` (e.g. ``inrcodec.evaluation.anchors.curves("kodak", [...])``) or
a dict of :mod:`inrcodec.evaluation.anchors` entries (``{name: {"rate": [...], "psnr": [...], ...}}``, e.g.
``inrcodec.evaluation.anchors.KODAK``) directly.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Mapping, Sequence

__all__ = ["plot_rd"]

Curve = tuple[Sequence[float], Sequence[float]]


def _rate_psnr(name: str, value: Any) -> tuple[list[float], list[float]]:
    """(rates, psnrs) sorted by rate, from a (rates, psnrs) pair or an anchors entry dict."""
    if isinstance(value, Mapping):
        rates, psnrs = value["rate"], value["psnr"]
    else:
        rates, psnrs = value
    rates = [float(r) for r in rates]
    psnrs = [float(p) for p in psnrs]
    if len(rates) != len(psnrs):
        raise ValueError(f"curve {name!r}: {len(rates)} rates but {len(psnrs)} PSNR values")
    order = sorted(range(len(rates)), key=rates.__getitem__)
    return [rates[i] for i in order], [psnrs[i] for i in order]


def plot_rd(
    curves: Mapping[str, Curve],
    anchors: Mapping[str, Any] | None,
    out_path: str | os.PathLike[str],
    title: str,
    rate_label: str = "bpp",
    *,
    psnr_label: str = "PSNR (dB)",
    log_rate: bool = False,
    xlim: tuple[float, float] | None = None,
    ylim: tuple[float, float] | None = None,
    dpi: int = 150,
) -> Path:
    """Plots rate-distortion curves to a PNG at ``out_path`` (written atomically); returns the path.

    Args:
      curves: ours, ``{name: (rates, psnrs)}``; drawn bold, solid, with markers.
      anchors: reference curves, ``{name: (rates, psnrs)}`` or ``{name: anchors entry}``; drawn
        thinner and dashed with small markers. ``None`` or ``{}`` for none.
      out_path: destination PNG; its directory must exist.
      title: plot title.
      rate_label: x-axis label (e.g. "bpp", "kbps", "bits per field").
      psnr_label: y-axis label.
      log_rate: use a logarithmic rate axis (useful when rates span decades, e.g. ERA5).
      xlim, ylim: optional axis limits, e.g. ``xlim=(0, 1.0)`` to zoom on the low-rate region
        (anchors such as VTM and BPG extend to 8-10 bpp).
      dpi: output resolution.
    """
    # Object-oriented API on the Agg canvas: no pyplot, no global backend switch, no display.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    out_path = Path(out_path)
    fig = Figure(figsize=(7.0, 5.0))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)

    anchor_markers = "osD^v<>ph*xP"
    for i, (name, value) in enumerate((anchors or {}).items()):
        rates, psnrs = _rate_psnr(name, value)
        ax.plot(
            rates,
            psnrs,
            linestyle="--",
            linewidth=1.0,
            marker=anchor_markers[i % len(anchor_markers)],
            markersize=3,
            alpha=0.85,
            label=name,
        )
    for name, value in curves.items():
        rates, psnrs = _rate_psnr(name, value)
        ax.plot(
            rates,
            psnrs,
            linestyle="-",
            linewidth=2.5,
            marker="o",
            markersize=6,
            zorder=10,
            label=name,
        )

    if log_rate:
        ax.set_xscale("log")
    if xlim is not None:
        ax.set_xlim(*xlim)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.set_xlabel(rate_label)
    ax.set_ylabel(psnr_label)
    ax.set_title(title)
    ax.grid(True, which="major", alpha=0.4)
    if log_rate:
        ax.grid(True, which="minor", alpha=0.15)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="lower right", fontsize="small", framealpha=0.9)
    fig.tight_layout()

    directory = out_path.parent if str(out_path.parent) else Path(".")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out_path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            fig.savefig(handle, format="png", dpi=dpi)
        os.chmod(tmp_name, 0o644)  # mkstemp creates 0600; give the PNG ordinary permissions
        os.replace(tmp_name, out_path)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    return out_path
