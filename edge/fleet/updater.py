"""The station's updater: download, install, switch, trial, commit or roll back; each step redone
after a power cut, so the station always ends on a version that passed its health gate.

Before each step the updater writes its state durably, then calls `checkpoint` (the fleet report
is published there, and the simulated fleet cuts the power there to prove every state safe). The
state names the step in progress; a fresh process reading it redoes that step:

- ``downloading`` / ``installing``: `resume` removes the partial directory and starts again,
  with the offer kept in the state; `current` was never touched.
- ``switching``: the boot step points `current` at the new release (again) and enters the trial.
- ``trial``: the boot step counts the start; after too many starts, or past the trial deadline
  (`max_trial_starts` health deadlines after the switch), it rolls back. The running station
  commits once its health gate passes.
- ``rolling_back``: the boot step points `current` back at the previous release (again).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

from packaging.version import InvalidVersion, Version

from edge.contract import UpdateOffered, UpdateRefusal, UpdateReport, UpdateState
from edge.fleet.errors import FleetError, UpdateRefused
from edge.fleet.home import StationHome
from edge.fleet.install import ReleaseFiles, install_release
from edge.fleet.state import UpdaterState, load_state, save_state
from edge.fleet.switch import point_current

__all__ = ["DEFAULT_HEALTH_DEADLINE_S", "Checkpoint", "Fetch", "Updater"]

log = logging.getLogger("packline.fleet.updater")

Fetch = Callable[[str, str, Path], ReleaseFiles]
"""fetch(target, installed_version, into_dir): download and verify a release, or UpdateRefused."""
Checkpoint = Callable[[UpdateState], None]
"""Called right after each durable state write."""

DEFAULT_HEALTH_DEADLINE_S: int = UpdateOffered.model_fields["health_deadline_s"].default
_DOWNLOAD_DIR = "download"
_AWAY_FROM_RUNNING: frozenset[UpdateState] = frozenset({"switching", "trial", "rolling_back"})
"""States in which `current` may be changing: nothing new starts until the boot step settles it."""

T = TypeVar("T")


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _ignore(_state: UpdateState) -> None:
    return None


def _same_version(one: str, other: str) -> bool:
    """Equal as PEP 440 versions (0.2 is 0.2.0), or as strings when one is not a version."""
    try:
        return Version(one) == Version(other)
    except InvalidVersion:
        return one == other


class _Withdrawn(Exception):
    """The rollout was withdrawn while its update was being downloaded or installed."""


class Updater:
    """One station's updater over its `StationHome`; safe to call from one worker thread."""

    def __init__(
        self,
        home: StationHome,
        *,
        fetch: Fetch,
        checkpoint: Checkpoint = _ignore,
        max_trial_starts: int = 3,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        if max_trial_starts < 1:
            raise ValueError(f"max_trial_starts is {max_trial_starts}; expected at least 1")
        self._home = home
        self._fetch = fetch
        self._checkpoint = checkpoint
        self._max_trial_starts = max_trial_starts
        self._clock = clock
        self._lock = threading.RLock()
        self._withdrawn: set[str] = set()
        self._withdrawn_lock = threading.Lock()
        self._state = self._load()

    # --- what the station reads --------------------------------------------------------------

    @property
    def state(self) -> UpdaterState:
        return self._state

    @property
    def in_trial(self) -> bool:
        """Whether the running release still has to pass its health gate."""
        return self._state.state == "trial"

    @property
    def health_deadline_s(self) -> int:
        """How long the release on trial has, from its start, to pass its health gate."""
        offer = self._state.offer
        return offer.health_deadline_s if offer is not None else DEFAULT_HEALTH_DEADLINE_S

    def report(self) -> UpdateReport:
        return self._state.to_report()

    # --- the bridge's requests ---------------------------------------------------------------

    def offer(self, offer: UpdateOffered) -> bool:
        """Download, verify, install and switch to an offered release; True when a restart is due.

        The same rollout and version again is a no-op once it is in progress or decided
        (committed, refused, rolled back); an offer of the running version reports committed.
        """
        with self._withdrawn_lock:
            self._withdrawn.discard(offer.rollout_id)
        with self._lock:
            current = self._state
            same = (current.rollout_id, current.target_version) == (offer.rollout_id, offer.version)
            if same and current.state in {"downloading", "installing"}:
                return self._run(offer)  # left by a power cut before `resume` ran
            if same and current.state not in {"failed", "idle"}:  # idle: withdrawn, offered again
                return False
            if current.state in _AWAY_FROM_RUNNING:
                log.info(
                    "offer of %s (rollout %s) ignored: the updater is %s",
                    offer.version,
                    offer.rollout_id,
                    current.state,
                )
                return False
            if _same_version(offer.version, current.running_version):
                self._write(
                    state="committed",
                    target_version=offer.version,
                    rollout_id=offer.rollout_id,
                    offer=None,
                    refusal=None,
                    reason=None,
                )
                return False
            refusal = self._refuse_version(offer.version, current.running_version)
            if refusal is not None:
                self._write(
                    state="refused",
                    target_version=offer.version,
                    rollout_id=offer.rollout_id,
                    offer=None,
                    refusal=refusal.refusal,
                    reason=refusal.reason,
                )
                return False
            return self._run(offer)

    def withdraw(self, rollout_id: str) -> None:
        """Abandon an update of `rollout_id` not yet switched to; a switched one runs its trial."""
        with self._withdrawn_lock:
            self._withdrawn.add(rollout_id)
        with self._lock:
            current = self._state
            if current.rollout_id == rollout_id and current.state in {"downloading", "installing"}:
                self._abandon(current.target_version)

    def revert(self, from_version: str, *, rollout_id: str | None = None) -> bool:
        """Go back from `from_version` to the previous release; True when a restart is due.

        Refused (``no_previous``) unless the station runs `from_version` and still has the
        release it ran before.
        """
        with self._lock:
            current = self._state
            if current.state == "rolled_back" and current.target_version == from_version:
                return False
            if current.state in {"switching", "rolling_back"}:
                return False
            previous = current.previous_version
            if (
                current.running_version != from_version
                or previous is None
                or not self._home.is_installed(previous)
            ):
                self._write(
                    state="refused",
                    target_version=None,
                    rollout_id=rollout_id or current.rollout_id,
                    offer=None,
                    refusal="no_previous",
                    reason=(
                        f"cannot revert from {from_version}: the station runs "
                        f"{current.running_version} and "
                        + (f"keeps {previous}" if previous else "keeps no previous release")
                    ),
                )
                return False
            if current.state in {"downloading", "installing"} and current.target_version:
                self._home.remove_partial(current.target_version)
            self._write(
                state="rolling_back",
                rollout_id=rollout_id or current.rollout_id,
                refusal=None,
                reason=f"operator revert from {from_version} to {previous}",
            )
            return self._complete_rollback()

    # --- the station's own steps -------------------------------------------------------------

    def resume(self) -> bool:
        """At station start: redo a download or install a power cut interrupted.

        Also completes a switch or rollback if the boot step did not run. True when a restart
        is due.
        """
        with self._lock:
            current = self._state
            if current.state in {"downloading", "installing"}:
                if current.offer is None:
                    self._fail(
                        current.target_version,
                        f"{current.state} was interrupted and the offer was not kept",
                    )
                    return False
                with self._withdrawn_lock:
                    withdrawn = current.offer.rollout_id in self._withdrawn
                if withdrawn:
                    self._abandon(current.target_version)
                    return False
                return self._run(current.offer)
            self._home.sweep()
            if current.state == "switching":
                return self._complete_switch()
            if current.state == "rolling_back":
                return self._complete_rollback()
            return False

    def boot(self) -> Path | None:
        """The boot step before the station starts: settle `current`, count a trial start.

        Completes an interrupted switch or rollback, and rolls back a release on trial that
        was started more than `max_trial_starts` times without committing, or whose trial
        deadline has passed. Returns the lib path to run (None for the factory base release).
        """
        with self._lock:
            current = self._state
            keep = (
                current.target_version if current.state in {"downloading", "installing"} else None
            )
            self._home.sweep(keep_partial=keep)
            if current.state == "switching":
                self._complete_switch()
            elif current.state == "rolling_back":
                self._complete_rollback()
            if self._state.state == "trial":
                self._count_trial_start()
            elif self._state.state == "committed":
                self._prune()
            self._ensure_current()
            return self._home.lib_path(self._home.running_version())

    def commit(self) -> None:
        """The release on trial passed its health gate: keep it, and the previous one for revert."""
        with self._lock:
            current = self._state
            if current.state == "committed":
                return
            if current.state != "trial":
                raise FleetError(f"nothing to commit: the updater is {current.state}, not on trial")
            self._write(
                state="committed",
                refusal=None,
                reason=None,
                offer=None,
                trial_starts=0,
                trial_deadline=None,
            )
            self._prune()

    def roll_back(self, refusal: UpdateRefusal, reason: str) -> bool:
        """The release on trial failed: go back to the previous one; True when a restart is due."""
        with self._lock:
            current = self._state
            if current.state == "rolled_back":
                return False
            if current.state == "rolling_back":
                return self._complete_rollback()
            if current.state != "trial":
                raise FleetError(
                    f"nothing to roll back: the updater is {current.state}, not on trial"
                )
            return self._roll_back_now(refusal, reason)

    # --- steps -------------------------------------------------------------------------------

    def _run(self, offer: UpdateOffered) -> bool:
        version = offer.version
        running = self._state.running_version
        self._write(
            state="downloading",
            target_version=version,
            rollout_id=offer.rollout_id,
            offer=offer,
            refusal=None,
            reason=None,
            trial_starts=0,
            trial_deadline=None,
        )
        verified = self._attempt(version, lambda: self._download(offer, running))
        if verified is None:
            return False
        self._write(state="installing")
        if self._attempt(version, lambda: self._install(verified, offer)) is None:
            return False
        self._write(state="switching")
        return self._complete_switch()

    def _download(self, offer: UpdateOffered, running: str) -> ReleaseFiles:
        self._home.remove_partial(offer.version)
        into = self._home.partial_dir(offer.version) / _DOWNLOAD_DIR
        into.mkdir(parents=True)
        verified = self._fetch(offer.target, running, into)
        if verified.version != offer.version:
            raise UpdateRefused(
                "not_found",
                f"target {offer.target} holds release {verified.version}, "
                f"not the offered {offer.version}",
            )
        self._check_withdrawn(offer)
        return verified

    def _install(self, verified: ReleaseFiles, offer: UpdateOffered) -> Path:
        installed = install_release(verified, self._home)
        self._check_withdrawn(offer)
        return installed

    def _check_withdrawn(self, offer: UpdateOffered) -> None:
        with self._withdrawn_lock:
            if offer.rollout_id in self._withdrawn:
                raise _Withdrawn(offer.rollout_id)

    def _attempt(self, version: str, step: Callable[[], T]) -> T | None:
        """Run one step; on failure clean up, record refused or failed, and return None."""
        try:
            return step()
        except _Withdrawn:
            self._abandon(version)
        except UpdateRefused as refused:
            self._home.remove_partial(version)
            if refused.refusal == "download_failed":
                # The link or the bridge, not the release: failed, so the offer is tried again
                # when it is delivered again (on the next connection).
                log.warning("download of %s failed: %s", version, refused.reason)
                self._write(
                    state="failed", offer=None, refusal=refused.refusal, reason=refused.reason
                )
                return None
            log.warning("update to %s refused (%s): %s", version, refused.refusal, refused.reason)
            self._write(state="refused", offer=None, refusal=refused.refusal, reason=refused.reason)
        except Exception as error:  # a failure nobody named: report it, keep the station running
            log.exception("update to %s failed", version)
            self._fail(version, f"{type(error).__name__}: {error}")
        return None

    def _fail(self, version: str | None, reason: str) -> None:
        if version is not None:
            self._home.remove_partial(version)
        self._write(state="failed", offer=None, refusal=None, reason=reason)

    def _abandon(self, version: str | None) -> None:
        rollout = self._state.rollout_id
        if version is not None:
            self._home.remove_partial(version)
        self._write(
            state="idle",
            target_version=None,
            offer=None,
            refusal=None,
            reason=f"rollout {rollout} withdrawn before {version} was switched to",
        )

    def _complete_switch(self) -> bool:
        current = self._state
        target = current.target_version
        if target is None or not self._home.is_installed(target):
            point_current(self._home, current.running_version)
            self._fail(target, f"switch interrupted and release {target} is not installed whole")
            return False
        point_current(self._home, target)
        deadline_s = self.health_deadline_s * self._max_trial_starts
        self._write(
            state="trial",
            running_version=target,
            previous_version=current.running_version,
            trial_starts=0,
            trial_deadline=self._clock() + timedelta(seconds=deadline_s),
        )
        return True

    def _count_trial_start(self) -> None:
        current = self._state
        starts = current.trial_starts + 1
        deadline = current.trial_deadline
        if starts == 1:
            # From the first start, not from the switch: the restart into the new release may
            # wait for the packer to finish an order, and that wait is not the release's fault.
            deadline = self._clock() + timedelta(
                seconds=self.health_deadline_s * self._max_trial_starts
            )
        self._write(trial_starts=starts, trial_deadline=deadline)
        current = self._state
        if starts > self._max_trial_starts:
            self._roll_back_now(
                "crash_loop",
                f"{current.running_version} started {starts - 1} times without passing its "
                f"health gate (at most {self._max_trial_starts})",
            )
        elif current.trial_deadline is not None and self._clock() > current.trial_deadline:
            self._roll_back_now(
                "crash_loop",
                f"{current.running_version} still on trial after its deadline "
                f"{current.trial_deadline.isoformat()} ({starts - 1} starts without passing "
                "its health gate)",
            )

    def _roll_back_now(self, refusal: UpdateRefusal, reason: str) -> bool:
        current = self._state
        previous = current.previous_version
        if previous is None or not self._home.is_installed(previous):
            log.error("cannot roll back %s: no previous release installed", current.running_version)
            self._write(
                state="failed",
                refusal="no_previous",
                reason=f"{reason}; and no previous release is installed to go back to",
            )
            return False
        log.warning("rolling back %s to %s: %s", current.running_version, previous, reason)
        self._write(state="rolling_back", refusal=refusal, reason=reason)
        return self._complete_rollback()

    def _complete_rollback(self) -> bool:
        current = self._state
        previous = current.previous_version
        if previous is None:
            raise FleetError("rolling back with no previous version recorded")
        point_current(self._home, previous)
        self._write(
            state="rolled_back",
            running_version=previous,
            previous_version=None,
            target_version=current.running_version,
            offer=None,
            trial_starts=0,
            trial_deadline=None,
        )
        return True

    def _prune(self) -> None:
        """Keep the running release and the previous one (and the factory base); drop older ones."""
        current = self._state
        keep = {current.running_version, current.previous_version}
        for version in self._home.installed_versions():
            if version in keep or self._home.read_release(version).base:
                continue
            self._home.discard(version)
        self._home.sweep()

    def _ensure_current(self) -> None:
        """Repair a missing or dangling `current` so the station always has something to run."""
        try:
            self._home.running_version()
        except FleetError as error:
            current = self._state
            candidates = [current.running_version, current.previous_version]
            candidates += reversed(self._home.installed_versions())
            for version in candidates:
                if version is not None and self._home.is_installed(version):
                    point_current(self._home, version)
                    self._write(
                        state="failed",
                        running_version=version,
                        reason=f"{error}; pointed it at {version}",
                    )
                    return
            raise

    # --- state -------------------------------------------------------------------------------

    def _refuse_version(self, offered: str, running: str) -> UpdateRefused | None:
        try:
            newer = Version(offered) > Version(running)
        except InvalidVersion as error:
            return UpdateRefused(
                "not_updatable", f"cannot compare {offered} with {running}: {error}"
            )
        if not newer:
            return UpdateRefused(
                "rollback", f"offered {offered} is not newer than the running {running}"
            )
        return None

    def _load(self) -> UpdaterState:
        try:
            linked: str | None = self._home.running_version()
        except FleetError:
            linked = None  # the boot step repairs `current`
        try:
            state = load_state(self._home.state_file)
        except FleetError as error:
            log.warning("%s; starting from what `current` points to", error)
            return UpdaterState(
                state="failed",
                running_version=linked or self._home.running_version(),
                reason=str(error),
                at=self._clock(),
            )
        if state is None:
            return UpdaterState(
                running_version=linked or self._home.running_version(), at=self._clock()
            )
        if (
            linked is not None
            and state.state not in _AWAY_FROM_RUNNING
            and state.running_version != linked
        ):
            log.warning(
                "updater state says %s runs but current points to %s; trusting current",
                state.running_version,
                linked,
            )
            state = state.model_copy(update={"running_version": linked})
        return state

    def _write(self, **changes: object) -> None:
        """Save the next state durably, then report it through `checkpoint`."""
        state = self._state.model_copy(update={**changes, "at": self._clock()})
        save_state(self._home.state_file, state)
        self._state = state
        self._checkpoint(state.state)
