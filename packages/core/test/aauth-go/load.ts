import { readFileSync } from 'node:fs';

/**
 * Read one of the Go reference vector files copied into ../vectors/aauth-go/ (PROVENANCE.md there
 * says where from, and where they lag the published -11 text).
 */
export function loadVectors<C>(name: string): { description: string; spec: string; kind: string; cases: C[] } {
  return JSON.parse(readFileSync(new URL(`../vectors/aauth-go/${name}`, import.meta.url), 'utf8'));
}
