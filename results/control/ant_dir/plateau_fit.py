"""How far the plastic ant_dir curves are from levelling off (`pdlf_brian.analysis.plateau`).

Fits ``level - amplitude * exp(-(g - start) / tau)`` to each plastic run's logged held-out scores,
and to their mean over seeds, from several start generations; prints a table and writes
``plateau_fit.json`` into the results folder (default: the one holding this script) with, per curve
and start, the fitted level and tau, the fitted rise per 50 generations at the last logged
generation, and the generation at which that rise would fall below ``--threshold``.

    python results/control/ant_dir/plateau_fit.py [RESULTS_FOLDER] [--learner plastic] [--threshold 5]
"""
import argparse
import json
import os
import sys

from pdlf_brian.analysis.plateau import plateau_projection, projection_table

HERE = os.path.dirname(os.path.abspath(__file__))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default=HERE)
    parser.add_argument("--learner", default="plastic", choices=["plastic", "weights", "agnostic"])
    parser.add_argument("--threshold", type=float, default=5.0,
                        help="rise per 50 generations taken as level (default 5)")
    parser.add_argument("--starts", type=int, nargs="+", default=[300, 400, 500, 600])
    args = parser.parse_args(argv)
    result = plateau_projection(args.out, args.learner, starts=args.starts, threshold=args.threshold)
    result["command"] = " ".join(["python results/control/ant_dir/plateau_fit.py",
                                  *(sys.argv[1:] if argv is None else argv)])
    print("\n".join(projection_table(result)))
    with open(os.path.join(args.out, "plateau_fit.json"), "w") as fh:
        json.dump(result, fh, indent=1)


if __name__ == "__main__":
    main()
