"""Trip rules teacher: deterministic per seed, each mistake kind breaks its check and the reasoning
believes it, judges' rates hold, the reflector's correction passes strict unless it fails on purpose,
and every output reads back with imagine.answer.parse_output."""

import itertools
import json
import time

import pytest

from imagine.answer import format_answer, parse_output
from imagine.domains.trip.answer import parse_answer
from imagine.domains.trip.checker import Checker
from imagine.domains.trip.mistakes import INTENDED_CHECK, MISTAKES
from imagine.domains.trip.prompts import JUDGE_ERRORS, JUDGE_OK, judge_messages, reasoner_messages, reflector_messages
from imagine.domains.trip.queries import generate_queries
from imagine.domains.trip.reflector import parse_reflection
from imagine.domains.trip.teacher import TripRulesBackend
from imagine.domains.trip.world import make_world
from imagine.llm.base import Request, Sampling

SAMPLING = Sampling(max_tokens=4096)
STRICT = Checker("strict")
NONE = {kind: 0.0 for kind in MISTAKES}


@pytest.fixture(scope="module")
def rows():
    frames, _ = generate_queries(make_world(48, 0.15, seed=0), {"seed": 2, "counts": {"train": 300, "val": 0, "test": 0}})
    return frames["train"].to_dicts()


def reasoner(row):
    return Request(tuple(reasoner_messages(row)), {"role": "reasoner", "query": row})


def judge(row, text, k=1):
    return Request(tuple(judge_messages(row, text)), {"role": "judge", "judge": k, "query": row, "reasoner_output": text})


def reflector(row, text):
    return Request(tuple(reflector_messages(row, text, [JUDGE_ERRORS, JUDGE_OK])),
                   {"role": "reflector", "query": row, "reasoner_output": text, "verdicts": ["errors", "no_errors"]})


def failed(row, text):
    parsed = parse_answer(text)
    if not parsed.ok:
        return None
    verdict = STRICT.score(row, [s.to_dict() for s in parsed.stays])
    return {k for checks in verdict.groups.values() for k, v in checks.items() if v is False}


def test_deterministic_per_seed_and_independent_of_batch_order(rows):
    requests = [reasoner(r) for r in rows[:60]]
    a = [o.text for o in TripRulesBackend(seed=1).generate(requests, SAMPLING)]
    b = [o.text for o in TripRulesBackend(seed=1).generate(requests[::-1], SAMPLING)][::-1]
    c = [o.text for o in TripRulesBackend(seed=2).generate(requests, SAMPLING)]
    d = [o.text for o in TripRulesBackend(seed=1).generate(requests, Sampling(max_tokens=4096, seed=5))]
    assert a == b
    assert a != c and a != d


def test_model_name_carries_the_configuration():
    assert TripRulesBackend().model == TripRulesBackend().model
    names = {TripRulesBackend().model, TripRulesBackend(seed=1).model, TripRulesBackend(miss_rate=0.2).model,
             TripRulesBackend(mistakes={"wrong_total": 0.5}).model}
    assert len(names) == 4 and all(n.startswith("trip-rules-teacher-v1+") for n in names)
    assert TripRulesBackend().name == "rules"
    with pytest.raises(ValueError, match="unknown mistake"):
        TripRulesBackend(mistakes={"budget_overrun": 0.1})
    with pytest.raises(ValueError, match="must be in"):
        TripRulesBackend(miss_rate=1.5)


def test_clean_reasoner_passes_and_parses(rows):
    teacher = TripRulesBackend(mistakes=NONE)
    for row, out in zip(rows, teacher.generate([reasoner(r) for r in rows], SAMPLING)):
        parsed = parse_output(out.text)
        assert parsed.ok and parsed.reasoning.startswith("Request:") and parsed.error is None
        assert failed(row, out.text) == set()
        for step in range(1, 7):
            assert f"Step {step}," in parsed.reasoning


