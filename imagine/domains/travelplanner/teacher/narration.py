"""The Reasoner's `<think>` text: step-by-step reasoning that walks the plan and "believes" its mistakes.

The reasoning walks the route and transport choice with prices, each hotel against the house rule /
room type / minimum nights (with a rejected cheaper option when there is one), then day by day the
meals (against the cuisines and repeats) and attractions in the plan's field order, and a running
cost tally.
"""

from __future__ import annotations

import functools
import math
import re

from imagine.domains.travelplanner.evaluate.index import forbidden_rules, parse_entity, rooms
from imagine.domains.travelplanner.evaluate.strict import Day
from imagine.domains.travelplanner.plan import DAY_FIELDS, ground_cost
from imagine.domains.travelplanner.sandbox import ROOM_TYPE_OK
from imagine.domains.travelplanner.prompts import RESTAURANTS_HEADER, menu_mark, money
from imagine.domains.travelplanner.teacher.common import Shared
from imagine.domains.travelplanner.teacher.mistakes import _Beliefs


class Narration(Shared):
    """The Reasoner's reasoning text (`_narrate`) and the costs and rejected hotels it quotes."""

    # -- the reasoning text ---------------------------------------------------------------------
    def _narrate(self, q: dict, plan: list, beliefs: _Beliefs, prompt: str = "") -> str:
        """The reasoning for `plan`; `prompt` is the Reasoner's user message, whose restaurant lists
        number the meals (none where it has no such list)."""
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
            f"{q['days']} days from {q['date'][0]} to {q['date'][-1]}, budget {money(q['budget'])}.",
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
                options.append(f"flight {f.number} ({f.dep_time}-{f.arr_time}) {money(f.price)} x {people} = "
                               f"{money(f.price * people)}")
            route_info = self.index.route(t.origin, t.dest)
            if route_info is not None:
                drive = ground_cost("Self-driving", route_info.distance_km, people)
                taxi = ground_cost("Taxi", route_info.distance_km, people)
                if rule != "no self-driving":
                    options.append(f"self-driving {route_info.distance_text} = {money(drive)}")
                options.append(f"taxi {money(taxi)}")
            cost, chosen = self._leg_cost(q, day, t)
            total += cost
            modes.append(t.mode)
            excluded = f" ({rule} rules out {'flights' if rule == 'no flight' else 'self-driving'})" if rule else ""
            lines.append(f"- Day {day.index + 1}, {t.origin} -> {t.dest} on {date}: options "
                         f"{'; '.join(options) or 'none listed'}{excluded}. I take {chosen}: {money(cost)}.")
        if beliefs.mixed_transport:
            lines.append("I pick the cheapest option on each leg separately.")
        elif modes:
            kind = "self-driving" if "self-driving" in modes else "flights and taxis only"
            lines.append(f"All legs use {kind}, so the modes do not conflict.")
        lines.append(f"Running total after transport: {money(total)}.")

        # Step 3: hotels.
        lines.append("Step 3, accommodation:")
        for text, run in stays:
            row = self._row("accommodations", text)
            name, city = parse_entity(text) if parse_entity(text) else (text, "?")
            n = len(run)
            if row is None:
                price = beliefs.price.get(text, 100.0)
                cost = price * n
                lines.append(f"- {city}, {n} night(s): I take {name} | {money(price)}/night = {money(cost)}.")
                total += cost
                continue
            k = rooms(row, people)
            price = beliefs.price.get(text, row["price"])
            cost = price * k * n
            total += cost
            # The rejected option comes first and the name is fenced by " | " as in the reference list:
            # the student copies the last hotel named on the line, up to the bar, into the plan.
            rejected = None if text in beliefs.unchecked else self._rejected_hotel(q, city, n, row)
            line = (f"- {city}, {n} night{'s' * (n != 1)} (days {run[0] + 1}-{run[-1] + 1}): "
                    f"{rejected + ' ' if rejected else ''}I take {name} | {row['room_type']} | "
                    f"{money(price)}/night | up to {row['max_occupancy']} guests -> {k} room(s); "
                    f"{money(price)} x {k} x {n} = {money(cost)}.")
            if text in beliefs.unchecked:
                line += " It looks comfortable and fits everyone."
            else:
                checks = [f"minimum {row['minimum_nights']} night(s) <= {n}"]
                if constraint.get("house rule"):
                    checks.append(f"allows {constraint['house rule']} (rules: {row['house_rules'] or 'none'})")
                if constraint.get("room type"):
                    checks.append(f"{row['room_type']} fits '{constraint['room type']}'")
                line += " Checks: " + "; ".join(checks) + "."
            lines.append(line)
        lines.append(f"Running total after accommodation: {money(total)}.")

        # Step 4: the days, each line in the plan's own field order (breakfast, attractions, lunch,
        # dinner), so the plan is written by copying one line field by field. Each meal carries its
        # restaurant's number in the prompt's list of the city (menu_mark), so the schedule walks the
        # list by number, and names only the requested cuisines it serves; the summary names no
        # restaurant (full cuisine lists and a restaurant named once per cuisine taught the student to
        # repeat names). (Writing each place as "Name, City", as the plan does, made it worse.)
        lines.append("Step 4, meals and attractions:")
        wanted = list(constraint.get("cuisine") or [])
        per_person = 0.0
        served = set()
        for day in days:
            parts = []
            meals = dict(day.meals)
            for field in DAY_FIELDS:
                if field == "attraction" and day.attractions:
                    names = [parse_entity(a)[0] if parse_entity(a) else a for a in day.attractions]
                    parts.append(f"attractions: {'; '.join(names)}")
                if field not in meals:
                    continue
                text = meals[field]
                row = self._row("restaurants", text)
                entity = parse_entity(text)
                name = entity[0] if entity else text
                cost = beliefs.price.get(text, row["average_cost"] if row else 0)
                cuisines = beliefs.cuisines.get(text, row["cuisines"] if row else "")
                hits = [c for c in wanted if c in cuisines]
                if entity and entity[1] != q["org"]:
                    served.update(hits)
                per_person += cost
                again = " again, I liked it" if (day.index, field) in beliefs.again else ""
                position = _menu_positions(prompt, entity[1]).get(name) if entity else None
                mark = f"{menu_mark(position)} " if position else ""
                parts.append(f"{field} {mark}{name} ({money(cost)}{''.join('; ' + c for c in hits)}){again}")
            if parts:
                lines.append(f"- Day {day.index + 1}: " + "; ".join(parts) + ".")
        meals_total = per_person * people
        total += meals_total
        lines.append(f"Meals: {money(per_person)} per person x {people} = {money(meals_total)}. "
                     f"Running total: {money(total)}.")
        if wanted:
            missing = [c for c in wanted if c not in served]
            lines.append(f"Cuisines: {', '.join(c for c in wanted if c in served) or 'none'} covered"
                         + (f"; {', '.join(missing)} not found." if missing else "."))

        # Step 5: final check.
        verdict = (f"within the budget of {money(q['budget'])} ({money(q['budget'] - total)} to spare)"
                   if total <= q["budget"] else
                   f"{money(total - q['budget'])} over the budget of {money(q['budget'])}, but the cheaper "
                   "options break other requirements, so I keep it")
        lines.append(f"Step 5, check: total {money(total)}, {verdict}. Every day has its meals, attractions "
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
                return f"{row['name']} is cheaper ({money(row['price'])}) but needs {row['minimum_nights']} nights."
            rule = q["local_constraint"].get("house rule")
            if rule and rule in forbidden_rules(row):
                return f"{row['name']} is cheaper ({money(row['price'])}) but forbids {rule}."
            room = q["local_constraint"].get("room type")
            if room and not ROOM_TYPE_OK[room](row["room_type"]):
                return f"{row['name']} is cheaper ({money(row['price'])}) but is a {row['room_type']}."
        return None


_LISTED_RESTAURANT = re.compile(r"\[(\d+)\] (.*) \| \$[\d,.]+ \| [^|]*", re.DOTALL)


@functools.lru_cache(maxsize=256)
def _menu_positions(prompt: str, city: str) -> dict[str, int]:
    """Restaurant name -> its number in `city`'s list of the prompt (as `reference_info` writes it)."""
    header = RESTAURANTS_HEADER.format(city=city)
    if header not in prompt:
        return {}
    section = prompt.split(header, 1)[1].split("\nAttractions in ", 1)[0]
    found = (_LISTED_RESTAURANT.fullmatch(entry.strip()) for entry in section.split("\n- ")[1:])
    return {match.group(2): int(match.group(1)) for match in found if match}
