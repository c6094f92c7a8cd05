"""The electrochemistry model both potentiostat twins (and the droplet-cell twin) answer from.

Pure physics (numpy only, no I/O). Modules, one job each:

* :mod:`.response` — :func:`~.response.respond` (technique → arrays) and
  :func:`~.response.cell_state` (a world measurement cell → :class:`~.state.CellState`).
* :mod:`.state` — the parameters (:class:`~.state.CellState`) and the electrode's memory
  (:class:`~.state.ElectrodeState`).
* :mod:`.impedance` — the Randles cell with a semi-infinite Warburg element (EIS).
* :mod:`.voltammetry` — potentiostatic runs (CA, LSV, CV): redox probe by convolution, capacitive,
  decomposition and metal currents, iR drop.
* :mod:`.plating` — galvanostatic runs (CP, pulse trains, plate/strip, OCV): metal plating and
  stripping with Butler–Volmer kinetics, double-layer filtering and salt transport.
* :mod:`.diffusion` — the exact modal Nernst-layer diffusion solver, Sand's time.
* :mod:`.decomposition` — electrolyte oxidation (SURROGATE), substrate oxidation, side reactions.
* :mod:`.dendrite` — SURROGATE dendrite index, Coulombic efficiency, short circuit.
"""

from labctl.simulators.electrochem.response import cell_state, respond
from labctl.simulators.electrochem.state import CellState, ElectrodeState

__all__ = ["CellState", "ElectrodeState", "cell_state", "respond"]
