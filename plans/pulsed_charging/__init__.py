"""The pulsed-charging experiment: plate a fresh substrate site with a pulse train, strip it back.

One experiment is one bluesky run (``md`` = the campaign's metadata plus the protocol, the
electrode area and ontology terms) on a scanning droplet cell
(:class:`~labctl.devices.droplet.device.ScanningDropletCell`):

1. move to the next fresh site (claimed at once: a site is never used twice), flush electrolyte
   through the head, land;
2. ``pulse_train`` — ``cycles`` galvanostatic pulses of ``pulse_current_density`` × electrode area
   for ``on_time``, then ``off_time`` at rest or at ``reverse_current_density`` (anodic), whole
   cycles filling about ``plating_time``; sampled every min(on_time, off_time);
3. ``rest`` — open circuit for ``rest_time``, if any (the deposit's equilibrium potential; its
   corrosion counts against the efficiency);
4. ``strip`` — a constant anodic current (``strip_current_density``) long enough to strip
   ``strip_excess`` × the charge the protocol should have left; the reducer finds where the
   potential leaves the metal's plateau (the cut-off) — the charge stripped to there measures
   the Coulombic efficiency. On an instrument that stops at a cut-off, keep ``strip_excess``
   small: the time past the transition oxidises the substrate;
5. lift; stream ``site``: the site (row, column, x, y), its state (``used``) and the contact
   height. (Few streams: the store's cost per stream at the run's end dominates a simulated
   experiment.)

Any failure inside the run stops the droplet cell (technique and pump stopped, cell lifted, site
marked ``failed``) before the error ends the run.

:func:`reduce_pulsed_charging` turns the stored run into the objectives — from the run alone
(start document and streams), never from a twin — so resume and reports work without a lab:

* ``plating_rate`` — average net plating current density over the pulse train,
  (Q_cathodic − Q_anodic)/(A·t_train), **mA/cm²** (metal-neutral; 1 mA/cm² = 1.71 µm/h of Zn,
  4.85 µm/h of Li for a compact deposit, REFERENCES 2.3);
* ``coulombic_efficiency`` — all anodic charge (reverse pulses + the strip to its transition)
  over all cathodic charge, **dimensionless fraction** (0…1); after a short the strip never
  leaves the plateau and is credited nothing;
* ``dendrite_proxy`` — the LABELLED proxy of :func:`labctl.analysis.overpotential_drift`: how
  far the plating overpotential fell from early to late pulses as the deposit roughened, **mV**
  (a short makes it the whole plating voltage);
* also ``plated_charge`` (cathodic charge density, mC/cm²), ``short_circuit`` (1 when the pulse
  train's voltage collapsed) and ``stripping_plateau`` (V): recorded, not optimized.
"""

from labctl.plans.pulsed_charging.kind import pulsed_charging
from labctl.plans.pulsed_charging.options import (
    OUTCOME_UNITS,
    PulsedChargingOptions,
    PulseProtocol,
)
from labctl.plans.pulsed_charging.plan import PulsedChargingPlan, pulsed_charging_experiment
from labctl.plans.pulsed_charging.reduce import reduce_pulsed_charging

__all__ = [
    "OUTCOME_UNITS",
    "PulseProtocol",
    "PulsedChargingOptions",
    "PulsedChargingPlan",
    "pulsed_charging",
    "pulsed_charging_experiment",
    "reduce_pulsed_charging",
]
