"""SMAX's SMACv2-style generated scenarios (`smacv2_5_units`, `smacv2_10_units`, `smacv2_20_units`):
unit types and start positions drawn afresh every episode, built on JaxMARL 0.2.0's own generators
with two of its defects guarded.

- Unit types. JaxMARL's `UniformUnitTypeDistribution` draws each ally's type uniformly from all six
  SMAX types and gives the enemies the same types (SMACv2 mirrors the teams too); with more enemies
  than allies it draws the extra enemies' types but never stores them (the `.at[].set()` result is
  discarded), so every extra enemy is a marine. `MixedUnitTypes` stores them. JaxMARL's own maps
  are n-vs-n, so this matters to any scenario with more enemies than allies built here.
- Start positions. JaxMARL's surround-or-reflect draw adds +-2 of noise to groups that can sit on
  the map's corners, so about 1 unit in 75 (9% of smacv2_5_units episodes, 18% of smacv2_20_units
  ones) starts on or past a wall and, with walls_cause_death, dies on the first step having done
  nothing. `InsideMap` keeps the draw but moves every start at least `MARGIN` inside the walls.
  With a margin of 1, SMAX's collision push at reset still put a crowded corner unit past a wall in
  0.8% of smacv2_20_units episodes; with 2, in none of 5000.

How these differ from SMACv2 itself is in docs/environments.md; results on them are "SMAX
smacv2_*", never "SMACv2".
"""

from __future__ import annotations

from typing import Any

# JaxMARL's names for them; mafac keeps the names.
SMACV2_MAPS = ("smacv2_5_units", "smacv2_10_units", "smacv2_20_units")
MARGIN = 2.0  # map units: every start at least this far inside the walls (see the module doc)


class MixedUnitTypes:
    """Every episode's unit types: each ally's uniform over the `n_types` SMAX types, the enemies
    the allies' types in order (the first n_enemies of them if there are fewer), and each enemy
    beyond the allies' count its own uniform draw."""

    def __init__(self, n_allies: int, n_enemies: int, n_types: int) -> None:
        self.n_allies, self.n_enemies, self.n_types = n_allies, n_enemies, n_types

    def generate(self, key) -> Any:
        import jax
        import jax.numpy as jnp

        ally_key, extra_key = jax.random.split(key)
        allies = jax.random.randint(ally_key, (self.n_allies,), 0, self.n_types)
        extra = jax.random.randint(extra_key, (max(self.n_enemies - self.n_allies, 0),), 0, self.n_types)
        enemies = jnp.concatenate([allies[:self.n_enemies], extra])
        return jnp.concatenate([allies, enemies]).astype(jnp.uint8)


class InsideMap:
    """A start-position draw with every start moved at least `margin` inside the map's walls."""

    def __init__(self, inner, width: float, height: float, margin: float = MARGIN) -> None:
        self.inner, self.width, self.height, self.margin = inner, float(width), float(height), float(margin)

    def generate(self, key) -> Any:
        import jax.numpy as jnp

        pos = self.inner.generate(key)
        lo = jnp.array([self.margin, self.margin])
        hi = jnp.array([self.width - self.margin, self.height - self.margin])
        return jnp.clip(pos, lo, hi)


def build_sim(heuristic_smax_cls, scenario, **kwargs):
    """A `HeuristicEnemySMAX` of `scenario` (any of JaxMARL's `Scenario`s), with mafac's unit-type
    and start-position generators in place of JaxMARL's when the scenario draws them. They must be
    in place before anything is traced: the env's jitted reset reads them as static attributes."""
    env = heuristic_smax_cls(scenario=scenario, **kwargs)
    sim = env._env  # the SMAX under the heuristic enemy (jaxmarl 0.2.0's layout, pinned)
    if sim.smacv2_unit_type_generation:
        sim.unit_type_generator = MixedUnitTypes(sim.num_allies, sim.num_enemies, len(sim.unit_type_names))
    if sim.smacv2_position_generation:
        sim.position_generator = InsideMap(sim.position_generator, sim.map_width, sim.map_height)
    return env
