import { readFileSync } from "node:fs";
import { parseExtxyz, type Frame } from "../../src/io/extxyz.js";

export const readExtxyz = (path: string): Frame[] => parseExtxyz(readFileSync(path, "utf8"), { file: path });
