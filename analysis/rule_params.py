"""The evolved rule parameters of chosen synapses across generations.

The trainer keeps genome snapshots (the recommendation) in a run directory as
``snapshots/generation_{g:06d}.npy``, each a 1-D float array laid out by
`pdlf_brian.layout.GenomeLayout`: per projection, one (n_pre, n_post) block per rule parameter,
rate first (``eta, A, B, C, D`` for the full PDLF rule). A synapse is named ``(projection, i, j)``
with ``i`` presynaptic and ``j`` postsynaptic.
"""
import os
import re

import numpy as np

from pdlf_brian.analysis.figures import pyplot, to_jsonable

SNAPSHOT_PATTERN = re.compile(r"^generation_(\d+)\.npy$")


def snapshot_path(run_dir, generation):
    """Path of the snapshot of ``generation`` inside ``run_dir``."""
    return os.path.join(run_dir, "snapshots", f"generation_{generation:06d}.npy")


def load_snapshots(path):
    """``[(generation, genome)]`` sorted by generation from a run directory or its snapshot folder.

    Parameters
    ----------
    path : str
        A run directory (with a ``snapshots`` folder) or the snapshot folder itself.

    Returns
    -------
    list of (int, numpy.ndarray)
    """
    folder = os.path.join(path, "snapshots") if os.path.isdir(os.path.join(path, "snapshots")) else path
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"no snapshot folder at {folder!r}")
    found = []
    for name in os.listdir(folder):
        match = SNAPSHOT_PATTERN.match(name)
        if match:
            found.append((int(match.group(1)), np.load(os.path.join(folder, name))))
    return sorted(found, key=lambda pair: pair[0])


def _synapse_name(projection, i, j):
    return f"{projection}[{i},{j}]"


def synapse_parameters(genome, layout, projection, i, j):
    """``{parameter: value}`` of one synapse in one genome.

    Parameters
    ----------
    genome : array (genome_size,)
    layout : pdlf_brian.layout.GenomeLayout
    projection : str
        ``"in"``, ``"rec"`` or ``"out"``.
    i, j : int
        Presynaptic and postsynaptic index.
    """
    genome = np.asarray(genome, dtype=float)
    if genome.shape != (layout.size,):
        raise ValueError(f"genome: expected shape ({layout.size},) for this layout, got {genome.shape}")
    blocks = {(proj, var): (start, shape) for proj, var, start, _, shape in layout.blocks}
    projections = list(dict.fromkeys(proj for proj, *_ in layout.blocks))
    if projection not in projections:
        raise ValueError(f"projection: {projection!r} is not in the layout; projections are {projections}")
    out = {}
    for var in layout.variables:
        start, (n_pre, n_post) = blocks[(projection, var)]
        if not (0 <= i < n_pre and 0 <= j < n_post):
            raise ValueError(f"synapse {_synapse_name(projection, i, j)}: out of range for a "
                             f"({n_pre}, {n_post}) projection")
        out[var] = float(genome[start + i * n_post + j])
    return out


def rule_trajectories(snapshots, layout, synapses):
    """Parameter values of chosen synapses across generations.

    Parameters
    ----------
    snapshots : list of (int, array)
        ``(generation, genome)`` pairs, e.g. from `load_snapshots`; sorted by generation here.
    layout : pdlf_brian.layout.GenomeLayout
    synapses : list of (str, int, int)
        ``(projection, i, j)`` synapses.

    Returns
    -------
    dict
        ``generations`` (list), ``parameters`` (the layout's variable names), ``rate`` (the rate
        parameter's name, or None for a static synapse) and ``synapses``: ``{"in[i,j]": {parameter:
        list over generations}}``; for a plasticity rule also ``effective``: ``{"in[i,j]":
        {"eta*A": list, ...}}``, the rate times each other parameter (the coefficient a term
        actually gets).
    """
    snapshots = sorted(((int(g), np.asarray(x, dtype=float)) for g, x in snapshots), key=lambda p: p[0])
    rate = getattr(layout.synapse, "rate", None)
    out = {"generations": [g for g, _ in snapshots], "parameters": list(layout.variables), "rate": rate,
           "synapses": {}}
    if rate is not None:
        out["effective"] = {}
    for projection, i, j in synapses:
        name = _synapse_name(projection, i, j)
        rows = [synapse_parameters(genome, layout, projection, i, j) for _, genome in snapshots]
        traj = {var: [r[var] for r in rows] for var in layout.variables}
        out["synapses"][name] = traj
        if rate is not None:
            out["effective"][name] = {f"{rate}*{var}": (np.asarray(traj[rate]) * np.asarray(traj[var])).tolist()
                                      for var in layout.variables if var != rate}
    return to_jsonable(out)


def rule_params_figure(snapshots, layout, synapses, effective=False):
    """One panel per rule parameter, one line per synapse, against generations.

    Parameters
    ----------
    snapshots : list of (int, array) or str
        ``(generation, genome)`` pairs, or a run directory / snapshot folder for `load_snapshots`.
    layout : pdlf_brian.layout.GenomeLayout
    synapses : list of (str, int, int)
    effective : bool
        Draw the rate times each parameter (``eta*A``...) instead of the raw parameters.

    Returns
    -------
    fig : matplotlib.figure.Figure
    numbers : dict
        As returned by `rule_trajectories`.
    """
    if isinstance(snapshots, (str, os.PathLike)):
        snapshots = load_snapshots(snapshots)
    numbers = rule_trajectories(snapshots, layout, synapses)
    if effective and numbers["rate"] is None:
        raise ValueError("effective=True needs a plasticity rule; this layout holds static weights")
    panels = numbers["effective"] if effective else numbers["synapses"]
    names = list(next(iter(panels.values())).keys()) if panels else list(numbers["parameters"])
    plt = pyplot()
    cols = min(len(names), 3)
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.8 * rows), squeeze=False, sharex=True)
    for ax, var in zip(axes.ravel(), names):
        for n, (syn, traj) in enumerate(panels.items()):
            ax.plot(numbers["generations"], traj[var], marker=".", color=f"C{n % 10}", label=syn)
        ax.axhline(0, color="k", lw=0.6)
        ax.set_title(var, fontsize=9)
    for ax in axes.ravel()[len(names):]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("generation")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return fig, numbers
