"""Trip world: seeded, connected, density as asked, Parquet round trip, validation errors name file/column/row."""

import polars as pl
import pytest

from imagine.domains.trip.world import CITIES, load_world, make_world, validate_world


def _connected(world) -> bool:
    adj = world.adjacency
    start = world.names[0]
    seen, stack = {start}, [start]
    while stack:
        for nxt in adj[stack.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return len(seen) == len(adj)


def test_city_list_is_clean():
    names = [c for c, _ in CITIES]
    assert len(names) == len(set(names))
    assert all(c.isalpha() for c in names)


def test_seeded_determinism():
    a, b, c = make_world(30, 0.2, seed=1), make_world(30, 0.2, seed=1), make_world(30, 0.2, seed=2)
    assert a.cities.equals(b.cities) and a.connections.equals(b.connections)
    assert not (a.cities.equals(c.cities) and a.connections.equals(c.connections))


@pytest.mark.parametrize("n, density", [(3, 0.0), (12, 0.05), (48, 0.15), (len(CITIES), 0.5), (20, 1.0)])
def test_connected_with_density(n, density):
    world = make_world(n, density, seed=3)
    assert world.cities.height == n
    assert _connected(world)
    pairs = n * (n - 1) // 2
    assert world.connections.height == max(n - 1, round(density * pairs))
    assert (world.connections["city_a"] < world.connections["city_b"]).all()
    validate_world(world.cities, world.connections)


def test_parquet_round_trip(tmp_path):
    world = make_world(25, 0.2, seed=4)
    world.save(tmp_path / "world")
    back = load_world(tmp_path / "world")
    assert back.cities.equals(world.cities) and back.connections.equals(world.connections)
    world.save(tmp_path / "world")  # replacing an existing folder works too
    assert load_world(tmp_path / "world").connections.equals(world.connections)


def test_validation_names_file_column_row(tmp_path):
    world = make_world(10, 0.3, seed=5)
    bad = world.connections.with_columns(
        pl.when(pl.int_range(pl.len()) == 2).then(pl.lit("Atlantis")).otherwise(pl.col("city_b")).alias("city_b"))
    with pytest.raises(ValueError, match=r"connections.parquet column city_b row 2: 'Atlantis' is not a city"):
        validate_world(world.cities, bad)
    swapped = world.connections.select(pl.col("city_b").alias("city_a"), pl.col("city_a").alias("city_b"))
    with pytest.raises(ValueError, match=r"connections.parquet column city_b row 0: city_a must sort before city_b"):
        validate_world(world.cities, swapped)
    two_words = world.cities.with_columns(pl.when(pl.int_range(pl.len()) == 1).then(pl.lit("San Marino"))
                                          .otherwise(pl.col("city")).alias("city"))
    with pytest.raises(ValueError, match=r"cities.parquet column city row 1: 'San Marino' is not one word"):
        validate_world(two_words, world.connections.head(0))
    island = world.connections.filter((pl.col("city_a") != world.names[0]) & (pl.col("city_b") != world.names[0]))
    with pytest.raises(ValueError, match="not connected"):
        validate_world(world.cities, island)
    with pytest.raises(ValueError, match="cities.parquet: trip world: column 'region': expect_column_values_to_not_be_null"):
        validate_world(world.cities.with_columns(pl.lit(None, pl.String).alias("region")), world.connections)
    (tmp_path / "w").mkdir()
    world.cities.write_parquet(tmp_path / "w" / "cities.parquet")
    with pytest.raises(ValueError, match="connections.parquet is missing"):
        load_world(tmp_path / "w")
    bad.write_parquet(tmp_path / "w" / "connections.parquet")
    with pytest.raises(ValueError, match=r"w: trip world: connections.parquet column city_b row 2"):
        load_world(tmp_path / "w")
