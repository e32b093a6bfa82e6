/**
 * External engines as Calculators, driven through execa: the only part of `calculators/` that
 * spawns processes.
 *
 * - `lammps(options)`: LAMMPS (`lmp`, units metal), one `run 0` process per call.
 * - `aseCalculator(name, options)`: any ASE calculator ("ase:EMT", "ase:package.module.Class") in a
 *   long-lived Python child speaking JSON lines (`ase_bridge.py`).
 *
 * Both hold resources (a temporary folder, a child process): call `close()` when done.
 *
 * - `gpaw(options)`: GPAW (plane waves, PBE) as a PropertyProvider (band gap, bulk modulus,
 *   density), one Python child (`gpaw_worker.py`) per evaluation.
 */
export * from "./lammps.js";
export * from "./ase-bridge.js";
export * from "./gpaw.js";
// Quantum ESPRESSO (pw.x) as a PropertyProvider (band gap, bulk modulus, density), one scratch
// folder per pw.x run; and its PBE pseudopotential set (Debian UPFs + ld1.x-generated ones).
export * from "./espresso.js";
export * from "./pseudopotentials.js";
