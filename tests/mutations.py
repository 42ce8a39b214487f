"""Targeted mutations of a passing (query, plan): each is built to break exactly one check.

Commonsense mutations raise the budget first so a cost change cannot flip `valid_cost` too; each
returns None when the plan offers no place for it (e.g. no meal to repeat).
"""

from __future__ import annotations

import copy

from imagine.domains.travelplanner.evaluate.index import SandboxIndex
from imagine.domains.travelplanner.evaluate.strict import parse_entity, parse_transport
from imagine.domains.travelplanner.plan import MEALS, ground

RICH = 10**9


def _copy(query, plan, budget=RICH):
    query, plan = copy.deepcopy(query), copy.deepcopy(plan)
    if budget is not None:
        query["budget"] = budget
    return query, plan


def _stay_days(plan):
    return [i for i, day in enumerate(plan) if day["accommodation"] != "-"]


def _full_days(plan):
    return [i for i, day in enumerate(plan) if not day["current_city"].startswith("from ")]


def repeat_restaurant(query, plan, ix):
    query, plan = _copy(query, plan)
    for day in plan:
        if not day["current_city"].startswith("from ") and day["lunch"] != "-" and day["dinner"] != "-":
            lunch, dinner = (ix.exact("restaurants", *parse_entity(day[m])) for m in ("lunch", "dinner"))
            # Keep the cheaper one twice, and only where the dropped one adds no cuisine.
            keep, drop = ("lunch", "dinner") if lunch["average_cost"] <= dinner["average_cost"] else ("dinner", "lunch")
            dropped = ix.exact("restaurants", *parse_entity(day[drop]))["cuisines"]
            if not any(c in dropped for c in (query["local_constraint"].get("cuisine") or [])):
                day[drop] = day[keep]
                return query, plan
    return None


def repeat_attraction(query, plan, ix):
    query, plan = _copy(query, plan)
    for day in plan:
        if day["attraction"] != "-":
            first = day["attraction"].split(";")[0]
            day["attraction"] = f"{day['attraction'].rstrip(';')};{first};"
            return query, plan
    return None


def short_stay(query, plan, ix):
    """Swap a stay for a hotel of the same city, type and rules that needs more nights than booked."""
    query, plan = _copy(query, plan)
    stays = _stay_days(plan)
    if not stays:
        return None
    current = plan[stays[0]]["accommodation"]
    run = [i for i in stays if plan[i]["accommodation"] == current]
    name, city = parse_entity(current)
    row = ix.exact("accommodations", name, city)
    for other in ix.rows("accommodations"):
        if (other["city"] == city and other["minimum_nights"] > len(run) and other["complete"]
                and other["room_type"] == row["room_type"] and other["house_rules"] == row["house_rules"]):
            for i in run:
                plan[i]["accommodation"] = plan[i]["accommodation"].replace(name, other["name"].strip())
            return query, plan
    return None


def conflicting_transport(query, plan, ix):
    """Drive one leg of a trip whose other legs fly or take taxis (or take a taxi on a driven trip)."""
    query, plan = _copy(query, plan)
    legs = [i for i, day in enumerate(plan) if day["transportation"] != "-"]
    modes = {parse_transport(plan[i]["transportation"]).mode for i in legs}
    new_mode = "Taxi" if modes == {"self-driving"} else "Self-driving"
    if new_mode == "Self-driving" and query["local_constraint"].get("transportation") == "no self-driving":
        return None  # the conflict would also break the hard transport constraint
    for i in legs[1:]:
        leg = parse_transport(plan[i]["transportation"])
        route = ix.routes.get((leg.origin, leg.dest))
        if route is not None and route.drivable:
            cost = ix.ground_cost(leg.origin, leg.dest, new_mode.lower())
            origin, dest = plan[i]["current_city"][5:].split(" to ")
            plan[i]["transportation"] = ground(new_mode, origin, dest, route.duration, route.distance_text, cost)
            return query, plan
    return None


