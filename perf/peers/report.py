#!/usr/bin/env python3
"""Side-by-side table and SVG bar chart of a perf/compare.sh run (standard library only).

Reads DIR/results.csv (s3core-bench rows, label = system), DIR/status.tsv (did each system
install and start), DIR/phases.tsv (bench exit status per phase), DIR/rss.tsv (peak RSS) and
DIR/versions.txt; writes DIR/table.txt and DIR/plot.svg.

    python3 perf/peers/report.py --dir perf/runs/DATE-HOST/compare-HHMMSS \
        --systems s3core,s3s-fs,seaweedfs,nginx --phases put-4k,get-4k,... [--meta TEXT]

Ratios are s3core / peer for the same phase: above 1 means s3core did more req/s (or MiB/s);
for p99 latency below 1 means s3core's tail was shorter.
"""

import argparse
import csv
import html
import math
import os
import sys

COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"]
# Phases whose MiB/s is the interesting number (object bytes moved); for the others req/s.
BYTE_PHASES = {"put-1m", "get-1m", "put-64m", "get-64m", "range-8m"}


def read_tsv(path):
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def load(directory):
    rows = {}
    path = os.path.join(directory, "results.csv")
    if os.path.exists(path):
        with open(path, newline="") as f:
            for r in csv.DictReader(f):
                rows[(r["label"], r["phase"])] = r  # the last row of a (system, phase) wins
    status = {r["system"]: r for r in read_tsv(os.path.join(directory, "status.tsv"))}
    phase_exit = {(r["system"], r["phase"]): r["bench_exit"] for r in read_tsv(os.path.join(directory, "phases.tsv"))}
    rss = {}
    for r in read_tsv(os.path.join(directory, "rss.tsv")):
        try:
            rss[r["system"]] = int(r["peak_rss_kb"])
        except (TypeError, ValueError):
            pass
    versions = {}
    vpath = os.path.join(directory, "versions.txt")
    if os.path.exists(vpath):
        with open(vpath) as f:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                if len(parts) >= 2:
                    versions[parts[0]] = parts[1]
    return rows, status, phase_exit, rss, versions


class Cell:
    """One (system, phase): numbers when it ran cleanly, else a short reason."""

    def __init__(self, row=None, reason=None):
        self.reason = reason
        self.rps = self.mibs = self.p99 = None
        if row is not None and reason is None:
            self.rps = float(row["req_per_s"])
            self.mibs = float(row["mib_per_s"])
            self.p99 = float(row["p99_ms"])

    @property
    def ok(self):
        return self.reason is None


def cell_for(system, phase, rows, status, phase_exit, static_phases):
    st = status.get(system, {}).get("state", "missing")
    if st in ("install-failed", "start-failed", "not-selected", "missing"):
        return Cell(reason={"install-failed": "no install", "start-failed": "no start",
                            "not-selected": "not run"}.get(st, "missing"))
    if system == "nginx" and phase not in static_phases:
        return Cell(reason="n/a")
    row = rows.get((system, phase))
    if row is not None:
        if row["status"] == "ok":
            return Cell(row)
        return Cell(reason=row["status"])  # FAIL, not run
    rc = phase_exit.get((system, phase))
    if rc in ("124", "137"):
        return Cell(reason="timeout")
    if rc == "server-gone":
        return Cell(reason="died")
    return Cell(reason="missing")


def fmt_num(v):
    if v is None:
        return "-"
    if v >= 1000:
        return f"{v:,.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def fmt_axis(v):
    return f"{v:,.0f}" if v >= 1 else f"{v:g}"


def fmt_ratio(a, b):
    if a is None or b is None or b == 0:
        return "-"
    return f"{a / b:.2f}x"


