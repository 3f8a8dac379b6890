"""Pickle: serialised bytes, dump/load time and peak memory, by object, payload size and method.

Time: asv's timers around ``Method.dump`` / ``Method.load`` of harness.topics.pickle.
Memory: harness.topics.pickle.run(), which measures in fresh child processes
(tracemalloc peak and the RSS high-water mark; asv's peakmem_ would count setup,
and mem_ cannot see the C++ heap), every case once in setup_cache. The peaks are
resident (RSS) figures: their unit says so, and ``memharness compare`` gates them by
their noise, not to the byte. ``memharness pickle`` (and ``--full``) measures more.
"""
from harness.topics import pickle as pickle_topic

# The suite's parameters (the keys of the kept results), cut to what the claims read: asv runs every
# parameter set of every benchmark in a process of its own (about 0.5 s each on 2 cores, a skip
# included), and the former grid (20 objects x 2 sizes x 16 methods x 7 benchmarks) cost over 35 minutes
# per environment. One object of each family the claims judge (Python lists, numpy, the cached classes
# with and without __getstate__, a C++ container, the PyTensor and Theano shared variables), at 1 MiB,
# with the methods the claims compare: protocols 2, 4 (the default) and 5 (the highest) to bytes, 5 to a
# file, and out-of-band (pkl_utils is judged on numpy-readability, which asv does not track).
# `memharness pickle` measures every object, size and method.
OBJECTS = ["list-int", "numpy", "cached-default", "cached-getstate", "IntVector", "pytensor-shared",
           "theano-shared"]
METHODS = ["dumps-p2", "dumps-p4", "dumps-p5", "dump-p5", "oob-p5"]
MiB = 1 << 20
SIZES = [MiB]
# the times: asv's timers around one call, for the cases whose speed the claims compare
TIME_OBJECTS = ["list-int", "numpy", "cached-getstate"]
TIME_METHODS = ["dumps-p4", "dumps-p5", "dump-p5", "oob-p5"]


def _suite_methods(spec):
    """The methods of the grid that apply to an object: the array methods on objects holding arrays."""
    return [m for m in METHODS if spec.has_arrays or m != "oob-p5"]


def _skip_reason(obj, size, method):
    spec = pickle_topic.get_object(obj)
    if size > MiB and spec.family != "numpy":
        return "sizes above 1 MiB: numpy arrays only in this suite"
    return pickle_topic.check_round_trip(obj, method)


class PickleTime:
    """time_dump / time_load of one method on one object."""

    params = (TIME_OBJECTS, SIZES, TIME_METHODS)
    param_names = ["object", "size", "method"]
    timeout = 300

    def setup(self, obj, size, method):
        why = _skip_reason(obj, size, method)
        if why:
            raise NotImplementedError(why)
        self.method = pickle_topic.get_method(method)
        self.obj = pickle_topic.build_object(obj, size)
        self.ws = pickle_topic.Workspace()  # time_dump writes here, one new file a call
        self.ws_load = pickle_topic.Workspace()  # what time_load reads, untouched by time_dump
        self.art = self.method.dump(self.obj, self.ws_load)

    def teardown(self, obj, size, method):
        self.ws.close()
        self.ws_load.close()

    def time_dump(self, obj, size, method):
        self.method.dump(self.obj, self.ws)

    def time_load(self, obj, size, method):
        self.method.load(self.art)


class PickleMemory:
    """track_ figures of the suite's cases (the grid above, at 1 MiB).

    All cases are measured once, in setup_cache, by harness.topics.pickle.run
    (one fresh child per object and size, a forked process per method); each
    track_ method reads its figure from that table. Peaks are resident peaks (RSS
    high-water above the start) since the topic took them as its copies figure;
    results kept from before counted max(tracemalloc, RSS). The copies (peak / payload) are not
    tracked: the topic's asv reader derives them from the peaks (track_dump_copies and
    track_load_copies keep their history in results/ up to this change).
    """

    params = (OBJECTS, SIZES, METHODS)
    param_names = ["object", "size", "method"]
    timeout = 900

    def setup_cache(self):
        import pandas as pd

        frames = []
        for obj in OBJECTS:
            spec = pickle_topic.get_object(obj)
            sizes = SIZES if spec.family == "numpy" else [MiB]
            try:
                df, _ = pickle_topic.run(pickle_topic.Options(objects=[obj], sizes=sizes,
                                                              methods=_suite_methods(spec), repeat=1))
            except Exception:  # noqa: BLE001 - an object that cannot run here: its setup says why
                continue
            frames.append(df)
        df = pd.concat(frames, ignore_index=True)
        df = df.astype(object).where(df.notna(), None)  # NaN -> None: "no error", "no figure"
        return {(r["object"], int(r["size"]), r["method"]): r for r in df.to_dict(orient="records")}

    def setup(self, rows, obj, size, method):
        row = rows.get((obj, size, method))
        if row is None:
            raise NotImplementedError(_skip_reason(obj, size, method) or "not in the default plan")
        if row.get("error") or not row.get("equal"):
            raise NotImplementedError(row.get("error") or "round trip gave a different object")
        self.row = row

    def track_pickled_bytes(self, rows, obj, size, method):
        return self.row["pickled"]

    track_pickled_bytes.unit = "bytes"

    def track_dump_peak(self, rows, obj, size, method):
        """Peak extra memory of the dump: the resident peak (RSS high-water above the start)."""
        return self.row["dump_peak"]

    track_dump_peak.unit = "bytes (RSS)"

    def track_load_peak(self, rows, obj, size, method):
        return self.row["load_peak"]

    track_load_peak.unit = "bytes (RSS)"

