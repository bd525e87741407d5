"""Why ant_dir's early fitness rises as episodes get shorter: per-step reward parts of each run's chosen genome.

For every run under runs/ with an eval.json, plays the chosen genome (``eval.json``'s ``genome``)
on the 8 training directions (held-out seed 0, one episode each, the run's device for evaluation) and
reports the mean episode length, the mean |action|, and the per-step healthy bonus, direction reward
(also per direction: positive for every direction only if the Ant follows the direction input) and
control cost of the steps alive, and per direction the distance and heading (degrees) of the torso's
displacement from the first to the last step. Writes ``early_dynamics.json`` into the results folder (default:
the one holding this script).

With ``--snapshots``, plays instead every run's saved search centres (``snapshots/generation_*.npy``,
PGPE's recommendation every 25 generations) the same way, with their mean |genome|, and writes
``centre_dynamics.json``: how the centre's size and the actions it produces change during training.

    python results/control/ant_dir/early_dynamics.py [RESULTS_FOLDER] [--snapshots]
"""
import glob
import json
import os
import sys

import numpy as np

from pdlf_brian.protocols.control import control_problem_for_run

HERE = os.path.dirname(os.path.abspath(__file__))


def play(problem, genome):
    """Reward parts of one genome on the 8 training directions (held-out seeds 0-7, one episode each)."""
    values = list(problem.task_values)
    net = problem.evaluation_network(1, len(values))
    out = problem.rollout(net, genome[None, :], values, seeds=list(range(len(values))), record_steps=True)
    env = problem.environments(len(values))
    steps = env.steps.copy()
    action = out["action"]                                  # (E, copies, act_dim)
    alive = np.arange(action.shape[0])[:, None] < steps[None, :]
    ctrl = env.template._ctrl_cost_weight * (action ** 2).sum(axis=2)     # the control cost per step
    healthy = float(env.template._healthy_reward)
    direction = out["reward"] + ctrl - healthy              # the rest of the reward: velocity along theta
    last = np.maximum(steps, 1) - 1
    moved = out["position"][last, np.arange(len(values)), :2] - out["position"][0, :, :2]   # torso, first to last step
    return {"score": float(out["returns"].mean()), "mean_episode_steps": float(steps.mean()),
            "mean_abs_action": float(np.abs(action)[alive].mean()),
            "fraction_of_actions_at_bound": float((np.abs(action)[alive] >= 1.0).mean()),
            "per_step_healthy": healthy, "per_step_control_cost": float(ctrl[alive].mean()),
            "per_step_direction_reward": float(direction[alive].mean()),
            "per_step_direction_reward_by_direction": [float(direction[alive[:, e], e].mean())
                                                       for e in range(len(values))],
            "directions": [float(v) for v in values],
            "distance_by_direction": np.hypot(*moved.T).tolist(),
            "heading_by_direction_deg": np.degrees(np.arctan2(moved[:, 1], moved[:, 0])).tolist()}


def main(folder=HERE, snapshots=False):
    rows = []
    for run in sorted(glob.glob(os.path.join(folder, "runs", "*"))):
        report = os.path.join(run, "eval.json")
        if not os.path.exists(report):
            continue
        info = json.load(open(report))
        problem = control_problem_for_run(run)
        if snapshots:
            genomes = sorted(glob.glob(os.path.join(run, "snapshots", "generation_*.npy")))
        else:
            genomes = [os.path.join(run, info.get("genome", "recommendation.npy"))]
        for path in genomes:
            genome = np.load(path)
            row = {"run": os.path.basename(run), "generations": info.get("generations")}
            if snapshots:
                row.update(snapshot=int(os.path.basename(path)[len("generation_"):-4]),
                           mean_abs_genome=float(np.abs(genome).mean()))
            row.update(play(problem, genome))
            rows.append(row)
            print(json.dumps(row))
    name = "centre_dynamics.json" if snapshots else "early_dynamics.json"
    with open(os.path.join(folder, name), "w") as f:
        json.dump({"command": "python " + " ".join(["results/control/ant_dir/early_dynamics.py"] + sys.argv[1:]),
                   "rows": rows}, f, indent=1)


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--snapshots"]
    main(*args[:1], snapshots="--snapshots" in sys.argv[1:])
