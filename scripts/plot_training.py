#!/usr/bin/python3
"""Draws the training and validation loss of `switchc train --log-json` logs into a PNG.

Each log line is a JSON object: training lines carry "step" and "loss" (and "ce", the
cross-entropy part), evaluation lines "step" and "eval_loss". A run resumed from an earlier
checkpoint appends lines for steps already logged; the last line for a step wins, so the
plot shows the curve the resumed run drew. Several logs give several curves, labelled by
file name. Optionally a horizontal line marks a baseline (e.g. the unigram entropy of
scripts/corpus/unigram_entropy.py).

Needs matplotlib (Debian: apt-get install python3-matplotlib); without it the script says
so and exits with status 3. Leaves out smoothing beyond an optional moving average.
"""

import argparse
import json
import os
import sys


def read_log(path):
    """({step: loss}, {step: ce}, {step: eval_loss}) of one log; bad lines are reported."""
    train, ce, evals = {}, {}, {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError("%s:%d: not JSON (%s)" % (path, n, e.msg)) from None
            if not isinstance(obj, dict) or not isinstance(obj.get("step"), (int, float)):
                raise ValueError("%s:%d: no \"step\"" % (path, n))
            step = obj["step"]
            if "eval_loss" in obj:
                evals[step] = float(obj["eval_loss"])
            elif "loss" in obj:
                train[step] = float(obj["loss"])
                if "ce" in obj:
                    ce[step] = float(obj["ce"])
    return train, ce, evals


def moving_average(ys, w):
    if w <= 1:
        return ys
    out, acc = [], 0.0
    for i, y in enumerate(ys):
        acc += y
        if i >= w:
            acc -= ys[i - w]
        out.append(acc / min(i + 1, w))
    return out


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("logs", nargs="+", help="--log-json files of switchc train")
    ap.add_argument("-o", "--output", default="training.png", help="PNG written (default %(default)s)")
    ap.add_argument("--ce", action="store_true", help="plot the cross-entropy part instead of the loss")
    ap.add_argument("--smooth", type=int, default=1, help="moving average over N log lines")
    ap.add_argument("--baseline", type=float, action="append", default=[],
                    help="draw a horizontal line at this loss (nats/token); may repeat")
    ap.add_argument("--baseline-label", action="append", default=[])
    ap.add_argument("--logy", action="store_true", help="logarithmic loss axis")
    ap.add_argument("--title", default="switchc train")
    args = ap.parse_args(argv)

    runs = []
    for path in args.logs:
        try:
            runs.append((path,) + read_log(path))
        except (OSError, ValueError) as e:
            print("plot_training: %s" % e, file=sys.stderr)
            return 1
    if not any(r[1] or r[3] for r in runs):
        print("plot_training: no loss lines in %s" % ", ".join(args.logs), file=sys.stderr)
        return 1

    try:
        import matplotlib
        matplotlib.use("Agg")  # no display needed
        import matplotlib.pyplot as plt
    except ImportError:
        print("plot_training: matplotlib is not installed; on Debian: "
              "apt-get install python3-matplotlib (or pip install matplotlib)", file=sys.stderr)
        return 3

    fig, ax = plt.subplots(figsize=(8, 5), dpi=100)
    for path, train, ce, evals in runs:
        name = os.path.basename(path)
        series = ce if args.ce else train
        if series:
            xs = sorted(series)
            ax.plot(xs, moving_average([series[x] for x in xs], args.smooth),
                    label="%s: train %s" % (name, "ce" if args.ce else "loss"), linewidth=1.2)
        if evals:
            xs = sorted(evals)
            ax.plot(xs, [evals[x] for x in xs], marker="o", markersize=4, linestyle="--",
                    label="%s: validation" % name)
    for i, y in enumerate(args.baseline):
        label = args.baseline_label[i] if i < len(args.baseline_label) else "baseline %.3g" % y
        ax.axhline(y, color="gray", linestyle=":", linewidth=1, label=label)
    ax.set_xlabel("update")
    ax.set_ylabel("nats per target token")
    if args.logy:
        ax.set_yscale("log")
    ax.set_title(args.title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    try:
        fig.savefig(args.output, format="png")
    except OSError as e:
        print("plot_training: %s: %s" % (args.output, e.strerror), file=sys.stderr)
        return 1
    print("plot_training: wrote %s" % args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
