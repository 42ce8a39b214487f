"""Every prompt of the MAS protocol, in one place, and the compact reference information.

- `reasoner_messages(query, reference_text)`: the Reasoner's chat. It is ALSO the student's prompt
  for SFT and GRPO: the student gets exactly what the Reasoner got.
- `judge_messages(...)`: a Judge sees the query, the reference information and the reasoner's
  output, and must answer exactly `Errors exist.` or `No errors.`.
- `reflector_messages(...)`: the Reflector sees all of that plus the verdicts, names each error and
  gives the corrected plan after the line `Corrected plan:` (format in REFLECTOR_FORMAT; read back
  by `imagine.mas.reflection.parse_reflection` for every backend).

`reference_info(query, index, caps)` renders the information for one query compactly: the cities of
its certified reference route with the transport options of each leg on its date (flights, self-
driving, taxi), and per city the hotels, restaurants and attractions the teacher could choose
(`SandboxIndex.listed`: complete rows, no name hidden in another), each list capped (`caps`) and
always including the entities of the reference plan, so a passing plan can be built from what is
shown. Traps are kept on purpose: the cheapest hotels shown may forbid the house rule, have the wrong
room type or need more nights than the stay.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from imagine.domains.travelplanner.evaluate.index import LISTED_ORDER, SandboxIndex, parse_entity
from imagine.domains.travelplanner.evaluate.strict import Day
from imagine.domains.travelplanner.plan import vehicle_cost
from imagine.domains.travelplanner.queries.schema import to_travelplanner
from imagine.mas.parsing import CORRECTED_PLAN, JUDGE_ERRORS, JUDGE_OK, reflector_format


PLAN_FORMAT = """Give the plan as a JSON list with one object per day and exactly these keys: "days" (1, 2, ...), "current_city", "transportation", "breakfast", "attraction", "lunch", "dinner", "accommodation"; every text value but "-" starts with a space. Rules:
- current_city: " City", or " from A to B" on a travel day.
- transportation: " Flight Number: F123, from A to B, Departure Time: 08:00, Arrival Time: 10:00", " Self-driving, from A to B, duration: ..., distance: ..., cost: ..." or " Taxi, from A to B, duration: ..., distance: ..., cost: ...", or "-".
- meals and accommodation: " Name, City" or "-"; attraction: " Name, City; Name, City;" or "-".
- Start and end in the origin city; stay somewhere every night except the last; never repeat a restaurant or an attraction; respect every hotel's minimum nights, the house rule, room type, cuisines and transportation the query asks for; never mix self-driving with flights or taxis; keep the total cost (flights per person, self-driving per car of 5, taxi per taxi of 4, meals per person, hotel per room per night) within the budget; use only places listed in the reference information."""

REASONER_SYSTEM = ("You are a careful travel planner. Think step by step inside <think> </think>: choose the "
                   "route and transport with their prices, the hotels (house rule, room type, minimum nights), "
                   "the meals (cuisines, no repeats) and the attractions, keeping a running cost tally. Then "
                   "output only the JSON plan.")

JUDGE_SYSTEM = ("You are a strict judge of travel plans. Check the reasoning and the plan against the query and "
                "the reference information: route, transport, hotels (minimum nights, house rule, room type), "
                "meals (cuisines, repeats, city), attractions, entities that are not in the reference information, "
                "missing days and the total cost against the budget. Answer with exactly one line: "
                f"`{JUDGE_ERRORS}` or `{JUDGE_OK}`")

REFLECTOR_FORMAT = reflector_format("the day, field and entity", "plan")

REFLECTOR_SYSTEM = ("You are a meticulous reviewer of travel plans. The judges flagged the reasoning below. Find "
                    "every error (repeated or wrong-city restaurants, budget overruns, minimum-night violations, "
                    "missing days, conflicting transport, invented places, house rule, room type, cuisine), "
                    "correct them and give the whole corrected plan.")


@dataclass(frozen=True)
class Caps:
    """Size caps of the reference information (entities of the reference plan are always shown)."""

    flights_per_leg: int = 2
    hotels: int = 4
    restaurants: int = 8
    attractions: int = 4

    @classmethod
    def from_params(cls, params: dict | None) -> "Caps":
        params = dict(params or {})
        unknown = set(params) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"traces.reference: unknown key(s) {sorted(unknown)}; "
                             f"known: {sorted(cls.__dataclass_fields__)}")
        caps = cls(**{k: int(v) for k, v in params.items()})
        if min(caps.flights_per_leg, caps.hotels, caps.restaurants, caps.attractions) < 0:
            raise ValueError(f"traces.reference caps must be >= 0, got {params}")
        return caps


