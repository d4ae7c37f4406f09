// The figure registry: id, title, goal, and a run() returning report sections.
import { comparisonTable } from '../lib/report.mjs';
import { peersFigure, signFigure } from './sign-verify.mjs';

const n = (quick, full) => (quick ? Math.max(5, Math.floor(full / 500)) : full);

export const FIGURES = [
  {
    id: 'sign',
    title: '3. Sign',
    goal: { op: '>=', value: 0.7, label: 'ratio >= 0.70' },
    async run({ quick }) {
      const cmp = await signFigure({ iterations: n(quick, 20000), rounds: quick ? 2 : 7 });
      const s = cmp.subjects['core signRequest'];
      return {
        description:
          'A POST with a JSON body and a query, signed with the wire profile (jwks_uri Signature-Key, content-digest, nonce): ' +
          '`signRequest` from @aauth-kit/core, against raw node:crypto Ed25519 signs of the same signature base.',
        goalValue: s.ratio,
        headline: `signing costs ${s.ratio.toFixed(2)}x of a raw Ed25519 sign`,
        sections: [{ table: comparisonTable(cmp, { baselineName: 'node:crypto sign of the same base' }) }],
      };
    },
  },
  {
    id: 'peers',
    title: '4. Peers, same requests',
    goal: { op: '>=', value: 1, label: 'ahead of both peers (speed-up >= 1)' },
    async run({ quick }) {
      const { sign, verify } = await peersFigure({ iterations: n(quick, 4000), rounds: quick ? 2 : 7 });
      const speedups = [
        ...Object.entries(sign.subjects).map(([name, s]) => ({ op: 'sign', name, x: 1 / s.ratio })),
        ...Object.entries(verify.subjects)
          .filter(([name]) => !name.startsWith('aauth-kit'))
          .map(([name, s]) => ({ op: 'verify', name, x: 1 / s.ratio })),
      ];
      const worst = Math.min(...speedups.map((s) => s.x));
      return {
        description:
          'The same POST (JSON body, content-digest) signed and verified by the kit and by two peers: ' +
          '(a) http-message-signatures with @noble/ed25519 used the obvious way (signMessage / verifyMessage, async noble), ' +
          "(b) @hellocoop/httpsig 2.2.0 (fetch dryRun to sign; verify() of its own hwk-signed request, which the kit verifies too). " +
          'Here the baseline is the kit, so a ratio below 1 means the peer is slower; the speed-up is its inverse.',
        goalValue: worst,
        headline: speedups.map((s) => `${s.x.toFixed(1)}x faster than ${s.name} (${s.op})`).join('; '),
        sections: [
          { heading: 'Sign', table: comparisonTable(sign, { baselineName: 'aauth-kit signRequest' }) },
          { heading: 'Verify', table: comparisonTable(verify, { baselineName: 'aauth-kit parse + verify (hellocoop-signed request)' }) },
        ],
      };
    },
  },
];
