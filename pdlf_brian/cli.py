"""Command line: ``pdlf train <protocol> [--config FILE] [--set key=value] [--run-dir DIR]``,
``pdlf train --resume RUN_DIR [--set generations=N]``, ``pdlf eval RUN_DIR`` and
``pdlf report PATH... [--out DIR]``."""
import argparse
import json
import os
import sys

from pdlf_brian.errors import ConfigError, DeviceError


def _train(args):
    from pdlf_brian.evolution.config import load_config, resume_config
    from pdlf_brian.evolution.trainer import Trainer
    from pdlf_brian.protocols import problem_for
    from pdlf_brian.rundir import CHECKPOINT, CONFIG, RunDir

    if args.resume:
        if args.config:
            raise ConfigError("--config with --resume: a resumed run keeps its saved config.json")
        d = RunDir(args.resume)
        d.require(CONFIG, CHECKPOINT, action="resume")
        config = resume_config(d.config(action="resume").to_dict(), args.set)
        run_dir = args.resume
    else:
        config = load_config(args.config, args.set, base={"protocol": args.protocol})
        run_dir = args.run_dir or os.path.join("runs", f"{config.protocol}-{config.learner}-seed{config.seed}")
    problem = problem_for(config)
    trainer = Trainer(config, run_dir, problem)
    log = trainer.run(resume=bool(args.resume))
    summary = evaluate_run(run_dir, problem)
    print(json.dumps({"run_dir": run_dir, "generations": len(log), **summary}, indent=1))


def evaluate_run(run_dir, problem=None, figure=True):
    """The protocol's `final_report` of a run's chosen genome: writes eval.json (and the training figure).

    The genome is scored with the protocol state that belongs to it (`RunDir.genome_state_file`,
    named in eval.json's ``problem_state``); a ``problem`` passed in has that state loaded."""
    from pdlf_brian.analysis.curves import plot_training
    from pdlf_brian.evolution.trainer import generation_seed, load_run
    from pdlf_brian.protocols import problem_for_run
    from pdlf_brian.rundir import EVAL, RunDir

    config, log, best, recommendation = load_run(run_dir)
    d = RunDir(run_dir)
    problem = problem_for_run(run_dir, config, problem)
    if len(recommendation) != problem.genome_size:
        raise ConfigError(f"run directory {run_dir}: its genome has {len(recommendation)} values but the "
                          f"{config.protocol!r} problem of its config needs {problem.genome_size}")
    genome = best if best is not None else recommendation
    seed = generation_seed(config.seed, 10**6, 2)       # a stream never used in training
    report = problem.final_report(genome, seed)
    report["genome"] = "best_genome.npy" if best is not None else "recommendation.npy"
    report["problem_state"] = d.genome_state_file()
    d.write_json(EVAL, report)
    metrics = report["final"]
    wm = config.protocol == "working_memory"
    levels = {"chance": 0.5, "majority bit": metrics["majority_baseline"]} if wm else None
    result = {"eval": d / EVAL, "heldout_score": metrics["score"]}
    if figure:
        result["figure"] = d.figure_path("training.png")
        chosen = None
        if best is not None:
            evaluated = [r for r in log if r["heldout"] is not None]
            top = max(evaluated, key=lambda r: r["heldout"])      # where best_genome.npy was chosen
            chosen = {"generation": top["generation"], "score": metrics["score"],
                      "label": f"eval.json genome (gen {top['generation']}): {metrics['score']:.3f} on new data"}
        extra = {"heldout_silent_fraction": "silent recall outputs"} if wm else None
        plot_training([run_dir], result["figure"], labels=[config.learner],
                      heldout_label="held-out accuracy" if wm else "held-out score", levels=levels,
                      title=f"{config.protocol} ({config.learner}, {config.optimizer}, seed {config.seed})\n"
                            f"population {config.population} x {len(log)} generations"
                            + (f", L = {problem.task.length}, Lat = {problem.task.delay}" if wm else ""),
                      extra=extra, chosen=chosen)
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(prog="pdlf", description="Evolve plasticity rules of spiking networks.")
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train a protocol (or resume a run)")
    train.add_argument("protocol", nargs="?", default="working_memory")
    train.add_argument("--config", help="JSON or TOML file with config keys")
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override a config key (task.length=8); repeatable; with --resume only "
                            "generations, progress, executor, workers, scheduler and shards")
    train.add_argument("--run-dir", help="where to write the run (default runs/<protocol>-<learner>-seed<seed>)")
    train.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its last checkpoint")
    ev = sub.add_parser("eval", help="evaluate a run's chosen genome on held-out episodes")
    ev.add_argument("run_dir")
    rep = sub.add_parser("report", help="every figure that applies to runs or results folders, and one HTML page")
    rep.add_argument("paths", nargs="+", metavar="PATH", help="run directories or results folders")
    rep.add_argument("--out", help="folder for the figures and report.html (default: the first PATH's figures/)")
    args = parser.parse_args(argv)
    try:
        if args.command == "train":
            _train(args)
        elif args.command == "eval":
            print(json.dumps(evaluate_run(args.run_dir), indent=1))
        else:
            from pdlf_brian.analysis.report import make_report

            print(make_report(args.paths, args.out))
    except (ConfigError, DeviceError) as exc:
        print(f"pdlf: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
