"""Check a compiled closed-loop episode half by half: its network and its physics, each fed the episode's own data.

An end-to-end comparison of two closed loops (compiled against the runtime one) needs both to compute
every step identically: MuJoCo amplifies a difference in the last bit of an action, and a spiking network
turns a difference in an input into a different spike. That holds between ``cpp_standalone`` and the
runtime device, but not on a GPU, which sums synaptic inputs in the order its threads finish. So a
compiled episode is also checked in its two halves, where no difference can grow through the loop:

* **network**: the episode's recorded inputs (``inputs``, every network step) fed open loop to the
  independent NumPy reference network (`pdlf_brian.reference`) with the same genomes give the recorded
  readout, on every step where the copy was live;
* **physics**: the episode's recorded actions stepped through a fresh `pdlf_brian.envs.BatchedTaskEnv`
  from the same seeds and task values give the recorded rewards, terminations and episode lengths, and
  the recorded inputs (the normalised observations).

A fault in the plumbing between the two (actions that are not the readout, inputs that are not the
observation, a copy stepped after it ended) fails one half at the step where it happens.
"""
import numpy as np


def _first_bad(diff, tol):
    """First index along axis 0 where ``diff`` exceeds ``tol`` anywhere, or None."""
    bad = (diff > tol).reshape(len(diff), -1).any(axis=1)
    return int(np.argmax(bad)) if bad.any() else None


def _compare(actual, expected, rtol, atol, mask=None):
    actual, expected = np.asarray(actual, dtype=float), np.asarray(expected, dtype=float)
    diff = np.abs(actual - expected)
    tol = atol + rtol * np.abs(expected)
    excess = np.where(diff > tol, diff, 0.0)
    if mask is not None:
        excess = np.where(mask, excess, 0.0)
        diff = np.where(mask, diff, 0.0)
    first = _first_bad(excess, 0.0)
    return {"ok": first is None, "first_step": first, "max_abs_diff": float(diff.max()) if diff.size else 0.0}


def check_network_half(problem, genomes, compiled, rtol=1e-9, atol=1e-12):
    """The recorded inputs, fed open loop to the NumPy reference network, give the recorded readout.

    Parameters
    ----------
    problem : `protocols.control.ControlProblem`
        The problem whose network the episode ran (shape, synapse, ``n_steps``).
    genomes : array (P, genome_size)
    compiled : dict
        A rollout with ``record_steps``: ``inputs`` (T, P, B, n_in), ``recording.output``
        (T, P, B, n_out) and ``steps`` (P, B).
    rtol, atol : float
        Tolerance on the readout.

    Returns
    -------
    dict
        ``ok``, ``first_step`` (the first network step with a difference beyond the tolerance, or
        None) and ``max_abs_diff``, over the steps where each copy was live (before its episode ended).
    """
    inputs = np.asarray(compiled["inputs"])
    T, P, B = inputs.shape[:3]
    reference = problem.make(P, B, device="numpy", n_steps=T)
    output = reference.run(np.asarray(genomes), inputs).output
    steps = np.asarray(compiled["steps"]).reshape(P, B)
    live = np.arange(T)[:, None, None] < np.maximum(steps, 1)[None]      # network step t used env step t's input
    mask = np.broadcast_to(live[..., None], output.shape)
    return _compare(compiled["recording"].output, output, rtol, atol, mask)


def check_physics_half(problem, task_values, seeds, compiled, norm=None, rtol=1e-9, atol=1e-9):
    """The recorded actions, stepped through fresh batched environments, give the recorded episode.

    Parameters
    ----------
    problem : `protocols.control.ControlProblem`
    task_values, seeds : sequences of B values
        As given to the rollout (the same for every individual).
    compiled : dict
        A rollout with ``record_steps``: ``action`` (E, C, act_dim), ``reward`` (E, C), ``inputs``
        (T, P, B, n_in), ``terminated`` and ``steps`` (P, B).
    norm : `pdlf_brian.envs.RunningNorm`, optional
        The frozen statistics the episode normalised with (default: ``problem.norm``).

    Returns
    -------
    dict
        Per quantity (``reward``, ``inputs``) ``ok``, ``first_step`` and ``max_abs_diff``; ``steps_equal``
        and ``terminated_equal``; ``ok`` for all of them.
    """
    from pdlf_brian.envs import BatchedTaskEnv

    norm = norm or problem.norm
    actions = np.asarray(compiled["action"])
    E, C = actions.shape[:2]
    inputs = np.asarray(compiled["inputs"])
    P, B = inputs.shape[1:3]
    env = BatchedTaskEnv(problem.family.name, C, nthread=1, max_episode_steps=problem.settings.episode_steps)
    values = np.tile(np.asarray(list(task_values), dtype=float), P)
    obs = env.reset(seeds=np.tile(np.asarray(seeds, dtype=np.int64), P), task_values=values)
    blind = problem.family.has_task_value and not problem.settings.task_input
    xs, rewards = [], []
    for t in range(E + 1):
        x = norm.normalize(obs).reshape(P, B, -1)
        if blind:
            x[..., -1] = 0.0
        xs.append(x)
        if t < E:
            obs, reward, _, _, _ = env.step(actions[t])
            rewards.append(reward)
    result = {"reward": _compare(compiled["reward"], np.stack(rewards), rtol, atol),
              "inputs": _compare(inputs[:E + 1], np.stack(xs), rtol, atol),
              "steps_equal": bool(np.array_equal(np.asarray(compiled["steps"]).ravel(), env.steps)),
              "terminated_equal": bool(np.array_equal(np.asarray(compiled["terminated"]).ravel(), env.terminated))}
    result["ok"] = (result["reward"]["ok"] and result["inputs"]["ok"] and result["steps_equal"]
                    and result["terminated_equal"])
    return result


def first_divergence(a, b, tol=1e-9):
    """First index along axis 0 where ``a`` and ``b`` differ by more than ``tol`` (absolute), or None."""
    return _first_bad(np.abs(np.asarray(a, dtype=float) - np.asarray(b, dtype=float)), tol)
