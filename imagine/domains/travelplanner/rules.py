"""`rules`: the deterministic, seeded CPU teacher behind the same `generate()` as every LLM backend.

It reads each request's structured `context` (`role`: reasoner / judge / reflector, the TravelPlanner
`query`, the certified `reference_plan`, and for judges and the reflector the `reasoner_output`) and
writes TEXT in exactly the formats an LLM must produce:

- Reasoner: `<think>step-by-step reasoning</think>` + the JSON plan. The reasoning walks the route and
  transport choice with prices, each hotel against the house rule / room type / minimum nights (with
  a rejected cheaper option when there is one), the meals against the cuisines and repeats, the
  attractions, and a running cost tally. Starting from the certified reference plan it injects
  realistic mistakes, each kind with its own rate (`mistakes`), and the reasoning "believes" them
  (a misread price, a hotel whose rules it never checked, a restaurant it liked "again", ...).
- Judge: exactly `Errors exist.` or `No errors.`. The truth comes from the strict scorer; a judge
  misses a real error with `miss_rate`, raises a false alarm with `false_alarm_rate`, and answers
  off-format with `format_error_rate` (parsed leniently, or unparseable).
- Reflector: names each failing check with the scorer's reason, lists the corrections (field by
  field, against the reference plan) and gives the corrected plan after `Corrected plan:`. With
  `fix_failure_rate` it misses an error (one wrong day left unfixed, one error not named); with
  `format_error_rate` it forgets the plan block.

Randomness: every call draws from its own RNG seeded by sha256(seed, sampling seed, query id, role),
so outputs are deterministic per call and independent of batch order. The model name carries a
digest of the configuration (rates included), so the content-hash cache never serves an output of
a differently configured teacher. Tokens are counted as whitespace-separated words.
"""

from __future__ import annotations

import copy
import json
import math

from imagine.domains.travelplanner.evaluate import Scorer, normalize_query
from imagine.domains.travelplanner.evaluate.index import SandboxIndex, forbidden_rules, parse_entity, rooms
from imagine.domains.travelplanner.evaluate.strict import Day, parse_transport
from imagine.domains.travelplanner.plan import MEALS, ground
from imagine.domains.travelplanner.prompts import CORRECTED_PLAN, JUDGE_ERRORS, JUDGE_OK, plan_of
from imagine.domains.travelplanner.sandbox import ROOM_TYPE_OK
from imagine.llm.base import Sampling
from imagine.mas.scripted import ScriptedTeacher, words

# Mistake kinds, in the order they are tried, and the strict check (traces column) each one breaks.
INTENDED_CHECK = {
    "repeated_restaurant": "cs_is_valid_restaurants",
    "wrong_city_restaurant": "cs_is_valid_information_in_current_city",
    "budget_overrun": "hard_valid_cost",
    "min_nights_violation": "cs_is_valid_accommodation",
    "conflicting_transport": "cs_is_valid_transportation",
    "invented_entity": "cs_is_valid_information_in_sandbox",
    "wrong_room_type": "hard_valid_room_type",
    "house_rule_violation": "hard_valid_room_rule",
    "missing_day": "cs_is_not_absent",
    "malformed_json": None,  # the output has no parseable plan
}
MISTAKES = tuple(INTENDED_CHECK)
DEFAULT_MISTAKES = {
    "repeated_restaurant": 0.07, "wrong_city_restaurant": 0.05, "budget_overrun": 0.08,
    "min_nights_violation": 0.07, "conflicting_transport": 0.06, "invented_entity": 0.05,
    "wrong_room_type": 0.25, "house_rule_violation": 0.25, "missing_day": 0.04, "malformed_json": 0.02,
}
CHECK_NAMES = {
    "is_reasonable_visiting_city": "Route", "is_valid_restaurants": "Repeated restaurant",
    "is_valid_attractions": "Repeated attraction", "is_valid_accommodation": "Minimum nights",
    "is_valid_transportation": "Conflicting transportation",
    "is_valid_information_in_current_city": "Place outside the day's city",
    "is_valid_information_in_sandbox": "Place not in the reference information",
    "is_not_absent": "Missing information", "valid_cost": "Budget", "valid_room_rule": "House rule",
    "valid_cuisine": "Cuisine", "valid_room_type": "Room type", "valid_transportation": "Transportation rule",
}
INVENTED_RESTAURANTS = ("The Golden Fork", "Blue Harbor Grill", "Maple Street Diner", "Casa Bella Trattoria",
                        "Lotus Garden Bistro", "The Rustic Spoon", "Saffron & Sage", "Harborview Kitchen")
