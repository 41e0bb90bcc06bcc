// The benchmark's HTTP app: Node's hello world, plus what the harness needs to
// see from outside.
//
//   - every response names the process that served it (X-Pid header and body),
//     so a client can count per instance and spot a replacement;
//   - with BENCH_COUNT_DIR set, the number of requests served is written to
//     <dir>/<pid> a few times a second, so per-instance shares can be read
//     without slowing the load generator down;
//   - with BENCH_LISTEN_FD set, it serves on that inherited socket instead of
//     binding PORT (the hand-made "limit" runs, see limit.py);
//   - graceful stop on SIGINT or the 'shutdown' message: stop accepting,
//     finish what is in flight, exit.
'use strict';
const http = require('http');
const fs = require('fs');
const path = require('path');

const port = Number(process.env.PORT) || 3000;
const countDir = process.env.BENCH_COUNT_DIR;
const body = `hello from ${process.pid}\n`;
let served = 0;
let written = -1;

const server = http.createServer((req, res) => {
  served++;
  res.writeHead(200, {
    'Content-Type': 'text/plain',
    'Content-Length': Buffer.byteLength(body),
    'X-Pid': String(process.pid),
  });
  res.end(body);
});

function flushCount() {
  if (!countDir || served === written) return;
  written = served;
  try {
    fs.writeFileSync(path.join(countDir, String(process.pid)), String(served));
  } catch (e) { /* the harness may have removed the directory */ }
}
if (countDir) setInterval(flushCount, 200).unref();

function ready() {
  if (process.send) process.send('ready');
}
if (process.env.BENCH_LISTEN_FD)
  server.listen({ fd: Number(process.env.BENCH_LISTEN_FD) }, ready);
else
  server.listen(port, ready);

let stopping = false;
function shutdown() {
  if (stopping) return;
  stopping = true;
  server.close(() => { flushCount(); process.exit(0); });
  server.closeIdleConnections();
  setTimeout(() => { flushCount(); process.exit(0); }, 1000).unref();
}
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
process.on('message', (msg) => { if (msg === 'shutdown') shutdown(); });