@pytest.mark.parametrize("kind", [k for k in MISTAKES if k != "malformed_json"])
def test_each_mistake_breaks_its_check(rows, kind):
    teacher = TripRulesBackend(mistakes={**NONE, kind: 1.0})
    requests = [reasoner(r) for r in rows]
    applied = 0
    for row, request, out in zip(rows, requests, teacher.generate(requests, SAMPLING)):
        injected = teacher.injected_errors(request, SAMPLING)
        broken = failed(row, out.text)
        if injected:
            assert injected == [kind]
            assert INTENDED_CHECK[kind] in broken, (kind, broken)
            assert broken <= {INTENDED_CHECK[kind], "contiguous_stays"}
            applied += 1
        else:
            assert broken == set()
    share = applied / len(rows)
    print(f"\n{kind}: applicable to {share:.0%} of queries")
    assert share >= (0.25 if kind == "event_outside_window" else 0.5)


def test_reasoning_believes_its_mistakes(rows):
    for kind, marker in (("missing_connection", None), ("wrong_stay_length", "is the most flexible"),
                         ("repeated_city", "(a second stay)"), ("wrong_total", None)):
        teacher = TripRulesBackend(mistakes={**NONE, kind: 1.0})
        for row in rows[:80]:
            request = reasoner(row)
            if not teacher.injected_errors(request, SAMPLING):
                continue
            text = teacher.generate([request], SAMPLING)[0].text
            reasoning = parse_output(text).reasoning
            stays = parse_answer(text).stays
            if kind == "missing_connection":
                flights = next(line for line in reasoning.splitlines() if line.startswith("Step 3"))
                for a, b in itertools.pairwise(stays):  # the leg with no flight is listed as a direct flight
                    assert "-".join(sorted((a.city, b.city))) in flights
            elif kind == "wrong_total":
                assert f"{row['days'] + 1} days" in reasoning.splitlines()[0]
                assert f"day {row['days'] + 1}, {row['days'] + 1} days" in reasoning
            else:
                assert marker in reasoning
            assert "every leg is a direct flight" in reasoning


def test_malformed_json(rows):
    teacher = TripRulesBackend(mistakes={**NONE, "malformed_json": 1.0})
    for row, out in zip(rows[:30], teacher.generate([reasoner(r) for r in rows[:30]], SAMPLING)):
        assert not parse_answer(out.text).ok
        assert teacher.injected_errors(reasoner(row), SAMPLING) == ["malformed_json"]


def test_default_teacher_mix(rows):
    teacher = TripRulesBackend()
    requests = [reasoner(r) for r in rows]
    started = time.perf_counter()
    outputs = teacher.generate(requests, SAMPLING)
    rate = len(rows) / (time.perf_counter() - started)
    passed = sum(failed(r, o.text) == set() for r, o in zip(rows, outputs))
    kinds = [k for req in requests for k in teacher.injected_errors(req, SAMPLING)]
    print(f"\ndefault teacher: reasoner pass {passed / len(rows):.2f}, {rate:.0f} reasoner calls/s, "
          f"mistakes {sorted((k, kinds.count(k)) for k in set(kinds))}")
    assert 0.4 < passed / len(rows) < 0.85
    assert all(o.error is None for o in outputs) and all(o.tokens_out > 50 for o in outputs)


def test_judge_rates(rows):
    teacher = TripRulesBackend(miss_rate=0.3, false_alarm_rate=0.1, format_error_rate=0.0)
    texts = [o.text for o in teacher.generate([reasoner(r) for r in rows], SAMPLING)]
    said = {"miss": [], "alarm": []}
    for seed in range(4):
        sampling = Sampling(max_tokens=64, seed=seed)
        requests = [judge(r, t, k) for r, t in zip(rows, texts) for k in (1, 2)]
        for request, out in zip(requests, teacher.generate(requests, sampling)):
            assert out.text in (JUDGE_ERRORS, JUDGE_OK)
            bad = failed(request.context["query"], request.context["reasoner_output"]) != set()
            said["miss" if bad else "alarm"].append(out.text == (JUDGE_OK if bad else JUDGE_ERRORS))
    miss, alarm = (sum(v) / len(v) for v in (said["miss"], said["alarm"]))
    assert len(said["miss"]) > 300 and len(said["alarm"]) > 600
    assert abs(miss - 0.3) < 0.06 and abs(alarm - 0.1) < 0.04, (miss, alarm)


