// Drives corral web's dashboard in Debian's headless chromium for
// test_web_browser.py, through playwright-core (tests/node_modules).
// usage: node dashboard.js URL TOKEN
// Reads one JSON command per line on stdin, answers one JSON line each:
//   {"op":"rows","n":N}                  wait until the table has N rows
//   {"op":"pids"}                        {"pids": {pm_id: pid}}
//   {"op":"wait_pid","pm_id":I,"pid":P,"ms":T}  wait until row I shows pid P
//   {"op":"click","pm_id":I,"button":"reload","scope":"app"}
//   {"op":"text","selector":S}           {"text": the element's text}
//   {"op":"shot","path":F}               a screenshot
//   {"op":"quit"}
// Waits fail with {"error": ...} after their deadline.
'use strict';
const path = require('path');
const readline = require('readline');
const { chromium } = require(path.join(__dirname, '..', 'node_modules', 'playwright-core'));

const [url, token] = process.argv.slice(2);
const say = (o) => process.stdout.write(JSON.stringify(o) + '\n');

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  const page = await browser.newPage({ viewport: { width: 1400, height: 760 } });
  page.on('dialog', (d) => d.accept(d.type() === 'prompt' ? token : undefined));
  await page.goto(url);
  const pids = () => page.evaluate(() => {
    const out = {};
    for (const tr of document.querySelectorAll('#procs tr'))
      out[tr.dataset.pmId] = tr.querySelector('.pid').textContent;
    return out;
  });
  say({ ready: true });
  const rl = readline.createInterface({ input: process.stdin });
  for await (const line of rl) {
    const c = JSON.parse(line);
    try {
      if (c.op === 'rows') {
        await page.waitForFunction((n) => document.querySelectorAll('#procs tr').length === n,
          c.n, { timeout: c.ms || 10000 });
        say({ pids: await pids() });
      } else if (c.op === 'pids') {
        say({ pids: await pids() });
      } else if (c.op === 'wait_pid') {
        const t0 = Date.now();
        await page.waitForFunction(([id, pid]) => {
          const tr = document.querySelector(`#procs tr[data-pm-id="${id}"]`);
          return tr && tr.querySelector('.pid').textContent === String(pid);
        }, [c.pm_id, c.pid], { timeout: c.ms });
        say({ ms: Date.now() - t0 });
      } else if (c.op === 'click') {
        await page.click(`#procs tr[data-pm-id="${c.pm_id}"]`);
        await page.selectOption('#scope', c.scope || 'app');
        await page.click(`#btn-${c.button}`);
        await page.waitForFunction(() => document.getElementById('msg').textContent !== '',
          null, { timeout: 10000 });
        say({ msg: await page.textContent('#msg') });
      } else if (c.op === 'text') {
        say({ text: await page.textContent(c.selector) });
      } else if (c.op === 'shot') {
        await page.screenshot({ path: c.path });
        say({ ok: true });
      } else if (c.op === 'quit') {
        break;
      }
    } catch (e) {
      say({ error: String(e.message || e).split('\n')[0] });
    }
  }
  await browser.close();
})().catch((e) => { say({ error: String(e) }); process.exit(1); });
