"""A dict of numpy arrays pickled three ways: protocol 4, protocol 5, and protocol 5 with the
arrays out of band (``buffer_callback=`` / ``buffers=``).

    python examples/pickle_arrays.py [ARRAYS] [MIB_EACH]

The dict is built in fresh child processes (after the setup) and pickled there; the table
gives the bytes, the median dump and load times (samples of two processes) and the resident
peaks in copies of the payload.
"""
import sys

from harness import api

METHODS = ["dumps-p4", "dumps-p5", "oob-p5"]


def main() -> int:
    arrays = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    mib = float(sys.argv[2]) if len(sys.argv) > 2 else 4.0
    setup = "import numpy as np\nrng = np.random.default_rng(1)\nn = %d" % int(mib * 2**20 / 8)
    expr = "{'w%%d' %% i: rng.random(n) for i in range(%d)}" % arrays
    df = api.pickle_cost(expr, setup=setup, methods=METHODS)
    table = df.set_index("method")[["payload", "pickled", "out_of_band", "dump_s", "load_s", "dump_copies",
                                    "load_copies"]]
    table[["dump_s", "load_s"]] *= 1e3
    table = table.rename(columns={"dump_s": "dump_ms", "load_s": "load_ms"})
    print("a dict of %d float64 arrays of %g MiB each (medians of %d samples from %d processes)"
          % (arrays, mib, df["dump_samples"].min(), df["dump_processes"].min()))
    print(table.to_string(float_format="{:.4g}".format))
    return 0 if df["error"].isna().all() and df["equal"].all() else 1


if __name__ == "__main__":
    sys.exit(main())
