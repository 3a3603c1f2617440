#!/usr/bin/env python3
"""Numbers of one clknetsim run, and the Markdown tables of many.

  analyze.py node --offsets DIR/log.offset --column C [--duration S] [--settle 1800]
                  [--tracking FILE --start-date UNIX [--clock system]]
      one JSON object: the node's true offset statistics over seconds >= settle (rms, sd, max,
      p99 of |offset|), its time to sync and, with kairosd's tracking log, how often its error
      bound held the truth.
  analyze.py table RESULTS.jsonl
      Markdown tables from the JSON lines run.sh collected (one per scenario and comparison).

log.offset (clknetsim -o) has one line per simulated second k = 0, 1, ... and one column per node
and clock: the clock's reading minus true time. kairosd's tracking log has one line per clock per
second: `<unix time> <clock> <state> <offset> <bound|inf> <freq ppm>` (the clock's name may
have spaces), offset being the model's
estimate of (true - reading); its line at time T belongs to second round(T - start date).
Standard library only.
"""

import argparse
import json
import math
import sys

SYNC_LIMIT = 1e-3  # |offset| (and kairosd's bound) under 1 ms from then on: synchronized


class InputError(Exception):
    pass


def read_offsets(path, column, duration=None):
    try:
        with open(path, encoding="ascii") as f:
            lines = f.read().split("\n")
    except OSError as e:
        raise InputError(f"{path}: {e.strerror}")
    if lines and lines[-1] == "":
        lines.pop()
    elif lines:
        lines.pop()  # the writer was stopped mid-line: the last second is incomplete
    values = []
    for n, line in enumerate(lines, 1):
        fields = line.split("\t")
        if len(fields) < column:
            raise InputError(f"{path}:{n}: {len(fields)} columns, column {column} wanted")
        try:
            values.append(float(fields[column - 1]))
        except ValueError:
            raise InputError(f"{path}:{n}: not a number: {fields[column - 1]!r}")
    if not values:
        raise InputError(f"{path}: empty")
    if duration is not None and len(values) < duration:
        raise InputError(f"{path}: truncated: {len(values)} of {duration} seconds")
    return values


def read_tracking(path, start_date, clock):
    """second -> (state, offset, bound or None for inf)."""
    out = {}
    try:
        with open(path, encoding="ascii") as f:
            text = f.read()
    except OSError as e:
        raise InputError(f"{path}: {e.strerror}")
    lines = text.split("\n")
    for n, line in enumerate(lines, 1):
        fields = line.split()
        # The clock's name may have spaces ("eth0 PHC (/dev/ptp0)"): time first, four fields last.
        if len(fields) < 6:
            if line.strip() and n != len(lines):
                # Only the last line may be cut short (kairosd ended while writing it).
                raise InputError(f"{path}:{n}: {len(fields)} fields, at least 6 wanted")
            continue
        if " ".join(fields[1:-4]) != clock:
            continue
        try:
            t = float(fields[0])
            offset = float(fields[-3])
            bound = None if fields[-2] == "inf" else float(fields[-2])
        except ValueError:
            raise InputError(f"{path}:{n}: not a tracking line: {line!r}")
        fields = [fields[0], clock, fields[-4], fields[-3], fields[-2], fields[-1]]
        out[round(t - start_date)] = (fields[2], offset, bound)
    if not out:
        raise InputError(f"{path}: no line for clock {clock!r}")
    return out


def percentile(sorted_values, p):
    """Nearest rank."""
    if not sorted_values:
        return None
    k = max(0, math.ceil(p / 100.0 * len(sorted_values)) - 1)
    return sorted_values[k]


