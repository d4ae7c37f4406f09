// The demo page: sign in, start a run, follow its hops from one EventSource as a sequence diagram.
// Every value from the stream (claims are attacker-controlled text) goes into the page as text
// nodes or attributes, never as markup.
'use strict';

const $ = (id) => document.getElementById(id);

/** An element with attributes and children; strings become text nodes. */
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'style') Object.assign(node.style, v);
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else node.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    node.append(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
  return node;
}

/** Trace names (trace.ts) to the diagram's columns. */
const COLUMN_OF = {
  user: 'user',
  backend: 'backend',
  'supply-chain-agent': 'sca',
  'auth-server': 'as',
  'person-server': 'as',
  'access-server': 'access',
  'market-analysis-agent': 'maa',
};

const state = { run: undefined, names: {}, columns: [], rows: new Map(), lastN: 0, list: undefined, events: undefined };

function columnsFor(run) {
  const cols = [
    { id: 'user', label: 'user' },
    { id: 'backend', label: 'backend' },
    { id: 'sca', label: 'supply-chain agent' },
    { id: 'as', label: run.protocol === 'draft-11' ? 'auth server (person server)' : 'auth server' },
  ];
  if (run.fourParty) cols.push({ id: 'access', label: 'access server' });
  cols.push({ id: 'maa', label: 'market-analysis agent' });
  return cols;
}

/** The x of a party's lifeline, in percent of the diagram's width. */
function xOf(name) {
  const i = state.columns.findIndex((c) => c.id === COLUMN_OF[name]);
  return i < 0 ? undefined : ((i + 0.5) * 100) / state.columns.length;
}

/** An origin (or a URL under one) as the service's name, like the terminal trace. */
function short(value) {
  if (typeof value !== 'string') return JSON.stringify(value);
  for (const [origin, name] of Object.entries(state.names)) {
    if (value === origin) return name;
    if (value.startsWith(`${origin}/`)) return name + value.slice(origin.length);
  }
  return value;
}

function actText(act) {
  if (typeof act !== 'object' || act === null) return JSON.stringify(act);
  const here = `${short(act.agent)}${act.sub !== undefined ? ` (for sub ${String(act.sub)})` : ''}`;
  return act.act !== undefined ? `${here} ← ${actText(act.act)}` : here;
}

function tokenKind(view, fallback) {
  const m = /^aa-(agent|person|resource|auth)\+jwt$/.exec(view.typ ?? '');
  return m ? `${m[1]} token (${view.typ})` : `${fallback}${view.typ ? ` (${view.typ})` : ''}`;
}

/** A token's kind, its shortened form, and the claims that matter. */
function tokenBox(label, view, fallback) {
  const c = view.claims ?? {};
  const claims = [];
  const claim = (name, text, cls) => claims.push(el('span', { class: `claim ${cls ?? ''}`, dataset: { claim: name }, title: text }, el('b', {}, `${name} `), text));
  if (c.iss !== undefined) claim('iss', short(c.iss));
  if (c.sub !== undefined) claim('sub', String(c.sub));
  if (c.agent !== undefined) claim('agent', short(c.agent));
  if (c.aud !== undefined) claim('aud', short(c.aud));
  if (c.scope !== undefined) claim('scope', String(c.scope));
  if (c.act !== undefined) claim('act', actText(c.act), 'act');
  if (c.ps !== undefined) claim('ps', short(c.ps));
  return el(
    'div',
    { class: 'token', dataset: { typ: view.typ ?? '', role: label } },
    el('span', { class: 'token-kind' }, `${label} ${tokenKind(view, fallback)}`),
    el('code', { class: 'token-short' }, view.token ?? ''),
    el('div', { class: 'claims' }, claims),
  );
}

function statusClass(status) {
  if (status === 202) return 's202';
  if (status === 401) return 's401';
  if (status >= 200 && status < 300) return 's2xx';
  return 'bad';
}

/** A full-width row whose arrow runs from `from`'s lifeline to `to`'s. */
function arrowRow(cls, from, to, label, data) {
  const x1 = xOf(from);
  const x2 = xOf(to);
  const li = el('li', { class: cls, dataset: data });
  if (x1 === undefined || x2 === undefined) {
    li.append(el('div', { class: 'row-label' }, `${from} → ${to}: `, label));
    state.list.append(li);
    return li;
  }
  const left = Math.min(x1, x2);
  li.append(
    el('div', { class: 'row-label', style: { marginLeft: `${left}%`, maxWidth: `${100 - left}%` } }, label),
    el('div', { class: 'line' }, el('div', { class: `arrow ${x2 >= x1 ? 'right' : 'left'}`, style: { left: `${left}%`, width: `${Math.abs(x2 - x1)}%` } })),
    // Under the caller's lifeline (a hop of the supply-chain agent under its column, not the backend's),
    // kept at least half the width for the token boxes.
    el('div', { class: 'details', style: { marginLeft: `${Math.min(left, 50)}%` } }),
  );
  state.list.append(li);
  li.scrollIntoView({ block: 'nearest' });
  return li;
}

