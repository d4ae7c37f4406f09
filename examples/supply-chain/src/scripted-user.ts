/**
 * The demo's scripted user: a tiny browser (cookies, forms, 303 redirects) that opens the
 * interaction URL, signs in and approves or denies. It does only what a person does by hand.
 */
export interface ScriptedUserOptions {
  username: string;
  password: string;
  decision: 'approve' | 'deny';
  fetch?: typeof fetch;
}

interface Form {
  action: string;
  fields: Record<string, string>;
}

function attr(tag: string, name: string): string | undefined {
  const m = new RegExp(`\\s${name}="([^"]*)"`, 'i').exec(tag);
  return m ? decodeEntities(m[1]!) : undefined;
}

function decodeEntities(text: string): string {
  return text
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

function findForm(html: string, base: string): Form {
  const formTag = /<form\b[^>]*>/i.exec(html);
  if (!formTag) throw new Error('the page has no form');
  const action = new URL(attr(formTag[0], 'action') ?? base, base).href;
  const fields: Record<string, string> = {};
  for (const m of html.matchAll(/<input\b[^>]*>/gi)) {
    const name = attr(m[0], 'name');
    if (name && (attr(m[0], 'type') ?? 'text') === 'hidden') fields[name] = attr(m[0], 'value') ?? '';
  }
  return { action, fields };
}

/** Open `url`, sign in, decide. Resolves to the text of the final page. */
export async function actAsUser(url: string, options: ScriptedUserOptions): Promise<string> {
  const fetchImpl = options.fetch ?? fetch;
  const jar = new Map<string, string>();
  const send = async (target: string, init: RequestInit = {}): Promise<Response> => {
    let current = target;
    let request: RequestInit = init;
    for (let i = 0; i < 5; i++) {
      const headers = new Headers(request.headers);
      if (jar.size > 0) headers.set('cookie', [...jar].map(([k, v]) => `${k}=${v}`).join('; '));
      const response = await fetchImpl(current, { ...request, headers, redirect: 'manual' });
      for (const line of response.headers.getSetCookie()) {
        const [pair] = line.split(';');
        const eq = pair!.indexOf('=');
        const name = pair!.slice(0, eq).trim();
        const value = pair!.slice(eq + 1).trim();
        if (value === '' || /max-age=0/i.test(line)) jar.delete(name);
        else jar.set(name, value);
      }
      if (response.status !== 303 && response.status !== 302) return response;
      current = new URL(response.headers.get('location')!, current).href;
      request = { method: 'GET' };
    }
    throw new Error('too many redirects');
  };
  const post = (form: Form, extra: Record<string, string>) =>
    send(form.action, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ ...form.fields, ...extra }).toString(),
    });

  const loginPage = await send(url);
  if (!loginPage.ok) throw new Error(`the interaction page answered ${loginPage.status}`);
  const login = findForm(await loginPage.text(), url);
  const consentPage = await post(login, { username: options.username, password: options.password });
  const consentHtml = await consentPage.text();
  if (!consentPage.ok) throw new Error(`signing in as ${options.username} failed (${consentPage.status})`);
  const consent = findForm(consentHtml, login.action);
  const done = await post(consent, { decision: options.decision });
  const text = await done.text();
  if (!done.ok) throw new Error(`the decision was not accepted (${done.status})`);
  const message = /<p id="message">([\s\S]*?)<\/p>/.exec(text)?.[1] ?? /<h1>([\s\S]*?)<\/h1>/.exec(text)?.[1] ?? '';
  return decodeEntities(message.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').trim());
}
