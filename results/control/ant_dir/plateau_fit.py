"""How far the plastic ant_dir curves are from levelling off (`pdlf_brian.analysis.plateau`).

Fits ``level - amplitude * exp(-(g - start) / tau)`` and ``level - amplitude * (g / start) ** -exponent``
to each plastic run's logged held-out scores, and to their mean over seeds, from several start
generations; prints two tables and writes ``plateau_fit.json`` into the results folder (default: the
one holding this script). The first table gives, per curve, form and start, the fitted level and
shape, the fitted rise per 50 generations at the last logged generation, and the generation at which
that rise would fall below ``--threshold``. The second backtests each form on the mean curve: fitted
without its last 100-400 generations, how far its prediction of them was off. ``plateau_fit.png``
draws the mean curve with every fit of it carried on, and their rise per 50 generations beside the
measured one.

    python results/control/ant_dir/plateau_fit.py [RESULTS_FOLDER] [--learner plastic] [--threshold 5]
"""
import argparse
import json
import os
import sys

from pdlf_brian.analysis.figures import save_figure, to_jsonable
from pdlf_brian.analysis.plateau import FORMS, backtest_table, plateau_figure, plateau_projection, projection_table

HERE = os.path.dirname(os.path.abspath(__file__))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default=HERE)
    parser.add_argument("--learner", default="plastic", choices=["plastic", "weights", "agnostic"])
    parser.add_argument("--threshold", type=float, default=5.0,
                        help="rise per 50 generations taken as level (default 5)")
    parser.add_argument("--starts", type=int, nargs="+", default=[300, 400, 500, 600])
    parser.add_argument("--forms", nargs="+", default=list(FORMS), choices=list(FORMS))
    args = parser.parse_args(argv)
    result = plateau_projection(args.out, args.learner, starts=args.starts, threshold=args.threshold,
                                forms=args.forms)
    result["command"] = " ".join(["python results/control/ant_dir/plateau_fit.py",
                                  *(sys.argv[1:] if argv is None else argv)])
    print("\n".join(projection_table(result)))
    print("\nbacktests of the mean curve (bias: prediction - logged)")
    print("\n".join(backtest_table(result)))
    fig, numbers = plateau_figure(result, title=f"ant_dir, {args.learner}: how far the mean held-out curve is from level")
    save_figure(fig, os.path.join(args.out, "plateau_fit"))
    result["figure"] = to_jsonable(numbers)
    with open(os.path.join(args.out, "plateau_fit.json"), "w") as fh:
        json.dump(result, fh, indent=1)


if __name__ == "__main__":
    main()