def test_judge_format_errors(rows):
    teacher = TripRulesBackend(format_error_rate=0.5)
    texts = [o.text for o in teacher.generate([reasoner(r) for r in rows], SAMPLING)]
    outs = teacher.generate([judge(r, t) for r, t in zip(rows, texts)], SAMPLING)
    off = sum(o.text not in (JUDGE_ERRORS, JUDGE_OK) for o in outs) / len(outs)
    assert abs(off - 0.5) < 0.1


def test_reflector_fixes_unless_it_fails_on_purpose(rows):
    reasoner_teacher = TripRulesBackend(mistakes={k: 0.3 for k in MISTAKES})
    texts = [o.text for o in reasoner_teacher.generate([reasoner(r) for r in rows], SAMPLING)]
    flagged = [(r, t) for r, t in zip(rows, texts) if failed(r, t) != set()]
    assert len(flagged) > 100
    for rate, should_pass in ((0.0, True), (1.0, False)):
        teacher = TripRulesBackend(fix_failure_rate=rate, format_error_rate=0.0)
        for (row, text), out in zip(flagged, teacher.generate([reflector(r, t) for r, t in flagged], SAMPLING)):
            reflection = parse_reflection(out.text)
            assert reflection.stays is not None and reflection.error is None, out.text
            verdict = STRICT.score(row, [s.to_dict() for s in reflection.stays])
            assert verdict.final_pass is should_pass, (rate, out.text)
            assert reflection.analysis.startswith("Errors found:\n1. ")
            # the distilled SFT turn reads back with the generic parser
            turn = format_answer(parse_output(text).reasoning or "", reflection.analysis,
                                 [s.to_dict() for s in reflection.stays])
            assert parse_answer(turn).stays == reflection.stays
            assert parse_output(turn).reflection == reflection.analysis


def test_reflector_names_errors_with_the_checkers_reason(rows):
    teacher = TripRulesBackend(mistakes={**NONE, "wrong_stay_length": 1.0}, fix_failure_rate=0.0, format_error_rate=0.0)
    for row in rows[:40]:
        text = teacher.generate([reasoner(row)], SAMPLING)[0].text
        parsed = parse_answer(text)
        verdict = STRICT.score(row, [s.to_dict() for s in parsed.stays])
        out = teacher.generate([reflector(row, text)], SAMPLING)[0].text
        if verdict.final_pass:
            assert out.startswith("Errors found: none.")
        else:
            assert f"Stay lengths: {verdict.reasons['stay_lengths']}." in out
            assert "Corrected plan:\n```json\n" in out


def test_reflector_on_an_unreadable_answer_and_a_passing_plan(rows):
    teacher = TripRulesBackend(fix_failure_rate=0.0, format_error_rate=0.0)
    row = rows[0]
    out = teacher.generate([reflector(row, "<think>\nhm\n</think>\n[{\"city\": ")], SAMPLING)[0].text
    assert "no readable list of stays" in out
    assert STRICT.score(row, [s.to_dict() for s in parse_reflection(out).stays]).final_pass
    golden = format_answer("ok", None, json.loads(row["golden_plan"]))
    out = teacher.generate([reflector(row, golden)], SAMPLING)[0].text
    assert out.startswith("Errors found: none.") and parse_reflection(out).stays is not None
    dropped = TripRulesBackend(format_error_rate=1.0).generate([reflector(row, golden)], SAMPLING)[0].text
    assert parse_reflection(dropped).stays is None


def test_target_falls_back_to_the_solver(rows):
    row = {k: v for k, v in rows[0].items() if k != "golden_plan"}
    text = TripRulesBackend(mistakes=NONE).generate([reasoner(row)], SAMPLING)[0].text
    assert failed(rows[0], text) == set()


def test_bad_requests_become_errors_not_exceptions(rows):
    teacher = TripRulesBackend()
    outs = teacher.generate([Request(({"role": "user", "content": "hi"},), {"role": "critic", "query": rows[0]}),
                             Request(({"role": "user", "content": "hi"},), None)], SAMPLING)
    assert all(o.text is None and "role" in o.error for o in outs)
