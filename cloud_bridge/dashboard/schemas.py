"""The dashboard's response bodies: what each panel shows, already counted by the database."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from cloud_bridge.api.schemas_base import ApiModel
from cloud_bridge.dashboard.paging import Page

__all__ = [
    "BorrowOut",
    "ChartOut",
    "ChartSeriesOut",
    "DespatchesOut",
    "FleetOut",
    "InventoryRowOut",
    "OrderRowOut",
    "OrdersByStateOut",
    "ReconcileDifferenceOut",
    "ReconcileOut",
    "ReconcileRunOut",
    "RejectedPostingOut",
    "RolloutOut",
    "SageOut",
    "StateCountOut",
    "StationOut",
    "SyncMarkOut",
    "VersionCountOut",
]


class StationOut(ApiModel):
    """One station as the floor manager reads it."""

    station_id: str = Field(description="``<site>.<station>``.")
    site: str = Field(description="The site the station belongs to.")
    group: str | None = Field(description="Its rollout group; null until one is set.")
    online: bool = Field(description="Whether its last presence message said online.")
    last_seen: datetime | None = Field(description="Null if never heard from.")
    software_version: str | None = Field(description="The software it runs, from its birth.")
    phase: str | None = Field(description="idle, picking, finalising, labelling or fault.")
    printer: str | None = Field(description="ok, fault, offline or unknown.")
    printer_detail: str | None = Field(
        description="What the printer reported, such as 'paper out'."
    )
    outbox_depth: int | None = Field(description="Events not yet acknowledged by the bridge.")
    outbox_oldest_age_s: float | None = Field(
        description="Age in seconds of the oldest unacknowledged event."
    )
    status_at: datetime | None = Field(description="When the counters and printer were reported.")
    shipments_last_hour: int = Field(description="Shipments the station completed in the hour.")
    orders_last_hour: int = Field(description="Distinct orders shipped by it in the hour.")
    picks: int | None = Field(description="Picks since the station was set up; null if unknown.")
    shorts: int | None = Field(
        description="Shortages since the station was set up; null if unknown."
    )
    wrong_scans: int | None = Field(
        description="Wrong scans since the station was set up; null if unknown."
    )
    short_rate: float | None = Field(description="Shorts per pick, 0 to 1; null with no picks.")
    wrong_scan_rate: float | None = Field(
        description=(
            "Wrong scans per confirmed line: wrong scans divided by picks (lines picked in full "
            "and confirmed at their slot). Stations do not report how many items they scanned, "
            "so this is not a share of scans and can exceed 1; null with no picks."
        )
    )


class StateCountOut(ApiModel):
    """A state and how many are in it."""

    state: str = Field(description="The state.")
    count: int = Field(description="How many are in it.")


class OrdersByStateOut(ApiModel):
    """Every order state with how many orders are in it (zero included)."""

    states: list[StateCountOut] = Field(
        description="Every state, in workflow order, with its count."
    )
    total: int = Field(description="All orders.")


class OrderRowOut(ApiModel):
    """One order in the list."""

    order_no: str = Field(description="The order's number.")
    account: str = Field(description="The account whose stock it takes.")
    state: str = Field(description="Where it is between arrival and despatch.")
    station: str | None = Field(description="The station it is released to, if any.")
    created_at: datetime = Field(description="When it arrived (UTC).")
    promised_date: str | None = Field(description="The promised date, YYYY-MM-DD, if any.")


class DespatchesOut(ApiModel):
    """What left the building since midnight on the site's clock."""

    since: datetime = Field(description="Midnight today in the site's time zone, as a UTC instant.")
    timezone: str = Field(description="The site's time zone (bridge.toml `[dashboard] timezone`).")
    since_local: str = Field(
        description="The same midnight on the site's clock, `YYYY-MM-DD HH:MM`."
    )
    shipments: int = Field(description="Shipments made.")
    orders: int = Field(description="Distinct orders shipped.")
    units: int = Field(description="Units shipped.")


class ChartSeriesOut(ApiModel):
    """One line or set of bars of a chart."""

    label: str = Field(description="What the series counts.")
    values: list[int] = Field(description="One value per label of the chart.")


class ChartOut(ApiModel):
    """A chart's data: one label per point, one or more series of the same length."""

    title: str = Field(description="What the chart shows.")
    labels: list[str] = Field(description="The points along the chart's axis (hours or stations).")
    series: list[ChartSeriesOut] = Field(description="The series drawn.")


class BorrowOut(ApiModel):
    """Stock reserved for an account's orders from one linked account."""

    from_account: str = Field(description="The linked account lending the stock.")
    units: int = Field(description="Units reserved from it.")


class InventoryRowOut(ApiModel):
    """An account's stock of a product, and what it borrows from and lends to linked accounts."""

    account: str = Field(description="The account owning (or borrowing) the stock.")
    sku: str = Field(description="The product.")
    on_hand: int = Field(description="Units the account holds, over all locations.")
    allocated: int = Field(description="Units of its own stock reserved (for it or others).")
    available: int = Field(description="On hand minus allocated.")
    lent: int = Field(description="Units of its stock reserved for linked accounts' orders.")
    borrowed: int = Field(description="Units reserved for its orders from linked accounts.")
    borrowed_from: list[BorrowOut] = Field(description="The borrowed units per lending account.")


