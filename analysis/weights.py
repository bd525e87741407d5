"""Weight matrices after different stimuli and their differences from a reference stimulus.

A plastic network builds its weights during an episode, so the weights after stimulus A and after
stimulus B differ: this is where its memory lives. Inputs are ``{stimulus label: matrix (n_pre,
n_post)}``, e.g. ``Recording.weights["in"][p, b]`` after runs with different inputs.
"""
import numpy as np

from pdlf_brian.analysis.figures import pyplot, to_jsonable


def _check_weights(weights, reference):
    if reference not in weights:
        raise ValueError(f"reference: {reference!r} is not a stimulus label; labels are {list(weights)}")
    out = {}
    for label, w in weights.items():
        w = np.asarray(w, dtype=float)
        if w.ndim != 2:
            raise ValueError(f"weights[{label!r}]: expected a matrix (n_pre, n_post), got shape {w.shape}")
        out[label] = w
    shape = out[reference].shape
    bad = {k: v.shape for k, v in out.items() if v.shape != shape}
    if bad:
        raise ValueError(f"weights: every matrix must have the reference's shape {shape}; got {bad}")
    return out


def weight_differences(weights, reference):
    """Norms of each weight matrix and of its difference from the reference stimulus's matrix.

    Parameters
    ----------
    weights : dict
        Stimulus label to a matrix (n_pre, n_post).
    reference : str
        Label of the matrix the others are compared with.

    Returns
    -------
    dict
        Per label: ``norm`` (Frobenius norm of the matrix), ``diff_norm`` (Frobenius norm of
        ``W - W_ref``), ``relative_diff`` (``diff_norm / norm(W_ref)``, None when the reference is
        zero), ``max_abs_diff`` and ``correlation`` (Pearson correlation of the entries with the
        reference's, None when either is constant).
    """
    weights = _check_weights(weights, reference)
    ref = weights[reference]
    ref_norm = np.linalg.norm(ref)
    out = {}
    for label, w in weights.items():
        diff = w - ref
        a, b = w.ravel(), ref.ravel()
        corr = None
        if a.std() > 0 and b.std() > 0:
            corr = float(np.corrcoef(a, b)[0, 1])
        out[label] = {
            "norm": np.linalg.norm(w),
            "diff_norm": np.linalg.norm(diff),
            "relative_diff": np.linalg.norm(diff) / ref_norm if ref_norm > 0 else None,
            "max_abs_diff": np.abs(diff).max(),
            "correlation": corr,
        }
    return to_jsonable(out)


def weights_figure(weights, reference, projection=None, cmap="RdBu_r"):
    """Matrices (top row) and differences from the reference (bottom row), symmetric colour scales.

    Parameters
    ----------
    weights : dict
        Stimulus label to a matrix (n_pre, n_post); drawn in dict order.
    reference : str
        Label of the reference stimulus.
    projection : str, optional
        Projection name for the title (``"in"``, ``"out"``...).
    cmap : str

    Returns
    -------
    fig : matplotlib.figure.Figure
    numbers : dict
        ``{"reference", "differences": weight_differences(...), "weight_scale", "diff_scale"}``.
    """
    weights = _check_weights(weights, reference)
    diffs = {k: w - weights[reference] for k, w in weights.items()}
    w_scale = max(np.abs(w).max() for w in weights.values()) or 1.0
    d_scale = max(np.abs(d).max() for d in diffs.values()) or 1.0
    plt = pyplot()
    n = len(weights)
    fig, axes = plt.subplots(2, n, figsize=(2.6 * n + 1, 5.2), squeeze=False, layout="constrained")
    for col, label in enumerate(weights):
        top = axes[0][col].imshow(weights[label].T, cmap=cmap, vmin=-w_scale, vmax=w_scale, aspect="auto",
                                  interpolation="nearest")
        axes[0][col].set_title(label, fontsize=9)
        bottom = axes[1][col].imshow(diffs[label].T, cmap=cmap, vmin=-d_scale, vmax=d_scale, aspect="auto",
                                     interpolation="nearest")
        axes[1][col].set_title(f"{label} - {reference}", fontsize=9)
        axes[1][col].set_xlabel("presynaptic")
    axes[0][0].set_ylabel("postsynaptic")
    axes[1][0].set_ylabel("postsynaptic")
    fig.colorbar(top, ax=list(axes[0]), shrink=0.8, label="w")
    fig.colorbar(bottom, ax=list(axes[1]), shrink=0.8, label="difference")
    if projection:
        fig.suptitle(f"projection {projection!r}")
    numbers = {"reference": reference, "differences": weight_differences(weights, reference),
               "weight_scale": w_scale, "diff_scale": d_scale}
    return fig, to_jsonable(numbers)
