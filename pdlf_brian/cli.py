"""Command line: ``pdlf train <protocol> [--config FILE] [--set key=value] [--resume RUN_DIR]`` and
``pdlf eval RUN_DIR``."""
import argparse
import json
import os
import sys

from pdlf_brian.errors import ConfigError


def _train(args):
    from pdlf_brian.evolution.config import TrainConfig, load_config
    from pdlf_brian.evolution.trainer import Trainer
    from pdlf_brian.protocols import problem_for

    if args.resume:
        with open(os.path.join(args.resume, "config.json")) as fh:
            config = TrainConfig.from_dict(json.load(fh))
        run_dir = args.resume
    else:
        config = load_config(args.config, args.set, base={"protocol": args.protocol})
        run_dir = args.run_dir or os.path.join("runs", f"{config.protocol}-{config.learner}-seed{config.seed}")
    problem = problem_for(config)
    trainer = Trainer(config, run_dir, problem)
    log = trainer.run(resume=bool(args.resume))
    summary = _evaluate(run_dir, problem, config)
    print(json.dumps({"run_dir": run_dir, "generations": len(log), **summary}, indent=1))


def _evaluate(run_dir, problem=None, config=None):
    """Held-out evaluation of a run's recommendation; writes eval.json and training.png."""
    from pdlf_brian.analysis.curves import plot_training
    from pdlf_brian.evolution.trainer import generation_seed, load_run
    from pdlf_brian.protocols import problem_for

    config, log, best, recommendation = load_run(run_dir)
    problem = problem or problem_for(config)
    genome = best if best is not None else recommendation
    seed = generation_seed(config.seed, 10**6, 2)       # a stream never used in training
    metrics = problem.heldout(genome, seed)
    result = {"final": metrics}
    if config.protocol == "working_memory":
        result["after_reset"] = problem.heldout(genome, seed, reset=True)
    with open(os.path.join(run_dir, "eval.json"), "w") as fh:
        json.dump(result, fh, indent=1)
    wm = config.protocol == "working_memory"
    levels = {"chance": 0.5, "majority bit": metrics["majority_baseline"]} if wm else None
    plot_training([run_dir], os.path.join(run_dir, "training.png"), labels=[config.learner],
                  heldout_label="held-out accuracy" if wm else "held-out score", levels=levels,
                  title=f"{config.protocol} ({config.learner}, {config.optimizer}, seed {config.seed})")
    return {"eval": os.path.join(run_dir, "eval.json"), "figure": os.path.join(run_dir, "training.png"),
            "heldout_score": metrics["score"]}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="pdlf", description="Evolve plasticity rules of spiking networks.")
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train a protocol (or resume a run)")
    train.add_argument("protocol", nargs="?", default="working_memory")
    train.add_argument("--config", help="JSON or TOML file with config keys")
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override a config key (task.length=8); repeatable")
    train.add_argument("--run-dir", help="where to write the run (default runs/<protocol>-<learner>-seed<seed>)")
    train.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its last checkpoint")
    ev = sub.add_parser("eval", help="evaluate a run's recommendation on held-out episodes")
    ev.add_argument("run_dir")
    args = parser.parse_args(argv)
    try:
        if args.command == "train":
            _train(args)
        else:
            print(json.dumps(_evaluate(args.run_dir), indent=1))
    except ConfigError as exc:
        print(f"pdlf: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
