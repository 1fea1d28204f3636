// The cost report in a real browser against `berth demo` and its month of history: a manager
// switches grouping and window through the controls (the URL follows), reads the chart's
// tooltip, sorts, and exports CSV whose rows are the table's; a developer sees only their teams.
import { expect, test } from '@playwright/test';
import { readFileSync } from 'node:fs';
import { collectErrors, signedIn } from './helpers';

async function tableRows(page: import('@playwright/test').Page): Promise<string[][]> {
  return page.locator('#cost-table tbody tr.cost-row').evaluateAll((rows) =>
    rows.map((r) => {
      const cells = Array.from(r.querySelectorAll('td')).map((c) => (c.textContent ?? '').trim());
      return [cells[0], cells[6].replace('$', '')];
    }),
  );
}

test('a manager groups, widens, sorts and exports the cost report', async ({ browser }) => {
  const mike = await signedIn(browser, 'Mike Manager', '/cost');
  const errors = collectErrors(mike);
  // The default view: namespaces over seven days, with history from the demo's month.
  await expect(mike.locator('#cost-table tbody tr.cost-row').first()).toBeVisible();
  await expect(mike.locator('#cost-total')).not.toHaveText('$0.00');
  await expect(mike.locator('#cost-table')).toContainText('payments-prod');

  // Group by team through the form: the URL carries the view.
  await mike.locator('#cost-form select[name="by"]').selectOption('team');
  await mike.locator('#cost-form select[name="window"]').selectOption('30d');
  await mike.locator('#cost-form button[type="submit"]').click();
  await expect(mike).toHaveURL(/by=team/);
  await expect(mike).toHaveURL(/window=30d/);
  await expect(mike.locator('.app')).toHaveAttribute('data-hydrated', 'true');
  await expect(mike.locator('#cost-table tr[data-key="payments"]')).toBeVisible();
  await expect(mike.locator('#cost-table tr[data-key="checkout"]')).toBeVisible();
  // Thirty daily bars, stacked; hovering one names its group, day and cost.
  await expect(mike.locator('#cost-chart rect').first()).toBeVisible();
  await mike.locator('#cost-chart rect').first().hover();
  await expect(mike.locator('#chart-tooltip')).toContainText(/ · \d{4}-\d{2}-\d{2}: \$\d+\.\d\d/);

  // Sort by name, ascending.
  await mike.locator('#cost-table a[data-sort="name"]').click();
  await expect(mike).toHaveURL(/sort=name/);
  // The page follows the address without a reload; wait for the new order to arrive.
  await expect
    .poll(async () => {
      const names = (await tableRows(mike)).map((r) => r[0]);
      return names.length > 1 && names.join() === [...names].sort().join();
    })
    .toBe(true);
  const sorted = await tableRows(mike);

  // The CSV holds exactly the table's rows, in its order, with its totals.
  const [download] = await Promise.all([mike.waitForEvent('download'), mike.locator('#cost-csv').click()]);
  // Named after the view it holds, so two exports never overwrite each other.
  expect(download.suggestedFilename()).toMatch(/^berth-cost-[0-9a-z-]+-by-[a-z]+.*\.csv$/);
  const csv = readFileSync(await download.path(), 'utf8').trim().split('\n');
  expect(csv[0]).toBe('group,cluster,cpu,memory,gpu,storage,idle,total,efficiency');
  const csvRows = csv
    .slice(1)
    .filter((l) => !l.startsWith('(idle)') && !l.startsWith('(total)'))
    .map((l) => {
      const f = l.split(',');
      return [f[0], f[7]];
    });
  expect(csvRows).toEqual(sorted);
  // Mike sets payments a budget it is already over: the forecast says so.
  const payments = mike.locator('#budgets tr[data-team="payments"]');
  await payments.locator('input[name="amount"]').fill('1');
  await payments.getByRole('button', { name: 'Set' }).click();
  await expect(mike.locator('#budget-result')).toHaveText('Budget saved.');
  await expect(mike.locator('#budgets tr[data-team="payments"]')).toHaveAttribute('data-over', 'true');
  await expect(mike.locator('#budgets tr[data-team="payments"]')).toContainText('forecast over budget');

  // The link to this view reproduces it.
  const permalink = await mike.locator('#cost-permalink').getAttribute('href');
  expect(permalink).toContain('by=team');
  expect(errors).toEqual([]);
});

test("a developer sees only their teams' costs", async ({ browser }) => {
  const dana = await signedIn(browser, 'Dana Developer', '/cost?by=team&window=7d');
  await expect(dana.locator('#cost-table tbody tr.cost-row').first()).toBeVisible();
  const keys = await dana.locator('#cost-table tbody tr.cost-row').evaluateAll((rows) =>
    rows.map((r) => r.getAttribute('data-key')),
  );
  expect(keys.sort()).toEqual(['checkout', 'payments']);
  // A manager's link shows more: the page says why Dana's totals are smaller.
  await expect(dana.locator('#cost-only-teams')).toContainText('your own teams only');
  await expect(dana.locator('#cost-only-teams')).toContainText('payments');
  await dana.goto('/cost?team=platform');
  await expect(dana.locator('#cost-error')).toContainText('visible to its members, managers and admins');
  await dana.goto('/cost?by=colour');
  await expect(dana.locator('#cost-problems')).toContainText('cannot group by "colour"');
});