def as_query(row: dict) -> dict:
    """A queries-table row (flat constraint columns) or a TravelPlanner query dict -> the latter."""
    if "local_constraint" in row:
        return dict(row)
    return to_travelplanner(row)


def plan_of(value) -> list | None:
    """A plan given as a list or as JSON text (the queries table's `reference_plan`); None if neither."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return None
    return value if isinstance(value, list) and value else None


def money(value: float) -> str:
    """A price as the prompts and the rules teacher's reasoning write it: $1,240 or $12.50."""
    return f"${value:,.0f}" if float(value).is_integer() else f"${value:,.2f}"


RESTAURANTS_HEADER = "Restaurants in {city} (name | avg cost | cuisines):"


def menu_mark(position: int) -> str:
    """A restaurant's place in its city's list, `[3]`: written before its name in the reference list
    and in the rules teacher's meal schedule, so the reasoning walks the list by number instead of
    finding its place among names (a small student lost it there and repeated restaurants)."""
    return f"[{position}]"


def route_of(plan: list | None, org: str) -> list[str]:
    """The cities a plan visits, in order (origin excluded)."""
    cities: list[str] = []
    for i, raw in enumerate(plan or []):
        day = Day.read(i, raw)
        for city in day.cities:
            if city and city != org and city != "-" and city not in cities:
                cities.append(city)
    return cities


