"""One package per topic, each with the same files: workloads.py (what is built or run),
measure.py (what runs in the child processes), claims.py (the claim objects), tables.py (rows ->
display tables), figure.py (rows -> the plot), and __init__.py (the Topic object, TOPIC)."""
