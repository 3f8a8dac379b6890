"""Pickle: serialised bytes, dump/load time and peak memory, by object, payload size and method.

Time: asv's timers around ``Method.dump`` / ``Method.load`` of harness.topics.pickle.
Memory: harness.topics.pickle.run(), which measures in fresh child processes
(tracemalloc peak and the RSS high-water mark; asv's peakmem_ would count setup,
and mem_ cannot see the C++ heap). Sizes above 1 MiB are measured for numpy
arrays only here; ``memharness pickle --full`` goes further.
"""
from harness.topics import pickle as pickle_topic

OBJECTS = list(pickle_topic.OBJECTS)
METHODS = list(pickle_topic.METHODS)
MiB = 1 << 20
SIZES = sorted(set(pickle_topic.DEFAULT_SIZES["numpy"]) | set(pickle_topic.DEFAULT_SIZES["*"]))


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
    """track_ figures of every case of the default plan (what ``memharness pickle`` runs).

    All cases are measured once, in setup_cache, by harness.topics.pickle.run
    (one fresh child per object and size, a forked process per method); each
    track_ method reads its figure from that table.
    """

    params = (OBJECTS, SIZES, METHODS)
    param_names = ["object", "size", "method"]
    timeout = 900

    def setup_cache(self):
        df, _ = pickle_topic.run(pickle_topic.Options(repeat=1))
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
        """Peak extra memory of the dump: max(tracemalloc peak, RSS high-water above the start)."""
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