test('a window is the same hours by day and by hour, says so, and each row leads one level down', async ({ browser }) => {
  const mike = await signedIn(browser, 'Mike Manager', '/cost?window=7d&step=daily');
  const errors = collectErrors(mike);
  const money = async () => Number(((await mike.locator('#cost-total').textContent()) ?? '').replace(/[^0-9.]/g, ''));
  await expect(mike.locator('#cost-total')).not.toHaveText('$0.00');
  await expect(mike.locator('#cost-window')).toContainText('7 days: the 6 before today and today so far');
  const daily = await money();
  // The time axis names days; today's bar is marked as partial in its readout.
  expect(await mike.locator('#cost-chart text.tick').count()).toBeGreaterThan(1);
  await mike.goto('/cost?window=7d&step=hourly');
  await expect(mike.locator('#cost-window')).toContainText('hourly steps');
  const hourly = await money();
  expect(Math.abs(hourly - daily) / daily).toBeLessThan(0.005);

  // Team → its namespaces → a namespace's workloads → a workload's page.
  await mike.goto('/cost?by=team&window=30d');
  await mike.locator('#cost-table tr[data-key="payments"] a.drill').click();
  await expect(mike).toHaveURL(/by=namespace/);
  await expect(mike).toHaveURL(/team=payments/);
  await expect(mike).toHaveURL(/window=30d/);
  await mike.locator('#cost-table tr[data-key="payments-prod"] a.drill').click();
  await expect(mike).toHaveURL(/by=workload/);
  await expect(mike.locator('#cost-table tr[data-key="payments-prod/Deployment/api"]')).toBeVisible();
  const keys = await mike.locator('#cost-table tbody tr.cost-row').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-key') ?? ''));
  expect(keys.every((k) => k.startsWith('payments-prod/'))).toBe(true);
  await mike.locator('#cost-table tr[data-key="payments-prod/Deployment/api"] a.drill').click();
  await expect(mike).toHaveURL('/rollouts/deployment/payments-prod/api?cluster=eu-prod');
  await expect(mike.locator('#workload-title')).toHaveText('api');
  expect(errors).toEqual([]);
});

test("the demo prices its nodes by instance type and its month is not one day copied thirty times", async ({ browser }) => {
  const ada = await signedIn(browser, 'Ada Admin', '/prices');
  const values = ada.locator('#price-overrides input[name="value"]');
  await expect(values).toHaveCount(4);
  // us-dev's nodes in their cheaper region first, then the instance types everywhere.
  expect(await values.evaluateAll((inputs) => inputs.map((i) => (i as HTMLInputElement).value))).toEqual([
    'm5.xlarge',
    'm5.2xlarge',
    'm5.4xlarge',
    'r5.2xlarge',
  ]);
  const days: number[] = await ada.evaluate(async () => {
    const r = await (await fetch('/api/v1/cost?window=30d&by=namespace')).json();
    // The chart's lines carry their days; the rest are summed in other_series.
    const totals: number[] = r.buckets.map((_: number, i: number) =>
      r.groups.reduce((a: number, g: { series: number[] }) => a + (g.series[i] ?? 0), r.other_series[i]),
    );
    // The first and last day are partial at most; the whole days between are compared.
    return totals.slice(1, -1).map((v) => Math.round(v * 100));
  });
  expect(days.length).toBeGreaterThan(20);
  // Weekends (dev and load-test namespaces scaled down), newcomers and growth: many levels.
  expect(new Set(days).size).toBeGreaterThan(3);

  // The chart draws the eight largest namespaces apart and the rest as "other", whose bars
  // are the report's other_series, day by day.
  await ada.goto('/cost?window=30d&by=namespace');
  await expect(ada.locator('#cost-chart .legend li').nth(8)).toHaveText('other');
  const other: number[] = await ada.evaluate(async () => {
    const r = await (await fetch('/api/v1/cost?window=30d&by=namespace')).json();
    return r.other_series.filter((v: number) => v > 0).map((v: number) => Math.round(v * 100) / 100);
  });
  const bars = await ada
    .locator('#cost-chart rect[data-series="8"] title')
    .evaluateAll((titles) => titles.map((t) => Number((t.textContent ?? '').replace(/^.*\$/, '').replace(/,/g, ''))));
  expect(bars.length).toBeGreaterThan(20);
  // Today's bar grows while the demo runs; the days before it are settled.
  expect(bars.slice(0, -1)).toEqual(other.slice(0, -1));
});

test('a Job that ran seconds pays for seconds, not for the month', async ({ browser }) => {
  const ada = await signedIn(browser, 'Ada Admin', '/cost?by=workload&window=30d&filter=payments-dev%2F');
  await expect(ada.locator('#cost-table tr[data-key="payments-dev/Deployment/api"]')).toBeVisible();
  // payments-dev's migration-2024 ran for 3 seconds when the demo started; it was billed
  // every hour of the month (25 cents) when an hour was paid whole.
  const totals = await ada.locator('#cost-table tbody tr.cost-row').evaluateAll((rows) =>
    rows
      .filter((r) => r.getAttribute('data-key') === 'payments-dev/Job/migration-2024')
      .map((r) => Number((r.querySelectorAll('td')[6]?.textContent ?? '').replace(/[^0-9.]/g, ''))),
  );
  expect(totals.every((t) => t < 0.01), `${totals}`).toBe(true);
});
