// The cold-start figure's process (started by coldStartFigure as `node cold-start-child.mjs <json>`):
// nothing runs before this line but node's own boot, and nothing is imported statically, so each
// span below is one step of a resource's start. Mode 'kit': express + @aauth-kit/express, a GET
// route behind aauth({ level: 'identity' }) whose key is read from a key file; mode 'bare': the same
// route with express alone. Listens on 127.0.0.1:0, prints {"port"} on stdout, takes one request,
// prints its marks and exits. A mark is [ms since this process's performance.timeOrigin (its
// start), ms of CPU (user + system) the process has used].
const cpuMs = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};
const mark = () => [performance.now(), cpuMs()];
const marks = { boot: mark() };
const { mode, identity, keyFile } = JSON.parse(process.argv[2]);
const { default: express } = await import('express');
marks.expressLoaded = mark();
const app = express();
app.use((_req, _res, next) => {
  marks.arrived = mark();
  next();
});
const answer = (req, res) => res.json({ ok: true, agent: req.aauth?.agent ?? null });
marks.kitLoaded = marks.expressLoaded;
if (mode === 'kit') {
  const { aauth } = await import('@aauth-kit/express');
  const { loadKeyFile } = await import('@aauth-kit/core');
  marks.kitLoaded = mark();
  app.get('/plan', aauth({ identity, key: loadKeyFile(keyFile), level: 'identity' }), answer);
} else {
  app.get('/plan', answer);
}
const server = app.listen(0, '127.0.0.1');
await new Promise((resolve) => server.once('listening', resolve));
marks.listening = mark();
server.on('request', (_req, res) =>
  res.once('finish', () => {
    marks.answered = mark();
    const result = { marks, status: res.statusCode, timeOrigin: performance.timeOrigin };
    process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0));
  }),
);
process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
