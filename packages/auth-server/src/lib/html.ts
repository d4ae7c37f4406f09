import type { ConsentDetails, PartyView } from './consent-details.js';
import { plainDuration } from './consent-details.js';

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escape text for HTML element content and quoted attribute values. */
export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

const STYLE = `
body{font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:#eef1f5;color:#1d2330;margin:0}
main{max-width:36rem;margin:2.5rem auto;background:#fff;border-radius:12px;padding:2rem 2.25rem;box-shadow:0 2px 12px rgba(20,30,50,.12)}
h1{font-size:1.35rem;line-height:1.3;margin:0 0 .75rem;overflow-wrap:anywhere}
h2{font-size:.78rem;text-transform:uppercase;letter-spacing:.06em;color:#5b6273;margin:1.3rem 0 .45rem}
p{margin:.5rem 0}
.signed-in{color:#3b4252;margin:0 0 1rem}
.parties{display:flex;flex-direction:column;gap:.5rem;margin:1rem 0}
.party{display:flex;align-items:center;gap:.8rem;padding:.6rem .8rem;border:1px solid #e1e5ec;border-radius:10px;min-width:0}
.logo{flex:none;width:44px;height:44px;border-radius:10px;object-fit:contain;background:#f4f5f7}
.initial{display:flex;align-items:center;justify-content:center;font-weight:700;font-size:1.25rem;color:#fff;background:#1f5fbf}
.resource .initial{background:#2f7d55}
.who{min-width:0}
.role{font-size:.72rem;text-transform:uppercase;letter-spacing:.06em;color:#6b7280}
.name{font-weight:600;overflow-wrap:anywhere}
.url{font:.8rem/1.35 ui-monospace,SFMono-Regular,Menlo,monospace;color:#5b6273;overflow-wrap:anywhere}
.scopes{list-style:none;margin:0;padding:0}
.scopes li{padding:.45rem .75rem;border-left:3px solid #1f5fbf;background:#f6f8fb;border-radius:0 6px 6px 0;margin:.35rem 0}
.scope-text{display:block}
.scope-id{font:.8rem ui-monospace,SFMono-Regular,Menlo,monospace;color:#5b6273;overflow-wrap:anywhere}
.notice{margin:1.1rem 0 0;padding:.7rem .9rem;background:#fff8e6;border:1px solid #efd48c;border-radius:8px}
ol{margin:0;padding-left:1.3rem}
ol li{overflow-wrap:anywhere}
label{display:block;margin:.7rem 0 .2rem;font-weight:600}
form label:first-of-type{margin-top:1.4rem}
input[type=text],input[type=password]{width:100%;box-sizing:border-box;padding:.55rem;font-size:1rem;border:1px solid #b7bcc7;border-radius:6px}
.buttons{display:flex;gap:.75rem;margin-top:1.4rem}
button{padding:.6rem 1.4rem;border-radius:6px;border:1px solid #1f5fbf;background:#1f5fbf;color:#fff;font-size:1rem;cursor:pointer}
button.deny{background:#fff;color:#a12b2b;border-color:#a12b2b}
.error{color:#a12b2b;font-weight:600}
.note{color:#5b6273;font-size:.85rem;margin-top:1rem}
.agent-says{margin:1rem 0 0;padding:.6rem .9rem;border:1px dashed #9aa3b2;border-radius:8px;background:#fafafa}
.agent-says .said-by{margin:0 0 .3rem;font-size:.85rem;color:#5b6273}
.agent-says blockquote{margin:0;font-style:italic;white-space:pre-wrap;overflow-wrap:anywhere}
.asked{margin:.8rem 0 0;white-space:pre-wrap;overflow-wrap:anywhere}
textarea{width:100%;box-sizing:border-box;padding:.55rem;font:1rem system-ui,sans-serif;border:1px solid #b7bcc7;border-radius:6px;min-height:4.5rem}
button.ask{background:#fff;color:#1f5fbf}
`;

