"""The simulated customer world: a seeded, vectorised SaaS customer base.

It writes landing files and answers emails, with a hidden ground truth of how each customer responds to
proactive contact.

``from proactive_ml.sim.world import World, WorldConfig``.
"""

from proactive_ml.sim.world.config import RESPONSE_TYPES, WorldConfig
from proactive_ml.sim.world.generate import simulate_to_landing
from proactive_ml.sim.world.landing import write_batch
from proactive_ml.sim.world.simulator import World

__all__ = ["RESPONSE_TYPES", "World", "WorldConfig", "simulate_to_landing", "write_batch"]
