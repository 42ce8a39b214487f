"""Natural-language query text: varied wording that states every constraint of a query.

A query text is an opening sentence (origin, destination, length, dates, party size), a budget
sentence and one sentence per local constraint, in a shuffled order. Each part has several
phrasings; the opening comes from one of three styles (`request`, `statement`, `imperative`) that
params may restrict. Every phrasing names its constraint with the words a reader (and a test)
looks for: the city and state names, the day count, both dates, the party size, the budget in
dollars, the house-rule noun, each cuisine, "entire"/"private"/"shared" room, "flight"/"self-driving".
"""

from __future__ import annotations

import datetime as dt
import random

STYLES = ("request", "statement", "imperative")
NUMBER_WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight"}

OPENINGS = {
    "request": [
        "Could you help me plan a {duration} trip {trip} {dates} {people}?",
        "Can you create a {duration} travel itinerary {people}, {trip}, {dates}?",
        "Could you devise a travel plan {people} {trip}? It should span {span} {dates}.",
        "Would you put together a {duration} itinerary {trip} {people}, {dates}?",
        "Can you help with a travel plan {trip} {people}, lasting {span} {dates}?",
    ],
    "statement": [
        "We are planning a {duration} trip {trip} {dates}, {people}.",
        "I'm looking for a {duration} travel plan {trip} {dates} {people}.",
        "We need an itinerary {people} {trip}, lasting {span} {dates}.",
        "I'd like a {duration} trip {trip} {people} {dates}.",
    ],
    "imperative": [
        "Please help me plan a trip {trip}, spanning {span} {dates}, {people}.",
        "Please create a {duration} itinerary {trip} {people}, {dates}.",
        "Plan a {duration} trip {people} {trip} {dates}.",
        "Design a travel plan {trip} for {span} {dates}, {people}.",
    ],
}

TRIP_ONE = ["from {org} to {dest}", "departing from {org} and heading to {dest}",
            "starting in {org} with {dest} as the destination", "leaving {org} for {dest}"]
TRIP_MANY = ["from {org} visiting {n} cities in {dest}", "departing from {org} and touring {n} cities in {dest}",
             "starting in {org} and covering {n} different cities in {dest}",
             "leaving from {org} to explore {n} distinct cities in the state of {dest}"]

BUDGET = ["The budget for this trip is ${budget}.", "Our total budget is ${budget}.",
          "We can spend at most ${budget} in total.", "The whole trip should cost no more than ${budget}.",
          "I have a budget of ${budget}.", "Please keep everything within a budget of ${budget}."]

HOUSE_RULE = ["Our accommodations must allow {rule}.", "We need a place to stay where {rule} {be} allowed.",
              "Please make sure the lodging permits {rule}.", "The hotel has to be fine with {rule}."]
HOUSE_RULE_NOUN = {"parties": "parties", "smoking": "smoking", "children under 10": "children under 10",
                   "visitors": "visitors", "pets": "pets"}

ROOM_TYPE = {
    "entire room": ["We would like to rent entire rooms.", "We prefer to have an entire room to ourselves.",
                    "Our stay should be in an entire room (a whole home or apartment)."],
    "private room": ["We would prefer private rooms for our stay.", "Please book private rooms.",
                     "A private room is what we need for accommodation."],
    "shared room": ["We are happy to stay in shared rooms.", "Please look for shared rooms to save money.",
                    "A shared room is our preferred type of accommodation."],
    "not shared room": ["We do not want shared rooms.", "The room must not be a shared room.",
                        "Any room type is fine as long as it is not a shared room."],
}
TRANSPORTATION = {
    "no flight": ["We do not want to take any flights.", "Please plan the journey without any flight.",
                  "Transportation should not involve flights."],
    "no self-driving": ["We will not be self-driving on this trip.", "Please avoid self-driving for transportation.",
                        "We do not plan to drive ourselves, so no self-driving."],
}
CUISINE = ["We would love to try {list} cuisine during the trip.", "Our meals should include {list} cuisine.",
           "As for food, we'd like to experience {list} cuisine.", "We are keen on {list} food."]


def _ordinal(day: int) -> str:
    suffix = "th" if 11 <= day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def format_dates(first: str, last: str, rng: random.Random) -> str:
    a, b = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    forms = [
        f"from {a:%B} {_ordinal(a.day)} to {b:%B} {_ordinal(b.day)}, {b.year}",
        f"between {a:%B} {_ordinal(a.day)} and {b:%B} {_ordinal(b.day)}, {b.year}",
        f"from {a.isoformat()} to {b.isoformat()}",
        f"from {a:%B} {a.day} to {b:%B} {b.day}, {b.year}",
    ]
    if a.month == b.month:
        forms.append(f"from the {_ordinal(a.day)} to the {_ordinal(b.day)} of {a:%B}, {a.year}")
    return rng.choice(forms)


def format_people(people: int, rng: random.Random) -> str:
    if people == 1:
        return rng.choice(["for one person", "for a single traveler", "for 1 person", "for a solo traveler"])
    forms = [f"for {people} people", f"for a group of {people}", f"for {NUMBER_WORDS[people]} people"]
    if people == 2:
        forms.append("for two travelers")
    return rng.choice(forms)


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def render(query: dict, rng: random.Random, styles=STYLES) -> str:
    """The natural-language request for `query` (flat constraint columns, budget set)."""
    days, n = int(query["days"]), int(query["visiting_city_number"])
    values = {"org": query["org"], "dest": query["dest"], "n": rng.choice([str(n), NUMBER_WORDS[n]])}
    trip = rng.choice(TRIP_ONE if n == 1 else TRIP_MANY).format(**values)
    day_word = rng.choice([str(days), NUMBER_WORDS[days]])
    duration = f"{day_word}-day" if days != 7 or rng.random() < 0.7 else "week-long (7-day)"
    span = f"{day_word} days"
    opening = rng.choice(OPENINGS[rng.choice(list(styles))]).format(
        duration=duration, span=span, trip=trip, people=format_people(int(query["people_number"]), rng),
        dates=format_dates(query["date"][0], query["date"][-1], rng))
    parts = [rng.choice(BUDGET).format(budget=f"{int(query['budget']):,}")]
    if query.get("house_rule"):
        rule = query["house_rule"]
        parts.append(rng.choice(HOUSE_RULE).format(rule=HOUSE_RULE_NOUN[rule], be="is" if rule == "smoking" else "are"))
    if query.get("cuisine"):
        cuisines = list(query["cuisine"])
        rng.shuffle(cuisines)
        parts.append(rng.choice(CUISINE).format(list=_join(cuisines)))
    if query.get("room_type"):
        parts.append(rng.choice(ROOM_TYPE[query["room_type"]]))
    if query.get("transportation"):
        parts.append(rng.choice(TRANSPORTATION[query["transportation"]]))
    rng.shuffle(parts)
    return " ".join([opening, *parts])
