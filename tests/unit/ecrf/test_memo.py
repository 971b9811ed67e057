"""A memo keeps results by the value of the arguments, a bounded number of them."""

from ecrf.memo import Memo


def counting_memo(entries: int = 4, context=lambda: None):
    memo, calls = Memo(entries), []

    @memo.remember(context)
    def work(value, scale=1):
        calls.append(value)
        return [value, scale]

    return memo, calls, work


def test_equal_arguments_return_the_kept_result():
    _, calls, work = counting_memo()
    first = work({"a": [1, 2]})
    assert work({"a": [1, 2]}) is first
    assert calls == [{"a": [1, 2]}]


def test_a_changed_value_or_type_is_worked_out_again():
    _, calls, work = counting_memo()
    value = {"a": [1, 2]}
    work(value)
    value["a"].append(3)  # changed in place after the first call
    assert work(value) == [{"a": [1, 2, 3]}, 1]
    work({"a": [1.0, 2.0, 3.0]})  # equal in Python, drawn differently (1.0 vs 1)
    work({"a": [1, 2, 3]}, scale=2)
    assert len(calls) == 4


def test_the_context_is_part_of_the_key():
    language = ["en"]
    _, calls, work = counting_memo(context=lambda: language[0])
    work(1)
    language[0] = "zh"
    work(1)
    work(1)
    assert calls == [1, 1]


def test_the_least_recently_used_result_is_dropped_beyond_the_bound():
    memo, calls, work = counting_memo(entries=2)
    work(1)
    work(2)
    work(1)  # 1 used again: 2 is now the oldest
    work(3)
    assert len(memo) == 2
    work(1)
    work(2)
    assert calls == [1, 2, 3, 2]


def test_arguments_that_cannot_be_pickled_are_worked_out_each_time():
    _, calls, work = counting_memo()
    work(lambda: None)
    work(calls.append)
    assert len(calls) == 2
