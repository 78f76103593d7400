"""What the cluster benchmark scripts share: a cluster of 2 TaskManagers x 2 slots on
127.0.0.1 in a temporary directory, and reading which subtasks a print sink heard from."""
import contextlib, os, subprocess, tempfile
from pathlib import Path

@contextlib.contextmanager
def local_cluster(spate, prefix):
    """Starts the cluster; yields its directory and the environment for `spate` commands;
    stops it, also when the measurement fails."""
    with tempfile.TemporaryDirectory(prefix=prefix) as d:
        d = Path(d)
        (d / "conf").mkdir()
        (d / "conf/config.yaml").write_text(
            "rest.port: 0\njobmanager.rpc.port: 0\ntaskmanager.numberOfTaskSlots: 2\n"
            f"blob.storage.directory: {d}/artifacts\nio.tmp.dirs: {d}/tm\n")
        (d / "conf/workers").write_text("localhost\nlocalhost\n")
        env = dict(os.environ, SPATE_CONF_DIR=str(d / "conf"), SPATE_PID_DIR=str(d / "pids"),
                   SPATE_LOG_DIR=str(d / "log"))
        env.pop("SPATE_LOG", None)
        subprocess.run([str(spate), "cluster", "start"], env=env, check=True, capture_output=True)
        try:
            yield d, env
        finally:
            subprocess.run([str(spate), "cluster", "stop"], env=env, capture_output=True)

def printed_subtasks(outs):
    """The subtasks whose print sink wrote to the `worker.out` files `outs` (it prefixes
    each line with its subtask, "1> ", at parallelism above 1)."""
    seen = set()
    for o in outs:
        with open(o, "rb") as f:
            for line in f.read(1 << 20).splitlines():
                if line[:1].isdigit() and b"> " in line[:6]:
                    seen.add(line.split(b">")[0])
    return seen