/** A complete page. */
export function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body><main>
${body}
</main></body>
</html>
`;
}

/** How a party is named in sentences: its metadata name, else its identity URL. */
function label(party: PartyView): string {
  if (party.name !== undefined) return party.name;
  return party.pseudonymous ? 'An unidentified agent' : party.id;
}

function avatar(party: PartyView): string {
  if (party.logo !== undefined) {
    return `<img class="logo" src="${escapeHtml(party.logo.href)}" alt="" width="44" height="44" referrerpolicy="no-referrer">`;
  }
  const first = party.name === undefined ? undefined : Array.from(party.name).find((c) => /[\p{L}\p{N}]/u.test(c));
  return `<span class="logo initial" aria-hidden="true">${escapeHtml(first?.toUpperCase() ?? '?')}</span>`;
}

function partyBlock(party: PartyView, role: string, id: 'agent' | 'resource'): string {
  const url = party.pseudonymous ? `key ${party.id.slice('pseudonymous:'.length)} (no published identity)` : party.id;
  const name = party.name ?? (party.pseudonymous ? 'Unidentified agent' : party.id);
  return `<div class="party ${id}" id="${id}">${avatar(party)}<div class="who"><div class="role">${role}</div>
<div class="name" id="${id}-name">${escapeHtml(name)}</div>${name === url ? '' : `<div class="url" id="${id}-url">${escapeHtml(url)}</div>`}</div></div>`;
}

function scopeList(details: ConsentDetails): string {
  const items = details.scopes.map(({ scope, text }) =>
    text === undefined
      ? `<li><code class="scope-id">${escapeHtml(scope)}</code></li>`
      : `<li><span class="scope-text">${escapeHtml(text)}</span><code class="scope-id">${escapeHtml(scope)}</code></li>`,
  );
  return `<ul id="scopes" class="scopes">${items.join('')}</ul>`;
}

function actList(details: ConsentDetails): string {
  if (details.act.length === 0) return '';
  const items = details.act.map((a) => `<li>${escapeHtml(a.agent)}${a.sub !== undefined ? ` (for ${escapeHtml(a.sub)})` : ''}</li>`);
  return `<h2>Asked for along a chain</h2>