function displayPath(path) {
  return path.replace(/\/pending\/([^/]{8})[^/]+$/, '/pending/$1…');
}

function onRequest(e) {
  const badge = el('span', { class: 'badge', dataset: { role: 'status' } }, '…');
  const label = [
    el('span', { class: 'n' }, String(e.n)),
    el('span', { class: 'method' }, e.method),
    ' ',
    el('span', { class: 'path', title: e.path }, displayPath(e.path)),
    el('span', { class: `scheme ${e.scheme ? '' : 'unsigned'}`, dataset: { role: 'scheme' } }, e.scheme ?? 'unsigned'),
    badge,
  ];
  const li = arrowRow('hop', e.from, e.to, label, { n: String(e.n), from: e.from, to: e.to, method: e.method, path: e.path, scheme: e.scheme ?? '', status: '' });
  const details = li.querySelector('.details') ?? li;
  if (e.asked) details.append(el('div', { class: 'muted' }, `asks with {${e.asked.join(', ')}}`));
  if (e.presented) details.append(tokenBox('presents', e.presented, 'auth token'));
  state.rows.set(e.n, { li, badge });
  state.lastN = e.n;
}

function onHop(e) {
  if (!state.rows.has(e.n)) onRequest(e);
  const { li, badge } = state.rows.get(e.n);
  const status = e.status || 0;
  li.dataset.status = String(status);
  li.classList.add(statusClass(status));
  badge.textContent = status ? String(status) : 'no answer';
  badge.className = `badge ${statusClass(status)}`;
  // Polls that find the request still pending (Keycloak profile: one a second while the person
  // decides) fold into the row of the first one: "202 ×N".
  const key = `${e.from} ${e.to} ${e.method} ${e.path} ${status}`;
  const previous = state.lastPoll;
  if (status === 202 && e.method === 'GET' && previous?.key === key && li.previousElementSibling === previous.li) {
    li.remove();
    previous.repeats += 1;
    previous.li.dataset.repeats = String(previous.repeats);
    previous.badge.textContent = `202 ×${previous.repeats}`;
    state.rows.set(e.n, previous);
    state.lastN = e.n;
    return;
  }
  state.lastPoll = status === 202 && e.method === 'GET' ? { key, li, badge, repeats: 1 } : undefined;
  let details = li.querySelector('.details') ?? li;
  // Other rows came in between (the callee called on, or the person approved while a held poll
  // waited): the answer comes back as its own arrow, below them, with what it carried.
  if (state.lastN !== e.n) {
    const reply = arrowRow('reply', e.to, e.from, [el('span', { class: 'n' }, String(e.n)), `← ${status || 'no answer'} (${e.to} answers ${e.from})`], { n: String(e.n), status: String(status) });
    details = reply.querySelector('.details') ?? reply;
  }
  const answer = [];
  if (e.challenge) answer.push(e.challenge.header === 'AAuth-Requirement' ? `AAuth-Requirement: requirement=${e.challenge.require}` : `AAuth: require=${e.challenge.require}`);
  if (e.interaction) answer.push(`interaction code ${e.interaction.code}`);
  if (e.error) answer.push(`${e.error.error}${e.error.description ? `: ${e.error.description}` : ''}`);
  if (answer.length > 0) {
    const text = `← ${status} ${answer.join(' · ')}`;
    // One line (the whole text on hover): a challenge's description is long.
    details.append(el('div', { class: `answer ${e.error && status !== 401 ? 'error' : ''}`, dataset: { role: 'answer' }, title: text }, text));
  }
  if (e.challenge?.resourceToken) details.append(tokenBox('gets', e.challenge.resourceToken, 'resource token'));
  if (e.issued) details.append(tokenBox('gets', e.issued, 'auth token'));
  state.lastN = e.n;
}

function onNote(e) {
  state.list.append(el('li', { class: 'note' }, el('div', { class: 'row-label' }, `${e.actor}: ${e.text}`)));
  state.lastN = e.n;
}

