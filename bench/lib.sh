# Sourced by the bench scripts: the processes a script started (PIDS, which the script declares
# and kills on exit) and CPU accounting of a process tree from /proc.

# forget PID: no longer ours to kill. stop PID: SIGTERM, wait, forget.
forget() { local p keep=(); for p in "${PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done; PIDS=("${keep[@]}"); }
stop() { # PID: SIGTERM, wait, forget
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  forget "$1"
}

# cpu_sample PID: "WALL CPU" = monotonic seconds and utime+stime+cutime+cstime (seconds) of PID
# and every descendant alive now (reaped children are in their parent's cutime/cstime).
cpu_sample() {
  python3 - "$1" <<'PY'
import os, sys, time
root, tck = int(sys.argv[1]), os.sysconf("SC_CLK_TCK")
now = time.monotonic()
procs = {}
for d in os.listdir("/proc"):
    if d.isdigit():
        try:
            f = open(f"/proc/{d}/stat").read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        procs[int(d)] = (int(f[1]), sum(int(x) for x in f[11:15]))
kids = {}
for p, (pp, _) in procs.items():
    kids.setdefault(pp, []).append(p)
total, stack = 0, [root]
while stack:
    p = stack.pop()
    total += procs.get(p, (0, 0))[1]
    stack += kids.get(p, [])
print(f"{now:.3f} {total / tck:.3f}")
PY
}
