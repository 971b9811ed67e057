"""read_ahead: a reader thread ahead of the consumer, its errors raised where the items are used."""

import threading

import pytest

from audit.prefetch import read_ahead


def test_items_come_in_order_and_all_of_them():
    assert list(read_ahead(iter(range(1000)), depth=3)) == list(range(1000))


def test_an_error_of_the_reader_is_raised_in_the_consumer_after_the_items_before_it():
    def failing():
        yield 1
        yield 2
        raise ConnectionError("server went away")

    seen = []
    with pytest.raises(ConnectionError, match="server went away"):
        for item in read_ahead(failing()):
            seen.append(item)
    assert seen == [1, 2]


class Source:
    """An endless source that records whether it was closed."""

    def __init__(self):
        self.closed = threading.Event()
        self.produced = 0

    def __iter__(self):
        return self

    def __next__(self):
        self.produced += 1
        return self.produced

    def close(self):
        self.closed.set()


def test_a_consumer_that_stops_early_stops_and_closes_the_reader():
    source = Source()
    items = read_ahead(source, depth=2)
    assert [next(items) for _ in range(5)] == [1, 2, 3, 4, 5]
    items.close()
    assert source.closed.wait(timeout=60)
    produced = source.produced
    assert produced <= 5 + 2 + 2  # what was taken, the queue's depth, and the item in hand


def test_the_reader_starts_when_called_before_the_first_item_is_wanted():
    started = threading.Event()

    def source():
        started.set()
        yield from range(3)

    items = read_ahead(source(), depth=2)
    assert started.wait(timeout=60)  # nothing has been taken from items yet
    assert list(items) == [0, 1, 2]
