"""Cost of one simulated step of a whole population, per device, against NumPy and the memory floor.

Network 28-128-8 (Ant-sized), plastic learner with the full rule, P in {1, 16, 64, 256}.

* runtime: Brian2 Cython runtime, open loop through the input network operation. Per-step cost is
  the slope between a short and a long episode, so the fixed 0.1-0.3 s per ``run()`` is excluded
  (it is reported separately as ``overhead_s``).
* runtime_brian2_clip: the same with Brian2's own Cython ``clip``/``sign`` (no ``noexcept``: every call
  is followed by ``PyErr_Occurred()``), which `pdlf_brian.cython_support` replaces.
* cpp_standalone: compiled once per (P, threads); per-step cost from the simulation time the binary
  itself measures (``device._last_run_time``); compile time and the whole process time (start-up,
  reading run_args, writing results) are reported separately.
* numpy: `pdlf_brian.reference.ReferenceNetwork`, float64 and float32, timed over the same steps.
* floor: the bytes one synapse update must touch (read rate + 4 rule parameters + w, write w) divided
  by the copy bandwidth measured in the same run (``numpy.copyto`` of 256 MiB: read + write).

Each configuration runs in its own process (Brian2 holds one device per process).
Usage: ``python benchmarks/step_cost.py [--quick]``; writes ``benchmarks/results/step_cost.json``.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SHAPE = (28, 128, 8)
POPULATIONS = (1, 16, 64, 256)


def steps_for(P, quick):
    base = 2000 if P == 1 else max(60, 24000 // P)
    return max(20, base // (4 if quick else 1))


def copy_bandwidth(n_bytes=256 * 2**20, repeats=5):
    src = np.ones(n_bytes // 8)
    dst = np.empty_like(src)
    np.copyto(dst, src)
    best = min(_timed(lambda: np.copyto(dst, src)) for _ in range(repeats))
    return 2 * n_bytes / best  # bytes read + written per second


def _timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _restore_brian2_clip():
    from brian2.codegen.generators import cython_generator as cy
    from brian2.core.functions import DEFAULT_FUNCTIONS

    for name, code in (("clip", cy.clip_code), ("sign", cy.sign_code)):
        DEFAULT_FUNCTIONS[name].implementations.add_implementation(cy.CythonCodeGenerator, code=code,
                                                                   name=f"_{name}")


def worker(kind, P, T, threads):
    from pdlf_brian.layout import NetworkShape
    from pdlf_brian.models import PDLF_RULE, TERNARY_LIF

    shape = NetworkShape(*SHAPE)
    rng = np.random.default_rng(0)
    result = {"kind": kind, "P": P, "steps": T, "threads": threads}
    if kind.startswith("numpy"):
        from pdlf_brian.reference import ReferenceNetwork

        dtype = np.float32 if kind == "numpy_float32" else np.float64
        ref = ReferenceNetwork(shape, PDLF_RULE.resolve("full"), TERNARY_LIF, dtype=dtype)
        genomes = rng.normal(0, 0.04, (P, ref.layout.size))
        inputs = rng.normal(0, 1, (T, P, 1, SHAPE[0])).astype(dtype)
        ref.run(genomes, inputs[:5])
        result["seconds_per_step"] = _timed(lambda: ref.run(genomes, inputs)) / T
        return result

    from pdlf_brian.network import PopulationNetwork

    start = time.perf_counter()
    if kind.startswith("runtime"):
        net = PopulationNetwork(shape, P, synapse=PDLF_RULE.resolve("full"), device="runtime")
        if kind == "runtime_brian2_clip":
            _restore_brian2_clip()      # before the first run, which generates the code
        genomes = rng.normal(0, 0.04, (P, net.genome_size))
        short, long_ = max(5, T // 10), T
        inputs = rng.normal(0, 1, (long_, P, 1, SHAPE[0]))
        net.run(genomes, inputs[:short])            # compiles everything
        result["compile_s"] = time.perf_counter() - start
        t_short = min(_timed(lambda: net.run(genomes, inputs[:short])) for _ in range(2))
        t_long = min(_timed(lambda: net.run(genomes, inputs)) for _ in range(2))
        result["seconds_per_step"] = (t_long - t_short) / (long_ - short)
        result["overhead_s"] = t_short - short * result["seconds_per_step"]
        return result
    directory = tempfile.mkdtemp(prefix="pdlf_bench_")
    net = PopulationNetwork(shape, P, synapse=PDLF_RULE.resolve("full"), device="cpp_standalone", n_steps=T,
                            threads=threads,
                            directory=directory)
    result["compile_s"] = net.compile_seconds
    genomes = rng.normal(0, 0.04, (P, net.genome_size))
    inputs = rng.normal(0, 1, (T, P, 1, SHAPE[0]))
    runs = []
    for _ in range(3):
        wall = _timed(lambda: net.run(genomes, inputs))
        runs.append((net._device._last_run_time, wall))
    sim, wall = min(runs)
    result["seconds_per_step"] = sim / T
    result["process_s"] = wall
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps (a smoke run)")
    parser.add_argument("--populations", type=int, nargs="+", default=list(POPULATIONS))
    parser.add_argument("--worker", nargs=4, metavar=("KIND", "P", "T", "THREADS"), help=argparse.SUPPRESS)
    parser.add_argument("--out", default=os.path.join(HERE, "results", "step_cost.json"))
    args = parser.parse_args()
    if args.worker:
        kind, P, T, threads = args.worker
        print(json.dumps(worker(kind, int(P), int(T), int(threads))))
        return

    n_syn = SHAPE[0] * SHAPE[1] + SHAPE[1] * SHAPE[2]
    bandwidth = copy_bandwidth()
    bytes_f64 = 7 * 8  # read eta, A, B, C, D, w; write w
    floor_ns = bytes_f64 / bandwidth * 1e9
    configs = [(k, 0) for k in ("numpy_float64", "numpy_float32", "runtime_brian2_clip", "runtime",
                                          "cpp_standalone")]
    configs.append(("cpp_standalone", 2))
    rows = []
    for P in args.populations:
        T = steps_for(P, args.quick)
        for kind, threads in configs:
            cmd = [sys.executable, os.path.abspath(__file__), "--worker", kind, str(P), str(T), str(threads)]
            out = subprocess.run(cmd, capture_output=True, text=True)
            if out.returncode != 0:
                print(out.stderr[-3000:], file=sys.stderr)
                raise SystemExit(f"benchmark worker failed: {' '.join(cmd)}")
            row = json.loads(out.stdout.strip().splitlines()[-1])
            row["ns_per_synapse_update"] = row["seconds_per_step"] / (P * n_syn) * 1e9
            row["x_floor"] = row["ns_per_synapse_update"] / floor_ns
            rows.append(row)
            label = kind + (f" ({threads} OpenMP threads)" if threads else "")
            print(f"P={P:4d} {label:34s} {row['seconds_per_step'] * 1e3:9.3f} ms/step "
                  f"{row['ns_per_synapse_update']:7.2f} ns/syn  {row['x_floor']:5.2f}x floor"
                  + (f"  compile {row['compile_s']:.1f} s" if row.get("compile_s") else ""), flush=True)
    result = {
        "network": "28-128-8 plastic (full rule), float64 unless noted",
        "synapses_per_copy": n_syn,
        "copy_bandwidth_GBps": bandwidth / 1e9,
        "bytes_per_synapse_update": bytes_f64,
        "floor_ns_per_synapse_update": floor_ns,
        "command": "python benchmarks/step_cost.py" + (" --quick" if args.quick else ""),
        "machine": {"cpus": os.cpu_count()},
        "rows": rows,
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(result, fh, indent=1)
    print(f"copy bandwidth {bandwidth / 1e9:.2f} GB/s; floor {floor_ns:.2f} ns per synapse update "
          f"({bytes_f64} bytes); written {args.out}")


if __name__ == "__main__":
    main()
