"""TravelPlanner plan strings: how plans are written.

A plan is TravelPlanner's list of day dicts (one per day: days, current_city, transportation, meals,
attraction, accommodation). These helpers write the canonical strings every producer of plans uses
(the solver, the rules teacher); a model's whole answer is read by `imagine.answer.parse_output`.
"""

from __future__ import annotations

import math

LEVELS = ("easy", "medium", "hard")  # a query's difficulty: local constraints (none, one, three)

DAY_FIELDS = ("days", "current_city", "transportation", "breakfast", "attraction", "lunch", "dinner",
              "accommodation")
# Where a day holds its number: `days` in the official evaluation code (and in every plan we write),
# `day` in the leaderboard's submission format (TravelPlanner issue #20). Both are read.
DAY_NUMBER_KEYS = ("days", "day")
MEALS = ("breakfast", "lunch", "dinner")


# ---------------------------------------------------------------------------------------------
# Writing plans


def entity(name: str, city: str) -> str:
    """'Name, City': how restaurants, hotels and attractions appear in a plan."""
    return f"{name}, {city}"


def attractions(names: list[str], city: str) -> str:
    """'A, City;B, City;' (trailing ';' as in TravelPlanner's annotated plans), or '-'."""
    return "".join(f"{entity(n, city)};" for n in names) or "-"


def flight(number: str, origin: str, dest: str, dep_time: str, arr_time: str) -> str:
    return f"Flight Number: {number}, from {origin} to {dest}, Departure Time: {dep_time}, Arrival Time: {arr_time}"


def ground(mode: str, origin: str, dest: str, duration: str, distance_text: str, cost: int) -> str:
    """mode is 'Self-driving' or 'Taxi'."""
    return f"{mode}, from {origin} to {dest}, duration: {duration}, distance: {distance_text}, cost: {cost}"


def vehicle_cost(mode: str, distance_km: float) -> int:
    """TravelPlanner's price of one car ('Self-driving': 0.05 per km) or one taxi ('Taxi': 1 per km),
    truncated to whole units as the official database and evaluation do; mode in any case."""
    return int(distance_km * 0.05) if mode.lower() == "self-driving" else int(distance_km)


def ground_cost(mode: str, distance_km: float, people: int) -> int:
    """Total ground transport cost for the group: per car of 5 (driving) or taxi of 4."""
    per_vehicle = 5 if mode.lower() == "self-driving" else 4
    return vehicle_cost(mode, distance_km) * math.ceil(people / per_vehicle)
