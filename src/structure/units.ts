/** Unit conversions used at the boundaries (QE works in Rydberg and Bohr; tables show GPa and g/cm³). */

/** CODATA 2018 values, as scipy.constants (and so pymatgen) use them. */
export const AMU_G = 1.6605390666e-24;
export const ANGSTROM3_CM3 = 1e-24;
/** g/cm³ per amu/Å³. */
export const AMU_PER_A3_TO_G_PER_CM3 = AMU_G / ANGSTROM3_CM3;
export const BOHR_A = 0.529177210903;
export const RY_EV = 13.605693122994;
export const HARTREE_EV = 2 * RY_EV;
/** GPa per eV/Å³. */
export const EV_PER_A3_TO_GPA = 160.21766208;
export const DEG = Math.PI / 180;
