import type { MissionProposal } from '../types.js';
import { serverIdentifierProblem } from './wire-11.js';

// `agent.proposeMission`'s argument, checked before anything is sent (AAuth -11 "Mission
// Creation"): a Markdown `description`, optional `tools` ({name, description}) and `resources`
// (server identifiers). Misuse is a TypeError naming the member.

const MEMBERS = new Set(['description', 'tools', 'resources']);

/** The proposal as the JSON body the person server receives. */
export function checkProposal(proposal: MissionProposal, allowLoopback: boolean): Record<string, unknown> {
  if (typeof proposal !== 'object' || proposal === null) throw new TypeError('proposal must be an object ({ description, tools?, resources? })');
  for (const k of Object.keys(proposal)) if (!MEMBERS.has(k)) throw new TypeError(`proposal.${k} is not a member of a mission proposal (description, tools, resources)`);
  const { description, tools, resources } = proposal;
  if (typeof description !== 'string' || description.trim().length === 0) throw new TypeError('proposal.description must be a non-empty Markdown string');
  const body: Record<string, unknown> = { description };
  if (tools !== undefined) {
    if (!Array.isArray(tools)) throw new TypeError('proposal.tools must be an array of { name, description }');
    tools.forEach((tool, i) => {
      if (typeof tool !== 'object' || tool === null || typeof tool.name !== 'string' || tool.name.length === 0 || typeof tool.description !== 'string') {
        throw new TypeError(`proposal.tools[${i}] must be { name, description } (strings)`);
      }
    });
    body.tools = tools.map(({ name, description: d }) => ({ name, description: d }));
  }
  if (resources !== undefined) {
    if (!Array.isArray(resources)) throw new TypeError('proposal.resources must be an array of resource identifiers');
    resources.forEach((resource, i) => {
      const problem = typeof resource === 'string' ? serverIdentifierProblem(resource, allowLoopback) : 'must be a string';
      if (problem) throw new TypeError(`proposal.resources[${i}] ${problem} (got ${JSON.stringify(resource)})`);
    });
    body.resources = [...resources];
  }
  return body;
}