def legs_of(query: dict, cities: list[str], plan: list | None) -> list[tuple[str, str, int]]:
    """(origin, dest, day index) of each travel leg: from the plan's travel days when it has them."""
    legs = []
    for i, raw in enumerate(plan or []):
        day = Day.read(i, raw)
        if day.travel and len(day.cities) == 2:
            legs.append((day.cities[0], day.cities[1], i))
    if legs:
        return legs
    stops = [query["org"], *cities, query["org"]]
    n, days = len(cities), int(query["days"])
    nights = [(days - 1) // max(n, 1) + (1 if k < (days - 1) % max(n, 1) else 0) for k in range(n)]
    arrival = [0]
    for k in range(n - 1):
        arrival.append(arrival[-1] + nights[k])
    return [(stops[k], stops[k + 1], arrival[k] if k < n else days - 1) for k in range(n + 1)]


def _plan_entities(plan: list | None) -> dict[str, set[tuple[str, str]]]:
    used: dict[str, set] = {"restaurants": set(), "accommodations": set(), "attractions": set(), "flights": set()}
    for i, raw in enumerate(plan or []):
        day = Day.read(i, raw)
        for _, text in day.meals:
            if parse_entity(text):
                used["restaurants"].add(parse_entity(text))
        for text in day.attractions:
            if parse_entity(text):
                used["attractions"].add(parse_entity(text))
        if day.stay and parse_entity(day.stay):
            used["accommodations"].add(parse_entity(day.stay))
        if day.transport and day.transport.number:
            used["flights"].add(day.transport.number)
    return used


def _pick(index: SandboxIndex, table: str, city: str, used: set, cap: int) -> list[dict]:
    """The rows the reference plan uses (listed or not: an annotated plan may name any row) plus the
    first listed others up to `cap`, in the listed order."""
    keep = [row for name, c in sorted(used) if c == city
            and (row := index.entity(table, f"{name}, {city}")) is not None]
    for row in index.listed(table, city):
        if len(keep) >= cap:
            break
        if row not in keep:
            keep.append(row)
    return sorted(keep, key=LISTED_ORDER[table])


def reference_info(query: dict, index: SandboxIndex, caps: Caps | dict | None = None,
                   reference_plan=None) -> str:
    """Compact reference information for one query (see the module docstring)."""
    caps = caps if isinstance(caps, Caps) else Caps.from_params(caps)
    q = as_query(query)
    plan = plan_of(reference_plan if reference_plan is not None else query.get("reference_plan"))
    org, people = q["org"], int(q["people_number"])
    cities = route_of(plan, org)
    if not cities:
        cities = [q["dest"]] if q["dest"] in index.city_state else list(index.state_cities.get(q["dest"], ()))[
            :int(q["visiting_city_number"])]
    used = _plan_entities(plan)
    dates = list(q["date"])
    named = ", ".join(f"{c} ({index.city_state.get(c, '?')})" for c in cities)
    lines = [f"Cities: {named}. "
             f"Prices: flights per person, self-driving per car (up to 5 people), taxi per taxi (up to 4), "
             f"meals per person, hotels per room per night. Party: {people}."]
    lines.append("Transport:")
    for origin, dest, day in legs_of(q, cities, plan):
        date = dates[day] if day < len(dates) else None
        options = []
        flights = index.flights_on(origin, dest, date)
        shown = [f for f in flights if f.number in used["flights"]]
        for f in flights:
            if len(shown) >= caps.flights_per_leg:
                break
            if f not in shown:
                shown.append(f)
        for f in sorted(shown, key=lambda f: (f.price, f.dep_time)):
            options.append(f"Flight {f.number} {f.dep_time}-{f.arr_time} {money(f.price)}")
        route = index.route(origin, dest)
        if route is not None:
            options.append(f"Self-driving {route.duration}, {route.distance_text}, "
                           f"{money(vehicle_cost('Self-driving', route.distance_km))}/car")
            options.append(f"Taxi {money(vehicle_cost('Taxi', route.distance_km))}/taxi")
        lines.append(f"- day {day + 1} {origin} -> {dest} ({date}): " + ("; ".join(options) or "no option found"))
    for city in cities:
        hotels = _pick(index, "accommodations", city, used["accommodations"], caps.hotels)
        lines.append(f"Hotels in {city} (name | room type | price/night | max guests | min nights | rules):")
        for h in hotels:
            lines.append(f"- {h['name']} | {h['room_type']} | {money(h['price'])} | {h['max_occupancy']} | "
                         f"{h['minimum_nights']} | {h['house_rules'] or 'none'}")
        restaurants = _pick(index, "restaurants", city, used["restaurants"], caps.restaurants)
        lines.append(RESTAURANTS_HEADER.format(city=city))
        for position, r in enumerate(restaurants, 1):
            lines.append(f"- {menu_mark(position)} {r['name']} | {money(r['average_cost'])} | {r['cuisines']}")
        attractions = _pick(index, "attractions", city, used["attractions"], caps.attractions)
        lines.append(f"Attractions in {city}: " + "; ".join(a["name"] for a in attractions))
    return "\n".join(lines)


def _query_text(query: dict) -> str:
    q = as_query(query)
    return str(q.get("query") or "").strip()


def reasoner_messages(query: dict, reference_text: str) -> list[dict]:
    """The Reasoner's (and the student's) chat: the request, the reference information, the format."""
    user = (f"Query: {_query_text(query)}\n\nReference information:\n{reference_text}\n\n{PLAN_FORMAT}\n\n"
            "Think inside <think> </think>, then give only the JSON plan.")
    return [{"role": "system", "content": REASONER_SYSTEM}, {"role": "user", "content": user}]


def prompt_builder(sandbox, caps: Caps | dict | None):
    """`build(query row) -> messages`: the Reasoner's prompt for any query, with the reference
    information under `caps` (the `traces.reference` params), so the teacher, SFT, GRPO and the
    evaluation see one prompt. `sandbox` is a SandboxIndex or a sandbox folder, loaded on first use."""
    caps = caps if isinstance(caps, Caps) else Caps.from_params(caps)
    index = sandbox if isinstance(sandbox, SandboxIndex) else None

    def build(row: dict) -> list[dict]:
        nonlocal index
        if index is None:
            from imagine.domains.travelplanner.sandbox import Sandbox

            index = SandboxIndex(Sandbox.load(sandbox))
        return reasoner_messages(row, reference_info(row, index, caps))

    return build


def judge_messages(query: dict, reference_text: str, reasoner_output: str) -> list[dict]:
    user = (f"Query: {_query_text(query)}\n\nReference information:\n{reference_text}\n\n"
            f"Reasoning and plan to check:\n{reasoner_output}\n\n"
            f"Answer exactly `{JUDGE_ERRORS}` or `{JUDGE_OK}`")
    return [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": user}]


def reflector_messages(query: dict, reference_text: str, reasoner_output: str, verdicts: list[str]) -> list[dict]:
    said = "; ".join(f"judge {i + 1}: {v}" for i, v in enumerate(verdicts))
    user = (f"Query: {_query_text(query)}\n\nReference information:\n{reference_text}\n\n"
            f"Reasoning and plan under review:\n{reasoner_output}\n\nJudges' verdicts: {said}\n\n"
            f"{PLAN_FORMAT}\n\n{REFLECTOR_FORMAT}")
    return [{"role": "system", "content": REFLECTOR_SYSTEM}, {"role": "user", "content": user}]


__all__ = ["CORRECTED_PLAN", "Caps", "JUDGE_ERRORS", "JUDGE_OK", "as_query", "judge_messages",
           "plan_of", "prompt_builder", "reasoner_messages", "reference_info", "reflector_messages"]
