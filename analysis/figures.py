"""Small helpers shared by the figure functions: lazy pyplot, saving, JSON-ready numbers, phase shading.

Nothing here selects a matplotlib backend: pyplot is imported only when a figure is made, so a
notebook keeps its inline backend and a headless script gets matplotlib's own fallback (Agg).
"""
import os

import numpy as np


def pyplot():
    """Return ``matplotlib.pyplot``, imported lazily (no backend is forced)."""
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path_without_ext, formats=("png", "svg"), dpi=120):
    """Save ``fig`` once per format next to each other.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    path_without_ext : str
        Target path without extension; missing parent folders are created.
    formats : sequence of str
        File extensions understood by matplotlib (``"png"``, ``"svg"``, ``"pdf"``...).
    dpi : int
        Resolution of raster formats.

    Returns
    -------
    list of str
        The paths written, in the order of ``formats``.
    """
    folder = os.path.dirname(path_without_ext)
    if folder:
        os.makedirs(folder, exist_ok=True)
    paths = []
    for ext in formats:
        path = f"{path_without_ext}.{ext.lstrip('.')}"
        fig.savefig(path, dpi=dpi)
        paths.append(path)
    return paths


def close(fig):
    """Close ``fig`` in pyplot's figure manager (frees memory in long scripts)."""
    pyplot().close(fig)


def to_jsonable(value):
    """Convert NumPy scalars/arrays (nested in dicts, lists, tuples) to plain Python values.

    Non-finite floats become ``None`` so that the result is strict JSON.

    Parameters
    ----------
    value : object

    Returns
    -------
    object
        Built from dict, list, float, int, bool, str and None only.
    """
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if np.isfinite(value) else None
    return value


def budget_text(rows, *details):
    """One line naming the budget of summary rows: seeds, generations, population, then ``details``.

    ``details`` are ``(key, template)`` pairs filled from the first row (skipped when it lacks the key),
    e.g. ``("batch", "{} sequences per generation")``. Generations are listed when rows differ.
    """
    if not rows:
        return ""
    seeds = sorted({n for r in rows for n in r.get("seeds", [])})
    gens = sorted({r["generations"] for r in rows if r.get("generations") is not None})
    parts = [f"{len(seeds)} seeds" if seeds else None,
             "generations " + "/".join(map(str, gens)) if gens else None,
             f"population {rows[0]['population']}" if rows[0].get("population") else None]
    parts += [template.format(rows[0][key]) if rows[0].get(key) else None for key, template in details]
    return ", ".join(p for p in parts if p)


def shade_phases(ax, phases, alpha=0.08, label=True):
    """Shade alternate task phases on ``ax`` (x = step) and write their names inside the top edge.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    phases : dict
        Phase name to ``slice`` of steps (``None`` ends mean the start or end of the recording).
    alpha : float
    label : bool
        Write the phase names.
    """
    if not phases:
        return
    transform = ax.get_xaxis_transform()
    for n, (name, sl) in enumerate(phases.items()):
        start = 0 if sl.start is None else sl.start
        stop = ax.get_xlim()[1] if sl.stop is None else sl.stop
        if n % 2 == 0:
            ax.axvspan(start - 0.5, stop - 0.5, color="k", alpha=alpha, lw=0)
        if label:
            ax.text((start + stop - 1) / 2, 0.99, name, transform=transform, ha="center", va="top",
                    fontsize=7, color="0.3")
