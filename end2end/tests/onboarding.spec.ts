// Namespace onboarding in a real browser against `berth demo` and its sandbox cluster: a
// developer asks for a namespace and watches it become ready; a manager approves a large one.
import { expect, test } from '@playwright/test';
import { execFileSync, spawnSync } from 'node:child_process';
import { PATIENCE, collectErrors, signedIn, suffix } from './helpers';

test('a developer asks for a small 7-day namespace, previews it and watches it become ready', async ({
  browser,
}) => {
  const page = await signedIn(browser, 'Dana Developer');
  const errors = collectErrors(page);
  const name = `dana-e2e-${suffix}`;

  // Live validation: a bad name is refused on its field before anything is sent.
  await page.locator('#namespace-form input[name="name"]').fill('Bad_Name');
  await expect(page.locator('.field-error[data-field="name"]')).toContainText('lower-case');
  await page.locator('#namespace-form input[name="name"]').fill('kube-mine');
  await expect(page.locator('.field-error[data-field="name"]')).toContainText('reserved');

  await page.locator('#namespace-form input[name="name"]').fill(name);
  await page.locator('#namespace-form textarea[name="purpose"]').fill('Try the <b>new</b> ledger');
  await expect(page.locator('.field-error[data-field="purpose"]')).toContainText('markup');
  await page.locator('#namespace-form textarea[name="purpose"]').fill('Try the new ledger');
  await page.locator('#namespace-form input[name="cost_centre"]').fill('CC-1042');
  await expect(page.locator('#namespace-form .field-error')).toHaveCount(0);
  await expect(page.locator('#namespace-form select[name="lifetime"]')).toHaveValue('7d');
  await expect(page.locator('#namespace-form select[name="tier"]')).toHaveValue('small');

  // The preview is the manifests Berth applies.
  const preview = page.locator('#manifest-preview');
  for (const kind of ['Namespace', 'RoleBinding', 'ResourceQuota', 'LimitRange', 'NetworkPolicy']) {
    await expect(preview).toContainText(`kind: ${kind}`);
  }
  await expect(preview).toContainText(`name: ${name}`);
  await expect(preview).toContainText("requests.cpu: '2'");
  await expect(page.locator('#approval-note')).toContainText('no approval needed');

  await page.getByRole('button', { name: 'Request namespace' }).click();
  await expect(page.locator('#submit-result')).toContainText('approved');

  // The table follows provisioning without a reload.
  const row = page.locator(`#requests-table tr[data-namespace="${name}"]`);
  await expect(row).toHaveAttribute('data-state', 'ready');
  await expect(row).toContainText('7 days');
  await expect(row).toContainText('berth: tier small needs no approval');

  // The kubeconfig download works with kubectl: in the namespace, not outside, not over quota.
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    row.getByRole('button', { name: 'Download kubeconfig' }).click(),
  ]);
  expect(download.suggestedFilename()).toBe(`${name}.kubeconfig`);
  const file = await download.path();
  const kubectl = (...args: string[]) =>
    spawnSync('kubectl', ['--kubeconfig', file, ...args], { encoding: 'utf8', timeout: PATIENCE });
  const created = kubectl('create', 'deployment', 'web', '--image=nginx:1.27');
  expect(created.stderr).toBe('');
  expect(created.stdout).toContain('deployment.apps/web created');
  const foreign = kubectl('get', 'pods', '-n', 'default');
  expect(foreign.status).not.toBe(0);
  expect(foreign.stderr).toContain('Forbidden');
  const greedy = spawnSync('kubectl', ['--kubeconfig', file, 'apply', '-f', '-'], {
    encoding: 'utf8',
    timeout: PATIENCE,
    input: JSON.stringify({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'greedy' },
      spec: {
        containers: [
          { name: 'c', image: 'busybox:1.36', resources: { requests: { cpu: '3' }, limits: { cpu: '3' } } },
        ],
      },
    }),
  });
  expect(greedy.status).not.toBe(0);
  expect(greedy.stderr).toContain('exceeded quota');
  expect(execFileSync('kubectl', ['--kubeconfig', file, 'get', 'deployments', '-o', 'name']).toString()).toContain(
    'deployment.apps/web',
  );

  // The quota bars in the browser follow what kubectl does, without a reload.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Namespaces', exact: true }).click();
  const card = page.locator(`#ns-eu-prod-${name}`);
  const cpu = card.locator('.quota-line[data-resource="requests.cpu"] [role="meter"]');
  await expect(cpu).toBeVisible();
  const before = Number(await cpu.getAttribute('aria-valuenow'));
  const worker = spawnSync('kubectl', ['--kubeconfig', file, 'apply', '-f', '-'], {
    encoding: 'utf8',
    timeout: PATIENCE,
    input: JSON.stringify({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'worker' },
      spec: {
        containers: [
          { name: 'c', image: 'busybox:1.36', resources: { requests: { cpu: '1' }, limits: { cpu: '1' } } },
        ],
      },
    }),
  });
  expect(worker.stderr).toBe('');
  await expect
    .poll(async () => Number(await cpu.getAttribute('aria-valuenow')))
    .toBeGreaterThanOrEqual(before + 45);
  await expect(card.locator('.quota-line[data-resource="requests.cpu"]')).toContainText('/ 2');
  expect(errors).toEqual([]);
});

test('a manager approves a large-tier request of their team', async ({ browser }) => {
  const dana = await signedIn(browser, 'Dana Developer');
  const name = `dana-big-${suffix}`;
  await dana.locator('#namespace-form input[name="name"]').fill(name);
  await dana.locator('#namespace-form textarea[name="purpose"]').fill('Load test');
  await dana.locator('#namespace-form input[name="cost_centre"]').fill('CC-1042');
  await dana.locator('#namespace-form select[name="tier"]').selectOption('large');
  await expect(dana.locator('#approval-note')).toContainText('A manager of the team approves');
  await dana.getByRole('button', { name: 'Request namespace' }).click();
  await expect(dana.locator('#submit-result')).toContainText('pending');
  const danasRow = dana.locator(`#requests-table tr[data-namespace="${name}"]`);
  await expect(danasRow).toHaveAttribute('data-state', 'pending');
  // Not granted yet: its lifetime starts when it is ready, and it does not read "never".
  await expect(danasRow.locator('td.expires')).toHaveText('7 days after it is ready');
  await expect(danasRow.getByRole('button', { name: 'Approve' })).toHaveCount(0);

  const mike = await signedIn(browser, 'Mike Manager');
  const row = mike.locator(`#requests-table tr[data-namespace="${name}"]`);
  await expect(row).toHaveAttribute('data-state', 'pending');
  await row.getByPlaceholder('reason').fill('sized for the launch');
  await row.getByRole('button', { name: 'Approve' }).click();
  await expect(row).toHaveAttribute('data-state', 'ready');
  await expect(row).toContainText('Mike Manager: sized for the launch');

  // The requester's page catches up on its own.
  await expect(danasRow).toHaveAttribute('data-state', 'ready');
});
