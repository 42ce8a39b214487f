"""Which audit view reads which Parquet files.

Adding a dataset to the audit is one line in `DATASETS`. Paths are globs relative to the data
directory; the files matched by all of a dataset's globs are unioned into one view (columns are
matched by name). A dataset whose files do not exist yet is simply not offered as a view.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Dataset:
    name: str  # the view name in SQL
    paths: tuple[str, ...]  # globs under the data directory, unioned
    fallback: tuple[str, ...] = ()  # globs used only when `paths` match no file

    def files(self, data_dir: str | Path) -> list[Path]:
        """The existing Parquet files of this dataset, sorted, without duplicates."""
        root = Path(data_dir)
        for patterns in (self.paths, self.fallback):
            found: set[Path] = set()
            for pattern in patterns:
                for match in root.glob(pattern):
                    found.update(_parquet_files(match, root))
            if found:
                return sorted(found)
        return []


def _parquet_files(match: Path, root: Path) -> list[Path]:
    """A matched file, or the Parquet files inside a matched folder (a partitioned dataset).

    Hidden paths are skipped: `imagine.io.atomic_path` writes into `.NAME.*.tmp/` folders.
    """
    if _hidden(match, root):
        return []
    if match.is_file():
        return [match]
    if match.is_dir():
        return [f for f in match.rglob("*.parquet") if f.is_file() and not _hidden(f, root)]
    return []


def _hidden(path: Path, root: Path) -> bool:
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        parts = path.parts
    return any(part.startswith(".") for part in parts)


# View name -> files, the same in every domain. The domain's world tables (every sandbox/<table>.parquet:
# TravelPlanner's cities, flights, ...; the trip domain's cities and connections) are views too, by
# table name (`world_datasets`).
DATASETS: tuple[Dataset, ...] = (
    Dataset(
        "queries",
        ("queries/train.parquet", "queries/val.parquet", "queries/test.parquet"),
        fallback=("queries/queries.parquet",),
    ),
    # Expected locations of the datasets of later stages (DESIGN.md section 3).
    Dataset("turns", ("traces/turns.parquet",)),
    Dataset("traces", ("traces/traces.parquet",)),
    Dataset("sft", ("filtered/sft.parquet",)),
    Dataset("grpo_prompts", ("filtered/grpo_prompts.parquet",)),
    Dataset("evals", ("eval/evals.parquet", "eval/*/evals.parquet")),
)


def world_datasets(data_dir: str | Path) -> tuple[Dataset, ...]:
    """One view per table of the built world (sandbox/<name>.parquet), unless a dataset has that name."""
    taken = {d.name for d in DATASETS}
    tables = sorted(Path(data_dir).glob("sandbox/*.parquet"))
    return tuple(Dataset(t.stem, (f"sandbox/{t.name}",)) for t in tables if t.stem not in taken)
