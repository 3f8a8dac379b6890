import argparse

import pytest

from harness import argtypes


@pytest.mark.parametrize("text, value", [("1000", 1000), ("1e5", 100000), ("10_000", 10000)])
def test_count(text, value):
    assert argtypes.count(text) == value


@pytest.mark.parametrize("text", ["0", "-1", "1.5", "abc", "nan", "1e13", ""])
def test_count_rejects(text):
    with pytest.raises(argparse.ArgumentTypeError):
        argtypes.count(text)


@pytest.mark.parametrize("text, value", [("4096", 4096), ("4KiB", 4096), ("64MB", 64_000_000), ("1GiB", 2**30), ("1e6", 10**6)])
def test_nbytes(text, value):
    assert argtypes.nbytes(text) == value


@pytest.mark.parametrize("text", ["4XB", "-5", "0", "MB", "1e20"])
def test_nbytes_rejects(text):
    with pytest.raises(argparse.ArgumentTypeError):
        argtypes.nbytes(text)


def test_choices_list():
    parse = argtypes.choices_list(["a", "b", "c"], "thing")
    assert parse("a,c") == ["a", "c"]
    assert parse("all") == ["a", "b", "c"]
    with pytest.raises(argparse.ArgumentTypeError, match="unknown thing 'd'"):
        parse("a,d")
