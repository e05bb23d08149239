import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { htmlReport } from '../src/report/html.js';

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium)
  console.warn(`html-report: SKIPPING the headless-Chromium test: ${CHROMIUM} is missing (install it with .ci/install-chromium; CI does).`);

const dir = join('tmp', `html-test-${process.pid}`);
mkdirSync(dir, { recursive: true });
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const cli = (...args: string[]) => spawnSync('node', ['bin/tlbcheck.js', ...args], { cwd: process.cwd(), encoding: 'utf8' });

const report = join(dir, 'async-nmi.html');
const gen = cli('models/bench/shootdown.ts', '--set', 'N=3', '--set', 'P=2', '--set', 'K=2', '--set', 'VARIANT=async', '--set', 'NMI=1', '--html', report);

describe('--html report (static)', () => {
  it('is one self-contained file: no external URL, the trace embedded', () => {
    expect(gen.status).toBe(1);
    const html = readFileSync(report, 'utf8');
    expect(html).toMatch(/^<!DOCTYPE html>/);
    expect(html).not.toMatch(/\b(src|href)\s*=\s*["'](https?:)?\/\//i);
    expect(html).not.toMatch(/<link\b/i);
    expect(html).toContain("default-src 'none'");
    const data = JSON.parse(/<script type="application\/json" id="data">([\s\S]*?)<\/script>/.exec(html)![1]!);
    expect(data.traces).toHaveLength(1);
    expect(data.traces[0].invariant).toBe('no-stale-access');
  });

  it('shows coverage/vacuity warnings and a holds run without a trace', () => {
    const html = htmlReport({
      run: { model: 'm', params: { N: 2 }, verdict: 'holds', states: 3, transitions: 2, depth: 1, elapsedMs: 1, invariants: ['inv'], warnings: ['invariant inv is vacuous: its premise never held in any reachable state'] },
      traces: [],
    });
    expect(html).toContain('id="warnings"');
    expect(html).toContain('invariant inv is vacuous');
    expect(html).toContain('id="no-trace"');
    expect(html).not.toContain('id="lanes"');
  });

  it('escapes model text', () => {
    const html = htmlReport({ run: { model: '<m>', params: {}, verdict: 'holds', states: 0, transitions: 0, depth: 0, elapsedMs: 0, invariants: [], warnings: ['</script><b>'] }, traces: [] });
    expect(html).not.toContain('<m>');
    expect(html).toContain('&lt;/script&gt;&lt;b&gt;');
    expect(html.match(/<\/script>/g)).toHaveLength(2); // only the two real ones; embedded JSON escapes "<"
  });
});

describe('--html report in headless Chromium', () => {
  it.skipIf(!hasChromium)('steps through the counterexample to the violation, forwards and backwards, with diffs and invariant status; marks a lasso\'s loop', async () => {
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    try {
      const page = await browser.newPage();
      const external: string[] = [];
      page.on('request', (r) => {
        if (!r.url().startsWith('file:')) external.push(r.url());
      });
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(pathToFileURL(resolve(report)).href);
      await page.waitForSelector('body[data-ready="true"]');

      // swimlanes: one column per CPU, one row per step, time going down
      expect(await page.locator('#lanes thead th').allTextContents()).toEqual(['#', 'CPU0', 'CPU1', 'CPU2', 'inv']);
      expect(await page.locator('#lanes tr.step').count()).toBe(6);
      expect(await page.locator('#step-label').textContent()).toBe('step 0 / 5');
      expect(await page.locator('#violation').isVisible()).toBe(false);
      expect(await page.locator('#prev').isDisabled()).toBe(true);

      // step 1: CPU0's walk fills its TLB; that cell is highlighted
      await page.click('#next');
      expect(await page.locator('#step-label').textContent()).toBe('step 1 / 5');
      expect(await page.locator('#desc').textContent()).toContain('CPU0: walk va0 → TLB = v0');
      expect(await page.locator('#state td.changed').evaluateAll((es) => es.map((e) => e.getAttribute('data-path')))).toEqual(['tlb[0][0]']);
      expect(await page.locator('#state [data-path="tlb[0][0]"]').getAttribute('title')).toBe('was —');
      expect(await page.locator('#invariants li.holds').allTextContents()).toEqual(['no-stale-access holds']);

      // step forwards to the end
      while (!(await page.locator('#next').isDisabled())) await page.click('#next');
      expect(await page.locator('#step-label').textContent()).toBe('step 5 / 5');
      const banner = page.locator('#violation');
      expect(await banner.isVisible()).toBe(true);
      expect(await banner.textContent()).toContain('✗ no-stale-access violated after 5 steps: CPU0 can still use va0 → v0');
      expect(await page.locator('#invariants li.fails').allTextContents()).toEqual(['no-stale-access is violated']);
      expect(await page.locator('#lanes tr.current td.inv').textContent()).toBe('✗');
      expect(await page.locator('#state td.changed, #state .scalar.changed').evaluateAll((es) => es.map((e) => e.getAttribute('data-path')))).toEqual(['done[0]', 'busy']);

      // and backwards, with the keyboard
      await page.keyboard.press('ArrowLeft');
      expect(await page.locator('#step-label').textContent()).toBe('step 4 / 5');
      expect(await banner.isVisible()).toBe(false);
      await page.keyboard.press('End');
      expect(await banner.isVisible()).toBe(true);
      await page.keyboard.press('Home');
      expect(await page.locator('#step-label').textContent()).toBe('step 0 / 5');
      // clicking a row selects that step
      await page.click('#lanes tr.step[data-step="3"]');
      expect(await page.locator('#step-label').textContent()).toBe('step 3 / 5');

      await page.screenshot({ path: join(dir, 'report.png'), fullPage: true });
      expect(errors).toEqual([]);
      expect(external).toEqual([]);

      // A lasso (--liveness): rules between the step rows, after step 1 and after the last step.
      const lasso = join(dir, 'ring.html');
      const r = cli('test/fixtures/ring.ts', '--set', 'STARVE=1', '--liveness', '--html', lasso);
      expect(r.status, r.stderr).toBe(1);
      await page.goto(pathToFileURL(resolve(lasso)).href);
      await page.waitForSelector('body[data-ready="true"]');
      const rows = await page.locator('#lanes tbody tr').evaluateAll((es) => es.map((e) => (e.className.includes('loop') ? e.textContent : e.getAttribute('data-step'))));
      expect(rows).toEqual(['0', '1', '┄┄┄ loop: steps 2–3 repeat forever ┄┄┄', '2', '3', '┄┄┄ back to the state after step 1 ┄┄┄']);
      await page.keyboard.press('End');
      expect(await page.locator('#violation').textContent()).toContain('✗ token-reaches(0) violated (a lasso: the loop repeats forever): the token reaches the CPU');
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});

