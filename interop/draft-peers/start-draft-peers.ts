import { join } from 'node:path';
import { freePort } from '../../test/fixtures/http.js';
import { createLocalTls, loopbackFetch, pythonTlsEnv, type LocalTls, type LoopbackFetch } from '../fixtures/local-tls.js';
import { repoRoot, venvPython } from '../fixtures/paths.js';
import { startPeer, type PeerProcess } from '../fixtures/peer-process.js';

/** Where each draft peer answers (its identifier is `https://` + the name, no port). */
export const DRAFT_NAMES = {
  /** aauth 0.5.0: the agent provider, its agent and the test's /_test/call handle. */
  agent: 'agent.localhost',
  /** aauth 0.5.0: the resource (same process as `agent`). */
  resource: 'resource.localhost',
  /** regent-httpsig 0.7.3: a verifying resource. */
  regent: 'regent.localhost',
  /** introspection-aauth 0.1.0: the person server. */
  ps: 'ps.localhost',
  /** introspection-aauth 0.1.0: the access server (same process as `ps`). */
  as: 'as.localhost',
} as const;

export type DraftPeerName = 'aauth' | 'regent' | 'introspection';

export interface DraftPeers {
  tls: LocalTls;
  /** Every mapped name -> its 127.0.0.1 port: the peers' names and `extraNames`. */
  hosts: Record<string, number>;
  /** A fetch that reaches every mapped name over TLS (and nothing else). */
  fetch: LoopbackFetch;
  peers: Partial<Record<DraftPeerName, PeerProcess>>;
  /** Stop every peer (by PID) and remove the TLS files. */
  stop(): Promise<void>;
}

export interface StartDraftPeersOptions {
  /** Which peers to start (default all three). */
  only?: readonly DraftPeerName[] | undefined;
  /**
   * More loopback names (the kit's own servers in a test, e.g. `kit.localhost`): each gets a free
   * port in `hosts` and a place in the certificate, and the peers can reach it. Serve it with
   * local-tls.ts's `listenHttps(handler, tls, hosts[name])`.
   */
  extraNames?: readonly string[] | undefined;
  /**
   * More environment for every peer process, e.g. `AAUTH_EXTRA_AGENT_PROVIDERS` (a JSON list of
   * agent providers introspection_app.py trusts besides `https://agent.localhost`).
   */
  env?: Readonly<Record<string, string>> | undefined;
}

const SCRIPTS: Record<DraftPeerName, { script: string; serves: string[]; ready: string }> = {
  aauth: {
    script: 'aauth_app.py',
    serves: [DRAFT_NAMES.agent, DRAFT_NAMES.resource],
    ready: `https://${DRAFT_NAMES.agent}/.well-known/aauth-agent.json`,
  },
  regent: { script: 'regent_app.py', serves: [DRAFT_NAMES.regent], ready: `https://${DRAFT_NAMES.regent}/protected` },
  introspection: {
    script: 'introspection_app.py',
    serves: [DRAFT_NAMES.ps, DRAFT_NAMES.as],
    ready: `https://${DRAFT_NAMES.ps}/.well-known/aauth-person.json`,
  },
};

/**
 * Start the current-draft peers (interop/draft-peers/*_app.py in .interop-cache/venv-draft-peers)
 * on 127.0.0.1, one process per library, with a fresh local CA; resolves once each answers.
 * On any failure, whatever started is stopped before the error is thrown.
 */
export async function startDraftPeers(options: StartDraftPeersOptions = {}): Promise<DraftPeers> {
  const which = options.only ?? (['aauth', 'regent', 'introspection'] as const);
  const python = venvPython('draft-peers');
  const hosts: Record<string, number> = {};
  // One port per process; the names a process serves share it (it answers by Host header).
  for (const name of Object.keys(SCRIPTS) as DraftPeerName[]) {
    const port = await freePort();
    for (const served of SCRIPTS[name].serves) hosts[served] = port;
  }
  for (const extra of options.extraNames ?? []) hosts[extra] = await freePort();
  const tls = createLocalTls(Object.keys(hosts));
  const fetch = loopbackFetch(hosts, tls.ca);
  const env = { ...pythonTlsEnv(tls, hosts), PYTHONDONTWRITEBYTECODE: '1', PYTHONUNBUFFERED: '1', ...options.env };
  const cwd = join(repoRoot, 'interop', 'draft-peers');

  const started = await Promise.allSettled(
    which.map((name) =>
      startPeer({
        name: `draft-${name}`,
        command: python,
        args: [SCRIPTS[name].script],
        cwd,
        env,
        readyUrl: SCRIPTS[name].ready,
        fetch,
        timeoutMs: 30_000,
      }).then((p) => [name, p] as const),
    ),
  );
  const peers: Partial<Record<DraftPeerName, PeerProcess>> = {};
  for (const s of started) if (s.status === 'fulfilled') peers[s.value[0]] = s.value[1];
  const stop = async (): Promise<void> => {
    await Promise.all(Object.values(peers).map((p) => p.stop()));
    tls.cleanup();
  };
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) {
    await stop();
    throw failed.reason;
  }
  return { tls, hosts, fetch, peers, stop };
}