def make_table(args, systems, phases, cells, status, rss, versions):
    peers = [s for s in systems if s != "s3core"]
    base = "s3core" in systems
    lines = []
    lines.append("s3core vs peers: " + args.meta)
    lines.append("")
    lines.append("systems:")
    for s in systems + [s for s in status if s not in systems]:
        st = status.get(s, {})
        state = st.get("state", "missing")
        version = versions.get(s) or st.get("version", "-")
        extra = ""
        if state != "ok":
            extra = f"  ({st.get('detail', '')})"
        if s == "nginx":
            extra += "  [static files, GET/range/HEAD phases only: the ceiling]"
        lines.append(f"  {s:<10} {state:<16} {version}{extra}")
    lines.append("")
    name_w = max(9, max(len(p) for p in phases) + 1)
    col_w = max(11, max(len(s) for s in systems) + 2)
    ratio_w = max(11, max((len(p) for p in peers), default=0) + 4)

    def block(title, attr, note):
        out = [f"{title}  ({note})"]
        head = f"{'phase':<{name_w}}" + "".join(f"{s:>{col_w}}" for s in systems)
        if base and peers:
            head += "  |" + "".join(f"{'/' + p:>{ratio_w}}" for p in peers)
        out.append(head)
        for ph in phases:
            line = f"{ph:<{name_w}}"
            for s in systems:
                c = cells[(s, ph)]
                line += f"{fmt_num(getattr(c, attr)) if c.ok else c.reason:>{col_w}}"
            if base and peers:
                line += "  |"
                a = cells[("s3core", ph)]
                for p in peers:
                    b = cells[(p, ph)]
                    r = fmt_ratio(getattr(a, attr), getattr(b, attr)) if a.ok and b.ok else "-"
                    line += f"{r:>{ratio_w}}"
            out.append(line)
        return out

    lines += block("req/s", "rps", "higher is better; /peer = s3core req/s divided by the peer's")
    lines.append("")
    lines += block("MiB/s", "mibs", "object bytes moved; head: none; list: XML bytes; /peer = s3core / peer")
    lines.append("")
    lines += block("p99 ms", "p99", "lower is better; /peer = s3core p99 / peer p99, below 1 = s3core's tail is shorter")
    lines.append("")
    lines.append("peak RSS of the server (VmHWM, all its processes, read before stopping it):")
    for s in systems:
        if s in rss:
            lines.append(f"  {s:<10} {rss[s] / 1024:9.1f} MiB")
    lines.append("")
    lines.append("cells: n/a = phase not served by a static file server; FAIL = errors (see <system>-progress.log);")
    lines.append("       timeout/died/missing = the phase did not finish; no install/no start = see install.log, servers.txt")
    return "\n".join(lines) + "\n"


