/**
 * External engines as Calculators, driven through execa: the only part of `calculators/` that
 * spawns processes.
 *
 * - `lammps(options)`: LAMMPS (`lmp`, units metal), one `run 0` process per call.
 * - `aseCalculator(name, options)`: any ASE calculator ("ase:EMT", "ase:package.module.Class") in a
 *   long-lived Python child speaking JSON lines (`ase_bridge.py`).
 *
 * Both hold resources (a temporary folder, a child process): call `close()` when done.
 */
export * from "./lammps.js";
export * from "./ase-bridge.js";
