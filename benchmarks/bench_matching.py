"""Benchmark the exact solver against the greedy baseline on generated instances.

    .venv/bin/python -m benchmarks.bench_matching [--sizes 300x1000,50000x10000,...]

Each size runs in its own process so peak memory (this process and its pool workers) is
its own. Prints wall time and peak RSS of the exact solver next to the greedy baseline
measured in the same run, with the greedy's cost gap and the urgent needs each leaves unserved.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

DEFAULT_SIZES = "300x1000,50000x10000,200000x40000,1000000x200000"


def _one(n_needs: int, n_offers: int, seed: int) -> dict:
    from matching import solve_assignment
    from matching.baselines import solve_greedy
    from matching.instances import random_instance

    edges, cap, pen = random_instance(n_needs, n_offers, seed=seed)
    t = time.perf_counter()
    exact = solve_assignment(edges, cap, pen)
    t_exact = time.perf_counter() - t
    peak_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    peak_children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    t = time.perf_counter()
    greedy = solve_greedy(edges, cap, pen)
    t_greedy = time.perf_counter() - t
    urgent = pen.index[pen.attrs["urgency"] >= 2]  # urgent and critical needs
    return {
        "needs": n_needs,
        "offers": n_offers,
        "edges": len(edges),
        "slot_edges": int(exact.stats.get("slot_edges", 0)),
        "blocks": int(exact.stats.get("blocks", 0)),
        "exact_s": round(t_exact, 2),
        "exact_peak_mib": round(peak_self + peak_children),
        "greedy_s": round(t_greedy, 2),
        "exact_objective": round(exact.objective, 3),
        "greedy_gap_pct": round(100 * (greedy.objective / exact.objective - 1), 2),
        "urgent_unserved_exact": int(exact.unserved.isin(urgent).sum()),
        "urgent_unserved_greedy": int(greedy.unserved.isin(urgent).sum()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default=DEFAULT_SIZES)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        n, m = map(int, args.one.split("x"))
        print(json.dumps(_one(n, m, args.seed)))
        return
    header = (
        f"{'needs':>9} {'offers':>8} {'edges':>10} {'slot edges':>11} {'exact s':>8} {'peak MiB':>9} "
        f"{'greedy s':>9} {'time x':>7} {'gap %':>6} {'urgent unserved exact/greedy':>29}"
    )
    print(header)
    for size in args.sizes.split(","):
        out = subprocess.run(
            [sys.executable, "-m", "benchmarks.bench_matching", "--one", size, "--seed", str(args.seed)],
            capture_output=True,
            text=True,
            check=True,
        )
        r = json.loads(out.stdout.strip().splitlines()[-1])
        ratio = r["exact_s"] / max(r["greedy_s"], 1e-3)
        print(
            f"{r['needs']:>9} {r['offers']:>8} {r['edges']:>10} {r['slot_edges']:>11} {r['exact_s']:>8} "
            f"{r['exact_peak_mib']:>9} {r['greedy_s']:>9} {ratio:>7.2f} {r['greedy_gap_pct']:>6} "
            f"{r['urgent_unserved_exact']:>14}/{r['urgent_unserved_greedy']}",
            flush=True,
        )


if __name__ == "__main__":
    main()
