"""Time and peak memory of ``invrecon sample`` (issue 2: 1,000,000 value entries in bounded memory).

    .venv/bin/python bench/bench_sample.py --sizes 100000 1000000 [--no-post] [--keep DIR]

Each size runs in a fresh subprocess, so the peak RSS is its own. Prints the seconds of each
phase (generating the entries, building the indexes, each posting run) and the peak RSS.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

CHILD = textwrap.dedent("""
    import json, resource, sys, time
    from pathlib import Path
    from invrecon.sample import generate_sample
    phases, last = [], ["generate", time.perf_counter()]
    def progress(phase, done, total):
        name = phase if not phase.startswith("value entries") else "generate"
        if name != last[0]:
            now = time.perf_counter()
            if last[0] is not None:
                phases.append((last[0], round(now - last[1], 2)))
            last[0], last[1] = name, now
    t0 = time.perf_counter()
    s = generate_sample(Path(sys.argv[1]), value_entries=int(sys.argv[2]),
                        post=sys.argv[3] == "1", on_progress=progress)
    total = time.perf_counter() - t0
    phases.append((last[0], round(time.perf_counter() - last[1], 2)))
    print(json.dumps({"value_entries": s.value_entries, "gl_entries": s.gl_entries,
                      "posted": s.posted_value_entries, "seconds": round(total, 1),
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
                      "phases": phases}))
""")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    ap.add_argument("--no-post", action="store_true")
    ap.add_argument("--keep", type=Path, help="keep the ledgers in this directory")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        where = args.keep or Path(tmp)
        where.mkdir(parents=True, exist_ok=True)
        for n in args.sizes:
            path = where / f"sample-{n}.db"
            path.unlink(missing_ok=True)
            out = subprocess.run([sys.executable, "-c", CHILD, str(path), str(n),
                                  "0" if args.no_post else "1"],
                                 check=True, capture_output=True, text=True)
            result = json.loads(out.stdout.strip().splitlines()[-1])
            result["file_mb"] = path.stat().st_size // 2**20
            print(json.dumps({"size": n, **result}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
