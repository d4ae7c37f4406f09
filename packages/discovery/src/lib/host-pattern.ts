/** Whether `url` is one of the hosts `pattern` names: `name`, `name:port`, `[v6]:port` or `*.suffix`. */
export function hostMatches(pattern: string, url: URL): boolean {
  const p = pattern.toLowerCase();
  const hostname = url.hostname.toLowerCase();
  if (p.startsWith('*.')) return hostname.endsWith(p.slice(1)) && hostname.length > p.length - 1;
  if (p.includes(':') && !p.startsWith('[')) return url.host.toLowerCase() === p;
  if (p.startsWith('[') && p.includes(']:')) return url.host.toLowerCase() === p;
  return hostname === p;
}
