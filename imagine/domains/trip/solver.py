"""Backtracking over visiting orders: one valid itinerary, and how many there are (up to a cap).

A plan is fixed by its order (each city's days follow from the stays before it), so the search
walks orders along the query's connections. A city with events may only start on days that let its
stay cover every window (start in [last window day - stay + 1, first window day]); a branch dies as
soon as some unvisited event city's latest start has passed. The count of completions depends only
on (visited set, current city), so it is memoised, and saturated at `cap` (min(cap, sum) is exact
for capped terms), which keeps dense graphs and unique-solution queries alike to milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass

from imagine.domains.trip.itinerary import Stay, TripQuery, lay_out, total_days

INF = 1 << 30


@dataclass(frozen=True)
class Solution:
    stays: list[Stay] | None  # one valid itinerary (the first in alphabetical search order), or None
    n_solutions: int          # valid itineraries, counted up to the cap
    capped: bool              # the count reached the cap (there may be more)


class _Search:
    def __init__(self, q: TripQuery, cap: int):
        self.q, self.cap = q, cap
        self.cities = sorted(q.cities)
        index = {c: i for i, c in enumerate(self.cities)}
        self.length = [q.stays[c] for c in self.cities]
        self.adj = [0] * len(self.cities)
        for a, b in q.connections:
            self.adj[index[a]] |= 1 << index[b]
            self.adj[index[b]] |= 1 << index[a]
        self.lo, self.hi = [-INF] * len(self.cities), [INF] * len(self.cities)
        self.event_mask = 0
        for e in q.events:
            i = index[e.city]
            self.lo[i] = max(self.lo[i], e.last_day - self.length[i] + 1)
            self.hi[i] = min(self.hi[i], e.first_day)
            self.event_mask |= 1 << i
        self.full = (1 << len(self.cities)) - 1
        self.memo: dict[tuple[int, int], int] = {}

    def feasible(self) -> bool:
        return (total_days(self.length) == self.q.days and all(lo <= hi for lo, hi in zip(self.lo, self.hi)))

    def count(self, mask: int, last: int, day: int) -> int:
        """Completions from `last`, whose stay ends on `day` (the next city starts that day)."""
        if mask == self.full:
            return 1
        key = (mask, last)
        found = self.memo.get(key)
        if found is not None:
            return found
        pending = self.event_mask & ~mask
        while pending:
            bit = pending & -pending
            if self.hi[bit.bit_length() - 1] < day:
                self.memo[key] = 0
                return 0
            pending ^= bit
        total, options = 0, self.adj[last] & ~mask
        while options:
            bit = options & -options
            options ^= bit
            j = bit.bit_length() - 1
            if self.lo[j] <= day <= self.hi[j]:
                total += self.count(mask | bit, j, day + self.length[j] - 1)
                if total >= self.cap:
                    total = self.cap
                    break
        self.memo[key] = total
        return total

    def starts(self):
        for i in range(len(self.cities)):
            if self.lo[i] <= 1 <= self.hi[i]:
                yield i

    def total(self) -> int:
        total = 0
        for i in self.starts():
            total += self.count(1 << i, i, self.length[i])
            if total >= self.cap:
                return self.cap
        return total

    def orders(self, limit: int):
        """Up to `limit` valid orders (lists of city indexes), in alphabetical search order."""
        found: list[list[int]] = []

        def walk(mask, last, day, path):
            if len(found) >= limit:
                return
            if mask == self.full:
                found.append(path)
                return
            options = self.adj[last] & ~mask
            while options and len(found) < limit:
                bit = options & -options
                options ^= bit
                j = bit.bit_length() - 1
                end = day + self.length[j] - 1
                if self.lo[j] <= day <= self.hi[j] and self.count(mask | bit, j, end) > 0:
                    walk(mask | bit, j, end, path + [j])

        for i in self.starts():
            if self.count(1 << i, i, self.length[i]) > 0:
                walk(1 << i, i, self.length[i], [i])
        return found


def solve(query, cap: int = 1) -> Solution:
    """One valid itinerary of `query` and the number of valid itineraries, counted up to `cap`."""
    if cap < 1:
        raise ValueError(f"cap must be >= 1, got {cap}")
    q = TripQuery.of(query)
    search = _Search(q, cap)
    if not q.cities or not search.feasible():
        return Solution(None, 0, False)
    n = search.total()
    if n == 0:
        return Solution(None, 0, False)
    order = search.orders(1)[0]
    return Solution(lay_out([search.cities[i] for i in order], q.stays), n, n >= cap)


def solutions(query, limit: int = 10) -> list[list[Stay]]:
    """Up to `limit` valid itineraries of `query`, in alphabetical search order."""
    q = TripQuery.of(query)
    search = _Search(q, max(limit, 1))
    if not q.cities or not search.feasible():
        return []
    return [lay_out([search.cities[i] for i in order], q.stays) for order in search.orders(limit)]
