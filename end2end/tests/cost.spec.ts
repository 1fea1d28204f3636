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
  await expect(mike.locator('#chart-tooltip')).toContainText(/ · \d{4}-\d{2}-\d{2}: \d+\.\d\d/);

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
  expect(csv[0]).toBe('group,cpu,memory,gpu,storage,idle,total,efficiency');
  const csvRows = csv
    .slice(1)
    .filter((l) => !l.startsWith('(idle)') && !l.startsWith('(total)'))
    .map((l) => {
      const f = l.split(',');
      return [f[0], f[6]];
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
  await dana.goto('/cost?team=platform');
  await expect(dana.locator('#cost-error')).toContainText('visible to its members, managers and admins');
  await dana.goto('/cost?by=colour');
  await expect(dana.locator('#cost-problems')).toContainText('cannot group by "colour"');
});
