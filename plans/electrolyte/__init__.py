"""The electrolyte-formulation experiment: prepare, fill the conductivity cell, EIS, LSV, rinse.

One experiment is one bluesky run (``md`` from the campaign loop: campaign id, iteration, the
proposed inputs with units, plus the ontology terms of what is measured). The deck is Clio-style
(Dave et al., Nat. Commun. 13, 5454 (2022)): one mixing vial plumbed to every dosing pump's valve
and to a transfer pump, emptied and rinsed after each experiment and reused. Valve-plumbed pumps
reach a handful of ports, not a rack of 30+ vials, so a reusable mixing vessel is what such a lab
builds; its cost is rinse solvent (a bottle on the transfer pump), which lasts hundreds of
experiments. Steps:

1. **Recover** — if the mixing vial is not fresh (an interrupted experiment left liquid), empty
   and rinse the cell and the vial first.
2. **Prepare** — the dispensing robot makes the formulation in the mixing vial from its stocks,
   weighing every addition (:func:`labctl.plans.dispensing.prepare_in_run`); the achieved
   composition goes to the stream ``preparation``.
3. **Fill** — the transfer pump moves ``fill_volume`` from the vial's port to the flow-through
   conductivity cell's port.
4. **Equilibrate** — an open-circuit rest of ``equilibration`` on the potentiostat (the
   instrument's own clock: a real wait on hardware, scaled by a twin's time scale), then the
   temperature sensor's reading (stream ``temperature``). The cell has no thermostat: it sits at
   the glovebox's temperature, so temperature is a fixed input of the campaign and the measured
   value is recorded and checked against it.
5. **EIS** (stream ``eis``) and **LSV** (stream ``lsv``) on the cell.
6. **Rinse** (always, also after a failure): empty the cell to waste, rinse it ``rinse_cycles``
   times with rinse solvent, empty the vial, rinse it once, return it to service.

The reducer (:func:`reduce_run`) works from the stored run alone (resume, reports): κ from the
bulk resistance *fitted* to the EIS (Randles fit) and the configured, calibrated cell constant;
the oxidative stability limit from the LSV at a current-density cut-off; the material cost from
the *recorded* achieved composition and the configured price table. Never from a twin's truth.
"""

from labctl.plans.electrolyte.kind import check_config, electrolyte
from labctl.plans.electrolyte.options import OUTCOMES, ElectrolyteOptions
from labctl.plans.electrolyte.plan import electrolyte_experiment
from labctl.plans.electrolyte.reduce import reduce_run

__all__ = [
    "OUTCOMES",
    "ElectrolyteOptions",
    "check_config",
    "electrolyte",
    "electrolyte_experiment",
    "reduce_run",
]
