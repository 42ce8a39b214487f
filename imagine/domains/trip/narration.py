"""The Reasoner's step-by-step reasoning for a plan, as it believes it to be (`mistakes.Beliefs`).

Six steps: the cities and their stays with the total check (each flight day counts twice), the
events that pin cities to days, the direct flights per city, the order chosen along them (with why),
each day range with its shared flight day, and a final check. Where a mistake was made the text
states the belief behind it (a misread stay or window, a flight taken for granted, a city read as
another, a forgotten shared flight day), never the truth.
"""

from __future__ import annotations

import itertools

from imagine.domains.trip.itinerary import Stay, TripQuery, pair
from imagine.domains.trip.mistakes import Beliefs
from imagine.domains.trip.text import event_name


def _days(a: int, b: int) -> str:
    return f"day {a}" if a == b else f"days {a}-{b}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' * (n != 1)}"


def narrate(q: TripQuery, plan: list[Stay], beliefs: Beliefs | None = None) -> str:
    b = beliefs or Beliefs()
    total = b.total or q.days
    lines = [(f"Request: {len(q.cities)} cities in {total} days, direct flights only; a flight day counts for "
             "both cities.")]

    # Step 1: cities, stays and the total.
    listed = []
    read: dict[str, int] = {}
    for city in q.cities:
        name = b.renamed.get(city, city)
        days = b.stays.get(city, q.stays[city])
        read[city] = days
        listed.append(f"{name} {_plural(days, 'day')}" + (" (a second stay)" if name != city else ""))
    lines.append("Step 1, cities and stays: " + ", ".join(listed) + ".")
    city_days = sum(read.values())
    flights = len(q.cities) - 1 - (1 if b.gap_after is not None else 0)
    result = city_days - flights
    check = (f"{' + '.join(str(d) for d in read.values())} = {city_days} city-days; the {_plural(flights, 'flight day')} "
             f"count twice, so the trip takes {city_days} - {flights} = {result} days")
    if b.squeezed and result != total:
        city, days = next(iter(b.squeezed.items()))
        extra = result - total
        check += (f", {_plural(abs(extra), 'day')} {'too many' if extra > 0 else 'short'}: {city} is the most "
                  f"flexible, so it gets {_plural(days, 'day')}")
    else:
        check += ", as asked"
    lines.append(check + ".")

    # Step 2: events.
    if not q.events:
        lines.append("Step 2, events: none, so only the flights fix the order.")
    else:
        lines.append("Step 2, events:")
        for i, e in enumerate(q.events):
            first, last = b.windows.get(i, (e.first_day, e.last_day))
            stay = q.stays[e.city]
            lo, hi = max(1, last - stay + 1), first
            span = f"on day {lo}" if lo == hi else f"between day {lo} and day {hi}"
            lines.append(f"- the {event_name(e)} in {e.city} ({_days(first, last)}): with "
                         f"{_plural(stay, 'day')} there, {e.city} must start {span}.")

    # Step 3: direct flights, as believed.
    known = set(q.connections) | set(b.flights)
    lines.append("Step 3, direct flights: " + ", ".join(f"{x}-{y}" for x, y in sorted(known)) + ".")
    neighbours = {c: sorted(o for o in q.cities if o != c and pair(c, o) in known) for c in q.cities}

    # Step 4: the order.
    order = [s.city for s in plan]
    lines.append("Step 4, order:")
    first = order[0]
    if first in neighbours and len(neighbours[first]) == 1:
        why = f"its only direct flight is to {neighbours[first][0]}, so it must be an end of the route"
    elif q.events_of(first):
        e = q.events_of(first)[0]
        why = f"its {event_name(e)} ({_days(*b.windows.get(q.events.index(e), (e.first_day, e.last_day)))}) fits a start on day 1"
    else:
        why = "from there every city can be reached and the events fall in place"
    lines.append(f"- Start in {first}: {why}.")
    visited = {first}
    for prev, nxt in itertools.pairwise(order):
        options = [o for o in neighbours.get(prev, []) if o not in visited]
        if nxt in visited:
            why = f"{nxt}'s second stay comes next"
        elif len(options) <= 1:
            why = f"the only city left with a direct flight from {prev}"
        elif any(e.city == nxt for e in q.events):
            why = f"{nxt}'s event needs it next (options: {', '.join(options)})"
        else:
            why = f"it keeps the rest of the route connected (options: {', '.join(options)})"
        lines.append(f"- {prev} -> {nxt}: direct flight; {why}.")
        visited.add(nxt)
    lines.append("Order: " + " -> ".join(order) + ".")

    # Step 5: days.
    lines.append("Step 5, days:")
    for i, stay in enumerate(plan):
        if i:
            prev = plan[i - 1]
            shared = "; it counts for both cities" if stay.first_day == prev.last_day else ""
            lines.append(f"- Day {stay.first_day}: fly {prev.city} -> {stay.city}{shared}.")
        lines.append(f"- {_days(stay.first_day, stay.last_day).capitalize()}: {stay.city} "
                     f"({_plural(stay.days, 'day')}).")

    # Step 6: final check.
    end = max(s.last_day for s in plan)
    attended = []
    for i, e in enumerate(q.events):
        first_, last_ = b.windows.get(i, (e.first_day, e.last_day))
        stay = next((s for s in plan if s.city == b.renamed.get(e.city, e.city)), None)
        if stay is not None:
            attended.append(f"the {event_name(e)} ({_days(first_, last_)}) is inside the stay in {stay.city} "
                            f"({_days(stay.first_day, stay.last_day)})")
    lines.append(f"Step 6, check: the trip runs from day 1 to day {end}, {total} days; every city has its days; "
                 "every leg is a direct flight" + ("; " + "; ".join(attended) if attended else "") + ".")
    return "\n".join(lines)
