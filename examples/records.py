"""Records four ways: tuples, dataclasses, __slots__ classes and one numpy structured array.

    python examples/records.py [N]

Each layout holds the same N records (id: int, x: float, y: float), built in a fresh child
process; the table gives bytes per record and the ratio to the tuples.
"""
import sys

from harness import api

SETUP = """
import dataclasses
import numpy as np

@dataclasses.dataclass
class Data:
    id: int
    x: float
    y: float

class Slots:
    __slots__ = ("id", "x", "y")
    def __init__(self, id, x, y):
        self.id, self.x, self.y = id, x, y

n = %d
"""

LAYOUTS = {
    "tuple": "[(i, i * 0.5, i * 0.25) for i in range(n)]",
    "dataclass": "[Data(i, i * 0.5, i * 0.25) for i in range(n)]",
    "__slots__": "[Slots(i, i * 0.5, i * 0.25) for i in range(n)]",
    "numpy structured": "np.array([(i, i * 0.5, i * 0.25) for i in range(n)], "
                        "dtype=[('id', 'i8'), ('x', 'f8'), ('y', 'f8')])",
}


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    df = api.compare(LAYOUTS, setup=SETUP % n, per=n)
    print("bytes per record, n = %d (payload: 24 bytes)" % n)
    print(df.drop(columns=["error"]).to_string(float_format="{:.4g}".format))
    return 0 if df["error"].isna().all() else 1


if __name__ == "__main__":
    sys.exit(main())
