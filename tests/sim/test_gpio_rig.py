"""The GPIO rig itself: what it records and reports must be true of plain gpiozero devices."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from gpiozero import LED, RGBLED, Button

from firmware_sim.bench_lights import measure_light_latency
from firmware_sim.gpio import GpioRig, GpioRigError


@pytest.fixture
def rig() -> Iterator[GpioRig]:
    with GpioRig() as rig:
        yield rig


def wait_for(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"condition not met within {timeout} s"
        time.sleep(0.02)


def test_watch_reports_the_rhythm_of_a_plain_gpiozero_blink(rig: GpioRig) -> None:
    led = LED(17, pin_factory=rig.factory)
    watch = rig.watch(17)

    led.blink(on_time=0.1, off_time=0.3, n=4)
    wait_for(lambda: watch.observed().flashes == 4 and not rig.is_lit(17))

    seen = watch.observed()
    assert seen.frequency_hz == pytest.approx(2.5, rel=0.25)
    assert seen.on_seconds == pytest.approx(0.1, rel=0.5)
    assert seen.off_seconds == pytest.approx(0.3, rel=0.5)
    assert seen.lit_at_end is False
    led.close()


def test_watch_merges_the_channels_of_one_light(rig: GpioRig) -> None:
    led = RGBLED(5, 6, 13, pin_factory=rig.factory)
    watch = rig.watch(5, 6, 13)

    led.color = (1, 0.5, 0)  # red and green change one after the other
    led.off()
    led.color = (0, 0, 1)

    assert [lit for _at, lit in watch.changes()] == [True, False, True]
    assert watch.observed().flashes == 2
    led.close()


def test_a_light_that_never_changes_reports_no_rhythm(rig: GpioRig) -> None:
    led = LED(17, pin_factory=rig.factory)
    watch = rig.watch(17)

    seen = watch.observed()

    assert (seen.flashes, seen.frequency_hz, seen.on_seconds, seen.lit_at_end) == (
        0,
        None,
        None,
        False,
    )
    assert watch.first_change_at() is None
    led.close()


def test_a_bouncy_press_chatters_on_the_pin_before_settling_low(rig: GpioRig) -> None:
    button = Button(27, pin_factory=rig.factory)
    pin = rig.pin(27)
    pin.clear_states()

    rig.press(27, bounce=3)

    assert [state for _t, state in pin.states[1:]] == [False, True] * 3 + [False]
    assert button.is_pressed
    rig.release(27, bounce=2)
    assert [state for _t, state in pin.states[-5:]] == [True, False, True, False, True]
    assert not button.is_pressed
    button.close()


def test_hold_keeps_the_button_down_for_the_time_given(rig: GpioRig) -> None:
    button = Button(27, pin_factory=rig.factory)
    pin = rig.pin(27)
    pin.clear_states()

    rig.hold(27, 0.3)

    press, release = pin.states[1:]
    assert (press.state, release.state) == (False, True)
    assert release.timestamp >= 0.3
    button.close()


def test_pressing_an_output_pin_is_refused_naming_it(rig: GpioRig) -> None:
    led = LED(17, pin_factory=rig.factory)

    with pytest.raises(
        GpioRigError, match=r"pin GPIO17 is an output; expected a button's input pin"
    ):
        rig.press("BOARD11")
    led.close()


def test_a_tonal_buzzer_reports_its_pitch_and_silence(rig: GpioRig) -> None:
    from gpiozero import TonalBuzzer

    buzzer = TonalBuzzer(18, pin_factory=rig.factory)

    buzzer.play("A4")
    assert rig.tone_hz(18) == pytest.approx(440.0)
    buzzer.stop()
    assert rig.tone_hz(18) is None
    buzzer.close()


def test_reset_frees_pins_still_claimed_by_a_device(rig: GpioRig) -> None:
    claimed = LED(17, pin_factory=rig.factory)

    rig.reset()

    LED(17, pin_factory=rig.factory).close()
    assert not claimed.closed


def test_light_latency_bench_gives_one_driver_and_one_baseline_sample_per_round() -> None:
    driver, baseline = measure_light_latency(20)

    assert len(driver) == len(baseline) == 20
    assert all(sample >= 0 for sample in driver + baseline)
