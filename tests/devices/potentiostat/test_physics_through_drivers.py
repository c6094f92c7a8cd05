"""Physics end to end: techniques through the real drivers and twins, analysed as a plan would.

* The same technique through each driver gives the same physics within noise (both twins answer
  from one electrochemistry model; they differ in wire format, sampling and noise draws).
* Conductivity fitted from an EIS of a world cell filled with an electrolyte matches the published
  electrolyte model's value within 2 % (DESIGN: the campaign learns from κ *fitted* from the
  spectrum).
* A request beyond an instrument's own range (no configured limit stops it) is refused by the
  twin, and the driver surfaces the instrument's error.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from labctl.analysis import conductivity_from_resistance, cv_peaks, fit_randles
from labctl.config import DeviceConfig, TwinConfig
from labctl.devices.potentiostat.device import Potentiostat
from labctl.devices.potentiostat.techniques import CA, CP, CV, EIS
from labctl.errors import ProtocolError
from labctl.lab.registry import build_device
from labctl.simulators.electrolyte.composition import Composition
from labctl.simulators.electrolyte.model import electrolyte_properties
from labctl.simulators.methodscript.twin import MethodScriptTwin
from labctl.simulators.scpi_smu.twin import ScpiSmuTwin
from labctl.simulators.world import Mixture, World
from labctl.units import ureg

Q = ureg.Quantity
TWINS: dict[str, Any] = {"scpi": ScpiSmuTwin, "methodscript": MethodScriptTwin}


def _device(driver: str, address: str, limits: dict[str, Any] | None = None) -> Potentiostat:
    config = DeviceConfig.model_validate(
        {
            "kind": "potentiostat",
            "driver": driver,
            "address": "placeholder",
            "timeout": "1 s",
            "limits": limits or {},
        }
    )
    device = build_device(f"pstat_{driver}", config, address)
    device.connect()
    return device


@pytest.fixture
def both() -> Iterator[dict[str, Potentiostat]]:
    twins = {driver: make(seed=11) for driver, make in TWINS.items()}
    devices = {}
    for driver, twin in twins.items():
        twin.start()
        devices[driver] = _device(driver, twin.address)
    yield devices
    for driver, device in devices.items():
        device.close()
        twins[driver].stop()


def _run(device: Potentiostat, technique: Any) -> dict[str, np.ndarray]:
    device.set(technique)
    device.trigger().wait(30)
    return {
        name: np.asarray(getattr(device, name).get()) for name in ("time", "potential", "current")
    }


def test_the_same_technique_through_either_driver_gives_the_same_physics(
    both: dict[str, Potentiostat],
) -> None:
    cv = CV(
        start=Q(3.0, "V"),
        vertex1=Q(3.55, "V"),
        vertex2=Q(3.0, "V"),
        scan_rate=Q(50, "mV/s"),
        step=Q(1, "mV"),
    )
    peaks = {}
    for driver, device in both.items():
        curve = _run(device, cv)
        (cycle,) = cv_peaks(curve["potential"], curve["current"])
        peaks[driver] = cycle
    assert peaks["scpi"].anodic_peak_potential == pytest.approx(
        peaks["methodscript"].anodic_peak_potential, abs=3e-3
    )
    assert peaks["scpi"].anodic_peak_current == pytest.approx(
        peaks["methodscript"].anodic_peak_current, rel=0.03
    )
    for cycle in peaks.values():
        assert 0.057 <= cycle.peak_separation <= 0.062
    # Then (the cell remembers: a fresh CV first, before anything depletes its probe):
    cp = CP(current=Q(-20, "uA"), duration=Q(2, "s"), interval=Q(0.1, "s"))
    cp_curves = {driver: _run(device, cp) for driver, device in both.items()}
    np.testing.assert_allclose(cp_curves["scpi"]["time"], cp_curves["methodscript"]["time"])
    np.testing.assert_allclose(
        cp_curves["scpi"]["potential"], cp_curves["methodscript"]["potential"], atol=5e-3
    )
    ca = CA(potential=Q(3.0, "V"), duration=Q(1, "s"), interval=Q(0.05, "s"))
    ca_curves = {driver: _run(device, ca) for driver, device in both.items()}
    np.testing.assert_allclose(
        ca_curves["scpi"]["current"], ca_curves["methodscript"]["current"], rtol=0.05, atol=1e-8
    )


def test_conductivity_fitted_from_eis_of_a_filled_cell_matches_the_electrolyte_model() -> None:
    world = World(seed=5)
    cell = world.cell("conductivity", cell_constant=1.0)
    masses = {"LiPF6": 1.52, "EC": 3.0, "EMC": 7.0}  # g: ≈ 1 mol/kg LiPF6 in EC:EMC 3:7
    cell.contents = Mixture(dict(masses))
    cell.properties["electrochem_parameters"] = {"noise": 0.0}
    device_config = DeviceConfig.model_validate(
        {"kind": "potentiostat", "driver": "methodscript", "address": "placeholder"}
    )
    twin = MethodScriptTwin.from_config(
        "pstat",
        device_config,
        TwinConfig.model_validate({"kind": "methodscript", "options": {"cell": "conductivity"}}),
        seed=1,
        time_scale=0.0,
        world=world,
    )
    twin.start()
    device = _device("methodscript", twin.address)
    try:
        device.set(
            EIS(
                dc_potential=Q(0, "V"),
                max_frequency=Q(100, "kHz"),
                min_frequency=Q(0.1, "Hz"),
                points_per_decade=10,
            )
        )
        device.trigger().wait(30)
        fit = fit_randles(device.frequency.get(), device.z_real.get(), device.z_imag.get())
    finally:
        device.close()
        twin.stop()
    kappa = conductivity_from_resistance(fit.solution_resistance, cell_constant_per_m=100.0)
    expected = electrolyte_properties(Composition.from_masses(masses), 298.15).conductivity
    assert kappa.value == pytest.approx(expected, rel=0.02)
    assert kappa.uncertainty < 0.02 * kappa.value


@pytest.mark.parametrize("driver", sorted(TWINS))
def test_a_request_beyond_the_instruments_range_surfaces_its_error(driver: str) -> None:
    twin = TWINS[driver](seed=2)
    twin.start()
    device = _device(driver, twin.address)  # no configured limits: only the instrument's own
    try:
        device.set(CA(potential=Q(30, "V"), duration=Q(1, "s"), interval=Q(0.1, "s")))
        with pytest.raises(ProtocolError, match="pstat_") as caught:
            device.trigger().wait(10)
        assert "refused" in str(caught.value) or "!" in str(caught.value)
        assert twin.output_on is False
    finally:
        device.close()
        twin.stop()
