"""Helpers every role of the `rules` teacher shares: entity rows, the route and the stays."""

from __future__ import annotations

from imagine.domains.travelplanner.evaluate.strict import Day


class Shared:
    """Plan readers the injectors, the narration and the reflector all use (`self.index` is the SandboxIndex)."""

    def _row(self, table: str, text: str) -> dict | None:
        return self.index.entity(table, text) if text and text != "-" else None

    def _route(self, plan, org) -> list[str]:
        out = []
        for i, raw in enumerate(plan):
            for city in Day.read(i, raw).cities:
                if city != org and city not in out:
                    out.append(city)
        return out

    def _stays(self, plan) -> list[tuple[str, list[int]]]:
        runs: list[tuple[str, list[int]]] = []
        for i, day in enumerate(plan):
            text = day.get("accommodation", "-")
            if text == "-":
                continue
            if runs and runs[-1][0] == text and runs[-1][1][-1] == i - 1:
                runs[-1][1].append(i)
            else:
                runs.append((text, [i]))
        return runs
