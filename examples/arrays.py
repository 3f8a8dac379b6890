"""Columns as a dict of numpy arrays vs one 2-D array (and a list of lists, for scale).

    python examples/arrays.py [ROWS] [COLS]

The same ROWS x COLS float64 values; the table gives the bytes each layout retains and the
ratio to the 2-D array. Many small arrays pay numpy's per-array header; the list of lists pays
a Python float object per value.
"""
import sys

from harness import api

SETUP = """
import numpy as np
rows, cols = %d, %d
"""

LAYOUTS = {
    "one 2-D array": "np.zeros((rows, cols))",
    "dict of columns": "{'c%d' % j: np.zeros(rows) for j in range(cols)}",
    "dict of rows": "{i: np.zeros(cols) for i in range(rows)}",
    "list of lists": "[[0.5 * j + i for j in range(cols)] for i in range(rows)]",
}


def main() -> int:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    cols = int(sys.argv[2]) if len(sys.argv) > 2 else 16
    df = api.compare(LAYOUTS, setup=SETUP % (rows, cols))
    print("%d x %d float64 values (payload: %d bytes)" % (rows, cols, 8 * rows * cols))
    print(df.drop(columns=["error"]).to_string(float_format="{:.4g}".format))
    return 0 if df["error"].isna().all() else 1


if __name__ == "__main__":
    sys.exit(main())