function reset(run) {
  state.run = run;
  state.names = {};
  state.columns = columnsFor(run);
  state.rows = new Map();
  state.lastN = 0;
  state.lastPoll = undefined;
  const diagram = $('diagram');
  diagram.replaceChildren();
  diagram.dataset.run = String(run.id);
  diagram.dataset.protocol = run.protocol;
  diagram.style.setProperty('--cols', String(state.columns.length));
  diagram.append(el('div', { class: 'heads' }, state.columns.map((c) => el('div', { class: 'head', dataset: { column: c.id } }, c.label))));
  state.columns.forEach((_c, i) => diagram.append(el('div', { class: 'lifeline', style: { left: `${((i + 0.5) * 100) / state.columns.length}%` } })));
  state.list = el('ol', {});
  diagram.append(state.list);
  $('result').replaceChildren(el('p', { class: 'muted' }, 'Running…'));
  $('result').dataset.state = 'running';
  $('refusal').hidden = true;
  $('refusal').replaceChildren();
  $('consent').hidden = true;
  // Starting again stops this run (say the consent tab was closed): the button stays on.
  $('start').disabled = false;
  $('start').textContent = 'Start again';
  setStatus(`Run ${run.id}: ${run.protocol === 'draft-11' ? `AAuth -11${run.fourParty ? ', four-party' : ''}` : 'Keycloak profile'}, for ${run.user}…`);
}

function setStatus(text) {
  $('status').textContent = text;
}