def node_stats(offsets, settle, tracking=None):
    if tracking is not None:
        # The daemon is ended after the simulation's last second: judge the seconds it logged.
        offsets = offsets[:max(tracking) + 1]
    n = len(offsets)
    window = offsets[settle:] if settle < n else []
    res = {"seconds": n}
    if window:
        mean = sum(window) / len(window)
        res["rms"] = math.sqrt(sum(x * x for x in window) / len(window))
        res["sd"] = math.sqrt(sum((x - mean) ** 2 for x in window) / len(window))
        mags = sorted(abs(x) for x in window)
        res["max"] = mags[-1]
        res["p99"] = percentile(mags, 99)
    else:
        res.update(rms=None, sd=None, max=None, p99=None)

    # Time to sync: the first second from which every later second is within the limit; with
    # kairosd's tracking log its bound must be too ("sync"), and "sync_offset" is the offset alone.
    last_bad = last_bad_offset = -1
    for k, x in enumerate(offsets):
        bad = abs(x) >= SYNC_LIMIT
        if bad:
            last_bad_offset = k
        if tracking is not None and not bad:
            entry = tracking.get(k)
            bad = entry is None or entry[2] is None or entry[2] >= SYNC_LIMIT
        if bad:
            last_bad = k
    res["sync"] = None if last_bad == n - 1 else last_bad + 1
    res["sync_offset"] = None if last_bad_offset == n - 1 else last_bad_offset + 1

    if tracking is not None:
        first = min((k for k, e in tracking.items() if e[0] == "synchronized"), default=None)
        res["first_synchronized"] = first
        covered = bounded = unbounded = missing = 0
        bounds = []
        est_err = []
        if first is not None:
            for k in range(first, n):
                entry = tracking.get(k)
                if entry is None:
                    missing += 1
                    continue
                _, est, bound = entry
                err = -offsets[k] - est
                if bound is None:
                    unbounded += 1
                    continue
                bounded += 1
                bounds.append(bound)
                if abs(err) <= bound:
                    covered += 1
                if k >= settle:
                    est_err.append(err)
        res["bounded"] = bounded
        res["covered"] = covered
        res["unbounded"] = unbounded
        res["missing"] = missing
        res["coverage"] = 100.0 * covered / bounded if bounded else None
        bounds.sort()
        res["median_bound"] = bounds[len(bounds) // 2] if bounds else None
        res["estimate_rms"] = (math.sqrt(sum(e * e for e in est_err) / len(est_err))
                               if est_err else None)
    return res


def cmd_node(args):
    offsets = read_offsets(args.offsets, args.column, args.duration)
    if args.duration is not None:
        offsets = offsets[:args.duration]
    tracking = None
    if args.tracking:
        if args.start_date is None:
            raise InputError("--tracking needs --start-date")
        tracking = read_tracking(args.tracking, args.start_date, args.clock)
    print(json.dumps(node_stats(offsets, args.settle, tracking)))


# ---- tables ----

def fmt_time(x):
    if x is None:
        return "–"
    a = abs(x)
    if a == 0:
        return "0"
    if a < 1e-6:
        return f"{x * 1e9:.3g} ns"
    if a < 1e-3:
        return f"{x * 1e6:.3g} µs"
    if a < 1:
        return f"{x * 1e3:.3g} ms"
    return f"{x:.3g} s"


def fmt_sync(x):
    return "never" if x is None else f"{x} s"


def fmt_ratio(a, b):
    if a is None or b is None or b == 0:
        return "–"
    r = a / b
    return f"{r:.2f}" if r < 100 else f"{r:.3g}"


def mean(values):
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def cmd_table(args):
    rows = []
    try:
        with open(args.results, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if line.strip():
                    try:
                        rows.append(json.loads(line))
                    except json.JSONDecodeError as e:
                        raise InputError(f"{args.results}:{n}: {e}")
    except OSError as e:
        raise InputError(f"{args.results}: {e.strerror}")

    groups = {}
    for r in rows:
        groups.setdefault((r["scenario"], r["compare"]), []).append(r)

    for (scenario, compare), rs in groups.items():
        title = rs[0].get("title", "")
        a_name, b_name = rs[0].get("a_name", "kairosd"), rs[0].get("b_name", "chronyd")
        print(f"### {scenario}: {compare}\n")
        if title:
            print(f"{title}\n")
        has_bound = any("coverage" in (r.get("a") or {}) for r in rs)
        head = ["seed"]
        for m in ("rms", "sd", "max", "p99"):
            head += [f"{m} {a_name}", f"{m} {b_name}", "ratio"]
        head += [f"sync {a_name}", f"sync {b_name}"]
        if has_bound:
            head += ["bound coverage", "unbounded s", "median bound"]
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        ok = []
        for r in sorted(rs, key=lambda r: r["seed"]):
            if r.get("error"):
                print(f"| {r['seed']} | " + f"not run: {r['error']}" + " |" * (len(head) - 1))
                continue
            ok.append(r)
            a, b = r["a"], r["b"]
            cells = [str(r["seed"])]
            for m in ("rms", "sd", "max", "p99"):
                cells += [fmt_time(a[m]), fmt_time(b[m]), fmt_ratio(a[m], b[m])]
            sync_a = fmt_sync(a["sync"])
            if has_bound and a.get("sync_offset") != a["sync"]:
                sync_a += f" ({fmt_sync(a.get('sync_offset'))})"
            cells += [sync_a, fmt_sync(b["sync"])]
            if has_bound:
                cov = a.get("coverage")
                cells += ["–" if cov is None else f"{cov:.3f} %", str(a.get("unbounded", "–")),
                          fmt_time(a.get("median_bound"))]
            print("| " + " | ".join(cells) + " |")
        if len(ok) > 1:
            cells = ["**mean**"]
            for m in ("rms", "sd", "max", "p99"):
                ma, mb = mean([r["a"][m] for r in ok]), mean([r["b"][m] for r in ok])
                cells += [fmt_time(ma), fmt_time(mb), fmt_ratio(ma, mb)]
            for side in ("a", "b"):
                syncs = [r[side]["sync"] for r in ok]
                cell = "never" if None in syncs else f"{mean(syncs):.0f} s"
                if side == "a" and has_bound:
                    offs = [r["a"].get("sync_offset") for r in ok]
                    if offs != syncs:
                        cell += " (never)" if None in offs else f" ({mean(offs):.0f} s)"
                cells.append(cell)
            if has_bound:
                cov = mean([r["a"].get("coverage") for r in ok])
                cells += ["–" if cov is None else f"{cov:.3f} %",
                          str(sum(r["a"].get("unbounded", 0) for r in ok)),
                          fmt_time(mean([r["a"].get("median_bound") for r in ok]))]
            print("| " + " | ".join(cells) + " |")
        if has_bound:
            print(f"\nsync: |offset| and {a_name}'s bound under 1 ms from then on (in brackets: the"
                  " offset alone); bound coverage: seconds the bound held the truth, of those"
                  " bounded after the first synchronized one")
        gaps = [r["intervals"] for r in ok if r.get("intervals")]
        if gaps and len(gaps) == len(ok):
            ga, gb = mean([g[0] for g in gaps]), mean([g[1] for g in gaps])
            print(f"\nmean interval between packets sent (clknetsim): {a_name} {ga:.1f} s, {b_name} {gb:.1f} s,"
                  f" ratio {fmt_ratio(ga, gb)}")
        stamps = sorted({r["stamps"] for r in rs if r.get("stamps")})
        if stamps:
            print(f"\n{a_name} samples by timestamp (TX/RX) in a run: " + "; ".join(stamps))
        print()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    n = sub.add_parser("node")
    n.add_argument("--offsets", required=True)
    n.add_argument("--column", type=int, required=True, help="1-based column of log.offset")
    n.add_argument("--duration", type=int, help="seconds the run must have")
    n.add_argument("--settle", type=int, default=1800)
    n.add_argument("--tracking")
    n.add_argument("--start-date", type=float)
    n.add_argument("--clock", default="system")
    t = sub.add_parser("table")
    t.add_argument("results")
    args = p.parse_args()
    try:
        (cmd_node if args.cmd == "node" else cmd_table)(args)
    except InputError as e:
        print(f"analyze.py: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
