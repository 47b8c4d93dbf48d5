"""What happens in the energy context: energy bought from a cluster."""

from __future__ import annotations

from dataclasses import dataclass

from engine.energy.model import Cluster
from engine.identity.model import User
from engine.kernel.events import DomainEvent


@dataclass(frozen=True, slots=True, kw_only=True)
class EnergyBought(DomainEvent):
    buyer: User
    cluster: Cluster
    wh: int
    cost_ngwee: int
    reference: str