def make_svg(args, systems, phases, cells):
    """Two panels, log scale: req/s for every phase, MiB/s for the phases that move bytes."""
    panels = [("requests per second (log scale)", "rps", phases),
              ("MiB per second (log scale)", "mibs", [p for p in phases if p in BYTE_PHASES])]
    panels = [p for p in panels if p[2]]
    width = max(760, 120 + len(phases) * (len(systems) * 14 + 26))
    # The description, wrapped at "; " to fit the width.
    meta_lines, cur = [], ""
    for part in args.meta.split("; "):
        if cur and len(cur) + len(part) + 2 > (width - 90) // 6:
            meta_lines.append(cur)
            cur = part
        else:
            cur = f"{cur}; {part}" if cur else part
    if cur:
        meta_lines.append(cur)
    panel_h, left = 340, 70
    legend_y = 44 + 14 * len(meta_lines)
    top = legend_y + 22
    height = top + len(panels) * (panel_h + 70) + 20
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="11">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{left}" y="20" font-size="15" font-weight="bold">s3core vs peers, per phase '
           f'(higher is better)</text>']
    for i, line in enumerate(meta_lines):
        out.append(f'<text x="{left}" y="{38 + 14 * i}" font-size="10" fill="#444">{html.escape(line)}</text>')
    # Legend.
    x = left
    for i, s in enumerate(systems):
        out.append(f'<rect x="{x}" y="{legend_y - 10}" width="12" height="12" fill="{COLORS[i % len(COLORS)]}"/>')
        out.append(f'<text x="{x + 16}" y="{legend_y}">{html.escape(s)}</text>')
        x += 30 + 7 * len(s)
    y0 = top
    for title, attr, pphases in panels:
        vals = [getattr(cells[(s, p)], attr) for s in systems for p in pphases]
        vals = [v for v in vals if v and v > 0]
        if not vals:
            continue
        lo = 10 ** math.floor(math.log10(min(vals)))
        hi = 10 ** math.ceil(math.log10(max(vals)))
        if hi <= lo:
            hi = lo * 10
        plot_top, plot_bot = y0 + 64, y0 + panel_h  # room above the top decade for bar labels
        plot_w = width - left - 20

        def ypos(v):
            return plot_bot - (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)) * (plot_bot - plot_top)

        out.append(f'<text x="{left}" y="{y0 + 14}" font-size="13" font-weight="bold">{title}</text>')
        decade = lo
        while decade <= hi * 1.0001:
            yy = ypos(decade)
            out.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#ddd"/>')
            out.append(f'<text x="{left - 6}" y="{yy + 4:.1f}" text-anchor="end">{fmt_axis(decade)}</text>')
            decade *= 10
        out.append(f'<line x1="{left}" x2="{left}" y1="{plot_top}" y2="{plot_bot}" stroke="#888"/>')
        group_w = plot_w / len(pphases)
        bar_w = min(22, (group_w - 12) / len(systems))
        for gi, ph in enumerate(pphases):
            gx = left + gi * group_w + (group_w - bar_w * len(systems)) / 2
            for si, s in enumerate(systems):
                c = cells[(s, ph)]
                bx = gx + si * bar_w
                v = getattr(c, attr)
                if c.ok and v and v > 0:
                    yy = ypos(max(v, lo))
                    out.append(f'<rect x="{bx:.1f}" y="{yy:.1f}" width="{bar_w - 2:.1f}" '
                               f'height="{plot_bot - yy:.1f}" fill="{COLORS[si % len(COLORS)]}">'
                               f'<title>{html.escape(s)} {ph}: {fmt_num(v)}</title></rect>')
                    out.append(f'<text x="{bx + bar_w / 2 - 1:.1f}" y="{yy - 3:.1f}" font-size="8" '
                               f'text-anchor="start" transform="rotate(-90 {bx + bar_w / 2 - 1:.1f} {yy - 3:.1f})">'
                               f'{fmt_num(v)}</text>')
                else:
                    label = c.reason if not c.ok else "0"
                    out.append(f'<text x="{bx + bar_w / 2 - 1:.1f}" y="{plot_bot - 4:.1f}" font-size="8" '
                               f'fill="#999" transform="rotate(-90 {bx + bar_w / 2 - 1:.1f} {plot_bot - 4:.1f})">'
                               f'{html.escape(label)}</text>')
            out.append(f'<text x="{left + gi * group_w + group_w / 2:.1f}" y="{plot_bot + 16}" '
                       f'text-anchor="middle" font-size="12">{ph}</text>')
        y0 += panel_h + 70
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", required=True)
    ap.add_argument("--systems", required=True)
    ap.add_argument("--phases", required=True)
    ap.add_argument("--static-phases", default="get-4k,get-1m,get-64m,range-8m,head")
    ap.add_argument("--meta", default="")
    args = ap.parse_args()
    systems = [s for s in args.systems.split(",") if s]
    phases = [p for p in args.phases.split(",") if p]
    static = set(p for p in args.static_phases.split(",") if p)
    rows, status, phase_exit, rss, versions = load(args.dir)
    cells = {(s, p): cell_for(s, p, rows, status, phase_exit, static) for s in systems for p in phases}
    with open(os.path.join(args.dir, "table.txt"), "w") as f:
        f.write(make_table(args, systems, phases, cells, status, rss, versions))
    with open(os.path.join(args.dir, "plot.svg"), "w") as f:
        f.write(make_svg(args, systems, phases, cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
