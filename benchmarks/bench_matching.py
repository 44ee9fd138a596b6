"""Benchmark the exact solver against OR-Tools' min-cost flow and the greedy baseline.

    .venv/bin/python -m benchmarks.bench_matching [--sizes 300x1000,50000x10000,1c:50000x10000,...] [--repeat 3]

A size ``NxM`` is a district-shaped instance (30 service items, so at least 30 independent
components); ``1c:NxM`` is ONE connected component (a single city-wide item, 5-40 eligible
offers per need, capacities 1-7): the shape that used to make scipy's matching fall off a cliff;
``1h:NxM`` is the district with one more offer every need may use, a city-wide hotline with
N/40 places, which joins all 30 items into one component (solved by pricing the hotline);
``1b:NxM`` is one component of a few large offers (50-200 places each, like canteens or a
hospital's clinic hours): many identical slots per offer, which once made the auction re-run
most of its bidding in every phase, and below 10k needs made LAPJVsp's graph one column per place
(``1b:6000x72``); with fewer offers it is short of places (``1b:50000x150``: 19k places for 50k
needs), which leaves many of an offer's places spare with a price between the auction's phases;
``f1c:NxM`` is ``1c`` with costs measured to no whole decimal (each times 1.0000001 plus a random
1e-7), which the solver rounds to a fine grid and certifies for the costs as given; OR-Tools, which
takes integers only, solves the same costs rounded to six decimals, its nearest problem (the
objectives then agree to a millionth, not exactly); ``g:NxM`` is a city of units that serve
single grids: N/3 service items of 1-3 offers each, so tens of thousands of components of a few
needs, which the solver packs into blocks of ~256 needs (OR-Tools is timed on the same blocks).

Each size runs in its own process. Our solver is timed alone; peak memory comes from a second,
identical run sampled meanwhile: the proportional set size (PSS) of this process and its pool
workers, summed, so pages a forked worker shares with its parent count once. (Sampling reads
every page table five times a second: on 2 cores it took a fifth of the time of the 1M case,
so the timed run is not sampled.) In the same process it then times OR-Tools'
min-cost flow solving the same components one by one (its solve calls only, one core) and
the greedy baseline, checks that all exact objectives agree, and prints the ratios.

Each process keeps the memory it frees, as a flow run's does (``settings.keep_memory``; the
first line says so): ``THREELISTS_KEEP_MEMORY=0`` measures glibc's and numpy's defaults instead.

Identical runs here differ by 10-40 % (a shared 2-core VM), for us and for OR-Tools, not always
together. ``--repeat N`` times ours and OR-Tools N times each, alternating, and prints the
medians and the median of the N paired ratios with their range.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from settings import keeps_memory

DEFAULT_SIZES = (
    "300x1000,50000x10000,200000x40000,1000000x200000,1c:10000x2000,1c:50000x10000,1c:200000x40000,"
    "f1c:50000x10000,1h:20000x4000,1h:100000x20000,1b:6000x72,1b:50000x600,1b:50000x150,g:50000x30000"
)
ONE_COMPONENT = {"items": 1, "degree": (5, 40), "capacity": (1, 7)}
LARGE_OFFERS = {"items": 1, "degree": (5, 40), "capacity": (50, 200)}


def _pss_mib() -> float:
    """PSS of this process and its children, MiB."""
    import psutil

    me = psutil.Process()
    total = 0
    for p in [me, *me.children(recursive=True)]:
        try:
            total += p.memory_full_info().pss
        except psutil.Error:  # a worker that just ended
            pass
    return total / 2**20


def peak_memory(fn: Callable[[], Any], every: float = 0.2) -> tuple[Any, float]:
    """Run ``fn``; return its result and the highest PSS (MiB) sampled meanwhile."""
    peak = [_pss_mib()]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(every):
            peak[0] = max(peak[0], _pss_mib())

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    try:
        result = fn()
    finally:
        done.set()
        watcher.join()
    return result, max(peak[0], _pss_mib())


def _one(size: str, seed: int, repeat: int = 1) -> dict:
    from benchmarks.oracle import solve_oracle
    from matching import solve_assignment
    from matching.baselines import solve_greedy
    from matching.instances import random_instance
    from matching.solver import choose_method, find_hub, prepare_blocks
    from settings import keep_memory

    keep_memory()  # as in a flow run's process (the first line of main's table says which)

    shape, _, dims = size.rpartition(":")
    n_needs, n_offers = map(int, dims.split("x"))
    kind = {
        "": {},
        "1c": ONE_COMPONENT,
        "f1c": ONE_COMPONENT,
        "1h": {"hotline": max(1, n_needs // 40)},
        "1b": LARGE_OFFERS,
        "g": {"items": max(1, n_needs // 3), "degree": (1, 3), "capacity": (1, 3)},
    }[shape]
    edges, cap, pen = random_instance(n_needs, n_offers, seed=seed, **kind)
    for_oracle = edges
    if shape == "f1c":  # costs whole at no number of decimals; OR-Tools gets them at six
        rng = np.random.default_rng(seed)
        edges["cost"] = edges["cost"] * 1.0000001 + rng.random(len(edges)) * 1e-7
        for_oracle = edges.assign(cost=edges["cost"].round(6))
    ours: list[float] = []
    theirs: list[float] = []
    for run in range(repeat):
        t = time.perf_counter()
        exact = solve_assignment(edges, cap, pen)
        ours.append(time.perf_counter() - t)
        if run == 0:
            objective, unserved = exact.objective, exact.unserved
            del exact  # the sampled run's peak holds one solution, not two
            exact, peak = peak_memory(lambda: solve_assignment(edges, cap, pen))
        if exact.objective != objective:
            raise SystemExit(f"{size}: two runs of our solver differ: {objective} and {exact.objective}")
        del exact
        if run == 0:
            prepared = prepare_blocks(edges, cap, pen)  # once, for the method column and the oracle
            methods = sorted({"hub" if find_hub(b) else choose_method(b) for b in prepared.blocks})
            # components, not blocks (small ones are solved packed together)
            components, largest = prepared.stats["components"], prepared.stats["largest_component"]
            if for_oracle is not edges:  # (the same components, the costs OR-Tools takes)
                prepared = prepare_blocks(for_oracle, cap, pen)
        oracle = solve_oracle(for_oracle, cap, pen, prepared)
        theirs.append(oracle.seconds)
        if abs(oracle.objective - objective) > 1e-6 * max(1.0, abs(oracle.objective)):
            raise SystemExit(f"{size}: objectives differ: ours {objective}, OR-Tools {oracle.objective}")
    del prepared
    ratios = [a / max(b, 1e-3) for a, b in zip(ours, theirs, strict=True)]
    t = time.perf_counter()
    greedy = solve_greedy(edges, cap, pen)
    t_greedy = time.perf_counter() - t
    urgent = pen.index[pen.attrs["urgency"] >= 2]
    return {
        "size": size,
        "edges": len(edges),
        "components": components,
        "blocks": oracle.components,
        "largest": largest,
        "methods": "+".join(methods),
        "ours_s": round(statistics.median(ours), 2),
        "ortools_s": round(statistics.median(theirs), 2),
        "ratio": round(statistics.median(ratios), 2),
        "ratio_range": f"{min(ratios):.2f}-{max(ratios):.2f}" if repeat > 1 else "",
        "peak_mib": round(peak),
        "greedy_s": round(t_greedy, 2),
        "greedy_gap_pct": round(100 * (greedy.objective / objective - 1), 2) if objective else 0.0,
        "urgent_unserved": f"{int(unserved.isin(urgent).sum())}/{int(greedy.unserved.isin(urgent).sum())}",
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default=DEFAULT_SIZES)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=1, help="time ours and OR-Tools this many times each")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(_one(args.one, args.seed, args.repeat)))
        return
    print(
        "memory freed is kept by each process, as in a flow run: "
        + ("yes" if keeps_memory() else "no (THREELISTS_KEEP_MEMORY=0)")
    )
    print(
        f"{'instance':>17} {'edges':>10} {'comps':>6} {'blocks':>6} {'largest':>8} {'method':>16} {'ours s':>7} "
        f"{'OR-Tools s':>10} {'x OR-Tools':>10} {'range':>11} {'peak MiB':>9} {'greedy s':>9} {'greedy gap %':>12} "
        f"{'urgent unserved ours/greedy':>27}"
    )
    for size in args.sizes.split(","):
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "benchmarks.bench_matching",
                "--one",
                size,
                "--seed",
                str(args.seed),
                "--repeat",
                str(args.repeat),
            ],
            capture_output=True,
            text=True,
        )
        if out.returncode:
            print(
                f"{size:>17} failed: {out.stderr.strip().splitlines()[-1] if out.stderr else out.returncode}"
            )
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"{r['size']:>17} {r['edges']:>10} {r['components']:>6} {r['blocks']:>6} {r['largest']:>8} {r['methods']:>16} "
            f"{r['ours_s']:>7} {r['ortools_s']:>10} {r['ratio']:>10} {r['ratio_range']:>11} {r['peak_mib']:>9} {r['greedy_s']:>9} "
            f"{r['greedy_gap_pct']:>12} {r['urgent_unserved']:>27}",
            flush=True,
        )


if __name__ == "__main__":
    main()