<p>The agent asks on behalf of these agents, nearest first:</p>
<ol id="act">${items.join('')}</ol>`;
}

/** "Access lasts 5 minutes. ... can renew it ...": how long the grant lasts, in plain words. */
export function durationSentence(details: ConsentDetails): string {
  const lifetime = plainDuration(details.lifetime);
  if (details.draft11 !== undefined) {
    // -11: no refresh; the person server remembers the approval and issues new tokens without asking.
    return (
      `Each token ${escapeHtml(label(details.agent))} gets lasts at most <strong>${escapeHtml(lifetime)}</strong>.` +
      ' This approval is remembered: it can get new ones without asking you again.'
    );
  }
  let text = `Access lasts <strong>${escapeHtml(lifetime)}</strong>.`;
  if (details.refreshWindow > 0) {
    text +=
      ` ${escapeHtml(label(details.agent))} can renew it without asking you again, ${escapeHtml(lifetime)} at a time, for as long as` +
      ` it keeps renewing (each time within ${escapeHtml(plainDuration(details.refreshWindow))} after it runs out).`;
  } else {
    text += ' After that the agent must ask again.';
  }
  return text;
}

/** The plain sentence saying that the access can be passed on to further agents, or '' when it cannot. */
export function chainingSentence(details: ConsentDetails, user: string | undefined): string {
  const chaining = details.chaining;
  if (chaining === undefined) return '';
  const as = user === undefined ? 'as you' : `as ${escapeHtml(user)}`;
  if (details.draft11 !== undefined) {
    // -11 call chaining (upstream_token): every further step comes back to this server, which asks
    // the person again for what needs consent.
    return (
      `<div class="notice" id="chaining" role="note">This also lets <strong>${escapeHtml(label(details.resource))}</strong>, when it acts as an agent,` +
      ` call other services on your behalf, ${as}, while this access lasts; for permissions that need your consent you are asked again.</div>`
    );
  }
  const further = `through a chain of up to ${chaining.hops} more agent${chaining.hops === 1 ? '' : 's'}`;
  const parts: string[] = [];
  if (chaining.byResource) {
    parts.push(
      `This also lets <strong>${escapeHtml(label(details.resource))}</strong> call other agents and services on your behalf, ${as},` +
        ` with the permissions above or fewer (${further}).`,
    );
  }
  if (chaining.clients.length > 0) {
    const names = chaining.clients.map((c) => `<strong>${escapeHtml(c)}</strong>`).join(', ');
    const plural = chaining.clients.length === 1 ? '' : 's';
    const lead = chaining.byResource ? `The realm client${plural} ${names} may also` : `This also lets the realm client${plural} ${names}`;
    parts.push(`${lead} exchange it for access to other services on your behalf, ${as}, with the permissions above or fewer.`);
  }
  return `<div class="notice" id="chaining" role="note">${parts.join(' ')}</div>`;
}

/**
 * The agent's `justification`, attributed to it and set apart from what the resource and this server
 * say (AAuth -11, consent presentation: agent-asserted content is distinguished and attributed).
 * Plain text (see `justificationText`), escaped; line breaks shown by CSS, never as markup.
 */
export function justificationBlock(details: ConsentDetails): string {
  const text = details.draft11?.justification;
  if (text === undefined) return '';
  return `<h2>Why, in the agent's words</h2>
<div class="agent-says" id="justification" role="note"><p class="said-by">The agent says (its own claim, not checked by this server):</p><blockquote id="justification-text">${escapeHtml(text)}</blockquote></div>`;
}

/** A question the person asked the agent on this page, and its answer (AAuth -11 "Clarification Chat"). */
export interface ChatTurn {
  question: string;
  answer?: string | undefined;
  /** The agent answered by updating its request (AAuth -11 "Updated Request"): the scope it asks for now. */
  updatedScope?: string | undefined;
}

/**
 * The person's questions and the agent's answers, oldest first: the answers are the agent's own
 * words (untrusted, shown as plain text and attributed), the open question says it waits.
 */
function chatBlock(chat: readonly ChatTurn[]): string {
  if (chat.length === 0) return '';
  const turns = chat.map((turn, i) => {
    const said = (text: string): string => `<p class="said-by">The agent answers (its own words, not checked by this server):</p><blockquote id="chat-answer-${i + 1}">${escapeHtml(text)}</blockquote>`;
    const answer =
      turn.answer === undefined
        ? `<p class="note" id="chat-waiting">Waiting for the agent's answer. Reload this page to see it.</p>`
        : turn.updatedScope !== undefined
          ? `<div class="agent-says"><p class="said-by" id="chat-update-${i + 1}">The agent changed its request: it now asks for ${escapeHtml(turn.updatedScope || 'no scopes')} (shown above; decide on this request).</p>${turn.answer === '' ? '' : said(turn.answer)}</div>`
          : `<div class="agent-says">${said(turn.answer)}</div>`;
    return `<p class="asked"><strong>You asked:</strong> <span id="chat-question-${i + 1}">${escapeHtml(turn.question)}</span></p>\n${answer}`;
  });
  return `<h2>Your questions to the agent</h2>\n<div id="chat">${turns.join('\n')}</div>`;
}

/** The form to ask the agent a question before deciding. */
function askForm(action: string, fields: Record<string, string>, maxLength: number): string {
  return `<form method="post" action="${escapeHtml(action)}" id="ask-form">
${hidden(fields)}
<label for="question">Not sure? Ask the agent a question before you decide</label>
<textarea id="question" name="question" maxlength="${maxLength}" required></textarea>
<div class="buttons"><button type="submit" name="decision" value="ask" id="ask" class="ask">Ask the agent</button></div>
</form>`;
}