def meal_in_other_city(query, plan, ix):
    """Replace a full day's dinner with a restaurant of another city (one that exists)."""
    query, plan = _copy(query, plan)
    for i in _full_days(plan):
        _, city = parse_entity(plan[i]["dinner"])
        used = {plan[j][m] for j in range(len(plan)) for m in MEALS}
        for other in ix.rows("restaurants"):
            text = f"{other['name']}, {other['city']}"
            if other["city"] not in (city, query["org"]) and other["complete"] and text not in used:
                if not query["local_constraint"].get("cuisine"):
                    plan[i]["dinner"] = text
                    return query, plan
    return None


def invented_restaurant(query, plan, ix):
    query, plan = _copy(query, plan)
    for day in plan:
        if day["lunch"] != "-":
            name, city = parse_entity(day["lunch"])
            day["lunch"] = f"{name} Imaginary Bistro, {city}"
            return query, plan
    return None


def missing_meal(query, plan, ix):
    query, plan = _copy(query, plan)
    for i in _full_days(plan):
        plan[i]["breakfast"] = "-"
        return query, plan
    return None


def wrong_destination(query, plan, ix: SandboxIndex):
    """The plan now goes somewhere the query did not ask for: another city, or another state."""
    query, plan = _copy(query, plan)
    if query["visiting_city_number"] == 1:
        query["dest"] = next(c for c in ix.city_state if c not in (query["dest"], query["org"]))
    else:
        query["dest"] = next(s for s in ix.state_cities if s != query["dest"])
    return query, plan


def over_budget(query, plan, ix):
    query, plan = _copy(query, plan, budget=None)
    query["budget"] = -1
    return query, plan


def _stay_rows(plan, ix):
    return [ix.exact("accommodations", *parse_entity(plan[i]["accommodation"])) for i in _stay_days(plan)]


def forbidden_house_rule(query, plan, ix):
    query, plan = _copy(query, plan, budget=None)
    for row in _stay_rows(plan, ix):
        for rule in ("parties", "smoking", "children under 10", "visitors", "pets"):
            if f"No {rule}" in (row["house_rules"] or ""):
                query["local_constraint"]["house rule"] = rule
                return query, plan
    return None


def wrong_room_type(query, plan, ix):
    query, plan = _copy(query, plan, budget=None)
    kind = _stay_rows(plan, ix)[0]["room_type"]
    query["local_constraint"]["room type"] = "private room" if kind != "Private room" else "entire room"
    return query, plan


def unserved_cuisine(query, plan, ix):
    query, plan = _copy(query, plan, budget=None)
    served = " ".join(ix.exact("restaurants", *parse_entity(day[m]))["cuisines"]
                      for day in plan for m in MEALS if day[m] != "-")
    for cuisine in ("Chinese", "American", "Italian", "Mexican", "Indian", "Mediterranean", "French"):
        if cuisine not in served:
            query["local_constraint"]["cuisine"] = [cuisine]
            return query, plan
    return None


def banned_transport(query, plan, ix):
    query, plan = _copy(query, plan, budget=None)
    modes = {parse_transport(day["transportation"]).mode for day in plan if day["transportation"] != "-"}
    for mode, rule in (("flight", "no flight"), ("self-driving", "no self-driving")):
        if mode in modes:
            query["local_constraint"]["transportation"] = rule
            return query, plan
    return None


MUTATIONS = {
    "is_reasonable_visiting_city": wrong_destination,
    "is_valid_restaurants": repeat_restaurant,
    "is_valid_attractions": repeat_attraction,
    "is_valid_accommodation": short_stay,
    "is_valid_transportation": conflicting_transport,
    "is_valid_information_in_current_city": meal_in_other_city,
    "is_valid_information_in_sandbox": invented_restaurant,
    "is_not_absent": missing_meal,
    "valid_cost": over_budget,
    "valid_room_rule": forbidden_house_rule,
    "valid_room_type": wrong_room_type,
    "valid_cuisine": unserved_cuisine,
    "valid_transportation": banned_transport,
}
