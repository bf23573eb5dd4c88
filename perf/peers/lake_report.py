#!/usr/bin/env python3
"""The summary of a perf/lake.sh run: every row it measured, then every performance target of
issue 10 with its ratio and whether it is met.

    python3 perf/peers/lake_report.py perf/runs/DATE-HOST/lake-HHMMSS

Reads DIR/results.csv (s3core-bench rows; the time-to-first-byte columns may be missing in
older files) and DIR/amplification.tsv (s3core_cache_upstream_bytes_total around the cold
reads). Standard library only. A target whose inputs are missing or failed is `n/a`, never met.
"""

import csv
import os
import sys

MIB = 1024 * 1024
HOT_PHASES = ["get-4k", "get-1m", "get-64m", "range-8m"]
# Bytes one request of these phases asks for (for the upstream amplification).
REQUEST_BYTES = {"scan-1m": MIB, "range-8m-1g": 8 * MIB}


def load_rows(directory):
    """{(label, phase): row}; a later row for the same pair replaces an earlier one."""
    rows = {}
    path = os.path.join(directory, "results.csv")
    if os.path.exists(path):
        with open(path, newline="") as f:
            for r in csv.DictReader(f):
                rows[(r["label"], r["phase"])] = r
    return rows


def load_amplification(directory):
    """{(label, phase): upstream bytes fetched during it}, None where the counter was absent."""
    out = {}
    path = os.path.join(directory, "amplification.tsv")
    if os.path.exists(path):
        with open(path, newline="") as f:
            for r in csv.DictReader(f, delimiter="\t"):
                try:
                    fetched = float(r["upstream_bytes_after"]) - float(r["upstream_bytes_before"])
                except (TypeError, ValueError):
                    fetched = None
                out[(r["label"], r["phase"])] = fetched
    return out


def number(row, field):
    """The row's field as a float, or None when the row is missing, failed or lacks it."""
    if row is None or row.get("status") != "ok":
        return None
    try:
        return float(row.get(field) or "")
    except ValueError:
        return None


class Report:
    def __init__(self, rows, amplification):
        self.rows = rows
        self.amplification = amplification
        self.lines = []

    def get(self, label, phase, field):
        return number(self.rows.get((label, phase)), field)

    def add(self, target, measured, value, goal, met):
        """met: True, False, None (inputs missing) or "info" (no target)."""
        verdict = {None: "n/a", "info": "info"}.get(met) if met in (None, "info") else ("met" if met else "NOT met")
        self.lines.append((target, measured, value, goal, verdict))

    def ratio(self, target, a, b, phase, field, minimum, strictly=False):
        """a/b of `field` for `phase`, met when >= minimum (> when strictly)."""
        x, y = self.get(a, phase, field), self.get(b, phase, field)
        unit = "MiB/s" if field == "mib_per_s" else "req/s"
        if x is None or y is None or y == 0:
            self.add(target, f"{fmt(x)} vs {fmt(y)} {unit}", "n/a", goal_text(minimum, strictly), None)
            return
        r = x / y
        met = r > minimum if strictly else r >= minimum
        self.add(target, f"{x:,.1f} vs {y:,.1f} {unit}", f"{r:.2f}x", goal_text(minimum, strictly), met)

    def ttfb(self, quantile):
        field = f"ttfb_{quantile}_ms"
        x = self.get("s3core-lake-cold", "scan-1m", field)
        y = self.get("seaweedfs-direct", "scan-1m", field)
        target = f"cold TTFB {quantile}: s3core - direct (scan-1m)"
        if x is None or y is None:
            self.add(target, f"{fmt(x)} vs {fmt(y)} ms", "n/a", "<= +1 ms", None)
            return
        d = x - y
        self.add(target, f"{x:.3f} vs {y:.3f} ms", f"{d:+.3f} ms", "<= +1 ms", d <= 1.0)

    def fetched(self, phase, maximum):
        label = "s3core-lake-cold"
        requests = self.get(label, phase, "requests")
        got = self.amplification.get((label, phase))
        target = f"upstream bytes / requested ({phase}, cold)"
        goal = f"<= {maximum:.2f}x" if maximum else "(info)"
        if requests is None or got is None or requests == 0:
            why = "counter not exported" if got is None else "phase failed"
            self.add(target, why, "n/a", goal, None if maximum else "info")
            return
        requested = requests * REQUEST_BYTES[phase]
        r = got / requested
        measured = f"{got / MIB:,.1f} of {requested / MIB:,.1f} MiB"
        self.add(target, measured, f"{r:.3f}x", goal, (r <= maximum) if maximum else "info")


def fmt(v):
    return "n/a" if v is None else f"{v:,.1f}"


def goal_text(minimum, strictly):
    return f"{'>' if strictly else '>='} {minimum:.2f}x"


def print_rows(rows):
    print(f"{'label':<20} {'phase':<12} {'req/s':>10} {'MiB/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'ttfb50':>8} {'ttfb99':>8}  status")
    for (label, phase), r in rows.items():
        def col(field, width, digits):
            try:
                return f"{float(r.get(field) or ''):>{width}.{digits}f}"
            except ValueError:
                return f"{'-':>{width}}"
        print(f"{label:<20} {phase:<12} {col('req_per_s', 10, 1)} {col('mib_per_s', 9, 1)} "
              f"{col('p50_ms', 8, 3)} {col('p99_ms', 8, 3)} {col('ttfb_p50_ms', 8, 3)} "
              f"{col('ttfb_p99_ms', 8, 3)}  {r.get('status', '?')}")


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    directory = sys.argv[1]
    rows = load_rows(directory)
    report = Report(rows, load_amplification(directory))

    # Fixed-size phases: the MiB/s ratio is the req/s ratio; get-4k is quoted in req/s.
    def field(phase):
        return "req_per_s" if phase == "get-4k" else "mib_per_s"

    for phase in HOT_PHASES:
        report.ratio(f"hot {phase}: lake / local", "s3core-lake-hot", "s3core-local", phase, field(phase), 0.95)
    report.ratio("cold scan-1m: lake / direct", "s3core-lake-cold", "seaweedfs-direct", "scan-1m", "mib_per_s", 0.90)
    report.ttfb("p50")
    report.ttfb("p99")
    report.fetched("range-8m-1g", 1.25)
    report.fetched("scan-1m", None)
    for phase in ["put-1m", "put-64m"]:
        report.ratio(f"write-through {phase}: lake / direct", "s3core-lake-write", "seaweedfs-direct", phase,
                     "mib_per_s", 0.90)
    for phase in HOT_PHASES:
        report.ratio(f"hot {phase}: lake / nginx", "s3core-lake-hot", "nginx-cache-hot", phase, field(phase), 1.0)
    report.ratio("cold scan-1m: lake / nginx", "s3core-lake-cold", "nginx-cache-cold", "scan-1m", "mib_per_s", 1.0,
                 strictly=True)

    print(f"# perf/lake.sh run in {directory}")
    print()
    print_rows(rows)
    print()
    widths = [max(len(line[i]) for line in report.lines + [("target", "measured", "value", "goal", "verdict")])
              for i in range(5)]
    header = ("target", "measured", "value", "goal", "verdict")
    for line in [header] + report.lines:
        print("  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip())
    verdicts = [line[4] for line in report.lines if line[4] != "info"]
    print()
    print(f"{verdicts.count('met')} of {len(verdicts)} targets met, {verdicts.count('n/a')} n/a "
          "(rows marked info have no target)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