function hidden(fields: Record<string, string>): string {
  return Object.entries(fields)
    .map(([name, value]) => `<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}">`)
    .join('\n');
}

/** What both interaction pages need. */
export interface FormPageOptions {
  realmName: string;
  /** The short code the agent showed the user. */
  code: string;
  details: ConsentDetails;
  action: string;
  fields: Record<string, string>;
}

/** Step 1: log in with a realm user. */
export function loginPage(options: FormPageOptions & { error?: string }): string {
  const { details } = options;
  return page(
    `Sign in to ${options.realmName}`,
    `<h1>Sign in to ${escapeHtml(options.realmName)}</h1>
<p><strong>${escapeHtml(label(details.agent))}</strong> asks to use <strong>${escapeHtml(label(details.resource))}</strong> on your behalf. Sign in to review the request.</p>
<div class="parties">${partyBlock(details.agent, 'Agent', 'agent')}${partyBlock(details.resource, 'Service', 'resource')}</div>
<h2>What it asks for</h2>
${scopeList(details)}
${actList(details)}
${options.error ? `<p class="error" id="error" role="alert">${escapeHtml(options.error)}</p>` : ''}
<form method="post" action="${escapeHtml(options.action)}">
${hidden(options.fields)}
<label for="username">User name</label>
<input type="text" id="username" name="username" autocomplete="username" required autofocus>
<label for="password">Password</label>
<input type="password" id="password" name="password" autocomplete="current-password" required>
<div class="buttons"><button type="submit" id="login">Sign in</button></div>
</form>
<p class="note">Code ${escapeHtml(options.code)}: check that the agent showed you the same code.</p>`,
  );
}

/** Step 2: approve or deny. */
export function consentPage(
  options: FormPageOptions & { user: { name: string; username: string }; callbackHost?: string; chat?: readonly ChatTurn[]; ask?: { maxLength: number } | undefined },
): string {
  const { details, user } = options;
  const who = user.name === user.username ? '' : ` <span id="user-login">(${escapeHtml(user.username)})</span>`;
  return page(
    'Approve access',
    `<p class="signed-in">Signed in as <strong id="user">${escapeHtml(user.name)}</strong>${who}</p>
<h1>Allow ${escapeHtml(label(details.agent))} to use ${escapeHtml(label(details.resource))} on your behalf?</h1>
<div class="parties">${partyBlock(details.agent, 'Agent', 'agent')}${partyBlock(details.resource, 'Service', 'resource')}</div>
<h2>What it may do</h2>
${scopeList(details)}
${justificationBlock(details)}
<h2>For how long</h2>
<p id="duration">${durationSentence(details)}</p>
${chainingSentence(details, user.name)}
${actList(details)}
${chatBlock(options.chat ?? [])}
${options.ask === undefined ? '' : askForm(options.action, options.fields, options.ask.maxLength)}
<form method="post" action="${escapeHtml(options.action)}">
${hidden(options.fields)}
<div class="buttons">
<button type="submit" name="decision" value="approve" id="approve">Approve</button>
<button type="submit" name="decision" value="deny" id="deny" class="deny">Deny</button>
</div>
</form>
<p class="note">Code ${escapeHtml(options.code)}.${options.callbackHost ? ` After your decision you return to ${escapeHtml(options.callbackHost)}.` : ''}</p>`,
  );
}

/** A page that only says something (errors, done); a refusal also names the kit's error `code`. */
export function messagePage(title: string, text: string, code?: string): string {
  const note = code === undefined ? '' : `\n<p class="note" id="error-code"><code>${escapeHtml(code)}</code></p>`;
  return page(title, `<h1>${escapeHtml(title)}</h1>\n<p id="message">${escapeHtml(text)}</p>${note}`);
}
