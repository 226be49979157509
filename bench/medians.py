#!/usr/bin/env python3
"""Medians of recorded benchmark runs, per configuration.

Reads JSON-lines files of `switchc bench --json` outputs (and of
bench/torch_baseline.py --bench, whose lines carry their own medians as
"<figure>_median") and prints, for each configuration (dtype, kernel table or
implementation, threads, mapped or read into memory, environment), how many
runs the files hold and the median of each figure over them: the numbers
bench/README.md quotes. Lines without an "mmap" key (recorded by an earlier
build, before `--no-mmap`) are a configuration of their own. Standard library
only.

    python3 bench/medians.py bench/recorded/*.jsonl
"""
import json
import statistics
import sys

FIGURES = [
    ("load_s", "load s", "{:.3f}"),
    ("encoder_1x128_tok_s", "enc 1x128 tok/s", "{:,.0f}"),
    ("encoder_8x128_tok_s", "enc 8x128 tok/s", "{:,.0f}"),
    ("encoder_gflop_s", "enc GFLOP/s", "{:,.0f}"),
    ("encoder_pct_of_peak", "enc % of peak", "{:.0f}"),
    ("decode_ms_per_token", "decode ms/tok", "{:.2f}"),
    ("decode_gb_s", "decode GB/s", "{:.1f}"),
    ("peak_rss_bytes", "peak RSS GiB", "{:.2f}"),
    # training (bench_train, torch_baseline.py --train-bench)
    ("tokens_per_s", "train tok/s", "{:,.1f}"),
    ("step_s", "train s/step", "{:.2f}"),
    ("peak_rss_mb", "peak RSS MiB", "{:,.0f}"),
]


def config_of(run):
    table = (run.get("kernels") or {}).get("table") or run.get("impl", "?")
    # lines recorded before `--no-mmap` existed have no "mmap" key: an
    # earlier build, so they are not pooled with the later mapped runs
    mapped = {True: "mapped", False: "read into memory"}.get(run.get("mmap"), "mapped, before the mmap key")
    if run.get("bench") == "train":
        mapped = "training step"
    env = run.get("env", "")
    return (run.get("dtype", "?"), table, run.get("threads", "?"), mapped, env)


def value(run, key):
    """The run's figure: its own median where it records one."""
    v = run.get(key + "_median", run.get(key))
    if not isinstance(v, (int, float)):
        return None
    return v / 2**30 if key == "peak_rss_bytes" else v


def main(paths):
    groups = {}
    for path in paths:
        with open(path) as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    run = json.loads(line)
                except ValueError as e:
                    sys.exit(f"{path}:{n}: {e}")
                groups.setdefault((path,) + config_of(run), []).append(run)
    for (path, dtype, table, threads, mapped, env), runs in groups.items():
        inner = any(k.endswith("_median") for r in runs for k in r)
        print(f"{path}: {dtype}, {table}, {threads} threads, {mapped}{', ' + env if env else ''}: "
              f"{len(runs)} run{'s' if len(runs) > 1 else ''}{' (each its own median)' if inner else ''}")
        for key, label, fmt in FIGURES:
            vals = [v for v in (value(r, key) for r in runs) if v is not None]
            if vals:
                print(f"    {label:16} {fmt.format(statistics.median(vals))}")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
