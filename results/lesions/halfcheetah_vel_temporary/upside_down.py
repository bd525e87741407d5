"""How often the temporary lesion leaves a half-cheetah on its back, per run (a diagnostic of the recovery).

Usage (from the repository root)::

    python results/lesions/halfcheetah_vel_temporary/upside_down.py results/control/halfcheetah_vel/runs/{plastic,weights}_s{0,1,2}

Replays the lesion study's episodes (the same held-out seeds, 4 per training task value, 1,000 steps,
all weights at zero on steps 500-549) with and without the lesion, and reports the fraction of episodes
whose torso pitch (``qpos[2]``, the root's hinge about y) ends beyond +-pi/2, i.e. upside down, and the mean reward
per step over steps 600-999. Writes ``upside_down.json`` beside this script.
"""
import json
import os
import sys

import numpy as np

from pdlf_brian.interventions import TemporaryLesion
from pdlf_brian.protocols.control import control_problem_for_run
from pdlf_brian.rundir import RunDir

rows = []
for run in sys.argv[1:]:
    d, problem = RunDir(run), control_problem_for_run(run, 1000)
    values = [v for v in problem.task_values for _ in range(4)]
    seeds = np.random.default_rng(20261125).integers(0, 2**31 - 1, size=len(values))   # the study's eval seed
    row = {"run": os.path.basename(run.rstrip("/")), "learner": d.config().learner}
    for name, interventions in (("lesioned", (TemporaryLesion(("in", "out"), 500, 50),)), ("intact", ())):
        net = problem.evaluation_network(1, len(values), interventions=interventions)
        out = problem.rollout(net, np.asarray(d.genome())[None], values, seeds, record_steps=True)
        pitch = problem.environments(len(values)).kernel.qpos[:, 2]
        row[name] = {"upside_down_at_end": float(np.mean(np.abs(pitch) > np.pi / 2)),
                     "reward_600_999": float(out["reward"][600:].mean())}
        # reward after the lesion of the episodes that end right side up
        upright = np.abs(pitch) <= np.pi / 2
        row[name]["reward_600_999_upright"] = float(out["reward"][600:, upright].mean()) if upright.any() else None
    rows.append(row)
    print(json.dumps(row), flush=True)
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "upside_down.json"), "w") as fh:
    json.dump({"command": "python results/lesions/halfcheetah_vel_temporary/upside_down.py " + " ".join(sys.argv[1:]),
               "runs": rows}, fh, indent=1)
