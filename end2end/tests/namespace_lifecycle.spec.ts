// A namespace after it is made, in a real browser against `berth demo`: extended and given more
// quota (a manager approves the growth), seen in the team roll-up, expired by the reconciler
// after a one-minute test lifetime (and the audit page shows it); tiers edited by an admin.
import { expect, test } from '@playwright/test';
import { collectErrors, requestNamespace, signedIn, suffix } from './helpers';

test('a developer extends a namespace and asks for more quota, which a manager approves', async ({ browser }) => {
  const dana = await signedIn(browser, 'Dana Developer');
  const errors = collectErrors(dana);
  const name = `dana-grow-${suffix}`;
  await requestNamespace(dana, name, '7d');
  const row = dana.locator(`#requests-table tr[data-namespace="${name}"]`);
  const expiresBefore = (await row.locator('td.expires').innerText()).trim();

  // An extension of a small tier is granted and applied at once.
  const form = dana.locator(`#requests-table tr[data-namespace="${name}"] .change-form form`);
  await row.getByText('Extend or change quota').click();
  await form.locator('select[name="kind"]').selectOption('extend');
  await form.locator('select[name="lifetime"]').selectOption('7d');
  await form.locator('input[name="reason"]').fill('demo next week');
  await form.getByRole('button', { name: 'Ask' }).click();
  await expect(form.locator('.change-result')).toContainText('approved');
  const extension = dana.locator(`.change-row[data-namespace="${name}"]`).first();
  await expect(extension).toHaveAttribute('data-state', 'applied');
  await expect(extension).toContainText('expiry');
  await expect(row.locator('td.expires')).not.toHaveText(expiresBefore);

  // More quota waits for a manager; the request shows what it changes.
  await row.getByText('Extend or change quota').click();
  await form.locator('select[name="kind"]').selectOption('quota');
  await form.locator('select[name="tier"]').selectOption('medium');
  await form.locator('input[name="reason"]').fill('load test');
  await form.getByRole('button', { name: 'Ask' }).click();
  await expect(form.locator('.change-result')).toContainText('pending');
  const growth = dana.locator(`.change-row[data-namespace="${name}"][data-state="pending"]`);
  await expect(growth).toContainText('tier small → medium');
  await expect(growth.locator('[data-resource="requests.cpu"]')).toContainText('2 → 8');
  await expect(growth.getByRole('button', { name: 'Approve' })).toHaveCount(0);

  const mike = await signedIn(browser, 'Mike Manager');
  // The demo's own requests: seeded granted ones are provisioned, the large one waits for Mike.
  await expect(mike.locator('#requests-table tr[data-namespace="payments-sandbox"]')).toHaveAttribute('data-state', 'ready');
  await expect(mike.locator('#requests-table tr[data-namespace="payments-perf"]')).toHaveAttribute('data-state', 'pending');
  await expect(mike.locator('#requests-table tr[data-namespace="payments-hotfix"] .expiry-warning')).toContainText('expires in');
  const mikes = mike.locator(`.change-row[data-namespace="${name}"][data-state="pending"]`);
  await mikes.getByPlaceholder('reason').fill('launch week');
  await mikes.getByRole('button', { name: 'Approve' }).click();
  await expect(mike.locator(`.change-row[data-namespace="${name}"][data-state="applied"]`)).toHaveCount(2);
  // Dana's page catches up on its own: the namespace now has the medium tier.
  await expect(row.locator('td.tier')).toHaveText('medium');

  // The team page rolls the team's namespaces up; the card shows the new quota.
  await dana.goto('/namespaces?team=payments');
  await expect(dana.locator('#team-filter')).toContainText('payments');
  await expect(dana.locator('#rollup-payments')).toBeVisible();
  await expect(dana.locator('#rollup-checkout')).toHaveCount(0);
  await expect(dana.locator(`#ns-eu-prod-${name} .quota-line[data-resource="requests.cpu"]`)).toContainText('/ 8');
  expect(errors).toEqual([]);
});

test('a namespace with a one-minute test lifetime is deleted by the reconciler and audited', async ({ browser }) => {
  const dana = await signedIn(browser, 'Dana Developer');
  const name = `dana-brief-${suffix}`;
  await requestNamespace(dana, name, 'test');
  const row = dana.locator(`#requests-table tr[data-namespace="${name}"]`);
  await expect(row.locator('.expiry-warning')).toBeVisible();
  await expect(row).toHaveAttribute('data-state', 'expired');

  const sam = await signedIn(browser, 'Sam SRE', `/audit?namespace=${name}`);
  const table = sam.locator('#audit-table');
  await expect(table).toContainText('namespace.expire');
  await expect(table).toContainText('namespace.delete');
  // Gone from the cluster, so gone from the namespaces page too.
  await sam.goto('/namespaces');
  await expect(sam.locator('#rollup-table')).toBeVisible();
  await expect(sam.locator(`#ns-eu-prod-${name}`)).toHaveCount(0);
});

test('an admin edits a tier and creates one; developers see it on the form', async ({ browser }) => {
  const ada = await signedIn(browser, 'Ada Admin');
  const errors = collectErrors(ada);
  await ada.locator('#edit-tiers').click();
  await expect(ada).toHaveURL('/tiers');
  const small = ada.locator('#tier-small');
  await expect(small.locator('input[name="pods"]')).toHaveValue('20');
  await small.locator('input[name="pods"]').fill('lots');
  await small.getByRole('button', { name: 'Save' }).click();
  await expect(small.locator('.field-error[data-field="pods"]')).toContainText('whole number');
  await small.locator('input[name="pods"]').fill('20');
  await small.getByRole('button', { name: 'Save' }).click();
  await expect(small.locator('.tier-saved')).toContainText('Tier small saved');

  const tier = `e2e-${suffix}`;
  const fresh = ada.locator('#tier-new');
  const values: Record<string, string> = {
    name: tier,
    description: 'For the browser test',
    requests_cpu: '1',
    requests_memory: '1Gi',
    limits_cpu: '2',
    limits_memory: '2Gi',
    storage: '5Gi',
    pvcs: '2',
    pods: '10',
    services: '2',
    default_request_cpu: '100m',
    default_request_memory: '128Mi',
    default_limit_cpu: '500m',
    default_limit_memory: '256Mi',
  };
  for (const [field, value] of Object.entries(values)) {
    await fresh.locator(`input[name="${field}"]`).fill(value);
  }
  await fresh.getByRole('button', { name: 'Create tier' }).click();
  await expect(fresh.locator('.tier-saved')).toContainText(`Tier ${tier} created`);
  await expect(ada.locator(`#tier-${tier} input[name="requests_cpu"]`)).toHaveValue('1');

  const dana = await signedIn(browser, 'Dana Developer');
  await expect(dana.locator(`#namespace-form select[name="tier"] option[value="${tier}"]`)).toHaveText(
    `${tier} — For the browser test`,
  );
  // Developers cannot open the editor.
  await dana.goto('/tiers');
  await expect(dana.locator('#tiers-admins-only')).toBeVisible();
  expect(errors).toEqual([]);
});
