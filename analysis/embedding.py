"""Hidden-state embeddings coloured by task, and how separable the tasks are.

The picture is a t-SNE embedding (scikit-learn, seeded). t-SNE distorts distances and depends on
its random start, so the *claim* "tasks form separable manifolds" is scored differently: by a
cross-validated linear readout (logistic regression on standardised raw hidden states, stratified
k-fold) of the task label, reported beside the chance level of always guessing the most frequent
task. A score near 1 means linearly separable; near chance means not.
"""
import numpy as np

from pdlf_brian.analysis.figures import pyplot, to_jsonable


def stack_states(states_by_task):
    """Samples and labels from ``{task label: array (..., H)}``.

    Every leading axis (steps, individuals, copies) becomes samples; e.g. a ``Recording.trace``
    slice of shape (T, B, H) gives T*B samples.

    Returns
    -------
    states : numpy.ndarray (n_samples, H)
    labels : numpy.ndarray (n_samples,)
    """
    xs, ys = [], []
    for label, arr in states_by_task.items():
        arr = np.asarray(arr, dtype=float)
        flat = arr.reshape(-1, arr.shape[-1])
        xs.append(flat)
        ys += [label] * len(flat)
    if len({x.shape[1] for x in xs}) > 1:
        raise ValueError("states_by_task: every array must have the same last axis (hidden units)")
    return np.concatenate(xs), np.asarray(ys)


def _check(states, labels):
    states = np.asarray(states, dtype=float)
    labels = np.asarray(labels)
    if states.ndim != 2:
        raise ValueError(f"states: expected shape (n_samples, n_features), got {states.shape}")
    if labels.shape != (len(states),):
        raise ValueError(f"labels: expected shape ({len(states)},), got {labels.shape}")
    return states, labels


def chance_level(labels):
    """Accuracy of always predicting the most frequent label."""
    _, counts = np.unique(np.asarray(labels), return_counts=True)
    return float(counts.max() / counts.sum())


def separability(states, labels, n_splits=5, seed=0, C=1.0, groups=None):
    """Cross-validated accuracy of a linear readout of the task label from hidden states.

    Parameters
    ----------
    states : array (n_samples, n_features)
        Raw hidden states (trace, voltage or spike counts), not an embedding.
    labels : array (n_samples,)
        Task of each sample.
    n_splits : int
        Folds of the stratified k-fold (reduced to the size of the smallest class if needed).
    seed : int
        Shuffling of the folds.
    C : float
        Inverse L2 regularisation of the logistic regression.
    groups : array (n_samples,), optional
        Episode of each sample. Given, every fold holds out whole groups (``GroupKFold``), so that
        the readout is tested on episodes it never saw: samples of one episode are correlated in
        time, and a shuffled split would let a readout recognise the episode instead of the task.

    Returns
    -------
    dict
        ``accuracy`` (mean over folds), ``accuracy_std``, ``fold_accuracies``, ``chance`` (majority
        class), ``n_samples``, ``n_classes``, ``n_splits``, ``grouped``.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    states, labels = _check(states, labels)
    classes, counts = np.unique(labels, return_counts=True)
    if len(classes) < 2:
        raise ValueError("labels: need at least two tasks to score separability")
    splits = min(n_splits, int(counts.min()))
    if splits < 2:
        raise ValueError(f"labels: every task needs at least 2 samples for cross-validation; counts {counts}")
    model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000))
    if groups is None:
        folds = StratifiedKFold(n_splits=splits, shuffle=True, random_state=seed)
        scores = cross_val_score(model, states, labels, cv=folds)
    else:
        from sklearn.model_selection import GroupKFold

        groups = np.asarray(groups)
        if groups.shape != labels.shape:
            raise ValueError(f"groups: expected one group per sample, shape {labels.shape}, got {groups.shape}")
        splits = min(n_splits, len(np.unique(groups)))
        if splits < 2:
            raise ValueError("groups: need at least two groups (episodes) to hold one out")
        scores = cross_val_score(model, states, labels, cv=GroupKFold(n_splits=splits), groups=groups)
    return to_jsonable({"accuracy": scores.mean(), "accuracy_std": scores.std(), "fold_accuracies": scores,
                        "chance": chance_level(labels), "n_samples": len(states), "n_classes": len(classes),
                        "n_splits": splits, "grouped": groups is not None})


def tsne(states, seed=0, perplexity=None):
    """2-D t-SNE embedding of ``states`` (seeded; PCA start).

    ``perplexity`` defaults to ``min(30, (n_samples - 1) / 3)``. Identical states (a silent network)
    all map to the origin: scikit-learn's t-SNE would crash on them.
    """
    from sklearn.manifold import TSNE

    states = np.asarray(states, dtype=float)
    if np.ptp(states, axis=0).max(initial=0.0) == 0:
        return np.zeros((len(states), 2))
    if perplexity is None:
        perplexity = max(min(30.0, (len(states) - 1) / 3), 1.0)
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(states)


def embedding_figure(states, labels, seed=0, perplexity=None, n_splits=5, title=None, groups=None):
    """t-SNE of hidden states coloured by task, annotated with the linear-readout separability.

    Parameters
    ----------
    states : array (n_samples, n_features)
    labels : array (n_samples,)
    seed : int
        Seed of the t-SNE and of the cross-validation folds.
    perplexity : float, optional
    n_splits : int
    title : str, optional
    groups : array (n_samples,), optional
        Episode of each sample: the separability score then holds out whole episodes (`separability`).

    Returns
    -------
    fig : matplotlib.figure.Figure
    numbers : dict
        ``{"separability": separability(...), "embedding": [[x, y], ...], "labels": [...]}``.
    """
    states, labels = _check(states, labels)
    score = separability(states, labels, n_splits=n_splits, seed=seed, groups=groups)
    emb = tsne(states, seed=seed, perplexity=perplexity)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 4.4))
    classes = list(dict.fromkeys(labels.tolist()))
    cmap = plt.get_cmap("viridis" if len(classes) > 10 else "tab10")
    for n, cls in enumerate(classes):
        sel = labels == cls
        color = cmap(n / max(len(classes) - 1, 1)) if len(classes) > 10 else cmap(n)
        ax.scatter(emb[sel, 0], emb[sel, 1], s=8, color=color, label=str(cls), rasterized=True)
    ax.set(xticks=[], yticks=[], xlabel="t-SNE 1", ylabel="t-SNE 2",
           title=title or f"linear readout {score['accuracy']:.2f} (chance {score['chance']:.2f})")
    if len(classes) <= 12:
        ax.legend(fontsize=7, markerscale=1.5, title="task", title_fontsize=7)
    fig.tight_layout()
    return fig, to_jsonable({"separability": score, "embedding": emb, "labels": labels.tolist()})