class SyncMarkOut(ApiModel):
    """When one kind of Sage record was last read."""

    business_id: str = Field(description="The Sage business read.")
    resource: str = Field(description="The kind of record read, such as 'contacts'.")
    synced_at: datetime = Field(description="When it was last read (UTC).")


class ReconcileDifferenceOut(ApiModel):
    """One difference the last reconciliation found between the bridge and Sage."""

    kind: str = Field(description="What disagrees, such as 'stock_mismatch' or 'awaiting_posting'.")
    needs_attention: bool = Field(
        description="False only for postings awaiting Sage, which are information, not a problem."
    )
    message: str = Field(description="The difference in words, as 'packline sage reconcile' says.")
    shipment_id: int | None = Field(description="The shipment it concerns, if one.")
    posting_id: int | None = Field(description="The posting it concerns, if one.")
    sage_id: str | None = Field(description="The Sage document or stock item, if one.")
    sku: str | None = Field(description="The product, if one.")


class ReconcileRunOut(ApiModel):
    """A stored reconciliation: when, against which business, what it compared, what it found."""

    run_id: int = Field(description="The stored run's id.")
    environment: str = Field(description="The Sage environment compared: test or live.")
    business_id: str = Field(description="The Sage business compared.")
    started_at: datetime = Field(description="When it started (UTC).")
    finished_at: datetime = Field(description="When it finished (UTC).")
    shipped_since: datetime | None = Field(
        description="Shipments before this were left out of the shipment checks; null: none were."
    )
    shipment_lines_checked: int = Field(description="Shipment lines compared with postings.")
    postings_checked: int = Field(description="Postings of this business compared.")
    documents_checked: int = Field(description="Sage sales invoices and credit notes read.")
    stock_items_checked: int = Field(description="Stock items whose quantity was compared.")
    differences: int = Field(description="Differences found, postings awaiting Sage included.")
    problems: int = Field(description="Differences that need attention.")
    ok: bool = Field(description="True when nothing but postings awaiting Sage was found.")
    difference_lines: Page[ReconcileDifferenceOut] = Field(
        description="The differences, those needing attention first, paged by limit and offset."
    )


class ReconcileOut(ApiModel):
    """The last reconciliation the bridge recorded, or why none is shown."""

    stored: bool = Field(description="Whether any reconciliation has been recorded.")
    note: str = Field(description="The last result's verdict, or how to run a reconciliation.")
    last: ReconcileRunOut | None = Field(description="The newest recorded run; null if none.")


class SageOut(ApiModel):
    """The posting queue, the Sage connection, and how recent the bridge's view of Sage is."""

    environment: str | None = Field(description="test or live; null before the bridge first posts.")
    business_id: str | None = Field(
        description="The Sage business posted to; null before the first posting."
    )
    queue: list[StateCountOut] = Field(description="Postings per state.")
    due_now: int = Field(description="Pending postings whose time has come.")
    last_posted_at: datetime | None = Field(
        description="When Sage last confirmed a posting; null if never."
    )
    sync_marks: list[SyncMarkOut] = Field(
        description="When each kind of Sage record was last read."
    )
    reconcile: ReconcileOut = Field(description="The last reconciliation, or why none is shown.")


class RejectedPostingOut(ApiModel):
    """A posting Sage refused, with what it said."""

    posting_id: int = Field(description="The posting's id.")
    environment: str = Field(description="The Sage environment it was made in.")
    shipment_id: int = Field(description="The shipment it posts.")
    kind: str = Field(description="invoice or credit_note.")
    reference: str = Field(description="The document's reference.")
    state: str = Field(description="failed, or posted with a problem linking it.")
    message: str = Field(description="What went wrong, in words.")
    sage_messages: list[str] = Field(description="Sage's own messages, verbatim.")
    created_at: datetime = Field(description="When the posting was written (UTC).")


class VersionCountOut(ApiModel):
    """One software version and the stations running it."""

    version: str | None = Field(description="Null for stations that never reported one.")
    stations: int = Field(description="Stations running it.")
    online: int = Field(description="Of those, how many are online.")


class RolloutOut(ApiModel):
    """One rollout and how far it has got."""

    rollout: str = Field(description="The rollout's id, rollout-<n>.")
    version: str = Field(description="The release it rolls out.")
    group: str = Field(description="The group of stations it targets.")
    state: str = Field(description="running, paused, finished, aborted or rolled_back.")
    reason: str = Field(description="Why it is in that state.")
    targeted: int = Field(description="Stations it has to update.")
    updated: int = Field(description="Stations that committed the release.")
    failed: int = Field(description="Stations that refused or failed it.")
    timed_out: int = Field(description="Stations that did not finish in time.")
    in_progress: int = Field(description="Stations working on it now.")
    absent: int = Field(description="Stations offered it while offline.")
    stations: int = Field(
        description="Stations in the rollout, those already on the version included."
    )


class FleetOut(ApiModel):
    """The fleet's versions and rollouts."""

    versions: list[VersionCountOut] = Field(
        description="Stations per software version, most common first."
    )
    rollouts: list[RolloutOut] = Field(description="The newest rollouts first.")
