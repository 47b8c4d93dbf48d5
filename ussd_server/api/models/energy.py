"""Clusters, a purchase's receipt, and carbon savings."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from engine.energy.carbon import CarbonReport
from engine.energy.clusters import ClusterView, PurchaseReceipt
from ussd_server.api.models.common import Money, Price, Query, View

CLUSTER_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{1,38}[a-z0-9]$"  # engine.energy.clusters' slug
ClusterKindText = Literal["micro", "neighbourhood", "industrial", "supply"]


class ClusterQuery(Query):
    region: str | None = Field(default=None, min_length=1, max_length=60, examples=["Lusaka"])


class Cluster(View):
    id: str
    name: str
    kind: ClusterKindText
    region: str
    price: Price
    capacity_wh: int
    available_wh: int = Field(description="energy still for sale")
    utilisation_permille: int = Field(description="share of capacity sold, in tenths of a percent")

    @classmethod
    def of(cls, view: ClusterView) -> Cluster:
        c = view.cluster
        return cls(
            id=c.id,
            name=c.name,
            kind=str(c.kind),  # type: ignore[arg-type]  # ClusterKind's values are the literals
            region=c.region,
            price=Price.of(c.price_ngwee_per_kwh),
            capacity_wh=c.capacity_wh,
            available_wh=view.available_wh,
            utilisation_permille=view.utilisation_permille,
        )


class Regions(View):
    regions: list[str]


class Purchase(View):
    reference: str = Field(description="read aloud or typed back; the same on the SMS receipt")
    cluster_id: str
    cluster_name: str
    energy_wh: int
    price: Price
    cost: Money

    @classmethod
    def of(cls, receipt: PurchaseReceipt) -> Purchase:
        return cls(
            reference=receipt.reference,
            cluster_id=receipt.cluster_id,
            cluster_name=receipt.cluster_name,
            energy_wh=receipt.wh,
            price=Price.of(receipt.price_ngwee_per_kwh),
            cost=Money.of(receipt.cost_ngwee),
        )


class Carbon(View):
    renewable_wh: int
    co2_grams: int
    trees_tenths: int = Field(description="tree seedlings grown for ten years, times ten (15 = 1.5 trees)")
    car_km: int
    car_miles: int

    @classmethod
    def of(cls, report: CarbonReport) -> Carbon:
        return cls(
            renewable_wh=report.renewable_wh,
            co2_grams=report.co2_grams,
            trees_tenths=report.trees_tenths,
            car_km=report.car_km,
            car_miles=report.car_miles,
        )
