"""The query's natural-language text, in Natural Plan's style, with a few seeded phrasings.

    You plan to visit 3 European cities for 14 days in total. You only take direct flights to
    commute between cities. You would like to visit Florence for 6 days. You want to meet a friend
    in Florence between day 9 and day 14. ...

    Here are the cities that have direct flights:
    Barcelona and Florence, Helsinki and Barcelona.

    Find a trip plan of visiting the cities for 14 days by taking direct flights to commute between them.
"""

from __future__ import annotations

import random

from imagine.domains.trip.itinerary import Event, TripQuery

STAY_PHRASES = (
    "You would like to visit {city} for {n} days.",
    "You plan to stay in {city} for {n} days.",
    "You want to spend {n} days in {city}.",
)
# event kind -> (sentence, short name used in reasoning and reasons)
EVENT_PHRASES = {
    "wedding": ("You are going to attend a wedding in {city} {when}.", "wedding"),
    "friend": ("You want to meet a friend in {city} {when}.", "meeting with a friend"),
    "conference": ("You have to attend a conference in {city} {when}.", "conference"),
    "relatives": ("You would like to visit relatives in {city} {when}.", "visit to relatives"),
    "show": ("There is an annual show in {city} {when} that you want to see.", "annual show"),
    "workshop": ("You plan to attend a workshop in {city} {when}.", "workshop"),
    "tour": ("You booked a guided tour in {city} {when}.", "guided tour"),
}
EVENT_KINDS = tuple(EVENT_PHRASES)


def when(first: int, last: int) -> str:
    return f"on day {first}" if first == last else f"between day {first} and day {last}"


def event_name(event: Event) -> str:
    return EVENT_PHRASES.get(event.kind, ("", event.kind))[1]


def query_text(q: TripQuery, rng: random.Random) -> str:
    """The request for `q` (cities in `q.cities` order, connections shuffled), phrasing from `rng`."""
    parts = [(f"You plan to visit {len(q.cities)} European cities for {q.days} days in total. "
             "You only take direct flights to commute between cities.")]
    for city in q.cities:
        parts.append(rng.choice(STAY_PHRASES).format(city=city, n=q.stays[city]))
        for event in q.events_of(city):
            sentence = EVENT_PHRASES.get(event.kind, EVENT_PHRASES["tour"])[0]
            parts.append(sentence.format(city=city, when=when(event.first_day, event.last_day)))
    pairs = [list(p) for p in sorted(q.connections)]
    rng.shuffle(pairs)
    for p in pairs:
        rng.shuffle(p)
    flights = ", ".join(f"{a} and {b}" for a, b in pairs)
    return (" ".join(parts) + f"\n\nHere are the cities that have direct flights:\n{flights}.\n\n"
            f"Find a trip plan of visiting the cities for {q.days} days by taking direct flights to "
            "commute between them.")