function onInteraction({ url, code }) {
  if (!/^https?:\/\//.test(url)) return;
  $('consent-code').textContent = code;
  const link = $('consent-link');
  link.href = url;
  $('consent').dataset.code = code;
  $('consent').hidden = false;
  arrowRow('step', 'backend', 'user', `asks you to approve at the auth server (code ${code})`, { step: 'interaction', code });
  state.lastN = 0;
  setStatus('Waiting for your consent at the auth server…');
}

function onDecision({ decision, username }) {
  $('consent').hidden = true;
  const who = username ?? 'you';
  arrowRow('step', 'user', 'auth-server', `${who} signs in and ${decision === 'approve' ? 'approves' : 'denies'}`, { step: 'decision', decision });
  // A poll already held at the server (-11 long poll) is answered after this: its answer goes below.
  state.lastN = 0;
  setStatus(decision === 'approve' ? 'Approved: the flow goes on…' : 'Denied.');
}

function dl(pairs) {
  return el('dl', {}, pairs.filter(([, v]) => v !== undefined && v !== null).flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
}

/** Who was who in this run: each service's identity (they listen on fresh loopback ports each run). */
function servicesOf(r) {
  const services = Object.entries(r.services ?? {});
  if (services.length === 0) return '';
  return el('details', { id: 'services' }, el('summary', {}, 'Services of this run'), dl(services.map(([name, s]) => [name, String(s.identity)])));
}

function onResult(r) {
  $('start').disabled = false;
  $('start').textContent = 'Start the optimisation';
  $('consent').hidden = true;
  const result = $('result');
  if (r.ok) {
    result.dataset.state = 'ok';
    const saw = r.maaSaw ?? {};
    result.replaceChildren(
      el('p', { class: 'success' }, `Done in ${r.seconds} s: the backend got the plan.`),
      el('h3', {}, 'Order plan'),
      el(
        'table',
        { id: 'plan' },
        el('thead', {}, el('tr', {}, el('th', {}, 'SKU'), el('th', { class: 'num' }, 'on hand'), el('th', { class: 'num' }, 'weekly demand'), el('th', { class: 'num' }, 'order'))),
        el(
          'tbody',
          {},
          (Array.isArray(r.plan) ? r.plan : []).map((p) =>
            el('tr', { dataset: { sku: String(p.sku) } }, el('td', {}, String(p.sku)), el('td', { class: 'num' }, String(p.onHand)), el('td', { class: 'num' }, String(p.weeklyDemand)), el('td', { class: 'num' }, String(p.order))),
          ),
        ),
      ),
      el('h3', {}, 'What the market-analysis agent verified'),
      el(
        'div',
        { id: 'maa-saw' },
        dl([
          ['user (sub)', saw.sub],
          ['calling agent', saw.agent === undefined ? undefined : short(saw.agent)],
          ['on behalf of (act)', saw.act === undefined ? undefined : actText(saw.act)],
          ['scope', Array.isArray(saw.scope) ? saw.scope.join(' ') : undefined],
          ['signed with', saw.scheme],
          ['token issuer', saw.issuer === undefined ? undefined : short(saw.issuer)],
          ['person server (ps)', saw.ps === undefined ? undefined : short(saw.ps)],
          ['access mode', saw.accessMode],
        ]),
      ),
    );
    result.append(servicesOf(r));
    setStatus(`Run ${state.run?.id ?? ''} done in ${r.seconds} s.`);
    return;
  }
  const f = r.failure ?? {};
  const hop = f.hop;
  // A run stopped (the demo shutting down, or another run started) was not refused by any party;
  // nor was one that failed before any party answered (say a service could not listen): the demo failed.
  const stopped = f.code === 'stopped';
  const failed = !stopped && !hop && !f.code;
  const outcome = stopped ? 'stopped' : failed ? 'failed' : 'refused';
  result.dataset.state = outcome;
  const summary = { stopped: 'No plan: the run was stopped before it finished.', failed: 'No plan: the demo could not run the flow.', refused: 'No plan: the flow was refused.' };
  result.replaceChildren(el('p', { class: 'muted' }, summary[outcome]), servicesOf(r));
  if (hop && state.rows.has(hop.n)) state.rows.get(hop.n).li.classList.add('failed');
  const refusal = $('refusal');
  const parts = [
    el('h3', {}, { stopped: 'Stopped', failed: 'Failed', refused: 'Refused' }[outcome]),
    hop ? el('p', { id: 'refusal-hop' }, `At hop ${hop.n}: ${hop.from} → ${hop.to} ${hop.method} ${displayPath(hop.path)}`) : null,
    hop ? el('p', { id: 'refusal-code' }, el('strong', {}, `${hop.status || 'no answer'} ${hop.error?.error ?? ''}`), hop.error?.description ? `: ${hop.error.description}` : '') : null,
    f.code ? el('p', { class: 'muted' }, `code ${f.code}`) : null,
    // Without a hop, the reason is what happened: before what it means.
    hop ? null : el('p', { id: 'refusal-reason' }, f.reason ?? ''),
    el('p', { id: 'refusal-meaning' }, f.meaning ?? ''),
  ];
  refusal.replaceChildren(...parts.filter((p) => p !== null));
  refusal.hidden = false;
  setStatus(`Run ${state.run?.id ?? ''} ${outcome}.`);
}

function listen() {
  state.events?.close();
  const events = new EventSource('/api/events');
  state.events = events;
  const on = (type, fn) => events.addEventListener(type, (m) => fn(JSON.parse(m.data)));
  on('run', reset);
  on('names', (names) => (state.names = names));
  on('entry', (e) => {
    if (!state.list) return;
    if (e.kind === 'request') onRequest(e);
    else if (e.kind === 'hop') onHop(e);
    else onNote(e);
  });
  on('interaction', onInteraction);
  on('decision', onDecision);
  on('result', onResult);
  events.addEventListener('open', () => {
    if ($('status').textContent.startsWith('The demo does not answer')) setStatus('Connected to the demo again.');
  });
  // EventSource reconnects by itself; a refusal (the session ended, the demo restarted) closes it for good.
  events.addEventListener('error', async () => {
    if (events.readyState === EventSource.CONNECTING) {
      // The demo went away (Ctrl-C) or restarts: say so while EventSource retries by itself.
      setStatus('The demo does not answer (stopped?): this page reconnects when it is back.');
      return;
    }
    if (events.readyState !== EventSource.CLOSED) return;
    const session = await fetch('/api/session', { credentials: 'same-origin' }).catch(() => undefined);
    const data = session?.ok ? await session.json().catch(() => undefined) : undefined;
    if (data !== undefined && data.user === null) showLogin();
    else setStatus('Lost the connection to the demo: reload the page.');
  });
}

function showApp(user, defaults) {
  $('login-view').hidden = true;
  $('app-view').hidden = false;
  $('who').hidden = false;
  $('user').textContent = `${user.name || user.username} (${user.username})`;
  if (defaults) $('protocol').value = defaults.protocol === 'draft-11' ? (defaults.fourParty ? 'draft-11-four-party' : 'draft-11') : 'keycloak';
  listen();
}

function showLogin() {
  state.events?.close();
  $('login-view').hidden = false;
  $('app-view').hidden = true;
  $('who').hidden = true;
}

async function api(path, body) {
  const res = await fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body ?? {}), credentials: 'same-origin' });
  const data = res.status === 204 ? {} : await res.json().catch(() => ({}));
  return { ok: res.ok, status: res.status, data };
}

async function main() {
  let defaults;
  const session = await fetch('/api/session', { credentials: 'same-origin' });
  const data = await session.json().catch(() => ({}));
  defaults = data.defaults;
  if (session.ok && data.user) showApp(data.user, defaults);
  else showLogin();

  $('login-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const r = await api('/api/login', { username: $('username').value, password: $('password').value });
    if (!r.ok) {
      $('login-error').textContent = r.data.message ?? 'Sign-in failed.';
      $('login-error').hidden = false;
      return;
    }
    $('login-error').hidden = true;
    $('password').value = '';
    showApp(r.data.user, defaults);
  });
  $('logout').addEventListener('click', async () => {
    await api('/api/logout');
    showLogin();
  });
  $('start').addEventListener('click', async () => {
    const choice = $('protocol').value;
    $('start').disabled = true;
    setStatus('Starting the services…');
    const r = await api('/api/runs', { protocol: choice === 'keycloak' ? 'keycloak' : 'draft-11', fourParty: choice === 'draft-11-four-party' });
    if (!r.ok) {
      $('start').disabled = false;
      if (r.status === 401) showLogin();
      setStatus(r.data.message ?? `The run did not start (${r.status}).`);
    }
  });
}

main();
