# SPDX-License-Identifier: MIT
"""What the bench scripts' reports share (their Python runs with
PYTHONPATH=bench): a table with its columns aligned under a wrapped
title, and a percentile by linear interpolation."""
import textwrap


def pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def table(title, head, rows):
    w = [max(len(str(r[i])) for r in [head] + rows) for i in range(len(head))]
    print(textwrap.fill(title, 100, subsequent_indent="   "))

    def line(r):
        return "  " + "  ".join(str(c).ljust(w[i]) if i == 0 else
                                str(c).rjust(w[i]) for i, c in enumerate(r))
    print(line(head))
    print("  " + "  ".join("-" * x for x in w))
    for r in rows:
        print(line(r))
    print()