INVENTED_ATTRACTIONS = ("{city} Heritage Museum", "{city} Riverside Park", "Old Town {city} Walking Tour",
                        "{city} Botanical Conservatory")
JUDGE_NOISE = {
    "errors": ("Errors exist", "**Errors exist.**", "There are errors in the plan.",
               "After checking the hotel and the costs: errors exist."),
    "no_errors": ("No errors", "no errors.", "The plan has no errors.", "**No errors.**"),
    "unclear": ("The plan looks mostly reasonable, but I cannot be sure.", "Hard to say without more detail."),
}


def _money(value: float) -> str:
    return f"${value:,.0f}" if float(value).is_integer() else f"${value:,.2f}"


class _Beliefs:
    """What the reasoner believes about its plan, where that differs from the truth."""

    def __init__(self):
        self.price: dict[str, float] = {}       # entity text -> believed price (hotel per night, meal per person)
        self.cuisines: dict[str, str] = {}      # invented restaurant -> believed cuisines
        self.again: set[tuple[int, str]] = set()  # (day index, meal) chosen "again"
        self.unchecked: set[str] = set()         # hotels whose rules / type / minimum nights it never checked
        self.mixed_transport = False             # picked each leg on its own, not one consistent mode


class RulesBackend(ScriptedTeacher):
    SHARED = ("sandbox",)
    known_mistakes = MISTAKES
    default_mistakes = DEFAULT_MISTAKES

    def __init__(self, model: str = "rules-teacher-v1", seed: int = 0, sandbox=None, mistakes: dict | None = None,
                 miss_rate: float = 0.3, false_alarm_rate: float = 0.1, format_error_rate: float = 0.03,
                 fix_failure_rate: float = 0.15, latency_ms: float = 0.0):
        if sandbox is None:
            raise ValueError("the rules backend needs the sandbox (build_backend(spec, sandbox=...))")
        super().__init__(model, seed, mistakes, miss_rate, false_alarm_rate, format_error_rate, fix_failure_rate,
                         latency_ms)
        # Given a Sandbox rather than its index, the teacher also solves a query that has no reference plan.
        self._solves = not isinstance(sandbox, SandboxIndex)
        self.index = sandbox if isinstance(sandbox, SandboxIndex) else SandboxIndex(sandbox)
        self.scorer = Scorer(self.index, "strict")
        self._solver = None

    # -- helpers --------------------------------------------------------------------------------
    def _target(self, context: dict, q: dict) -> list | None:
        """The certified plan for the query: the reference plan, else the solver's (needs a Sandbox)."""
        plan = plan_of(context.get("reference_plan"))
        if plan is None and self._solves:
            from imagine.domains.travelplanner.queries import SolverIndex, solve
            if self._solver is None:
                self._solver = SolverIndex(self.index)
            plan = solve(self._solver, q).plan
        return copy.deepcopy(plan) if plan else None

    def _row(self, table: str, text: str) -> dict | None:
        return self.index.entity(table, text) if text and text != "-" else None

    # -- Reasoner -------------------------------------------------------------------------------
    def _reason(self, context: dict, sampling: Sampling) -> tuple[str, list[str]]:
        q = normalize_query(context["query"])
        q["query_id"] = context["query"].get("query_id")
        rng = self._rng(sampling, q, "reasoner")
        plan = self._target(context, q)
        if plan is None:
            text = ("<think>\nI could not build a plan: no combination of transport, hotels and restaurants in the "
                    "reference information satisfies the request.\n</think>\n[]")
            return text, []
        beliefs = _Beliefs()
        injected = []
        for kind in MISTAKES:
            if kind == "malformed_json":
                continue
            if rng.random() < self.mistakes[kind]:
                if getattr(self, f"_inject_{kind}")(q, plan, beliefs, rng):
                    injected.append(kind)
        body = json.dumps(plan, ensure_ascii=False)
        if rng.random() < self.mistakes["malformed_json"]:
            injected.append("malformed_json")
            body = body[: max(len(body) * 2 // 3, 1)]  # the answer stops mid-plan
        return f"<think>\n{self._narrate(q, plan, beliefs)}\n</think>\n{body}", injected

    # Each injector edits `plan` in place, records the reasoner's beliefs, and returns whether it applied.
    def _meal_slots(self, plan):
        return [(i, meal, day[meal]) for i, day in enumerate(plan) for meal in MEALS if day.get(meal, "-") != "-"]

    def _cuisine_critical(self, q, plan, text) -> bool:
        """Whether removing this restaurant would lose a requested cuisine."""
        wanted = q["local_constraint"].get("cuisine") or []
        if not wanted:
            return False
        served: dict[str, int] = {}
        for _, _, other in self._meal_slots(plan):
            row = self._row("restaurants", other)
            if row and row["city"] != q["org"]:
                for c in {c.strip() for c in row["cuisines"].split(",")}:
                    served[c] = served.get(c, 0) + 1
        row = self._row("restaurants", text)
        mine = {c.strip() for c in row["cuisines"].split(",")} if row else set()
        return any(c in mine and served.get(c, 0) <= 1 for c in wanted)

    def _inject_repeated_restaurant(self, q, plan, beliefs, rng) -> bool:
        slots = self._meal_slots(plan)
        options = []
        for j, (i, meal, text) in enumerate(slots):
            city = parse_entity(text)[1] if parse_entity(text) else None
            earlier = [t for (_, _, t) in slots[:j] if parse_entity(t) and parse_entity(t)[1] == city and t != text]
            if earlier and not self._cuisine_critical(q, plan, text):
                options.append((i, meal, earlier))
        if not options:
            return False
        i, meal, earlier = rng.choice(options)
        plan[i][meal] = rng.choice(earlier)
        beliefs.again.add((i, meal))
        return True

    def _inject_wrong_city_restaurant(self, q, plan, beliefs, rng) -> bool:
        used = {t for _, _, t in self._meal_slots(plan)}
        options = []
        for i, meal, text in self._meal_slots(plan):
            day = Day.read(i, plan[i])
            if day.travel or self._cuisine_critical(q, plan, text):
                continue
            options.append((i, meal, day.cities[0]))
        if not options:
            return False
        i, meal, city = rng.choice(options)
        # The reasoner mixes up cities: a restaurant from the origin (or another stop) of the trip.
        others = [q["org"]] + [c for c in self._route(plan, q["org"]) if c != city]
        for other in others:
            candidates = [r for r in self.index.listed("restaurants", other)
                          if f"{r['name']}, {other}" not in used][:6]
            if candidates:
                row = rng.choice(candidates)
                plan[i][meal] = f"{row['name']}, {other}"
                return True
        return False

    def _route(self, plan, org) -> list[str]:
        out = []
        for i, raw in enumerate(plan):
            for city in Day.read(i, raw).cities:
                if city != org and city not in out:
                    out.append(city)
        return out

    def _stays(self, plan) -> list[tuple[str, list[int]]]:
        runs: list[tuple[str, list[int]]] = []
        for i, day in enumerate(plan):
            text = day.get("accommodation", "-")
            if text == "-":
                continue
            if runs and runs[-1][0] == text and runs[-1][1][-1] == i - 1:
                runs[-1][1].append(i)
            else:
                runs.append((text, [i]))
        return runs

    def _hotel_ok(self, q, row, nights, *, rule=True, room=True, minimum=True) -> bool:
        constraint = q["local_constraint"]
        return ((not minimum or row["minimum_nights"] <= nights)
                and (not room or ROOM_TYPE_OK[constraint.get("room type")](row["room_type"]))
                and (not rule or constraint.get("house rule") not in forbidden_rules(row)))

    def _swap_hotel(self, plan, text, days, row):
        city = parse_entity(text)[1]
        for i in days:
            plan[i]["accommodation"] = f"{row['name']}, {city}"
        return f"{row['name']}, {city}"

    def _inject_budget_overrun(self, q, plan, beliefs, rng) -> bool:
        trial = copy.deepcopy(plan)
        believed = {}
        people = q["people_number"]
        for text, days in sorted(self._stays(plan), key=lambda s: -len(s[1])):
            current = self._row("accommodations", text)
            city = parse_entity(text)[1]
            better = [r for r in self.index.listed("accommodations", city) if self._hotel_ok(q, r, len(days))
                      and r["price"] * rooms(r, people) > current["price"] * rooms(current, people)]
            if not better:
                continue
            row = max(better, key=lambda r: (r["price"] * rooms(r, people), r["name"]))
            # The reasoner misreads the upgrade's price as the one it had in mind: it thinks it still fits.
            believed[self._swap_hotel(trial, text, days, row)] = current["price"] * rooms(current, people) / rooms(row, people)
            cost = self.scorer.cost(q, trial)
            if cost is not None and cost > q["budget"]:
                plan[:] = trial
                beliefs.price.update(believed)
                return True
        return False

    def _inject_min_nights_violation(self, q, plan, beliefs, rng) -> bool:
        options = []
        for text, days in self._stays(plan):
            city = parse_entity(text)[1]
            rows = [r for r in self.index.listed("accommodations", city)
                    if r["minimum_nights"] > len(days) and self._hotel_ok(q, r, len(days), minimum=False)]
            if rows:
                options.append((text, days, rows[:3]))
        if not options:
            return False
        text, days, rows = rng.choice(options)
        beliefs.unchecked.add(self._swap_hotel(plan, text, days, rng.choice(rows)))
        return True

    def _inject_wrong_room_type(self, q, plan, beliefs, rng) -> bool:
        if not q["local_constraint"].get("room type"):
            return False
        return self._hotel_breaking(q, plan, beliefs, rng, room=False)

    def _inject_house_rule_violation(self, q, plan, beliefs, rng) -> bool:
        if not q["local_constraint"].get("house rule"):
            return False
        return self._hotel_breaking(q, plan, beliefs, rng, rule=False)

    def _hotel_breaking(self, q, plan, beliefs, rng, **relax) -> bool:
        options = []
        for text, days in self._stays(plan):
            city = parse_entity(text)[1]
            rows = [r for r in self.index.listed("accommodations", city)
                    if self._hotel_ok(q, r, len(days), **relax) and not self._hotel_ok(q, r, len(days))]
            if rows:
                options.append((text, days, rows[:3]))  # cheapest first: the reasoner went for price
        if not options:
            return False
        text, days, rows = rng.choice(options)
        beliefs.unchecked.add(self._swap_hotel(plan, text, days, rng.choice(rows)))
        return True

    def _inject_conflicting_transport(self, q, plan, beliefs, rng) -> bool:
        legs = [(i, parse_transport(day["transportation"])) for i, day in enumerate(plan)
                if day.get("transportation", "-") != "-"]
        if len(legs) < 2:
            return False
        modes = {t.mode for _, t in legs}
        options = []
        for i, t in legs:
            route = self.index.route(t.origin, t.dest)
            if route is None:
                continue
            if t.mode in ("flight", "taxi") and q["local_constraint"].get("transportation") != "no self-driving":
                options.append((i, "Self-driving", route, t))
            elif t.mode == "self-driving" and modes == {"self-driving"}:
                options.append((i, "Taxi", route, t))
        if not options:
            return False
        i, mode, route, t = rng.choice(options)
        per_vehicle = int(route.distance_km * 0.05) if mode == "Self-driving" else int(route.distance_km)
        plan[i]["transportation"] = ground(mode, t.origin, t.dest, route.duration, route.distance_text, per_vehicle)
        beliefs.mixed_transport = True
        return True

    def _inject_invented_entity(self, q, plan, beliefs, rng) -> bool:
        slots = [(i, meal, text) for i, meal, text in self._meal_slots(plan) if not self._cuisine_critical(q, plan, text)]
        if slots and rng.random() < 0.7:
            i, meal, text = rng.choice(slots)
            city = parse_entity(text)[1]
            for name in rng.sample(INVENTED_RESTAURANTS, len(INVENTED_RESTAURANTS)):
                if self.index.exact("restaurants", name, city) is None:
                    new = f"{name}, {city}"
                    plan[i][meal] = new
                    costs = [r["average_cost"] for r in self.index.listed("restaurants", city)] or [25]
                    beliefs.price[new] = costs[len(costs) // 2]
                    beliefs.cuisines[new] = rng.choice(("American, Cafe", "Italian, Pizza", "Seafood, BBQ"))
                    return True
        days = [i for i, day in enumerate(plan) if day.get("attraction", "-") != "-"]
        if not days:
            return False
        i = rng.choice(days)
        city = Day.read(i, plan[i]).cities[-1]
        for pattern in rng.sample(INVENTED_ATTRACTIONS, len(INVENTED_ATTRACTIONS)):
            name = pattern.format(city=city)
            if self.index.exact("attractions", name, city) is None:
                plan[i]["attraction"] = plan[i]["attraction"].rstrip(";") + f";{name}, {city};"
                return True
        return False

    def _inject_missing_day(self, q, plan, beliefs, rng) -> bool:
        if len(plan) < 3:
            return False
        middle = [i for i in range(1, len(plan) - 1) if not Day.read(i, plan[i]).travel]
        drop = rng.choice(middle) if middle else len(plan) - 1
        del plan[drop]
        for i, day in enumerate(plan):
            day["days"] = i + 1
        return True

    # -- the reasoning text ---------------------------------------------------------------------
    def _narrate(self, q: dict, plan: list, beliefs: _Beliefs) -> str:
        people, constraint = q["people_number"], q["local_constraint"]
        days = [Day.read(i, raw) for i, raw in enumerate(plan)]
        route = self._route(plan, q["org"])
        wants = []
        if constraint.get("house rule"):
            wants.append(f"the stay must allow {constraint['house rule']}")
        if constraint.get("room type"):
            wants.append(f"room type: {constraint['room type']}")
        if constraint.get("cuisine"):
            wants.append(f"cuisines to try: {', '.join(constraint['cuisine'])}")
        if constraint.get("transportation"):
            wants.append(f"transportation: {constraint['transportation']}")
        lines = [
            f"Request: {people} {'person' if people == 1 else 'people'} from {q['org']} to {q['dest']} "
            f"({q['visiting_city_number']} {'city' if q['visiting_city_number'] == 1 else 'cities'}), "
            f"{q['days']} days from {q['date'][0]} to {q['date'][-1]}, budget {_money(q['budget'])}.",
            "Constraints: " + ("; ".join(wants) if wants else "none besides the budget") + ".",
        ]
        stays = self._stays(plan)
        nights = ", ".join(f"{parse_entity(t)[1] if parse_entity(t) else t} {len(d)} night{'s' * (len(d) != 1)}"
                           for t, d in stays)
        lines.append(f"Step 1, route: {' -> '.join([q['org'], *route, q['org']])}; nights: {nights or 'none'}.")

        # Step 2: transport, leg by leg.
        lines.append("Step 2, transportation:")
        total = 0.0
        modes = []
        rule = constraint.get("transportation")
        for day in days:
            t = day.transport
            if t is None:
                continue
            date = q["date"][day.index] if day.index < len(q["date"]) else None
            options = []
            cheapest = self.index.flights_on(t.origin, t.dest, date)
            if cheapest and rule != "no flight":
                f = cheapest[0]
                options.append(f"flight {f.number} ({f.dep_time}-{f.arr_time}) {_money(f.price)} x {people} = "
                               f"{_money(f.price * people)}")
            route_info = self.index.route(t.origin, t.dest)
            if route_info is not None:
                drive = int(route_info.distance_km * 0.05) * math.ceil(people / 5)
                taxi = int(route_info.distance_km) * math.ceil(people / 4)
                if rule != "no self-driving":
                    options.append(f"self-driving {route_info.distance_text} = {_money(drive)}")
                options.append(f"taxi {_money(taxi)}")
            cost, chosen = self._leg_cost(q, day, t)
            total += cost
            modes.append(t.mode)
            excluded = f" ({rule} rules out {'flights' if rule == 'no flight' else 'self-driving'})" if rule else ""
            lines.append(f"- Day {day.index + 1}, {t.origin} -> {t.dest} on {date}: options "
                         f"{'; '.join(options) or 'none listed'}{excluded}. I take {chosen}: {_money(cost)}.")
        if beliefs.mixed_transport:
            lines.append("I pick the cheapest option on each leg separately.")
        elif modes:
            kind = "self-driving" if "self-driving" in modes else "flights and taxis only"
            lines.append(f"All legs use {kind}, so the modes do not conflict.")
        lines.append(f"Running total after transport: {_money(total)}.")

        # Step 3: hotels.
        lines.append("Step 3, accommodation:")
        for text, run in stays:
            row = self._row("accommodations", text)
            name, city = parse_entity(text) if parse_entity(text) else (text, "?")
            n = len(run)
            if row is None:
                price = beliefs.price.get(text, 100.0)
                cost = price * n
                lines.append(f"- {city}, {n} night(s): {name}, {_money(price)} per night = {_money(cost)}.")
                total += cost
                continue
            k = rooms(row, people)
            price = beliefs.price.get(text, row["price"])
            cost = price * k * n
            total += cost
            line = (f"- {city}, {n} night{'s' * (n != 1)} (days {run[0] + 1}-{run[-1] + 1}): {name}, "
                    f"{row['room_type']}, {_money(price)}/night, up to {row['max_occupancy']} guests -> {k} room(s); "
                    f"{_money(price)} x {k} x {n} = {_money(cost)}.")
            if text in beliefs.unchecked:
                line += " It looks comfortable and fits everyone."
            else:
                checks = [f"minimum {row['minimum_nights']} night(s) <= {n}"]
                if constraint.get("house rule"):
                    checks.append(f"allows {constraint['house rule']} (rules: {row['house_rules'] or 'none'})")
                if constraint.get("room type"):
                    checks.append(f"{row['room_type']} fits '{constraint['room type']}'")
                line += " Checks: " + "; ".join(checks) + "."
                rejected = self._rejected_hotel(q, city, n, row)
                if rejected:
                    line += f" {rejected}"
            lines.append(line)
        lines.append(f"Running total after accommodation: {_money(total)}.")

        # Step 4: meals.
        lines.append("Step 4, meals:")
        per_person = 0.0
        for day in days:
            parts = []
            for meal, text in day.meals:
                row = self._row("restaurants", text)
                name = parse_entity(text)[0] if parse_entity(text) else text
                cost = beliefs.price.get(text, row["average_cost"] if row else 0)
                cuisines = beliefs.cuisines.get(text, row["cuisines"] if row else "unknown")
                per_person += cost
                again = " again, I liked it" if (day.index, meal) in beliefs.again else ""
                parts.append(f"{meal} {name} ({_money(cost)}; {cuisines}){again}")
            if parts:
                lines.append(f"- Day {day.index + 1}: " + "; ".join(parts) + ".")
        meals_total = per_person * people
        total += meals_total
        lines.append(f"Meals: {_money(per_person)} per person x {people} = {_money(meals_total)}. "
                     f"Running total: {_money(total)}.")
        if constraint.get("cuisine"):
            found = []
            for cuisine in constraint["cuisine"]:
                where = next((parse_entity(t)[0] for d in days for _, t in d.meals
                              if cuisine in beliefs.cuisines.get(t, (self._row("restaurants", t) or {}).get("cuisines", ""))
                              and parse_entity(t) and parse_entity(t)[1] != q["org"]), None)
                found.append(f"{cuisine} at {where}" if where else f"{cuisine} not found")
            lines.append("Cuisines: " + "; ".join(found) + ".")

        # Step 5: attractions.
        lines.append("Step 5, attractions:")
        for day in days:
            if day.attractions:
                names = [parse_entity(a)[0] if parse_entity(a) else a for a in day.attractions]
                lines.append(f"- Day {day.index + 1}: {', '.join(names)}.")

        # Step 6: final check.
        verdict = (f"within the budget of {_money(q['budget'])} ({_money(q['budget'] - total)} to spare)"
                   if total <= q["budget"] else
                   f"{_money(total - q['budget'])} over the budget of {_money(q['budget'])}, but the cheaper "
                   "options break other requirements, so I keep it")
        lines.append(f"Step 6, check: total {_money(total)}, {verdict}. Every day has its meals, attractions "
                     f"and a place to stay, and the trip ends in {q['org']} on day {len(plan)}.")
        return "\n".join(lines)

    def _leg_cost(self, q, day, t) -> tuple[float, str]:
        people = q["people_number"]
        date = q["date"][day.index] if day.index < len(q["date"]) else None
        if t.mode == "flight":
            found = self.index.flights.find(t.number, t.origin, t.dest, date) if t.number else None
            price = found.price if found else 0
            return price * people, f"flight {t.number}"
        cost = self.index.ground_cost(t.origin, t.dest, t.mode or "taxi") or 0
        per = 5 if t.mode == "self-driving" else 4
        return cost * math.ceil(people / per), ("self-driving" if t.mode == "self-driving" else "a taxi")

    def _rejected_hotel(self, q, city, nights, chosen) -> str | None:
        people = q["people_number"]
        for row in self.index.listed("accommodations", city):
            if row["price"] * rooms(row, people) >= chosen["price"] * rooms(chosen, people):
                break
            if row["minimum_nights"] > nights:
                return f"{row['name']} is cheaper ({_money(row['price'])}) but needs {row['minimum_nights']} nights."
            rule = q["local_constraint"].get("house rule")
            if rule and rule in forbidden_rules(row):
                return f"{row['name']} is cheaper ({_money(row['price'])}) but forbids {rule}."
            room = q["local_constraint"].get("room type")
            if room and not ROOM_TYPE_OK[room](row["room_type"]):
                return f"{row['name']} is cheaper ({_money(row['price'])}) but is a {row['room_type']}."
        return None

    # -- Judges ---------------------------------------------------------------------------------
    def truth(self, query: dict, reasoner_output: str | None) -> tuple[list | None, object]:
        """(plan, strict verdict) of a reasoner output; verdict None when there is no plan."""
        from imagine.answer import parse_output

        parsed = parse_output(reasoner_output or "")
        if not parsed.ok:
            return None, None
        return parsed.plan, self.scorer.score(query, parsed.plan)

    def _judge(self, context: dict, sampling: Sampling) -> str:
        q = normalize_query(context["query"])
        q["query_id"] = context["query"].get("query_id")
        rng = self._rng(sampling, q, f"judge_{context.get('judge', 1)}")
        _, verdict = self.truth(q, context.get("reasoner_output"))
        errors = verdict is None or not verdict.final_pass
        if errors:
            says = "no_errors" if rng.random() < self.miss_rate else "errors"
        else:
            says = "errors" if rng.random() < self.false_alarm_rate else "no_errors"
        if rng.random() < self.format_error_rate:
            pool = JUDGE_NOISE["unclear"] if rng.random() < 0.3 else JUDGE_NOISE[says]
            return rng.choice(pool)
        return JUDGE_ERRORS if says == "errors" else JUDGE_OK

    # -- Reflector ------------------------------------------------------------------------------
    def _reflect(self, context: dict, sampling: Sampling) -> str:
        q = normalize_query(context["query"])
        q["query_id"] = context["query"].get("query_id")
        rng = self._rng(sampling, q, "reflector")
        plan, verdict = self.truth(q, context.get("reasoner_output"))
        fail = rng.random() < self.fix_failure_rate
        drop_block = rng.random() < self.format_error_rate
        if plan is not None and verdict.final_pass:
            analysis = ("Errors found: none. I re-checked the route, transport, hotels (minimum nights, house rule, "
                        "room type), meals, attractions and the total cost; the plan stands.")
            return self._reflection_text(analysis, plan, drop_block)
        errors = []
        if plan is None:
            errors.append("The answer has no valid JSON plan after the reasoning.")
        else:
            for group in (verdict.commonsense, verdict.hard):
                for check, passed in group.items():
                    if passed is False:
                        errors.append(f"{CHECK_NAMES[check]}: {verdict.reasons.get(check, 'fails')}.")
        target = self._target(context, q)
        if target is None:
            analysis = "Errors found:\n" + "\n".join(f"{i}. {e}" for i, e in enumerate(errors, 1))
            analysis += "\nCorrections:\n- I could not find a valid alternative; the plan is kept."
            return self._reflection_text(analysis, plan or [], drop_block)
        corrected = target
        changes = self._changes(plan or [], target)
        if fail:
            # The reflector misses one error: the last one goes unnamed and one wrong day stays as it was.
            if len(errors) > 1:
                errors = errors[:-1]
            differing = [i for i in range(min(len(plan or []), len(target))) if (plan or [])[i] != target[i]]
            if plan is not None and len(plan) == len(target) and differing:
                keep = rng.choice(differing)
                corrected = copy.deepcopy(target)
                corrected[keep] = copy.deepcopy(plan[keep])
                changes = [c for c in changes if not c.startswith(f"- Day {keep + 1} ")]
            elif plan is not None and len(target) > 1:
                corrected = copy.deepcopy(target)[:-1]
                changes = changes[:-1]
        shown = changes[:12] + ([f"- ... and {len(changes) - 12} more changes."] if len(changes) > 12 else [])
        analysis = ("Errors found:\n" + "\n".join(f"{i}. {e}" for i, e in enumerate(errors, 1))
                    + "\nCorrections:\n" + ("\n".join(shown) if shown else "- Rewrite the plan."))
        return self._reflection_text(analysis, corrected, drop_block)

    def _reflection_text(self, analysis: str, plan: list, drop_block: bool) -> str:
        if drop_block:
            return analysis + "\nWith these changes the plan satisfies every requirement."
        return f"{analysis}\n{CORRECTED_PLAN}\n```json\n{json.dumps(plan, ensure_ascii=False)}\n```"

    def _changes(self, plan: list, target: list) -> list[str]:
        out = []
        if len(plan) != len(target):
            out.append(f"- The trip needs {len(target)} days, not {len(plan)}: rebuild the itinerary day by day.")
        for i, day in enumerate(target):
            old = plan[i] if i < len(plan) and isinstance(plan[i], dict) else {}
            for key in ("current_city", "transportation", *MEALS, "attraction", "accommodation"):
                before, after = old.get(key, "-"), day.get(key, "-")
                if before != after:
                    out.append(f"- Day {i + 1} {key}: {before!r} -> {after!r}{self._why(key, after)}.")
        return out

    def _why(self, key: str, text: str) -> str:
        if key in MEALS:
            row = self._row("restaurants", text)
            return f" ({_money(row['average_cost'])}, {row['cuisines']})" if row else ""
        if key == "accommodation":
            row = self._row("accommodations", text)
            return (f" ({row['room_type']}, {_money(row['price'])}/night, minimum {row['minimum_nights']} nights, "
                    f"rules: {row['house_rules'] or 'none'})") if row else ""
        return ""


__all__ = ["DEFAULT_MISTAKES", "INTENDED_CHECK", "MISTAKES", "RulesBackend", "words"]
