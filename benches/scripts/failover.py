#!/usr/bin/env python3
"""Failover time on a cluster: from kill -9 of a TaskManager until every subtask of the
restarted job processes again (its sink prints again), with default settings.

    python3 benches/scripts/failover.py [--runs 5] [--target target/release]

A cluster of 2 TaskManagers x 2 slots on 127.0.0.1 (in a temporary directory) runs
shuffle_app at parallelism 2 with checkpoints every second; each run kills the
TaskManager that hosts the job's worker and waits for the sink of the new attempt to
print on every subtask. The job runs packed on one TaskManager (the default
taskmanager.load-balance.mode), so the other's free slots take it over.
"""
import argparse, json, os, signal, subprocess, time
from pathlib import Path

from local_cluster import local_cluster, printed_subtasks

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--target", default="target/release")
    a = ap.parse_args()
    target = Path(a.target).resolve()
    spate, app = target / "spate", target / "examples" / "shuffle_app"
    results = []
    for run in range(a.runs):
        with local_cluster(spate, "spate-failover-") as (d, env):
            out = subprocess.run([str(spate), "run", "-d", "-p", "2", str(app), "--records", "1000000000",
                                  "--slow-every", "100", "--slow-ms", "1",
                                  "-D", "execution.checkpointing.interval=1s",
                                  "-D", f"execution.checkpointing.dir={d}/checkpoints"],
                                 env=env, check=True, capture_output=True, text=True).stdout
            job = next(l.split()[-1] for l in out.splitlines() if "JobID" in l)
            # Running, with a completed checkpoint.
            deadline = time.time() + 60
            while not list((d / "checkpoints" / job).glob("chk-*/_metadata")):
                assert time.time() < deadline, "no checkpoint completed"
                time.sleep(0.05)
            time.sleep(0.5)
            attempt0 = list((d / "tm").glob(f"*/job-{job}-0"))
            tm_dir = attempt0[0].parent.name  # spate-taskmanager-127.0.0.1_<pid>-<x>
            tm_pid = int(tm_dir.split("_")[1].split("-")[0])
            t0 = time.time()
            os.kill(tm_pid, signal.SIGKILL)
            # Every sink subtask of attempt 1 prints (p=2: both on the other TaskManager's worker).
            deadline = t0 + 60
            while True:
                outs = list((d / "tm").glob(f"*/job-{job}-1/worker.out"))
                if outs and all(o.stat().st_size > 0 for o in outs) and len(printed_subtasks(outs)) >= 2:
                    break
                if time.time() > deadline:
                    subprocess.run(["bash", "-c", f"wc -c {d}/tm/*/job-*/worker.*; head -3 {d}/tm/*/job-*-1/worker.out; grep -v tarpc {d}/log/*jobmanager*.log | tail -8"])
                    raise SystemExit("the job did not process again")
                time.sleep(0.005)
            took = time.time() - t0
            results.append(took)
            print(f"run {run}: {took:.3f} s from the kill to every subtask processing again", flush=True)
    results.sort()
    print(json.dumps({"name": "failover_taskmanager_kill", "runs": len(results),
                      "median_seconds": round(results[len(results) // 2], 3),
                      "min_seconds": round(results[0], 3), "max_seconds": round(results[-1], 3)}))


if __name__ == "__main__":
    main()
