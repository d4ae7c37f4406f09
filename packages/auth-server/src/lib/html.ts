import type { ActClaim } from '@aauth-kit/core';
import type { PendingRequest } from '../pending-store.js';

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escape text for HTML element content and quoted attribute values. */
export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

const STYLE = `
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;background:#f4f5f7;color:#1d2330;margin:0}
main{max-width:34rem;margin:3rem auto;background:#fff;border-radius:8px;padding:2rem;box-shadow:0 1px 4px rgba(0,0,0,.12)}
h1{font-size:1.35rem;margin:0 0 1rem}
dl{display:grid;grid-template-columns:auto 1fr;gap:.4rem 1rem;margin:0 0 1.25rem}
dt{font-weight:600}dd{margin:0;word-break:break-all;font-family:ui-monospace,monospace}
ul{margin:0;padding-left:1.2rem}
label{display:block;margin:.6rem 0 .2rem;font-weight:600}
input[type=text],input[type=password]{width:100%;box-sizing:border-box;padding:.5rem;border:1px solid #b7bcc7;border-radius:4px}
.buttons{display:flex;gap:.75rem;margin-top:1.25rem}
button{padding:.55rem 1.2rem;border-radius:4px;border:1px solid #1f5fbf;background:#1f5fbf;color:#fff;font-size:1rem;cursor:pointer}
button.deny{background:#fff;color:#a12b2b;border-color:#a12b2b}
.error{color:#a12b2b;font-weight:600}
.note{color:#5b6273;font-size:.9rem}
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

function actList(act: ActClaim | undefined): string {
  const items: string[] = [];
  for (let node = act; node !== undefined && items.length < 20; node = node.act) {
    items.push(`<li>${escapeHtml(node.agent)}${node.sub !== undefined ? ` (for ${escapeHtml(node.sub)})` : ''}</li>`);
  }
  return items.length === 0 ? '' : `<dt>On behalf of</dt><dd><ul id="act">${items.join('')}</ul></dd>`;
}

/** What is being asked, shown plainly: agent, resource, scopes. */
export function requestSummary(request: PendingRequest): string {
  const scopes = request.scope.split(' ').filter((s) => s.length > 0);
  return `<dl>
<dt>Agent</dt><dd id="agent">${escapeHtml(request.agent)}</dd>
<dt>Resource</dt><dd id="resource">${escapeHtml(request.resource)}</dd>
<dt>Scopes</dt><dd><ul id="scopes">${scopes.map((s) => `<li>${escapeHtml(s)}</li>`).join('')}</ul></dd>
${actList(request.act)}
</dl>`;
}

function hidden(fields: Record<string, string>): string {
  return Object.entries(fields)
    .map(([name, value]) => `<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}">`)
    .join('\n');
}

export interface FormPageOptions {
  realmName: string;
  request: PendingRequest;
  action: string;
  fields: Record<string, string>;
}

/** Step 1: log in with a realm user. */
export function loginPage(options: FormPageOptions & { error?: string }): string {
  return page(
    `Sign in to ${options.realmName}`,
    `<h1>Sign in to ${escapeHtml(options.realmName)}</h1>
<p>An agent asks for access on your behalf. Sign in to review the request.</p>
${requestSummary(options.request)}
${options.error ? `<p class="error" id="error" role="alert">${escapeHtml(options.error)}</p>` : ''}
<form method="post" action="${escapeHtml(options.action)}">
${hidden(options.fields)}
<label for="username">User name</label>
<input type="text" id="username" name="username" autocomplete="username" required autofocus>
<label for="password">Password</label>
<input type="password" id="password" name="password" autocomplete="current-password" required>
<div class="buttons"><button type="submit" id="login">Sign in</button></div>
</form>
<p class="note">Code ${escapeHtml(options.request.code)}: check that the agent showed you the same code.</p>`,
  );
}

/** Step 2: approve or deny. */
export function consentPage(options: FormPageOptions & { user: string; callbackHost?: string }): string {
  return page(
    'Approve access',
    `<h1>Approve access?</h1>
<p>Signed in as <strong id="user">${escapeHtml(options.user)}</strong>.</p>
${requestSummary(options.request)}
<form method="post" action="${escapeHtml(options.action)}">
${hidden(options.fields)}
<div class="buttons">
<button type="submit" name="decision" value="approve" id="approve">Approve</button>
<button type="submit" name="decision" value="deny" id="deny" class="deny">Deny</button>
</div>
</form>
${options.callbackHost ? `<p class="note">After your decision you return to ${escapeHtml(options.callbackHost)}.</p>` : ''}`,
  );
}

/** A page that only says something (errors, done). */
export function messagePage(title: string, text: string): string {
  return page(title, `<h1>${escapeHtml(title)}</h1>\n<p id="message">${escapeHtml(text)}</p>`);
}
