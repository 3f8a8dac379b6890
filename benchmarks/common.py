"""What the asv suites share: skips, and the rows of a topic measured once through the runner.

asv skips a benchmark whose ``setup`` raises NotImplementedError; every skip here says why.
A suite's ``setup_cache`` measures its topic's rows once, with the same Options the CLI builds,
so a tracked figure is the figure ``memharness <topic>`` prints.
"""
from typing import Any, Dict, Optional


def skip_if(reason: Optional[str]) -> None:
    """Skip the benchmark (asv's way: NotImplementedError in setup) when ``reason`` is set."""
    if reason:
        raise NotImplementedError(reason)


def require_cpp() -> Any:
    """The C++ extension module, or a skip that says it is not built."""
    from harness import cpp

    skip_if(cpp.available())
    from harness import _containers

    return _containers


def require_numpy() -> Any:
    try:
        import numpy
    except ImportError:
        raise NotImplementedError("numpy is not installed") from None
    return numpy


def topic_rows(name: str, options: Any) -> Dict[str, Any]:
    """The rows of one topic's run (by kind), measured through the one runner."""
    from harness import registry, runner

    return runner.measure(registry.topic(name), options).rows
