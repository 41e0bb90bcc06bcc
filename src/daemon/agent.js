// corral's agent for Node apps (docs/profiling.md).
//
// The daemon writes this file to $CORRAL_HOME/agent.js and starts Node apps
// with `node --require <it>` (unless disable_agent). It talks to the daemon
// over the Node IPC channel corral gives every Node app. corral's messages
// carry `cmd: "NODE_CORRAL"`: Node hands a message whose cmd starts with
// NODE_ to 'internalMessage' listeners, never to the app's 'message' ones,
// and listening to 'internalMessage' does not keep the channel (and the app)
// alive. The agent keeps its own reference to process.send, so an app that
// replaces it still gets profiled.
//
//   daemon → agent  {cmd, op: "profile_start", seq, kind: "cpu"|"heap", deadline}
//                   {cmd, op: "profile_stop", seq, kind, path, deadline}
//                   {cmd, op: "heapdump", seq, path, deadline}
//                   (deadline: ms since the epoch; later, the message is dropped)
//   agent → daemon  {cmd, op: "reply", seq, ok: true, bytes} or {..., ok: false, error}
//                   {cmd, op: "metrics", metrics: {name: {value, unit}}}
'use strict';
(function corralAgent() {
  // Only in the process corral started: a process it forks inherits the
  // --require, but its channel leads to its parent, not to corral.
  if (typeof process.send !== 'function' || global.__corralAgent ||
      process.env.CORRAL_AGENT_PARENT !== String(process.ppid))
    return;
  global.__corralAgent = true;
  const send = process.send.bind(process);
  const CMD = 'NODE_CORRAL';
  const fs = require('fs');
  let inspector;
  let session = null;
  const running = {};   // kind → true while profiling

  function tell(msg) {
    msg.cmd = CMD;
    try {
      send(msg);
    } catch (e) {
      // The channel is gone: nobody to tell.
    }
  }

  function open() {
    if (!session) {
      inspector = inspector || require('inspector');
      session = new inspector.Session();
      session.connect();
    }
    return session;
  }

  function close() {
    if (session && !running.cpu && !running.heap) {
      session.disconnect();
      session = null;
    }
  }

  function post(method, params) {
    return new Promise((resolve, reject) => {
      open().post(method, params || {}, (err, res) => err ? reject(err) : resolve(res));
    });
  }

  // Write text to path (created 0600, never over an existing file); the
  // partial file is removed on failure.
  function writeFile(path, write) {
    let fd = -1;
    let bytes = 0;
    try {
      fd = fs.openSync(path, 'wx', 0o600);
      write((chunk) => {
        const b = Buffer.from(chunk);
        let off = 0;
        while (off < b.length)
          off += fs.writeSync(fd, b, off, b.length - off);
        bytes += b.length;
      });
      fs.closeSync(fd);
      return bytes;
    } catch (e) {
      if (fd >= 0) {
        try { fs.closeSync(fd); } catch (e2) { /* closing a failed file */ }
      }
      if (fd >= 0 || e.code !== 'EEXIST') {
        try { fs.unlinkSync(path); } catch (e3) { /* nothing was written */ }
      }
      throw e;
    }
  }

  const START = {cpu: ['Profiler.enable', 'Profiler.start'],
    heap: ['HeapProfiler.enable', 'HeapProfiler.startSampling']};
  const STOP = {cpu: 'Profiler.stop', heap: 'HeapProfiler.stopSampling'};
  // A profile nobody stops (the CLI was interrupted) ends after an hour, as
  // a perf recording does, instead of growing in the app's memory.
  const MAX_PROFILE_MS = 3600 * 1000;
  const caps = {};

  async function profileStart(m) {
    const kind = m.kind === 'heap' ? 'heap' : 'cpu';
    if (running[kind])
      throw new Error('a ' + kind + ' profile is already running');
    running[kind] = true;
    try {
      for (const method of START[kind])
        await post(method);
    } catch (e) {
      running[kind] = false;
      close();
      throw e;
    }
    caps[kind] = setTimeout(() => {
      if (!running[kind])
        return;
      running[kind] = false;
      post(STOP[kind]).catch(() => {}).finally(close);
    }, MAX_PROFILE_MS);
    caps[kind].unref();
    return {};
  }

  async function profileStop(m) {
    const kind = m.kind === 'heap' ? 'heap' : 'cpu';
    if (!running[kind])
      throw new Error('no ' + kind + ' profile is running');
    clearTimeout(caps[kind]);
    let res;
    try {
      res = await post(STOP[kind]);
    } finally {
      running[kind] = false;
      close();
    }
    return {bytes: writeFile(m.path, (w) => w(JSON.stringify(res.profile)))};
  }

  async function heapdump(m) {
    const s = open();
    try {
      const bytes = writeFile(m.path, (w) => {
        let err = null;
        let done = false;
        // An error thrown here would be lost inside the inspector: kept,
        // and the rest of the chunks dropped.
        const chunk = (msg) => {
          if (!err) {
            try { w(msg.params.chunk); } catch (e) { err = e; }
          }
        };
        s.on('HeapProfiler.addHeapSnapshotChunk', chunk);
        try {
          // An in-process session answers synchronously.
          s.post('HeapProfiler.takeHeapSnapshot', {}, (e) => { err = err || e; done = true; });
        } finally {
          s.removeListener('HeapProfiler.addHeapSnapshotChunk', chunk);
        }
        if (err)
          throw err;
        if (!done)
          throw new Error('the inspector did not finish the snapshot');
      });
      return {bytes};
    } finally {
      close();
    }
  }

  const OPS = {profile_start: profileStart, profile_stop: profileStop, heapdump};

  process.on('internalMessage', (m) => {
    // Past its deadline the daemon gave up already: no late file.
    if (!m || m.cmd !== CMD || !OPS[m.op] || (m.deadline && Date.now() > m.deadline))
      return;
    OPS[m.op](m).then((r) => tell(Object.assign({op: 'reply', seq: m.seq, ok: true}, r)),
      (e) => tell({op: 'reply', seq: m.seq, ok: false,
        error: String((e && e.message) || e)}));
  });

  // ---- metrics, every few seconds ----

  // Event-loop delay: a 50 ms timer notes how late each tick comes. Each
  // lateness counts for the time it covers, so p95 is the stall that 95% of
  // the interval's moments were not inside (a 200 ms block every second:
  // p95 150 to 200 ms; monitorEventLoopDelay's per-tick percentiles would
  // say 0). An idle app pays about 0.5% of a core for the timer (20 ms
  // cost 1.2%).
  const TICK = 50;
  const INTERVAL = 2000;
  const { performance, PerformanceObserver } = require('perf_hooks');
  let last = performance.now();
  let lags = [];
  const sampler = setInterval(() => {
    const now = performance.now();
    const d = now - last;
    last = now;
    if (lags.length < 4096)
      lags.push([Math.max(0, d - TICK), d]);
  }, TICK);
  sampler.unref();

  function percentiles() {
    const s = lags.sort((a, b) => a[0] - b[0]);
    lags = [];
    let total = 0;
    for (const x of s)
      total += x[1];
    const at = (q) => {
      let acc = 0;
      for (const x of s) {
        acc += x[1];
        if (acc >= q * total)
          return x[0];
      }
      return s.length ? s[s.length - 1][0] : 0;
    };
    return [at(0.5), at(0.95)];
  }

  let gcCount = 0;
  let gcMs = 0;
  try {
    const obs = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        gcCount++;
        gcMs += e.duration;
      }
    });
    obs.observe({entryTypes: ['gc']});
  } catch (e) {
    // No gc entries in this Node: no GC figures.
  }

  const round = (x) => Math.round(x * 100) / 100;
  const report = setInterval(() => {
    const mem = process.memoryUsage();
    const [p50, p95] = percentiles();
    const handles = typeof process._getActiveHandles === 'function' ?
      process._getActiveHandles().length : 0;
    const requests = typeof process._getActiveRequests === 'function' ?
      process._getActiveRequests().length : 0;
    tell({op: 'metrics', metrics: {
      'heap_used': {value: round(mem.heapUsed / 1048576), unit: 'MiB'},
      'heap_total': {value: round(mem.heapTotal / 1048576), unit: 'MiB'},
      'event_loop_delay_p50': {value: round(p50), unit: 'ms'},
      'event_loop_delay_p95': {value: round(p95), unit: 'ms'},
      'active_handles': {value: handles, unit: ''},
      'active_requests': {value: requests, unit: ''},
      'gc_count': {value: gcCount, unit: ''},
      'gc_pause': {value: round(gcMs), unit: 'ms'},
    }});
    gcCount = 0;
    gcMs = 0;
  }, INTERVAL);
  report.unref();
})();
