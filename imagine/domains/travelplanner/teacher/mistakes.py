"""The Reasoner's realistic mistakes: each kind with its own rate (`mistakes`) and the strict check it breaks.

Starting from the certified reference plan, each injector edits the plan in place and records what
the reasoning "believes" about it (a misread price, a hotel whose rules it never checked, a
restaurant it liked "again", ...), so that the narration repeats the mistake rather than catching it.
"""

from __future__ import annotations

import copy

from imagine.domains.travelplanner.evaluate.index import forbidden_rules, parse_entity, rooms
from imagine.domains.travelplanner.evaluate.strict import Day, parse_transport
from imagine.domains.travelplanner.plan import MEALS, ground, vehicle_cost
from imagine.domains.travelplanner.sandbox import ROOM_TYPE_OK
from imagine.domains.travelplanner.teacher.common import Shared

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


class _Beliefs:
    """What the reasoner believes about its plan, where that differs from the truth."""

    def __init__(self):
        self.price: dict[str, float] = {}       # entity text -> believed price (hotel per night, meal per person)
        self.cuisines: dict[str, str] = {}      # invented restaurant -> believed cuisines
        self.again: set[tuple[int, str]] = set()  # (day index, meal) chosen "again"
        self.unchecked: set[str] = set()         # hotels whose rules / type / minimum nights it never checked
        self.mixed_transport = False             # picked each leg on its own, not one consistent mode


class Mistakes(Shared):
    """The `_inject_<kind>` methods of the mistake kinds in MISTAKES (but `malformed_json`) and their helpers."""

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
        per_vehicle = vehicle_cost(mode, route.distance_km)
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
