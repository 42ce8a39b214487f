"""`imagine eval`'s JSONL reading and verdict writing (orjson, with the stdlib for what orjson refuses)."""

from __future__ import annotations

import json
import math

import pytest

from imagine.domains.travelplanner.evaluate.files import InputError, _dumps, read_jsonl


def test_lines_orjson_refuses_read_as_the_stdlib_reads_them(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_bytes(b'{"a": NaN}\r\n\r\n"\\ud800"\r[1, 2]\n  \n')  # CRLF, CR and blank lines
    rows = read_jsonl(path)
    assert [number for number, _ in rows] == [1, 3, 4]
    assert math.isnan(rows[0][1]["a"]) and rows[1][1] == "\ud800" and rows[2][1] == [1, 2]


@pytest.mark.parametrize("content, message", [
    (b'{"idx": 1}\nnot json\n', "p.jsonl: line 2: not JSON (Expecting value at column 1)"),
    (b'{"idx": 1}\n\xff\n', "p.jsonl: line 2: not UTF-8 (byte 1 of the line)"),
    (b"[" * 5000 + b"\n", "p.jsonl: line 1: not JSON (nested too deep)"),
])
def test_unreadable_lines_name_file_and_line(tmp_path, content, message):
    path = tmp_path / "p.jsonl"
    path.write_bytes(content)
    with pytest.raises(InputError) as err:
        read_jsonl(path)
    assert str(err.value).endswith(message)


def test_verdict_lines_are_json_even_with_a_lone_surrogate():
    verdict = {"idx": 1, "reasons": {"is_valid_restaurants": "no 'Café \ud800' in the sandbox"}, "cost": 12.5}
    for value in (verdict, {**verdict, "reasons": {}}):
        assert json.loads(_dumps(value)) == value
