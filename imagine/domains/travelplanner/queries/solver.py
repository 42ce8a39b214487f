"""A fast feasibility solver: for a query (budget aside) build a cheap plan that passes every strict check.

`SolverIndex` is built once per sandbox from its `SandboxIndex` (the one index the scorers, prompts
and teacher share): per-city hotel, restaurant and attraction lists sorted by price, the cheapest
flight per route and date, the drivable routes; `solve(index, query)` then needs only dict lookups
and short loops. The solver is a heuristic, not an optimiser: it prefers low cost (the
cheapest hotel meeting the house rule / room type / minimum nights, the cheapest distinct
restaurants covering the requested cuisines, the cheapest transport mode consistent with the
conflict rule and the transportation constraint), and the query's budget is then set from the cost
of the plan it finds.

Only entities the official evaluator also resolves to the same row are used: complete rows (its
loaders drop the others), the first row of a (name, city) pair, and names that are no substring of
another name in the same city (the official lookup matches by substring and takes the first hit).
That way a reference plan passes both `strict` and `compat` scoring with the same cost.

Day layout (n cities, d days, nights split evenly, first cities take any remainder):
day 1 "from org to C1" (dinner in C1, hotel in C1); stay days in Ck: breakfast, lunch, dinner,
1..`attractions_per_day` attractions; travel day "from Ck to Ck+1": breakfast in Ck, lunch, dinner
and one attraction (when one is left) in Ck+1; last day "from Cn to org": breakfast and lunch in Cn.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from imagine.domains.travelplanner import plan as planfmt
from imagine.domains.travelplanner.evaluate.index import SandboxIndex, forbidden_rules
from imagine.domains.travelplanner.queries.schema import flatten
from imagine.domains.travelplanner.sandbox import ROOM_TYPE_OK, Sandbox

# Reasons a query is dropped, in the order they are checked.
REASONS = ("unknown_city", "too_few_cities", "no_hotel", "too_few_restaurants", "too_few_attractions",
           "cuisine_unavailable", "no_transport")


@dataclass(slots=True)
class Hotel:
    name: str
    price: float
    room_type: str
    minimum_nights: int
    forbidden: frozenset  # house rules the hotel forbids ("parties", "pets", ...)
    max_occupancy: int


@dataclass(slots=True)
class Restaurant:
    name: str
    cost: int
    cuisines: frozenset


@dataclass(slots=True)
class Leg:
    mode: str  # "flight" | "Self-driving" | "Taxi"
    origin: str
    dest: str
    cost: int  # whole group
    text: str


class SolverIndex:
    """The solver's view of a `SandboxIndex` (built from a Sandbox when given one): its `unambiguous`
    rows as small records sorted by price, the cheapest flight per route and date, the drivable routes."""

    def __init__(self, sandbox: Sandbox | SandboxIndex):
        index = sandbox if isinstance(sandbox, SandboxIndex) else SandboxIndex(sandbox)
        self.index = index
        self.city_state, self.state_cities = index.city_state, index.state_cities

        self.hotels: dict[str, list[Hotel]] = {}
        for row in index.unambiguous("accommodations"):
            if row["price"] is None or row["minimum_nights"] is None or not row["max_occupancy"]:
                continue
            self.hotels.setdefault(row["city"], []).append(Hotel(
                row["name"], float(row["price"]), row["room_type"], int(row["minimum_nights"]),
                frozenset(forbidden_rules(row)), int(row["max_occupancy"])))
        for hotels in self.hotels.values():
            hotels.sort(key=lambda h: (h.price / h.max_occupancy, h.name))

        self.restaurants: dict[str, list[Restaurant]] = {}
        for row in index.unambiguous("restaurants"):
            if row["average_cost"] is None:
                continue
            cuisines = frozenset(c.strip() for c in (row["cuisines"] or "").split(",") if c.strip())
            self.restaurants.setdefault(row["city"], []).append(
                Restaurant(row["name"], int(row["average_cost"]), cuisines))
        for restaurants in self.restaurants.values():
            restaurants.sort(key=lambda r: (r.cost, r.name))

        self.attractions: dict[str, list[str]] = {}
        for row in index.unambiguous("attractions"):
            self.attractions.setdefault(row["city"], []).append(row["name"])
        for names in self.attractions.values():
            names.sort()

        # (origin, dest, date) -> (number, departure, arrival, price) of the cheapest flight.
        self.flights: dict[tuple[str, str, str], tuple[str, str, str, int]] = {
            (origin, dest, date): (number, dep, arr, int(price))
            for number, origin, dest, date, dep, arr, price in index.flights.cheapest().iter_rows()}
        self.flight_dates = sorted({date for (_, _, date) in self.flights})
        # (origin, dest) -> (duration, distance text, km) of each drivable route.
        self.routes: dict[tuple[str, str], tuple[str, str, float]] = {
            pair: (route.duration, route.distance_text, float(route.distance_km))
            for pair, route in index.drivable().items()}

    # -- what the sampler may use ------------------------------------------------------------
    def usable(self, city: str, restaurants: int = 7, attractions: int = 2) -> bool:
        """A city with a hotel and enough restaurants and attractions to host a stay at all."""
        return (bool(self.hotels.get(city)) and len(self.restaurants.get(city, ())) >= restaurants
                and len(self.attractions.get(city, ())) >= attractions)


@dataclass
class Solution:
    plan: list | None
    cost: float | None
    reason: str | None = None  # set when plan is None
    cities: list = field(default_factory=list)


def layout(days: int, n: int) -> list[int]:
    """Nights per city: d-1 nights split evenly, the first cities taking any remainder."""
    base, extra = divmod(days - 1, n)
    return [base + (1 if k < extra else 0) for k in range(n)]


def _meals_needed(k: int, n: int, nights: int) -> int:
    arrive = 1 if k == 0 else 2             # dinner (from origin) / lunch + dinner
    depart = 2 if k == n - 1 else 1         # breakfast + lunch before going home / breakfast
    return arrive + 3 * (nights - 1) + depart


def _hotel(index: SolverIndex, city: str, nights: int, people: int, rule, room) -> tuple[Hotel, float] | None:
    room_ok = ROOM_TYPE_OK[room]
    best, best_cost = None, math.inf
    for hotel in index.hotels.get(city, ()):
        if hotel.minimum_nights > nights or not room_ok(hotel.room_type) or (rule and rule in hotel.forbidden):
            continue
        cost = hotel.price * math.ceil(people / hotel.max_occupancy) * nights
        if cost < best_cost:
            best, best_cost = hotel, cost
    return (best, best_cost) if best is not None else None


class _Leg:
    """Transport options of one leg, computed once per query."""

    __slots__ = ("flight", "drive", "taxi")

    def __init__(self, index: SolverIndex, origin: str, dest: str, date: str, people: int, rule):
        flight = index.flights.get((origin, dest, date)) if rule != "no flight" else None
        self.flight = (flight[3] * people, flight) if flight else None
        route = index.routes.get((origin, dest))
        self.drive = None
        self.taxi = None
        if route is not None:
            if rule != "no self-driving":
                self.drive = (planfmt.ground_cost("Self-driving", route[2], people), route)
            self.taxi = (planfmt.ground_cost("Taxi", route[2], people), route)

    def best_air_taxi(self):
        options = [o for o in (self.flight, self.taxi) if o is not None]
        return min(options, key=lambda o: o[0]) if options else None


def _transport(legs: list[_Leg]) -> tuple[float, str] | None:
    """Cheapest consistent choice: every leg self-driving, or each leg flight-or-taxi."""
    best = None
    if all(leg.drive for leg in legs):
        best = (sum(leg.drive[0] for leg in legs), "drive")
    if all(leg.best_air_taxi() for leg in legs):
        cost = sum(leg.best_air_taxi()[0] for leg in legs)
        if best is None or cost < best[0]:
            best = (cost, "air_taxi")
    return best


def _leg_text(leg: _Leg, choice: str, origin: str, dest: str) -> tuple[str, int]:
    option = leg.drive if choice == "drive" else leg.best_air_taxi()
    if option is leg.flight and choice != "drive":
        number, dep, arr, _ = option[1]
        return planfmt.flight(number, origin, dest, dep, arr), option[0]
    duration, distance_text, km = option[1]
    mode = "Self-driving" if choice == "drive" else "Taxi"
    per_vehicle = planfmt.ground_cost(mode, km, 1)  # the string shows one car's / taxi's cost
    return planfmt.ground(mode, origin, dest, duration, distance_text, per_vehicle), option[0]


def _pick_restaurants(index: SolverIndex, cities: list[str], needs: list[int], cuisines) -> list[list[Restaurant]] | None:
    """Distinct restaurants per city (needs[k] in cities[k]), cheapest, covering every requested cuisine."""
    chosen: list[list[Restaurant]] = [[] for _ in cities]
    if cuisines:
        missing = set(cuisines)
        while missing:
            best = None  # (cost per newly covered cuisine, k, restaurant)
            for k, city in enumerate(cities):
                if len(chosen[k]) >= needs[k]:
                    continue
                for r in index.restaurants.get(city, ()):
                    covered = len(r.cuisines & missing)
                    if covered and r not in chosen[k]:
                        score = (r.cost + 1) / covered
                        if best is None or score < best[0]:
                            best = (score, k, r)
            if best is None:
                return None
            _, k, r = best
            chosen[k].append(r)
            missing -= r.cuisines
    for k, city in enumerate(cities):
        for r in index.restaurants.get(city, ()):
            if len(chosen[k]) >= needs[k]:
                break
            if r not in chosen[k]:
                chosen[k].append(r)
        if len(chosen[k]) < needs[k]:
            return None
        chosen[k].sort(key=lambda r: (r.cost, r.name))
    return chosen


def solve(index: SolverIndex, query: dict, attractions_per_day: int = 2, candidate_cities: int = 6,
          max_builds: int = 8) -> Solution:
    """A plan passing every strict check for `query` (TravelPlanner fields, flat constraint columns
    `house_rule`, `cuisine`, `room_type`, `transportation`, or TravelPlanner's nested
    `local_constraint`), or a Solution with the drop reason."""
    query = flatten(query)
    org, dest, days = query["org"], query["dest"], int(query["days"])
    n, people, dates = int(query["visiting_city_number"]), int(query["people_number"]), list(query["date"])
    rule, room = query.get("house_rule"), query.get("room_type")
    cuisines, transport_rule = query.get("cuisine"), query.get("transportation")
    nights = layout(days, n)
    meals = [_meals_needed(k, n, nights[k]) for k in range(n)]
    stay_days = [nights[k] - 1 for k in range(n)]

    if n == 1:
        if dest not in index.city_state or dest == org:
            return Solution(None, None, "unknown_city")
        pool = [dest]
    else:
        pool = [c for c in index.state_cities.get(dest, ()) if c != org]
        if len(pool) < n:
            return Solution(None, None, "too_few_cities" if dest in index.state_cities else "unknown_city")

    # Per city and position: cheapest hotel + cheapest meals (cuisine ignored) or a failure reason.
    base: dict[str, list] = {}
    failures: dict[str, int] = {}
    for city in pool:
        per_position = []
        for k in range(n):
            hotel = _hotel(index, city, nights[k], people, rule, room)
            restaurants = index.restaurants.get(city, ())
            if hotel is None:
                per_position.append("no_hotel")
            elif len(restaurants) < meals[k]:
                per_position.append("too_few_restaurants")
            elif len(index.attractions.get(city, ())) < max(stay_days[k], 1):
                per_position.append("too_few_attractions")
            else:
                per_position.append((hotel[1] + sum(r.cost for r in restaurants[:meals[k]]) * people, hotel))
        if all(isinstance(p, str) for p in per_position):
            failures[per_position[0]] = failures.get(per_position[0], 0) + 1
        else:
            base[city] = per_position
    if len(base) < n:
        reason = max(failures, key=lambda r: (failures[r], -REASONS.index(r))) if failures else "too_few_cities"
        return Solution(None, None, reason)

    arrival = [0]
    for k in range(n - 1):
        arrival.append(arrival[-1] + nights[k])
    leg_cache: dict = {}

    def leg(origin, to, day):
        key = (origin, to, day)
        if key not in leg_cache:
            leg_cache[key] = _Leg(index, origin, to, dates[day], people, transport_rule)
        return leg_cache[key]

    def leg_floor(item):  # cheapest option of a leg, inf when none
        options = [o[0] for o in (item.flight, item.drive, item.taxi) if o is not None]
        return min(options) if options else math.inf

    # Depth-first over positions: at each position the `candidate_cities` cheapest unused cities
    # (stay + the leg into them, + the leg home at the last position) that the previous stop reaches
    # on that day; every complete route is then priced with one consistent transport mode.
    candidates = []

    def extend(order: list[str]):
        k = len(order)
        if k == n:
            stops = [org, *order, org]
            legs = [leg(stops[i], stops[i + 1], arrival[i] if i < n else days - 1) for i in range(n + 1)]
            transport = _transport(legs)
            if transport is not None:
                stay = sum(base[c][i][0] for i, c in enumerate(order))
                candidates.append((transport[0] + stay, tuple(order), legs, transport[1]))
            return
        previous = order[-1] if order else org
        scored = []
        for city, per_position in base.items():
            if city in order or isinstance(per_position[k], str):
                continue
            cost = per_position[k][0] + leg_floor(leg(previous, city, arrival[k]))
            if k == n - 1:
                cost += leg_floor(leg(city, org, days - 1))
            if cost < math.inf:
                scored.append((cost, city))
        for _, city in sorted(scored)[:candidate_cities]:
            extend([*order, city])

    extend([])
    if not candidates:
        return Solution(None, None, "no_transport")
    candidates.sort(key=lambda c: (c[0], c[1]))

    for _, order, legs, choice in candidates[:max_builds]:
        order = list(order)
        chosen = _pick_restaurants(index, order, meals, cuisines)
        if chosen is None:
            continue
        return _build(index, query, order, nights, arrival, legs, choice, chosen, attractions_per_day,
                      [base[c][k][1] for k, c in enumerate(order)])
    return Solution(None, None, "cuisine_unavailable")


def _build(index, query, cities, nights, arrival, legs, choice, chosen, per_day, hotels) -> Solution:
    org, days, people = query["org"], int(query["days"]), int(query["people_number"])
    n = len(cities)
    plan = [{"days": i + 1, "current_city": "-", "transportation": "-", "breakfast": "-", "attraction": "-",
             "lunch": "-", "dinner": "-", "accommodation": "-"} for i in range(days)]
    total = 0.0
    stops = [org, *cities, org]
    for k in range(n + 1):
        day = arrival[k] if k < n else days - 1
        text, cost = _leg_text(legs[k], choice, stops[k], stops[k + 1])
        plan[day]["current_city"] = f"from {stops[k]} to {stops[k + 1]}"
        plan[day]["transportation"] = text
        total += cost
    for k, city in enumerate(cities):
        (hotel, hotel_cost) = hotels[k]
        total += hotel_cost
        meals = iter(chosen[k])
        first, last = arrival[k], arrival[k] + nights[k]  # arrival day, departure day
        free = list(index.attractions[city])
        stay = list(range(first + 1, last))
        # attractions: at least one per stay day, up to per_day, then one on a mid-trip arrival day
        quota = {d: 1 for d in stay}
        for _ in range(per_day - 1):
            for d in stay:
                if sum(quota.values()) < len(free):
                    quota[d] += 1
        if k > 0 and sum(quota.values()) < len(free):
            quota[first] = 1
        for day in range(first, last):
            plan[day]["accommodation"] = planfmt.entity(hotel.name, city)
            if day != first:
                plan[day]["current_city"] = city
        for day in sorted(quota):
            names, free = free[:quota[day]], free[quota[day]:]
            plan[day]["attraction"] = planfmt.attractions(names, city)
        slots = ([(first, "dinner")] if k == 0 else [(first, "lunch"), (first, "dinner")])
        for day in stay:
            slots += [(day, "breakfast"), (day, "lunch"), (day, "dinner")]
        slots += [(last, "breakfast")] + ([(last, "lunch")] if k == n - 1 else [])
        for day, meal in slots:
            r = next(meals)
            plan[day][meal] = planfmt.entity(r.name, city)
            total += r.cost * people
    return Solution(plan, float(total), None, list(cities))
