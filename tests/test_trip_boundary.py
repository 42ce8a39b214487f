"""The trip package stands alone: importing all of it loads no TravelPlanner module."""

import subprocess
import sys

FORBIDDEN = ("imagine.domains.travelplanner",)
MODULES = ("answer", "checker", "domain", "itinerary", "mistakes", "narration", "official", "params", "probes",
           "prompts", "queries",
           "reflector", "schema", "solver", "teacher", "text", "world")


def test_no_travelplanner_imports():
    code = ("import sys\n" + "".join(f"import imagine.domains.trip.{m}\n" for m in MODULES)
            + "print('\\n'.join(sorted(sys.modules)))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    bad = [m for m in loaded if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)]
    assert bad == []
    assert "imagine.domains.trip.teacher" in loaded and "imagine.llm.base" in loaded
