"""The simulated marketplace: a merchant population with transaction histories, marketplace metrics
and a historical loan book whose outcomes follow a documented causal model (docs/simulator.md).

The hidden state (true PD, latent health, fraud, shocks) goes to truth.csv and SimulationTruth only;
feature code must never import this package.
"""

from underwriting.simulator.evaluation import Calibration, evaluate
from underwriting.simulator.params import DEFAULT_PARAMS, WorldParams
from underwriting.simulator.service import DEFAULT_END, SimulationResult, generate_world, simulate_marketplace

__all__ = [
    "DEFAULT_END",
    "DEFAULT_PARAMS",
    "Calibration",
    "SimulationResult",
    "WorldParams",
    "evaluate",
    "generate_world",
    "simulate_marketplace",
]
