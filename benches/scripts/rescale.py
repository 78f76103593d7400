#!/usr/bin/env python3
"""Rescale by savepoint on a cluster: the processing gap of stop-with-savepoint and
resubmission at another parallelism, 1 -> 2 -> 1, for a keyed job with 1 M keys.

    python3 benches/scripts/rescale.py [--runs 3] [--target target/release]

A cluster of 2 TaskManagers x 2 slots on 127.0.0.1 (in a temporary directory) runs
shuffle_app (a running count per key, printed) with 1 M keys; once every key has state,
`spate stop` takes a savepoint and the job is submitted again from it with `spate run
-s` at the other parallelism. The gap is from the stop request until every subtask of
the new job prints.
"""
import argparse, json, subprocess, time
from pathlib import Path

from local_cluster import local_cluster, printed_subtasks


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--target", default="target/release")
    a = ap.parse_args()
    target = Path(a.target).resolve()
    spate, app = target / "spate", target / "examples" / "shuffle_app"
    gaps = {"1->2": [], "2->1": []}
    for run in range(a.runs):
        with local_cluster(spate, "spate-rescale-") as (d, env):
            args = [str(app), "--records", "1000000000", "--keys", "1000000", "--slow-every", "1000", "--slow-ms", "1"]
            def submit(p, savepoint=None):
                cmd = [str(spate), "run", "-d", "-p", str(p)] + (["-s", savepoint] if savepoint else []) + args
                out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
                return next(l.split()[-1] for l in out.splitlines() if "JobID" in l)
            job = submit(1)
            time.sleep(3)  # ~1 M records a second: every key has state
            for step, p in (("1->2", 2), ("2->1", 1)):
                t0 = time.time()
                out = subprocess.run([str(spate), "stop", "--savepointPath", str(d / "savepoints"), job],
                                     env=env, check=True, capture_output=True, text=True).stdout
                path = next(l.split("Path: ")[1] for l in out.splitlines() if "Path: " in l)
                job = submit(p, path)
                deadline = time.time() + 60
                while True:
                    outs = list((d / "tm").glob(f"*/job-{job}-0/worker.out"))
                    # At parallelism 1 the print sink writes no "N> " prefix.
                    if (p == 1 and any(o.stat().st_size > 0 for o in outs)) or len(printed_subtasks(outs)) >= p:
                        break
                    assert time.time() < deadline, "the rescaled job did not process"
                    time.sleep(0.005)
                gap = time.time() - t0
                size = sum(f.stat().st_size for f in Path(path.removeprefix("file:")).iterdir())
                gaps[step].append(gap)
                print(f"run {run} {step}: {gap:.3f} s gap, savepoint {size / 1e6:.1f} MB", flush=True)
                time.sleep(2)
    for step, values in gaps.items():
        values.sort()
        print(json.dumps({"name": f"rescale_by_savepoint_{step}", "runs": len(values),
                          "median_seconds": round(values[len(values) // 2], 3)}))

if __name__ == "__main__":
    main()
