/**
 * A person at the auth server's interaction page, reduced to what they do by hand: open the URL,
 * sign in, press Approve. Cookies are kept between pages and 302/303 redirects followed.
 */
export async function approveAsUser(url: string, username: string, password: string): Promise<void> {
  const cookies = new Map<string, string>();
  const send = async (target: string, init: RequestInit = {}): Promise<{ url: string; status: number; html: string }> => {
    let current = target;
    let request = init;
    for (let hop = 0; hop < 5; hop++) {
      const headers = new Headers(request.headers);
      if (cookies.size > 0) headers.set('cookie', [...cookies].map(([k, v]) => `${k}=${v}`).join('; '));
      const response = await fetch(current, { ...request, headers, redirect: 'manual' });
      for (const line of response.headers.getSetCookie()) {
        const pair = line.split(';')[0]!;
        const eq = pair.indexOf('=');
        cookies.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
      }
      const location = response.headers.get('location');
      if ((response.status === 302 || response.status === 303) && location !== null) {
        await response.body?.cancel();
        current = new URL(location, current).href;
        request = {};
        continue;
      }
      return { url: current, status: response.status, html: await response.text() };
    }
    throw new Error(`too many redirects from ${target}`);
  };
  /** Submit the page's first form: its hidden fields plus `fields`. */
  const submit = (page: { url: string; html: string }, fields: Record<string, string>) => {
    const form = /<form\b[^>]*>/i.exec(page.html)?.[0];
    if (form === undefined) throw new Error(`no form on ${page.url}:\n${page.html.slice(0, 500)}`);
    const action = new URL(decodeEntities(/\saction="([^"]*)"/i.exec(form)?.[1] ?? page.url), page.url).href;
    const body = new URLSearchParams();
    for (const input of page.html.matchAll(/<input\b[^>]*type="hidden"[^>]*>/gi)) {
      const name = /\sname="([^"]*)"/i.exec(input[0])?.[1];
      if (name !== undefined) body.set(decodeEntities(name), decodeEntities(/\svalue="([^"]*)"/i.exec(input[0])?.[1] ?? ''));
    }
    for (const [k, v] of Object.entries(fields)) body.set(k, v);
    return send(action, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: body.toString() });
  };
  const login = await send(url);
  if (login.status !== 200) throw new Error(`the interaction page answered ${login.status}`);
  const consent = await submit(login, { username, password });
  if (consent.status !== 200) throw new Error(`signing in as ${username} answered ${consent.status}`);
  const done = await submit(consent, { decision: 'approve' });
  if (done.status !== 200) throw new Error(`approving answered ${done.status}`);
}

function decodeEntities(text: string): string {
  return text.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}
