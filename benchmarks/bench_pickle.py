"""Pickle: serialised bytes, dump/load time and peak memory, by object, payload size and method.

Time: asv's timers around ``Method.dump`` / ``Method.load`` of harness.topics.pickle.
Memory: harness.topics.pickle.run(), which measures in fresh child processes
(tracemalloc peak and the RSS high-water mark; asv's peakmem_ would count setup,
and mem_ cannot see the C++ heap). Sizes above 1 MiB are measured for numpy
arrays only here; ``memharness pickle --full`` goes further.
"""
from harness.topics import pickle as pickle_topic

# The suite's own parameters (the keys of the kept results): the objects, sizes and methods it has
# tracked since it began, whatever the topic's default plan measures now
NEW_OBJECTS = ("cached-dictcopy", "cached-dictcopy-sub")  # the topic's, not tracked here
OBJECTS = [o for o in pickle_topic.OBJECTS if o not in NEW_OBJECTS]
METHODS = list(pickle_topic.METHODS)
MiB = 1 << 20
SIZES = [MiB, 32 * MiB]


def _suite_methods(spec):
    """The methods the suite tracks on an object: every protocol to bytes for the Python objects,
    numpy and the cached classes (the default and the highest for the others), to a file at both,
    the array methods on objects holding arrays."""
    every = spec.family in ("python", "numpy", "class")
    protocols = range(pickle_topic.HIGHEST + 1) if every else sorted({pickle_topic.DEFAULT, pickle_topic.HIGHEST})
    names = ["dumps-p%d" % p for p in protocols]
    names += ["dump-p%d" % p for p in sorted({pickle_topic.DEFAULT, pickle_topic.HIGHEST})]
    if spec.has_arrays:
        names += [n for n in ("oob-p5", "npzip", "pkl_utils") if n in METHODS]
    if spec.is_ndarray:
        names.append("numpy.save")
    return names


def _skip_reason(obj, size, method):
    spec = pickle_topic.get_object(obj)
    if size > MiB and spec.family != "numpy":
        return "sizes above 1 MiB: numpy arrays only in this suite"
    return pickle_topic.check_round_trip(obj, method)


class PickleTime:
    """time_dump / time_load of one method on one object."""

    params = (OBJECTS, SIZES, METHODS)
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
    """track_ figures of the suite's cases: every object at 1 MiB, numpy at 32 MiB too.

    All cases are measured once, in setup_cache, by harness.topics.pickle.run
    (one fresh child per object and size, a forked process per method); each
    track_ method reads its figure from that table. Peaks are resident peaks (RSS
    high-water above the start) since the topic took them as its copies figure;
    results kept from before counted max(tracemalloc, RSS).
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

    track_dump_peak.unit = "bytes"

    def track_load_peak(self, rows, obj, size, method):
        return self.row["load_peak"]

    track_load_peak.unit = "bytes"

    def track_dump_copies(self, rows, obj, size, method):
        """Dump peak / payload: copies of the data that existed at once besides the original."""
        return self.row["dump_copies"]

    track_dump_copies.unit = "ratio"

    def track_load_copies(self, rows, obj, size, method):
        return self.row["load_copies"]

    track_load_copies.unit = "ratio"
