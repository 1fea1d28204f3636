// Just-in-time access in a real browser against `berth demo`: a developer asks for edit on a
// foreign team's namespace; the request reaches an SRE's open page without a reload; the
// requester cannot approve it (page or API); the SRE approves; the grant's kubeconfig works
// with kubectl there and nowhere else; the SRE revokes and kubectl is refused within 5 s.
// A two-approval rule needs two different SREs.
import { expect, test, type Page } from '@playwright/test';
import { spawnSync } from 'node:child_process';
import { PATIENCE, collectErrors, signedIn } from './helpers';

async function ask(page: Page, role: string, where: string | 'cluster', duration: string): Promise<string> {
  const form = page.locator('#access-form');
  await form.locator('select[name="role"]').selectOption(role);
  if (where === 'cluster') {
    await form.locator('input[name="cluster"]').check();
  } else {
    await form.locator('input[name="namespaces"]').fill(where);
  }
  await form.locator('input[name="duration"]').fill(duration);
  await form.locator('input[name="reason"]').fill('incident 4711: search latency');
  await form.locator('input[name="ticket"]').fill('OPS-4711');
  await form.getByRole('button', { name: 'Request' }).click();
  const result = page.locator('#access-request-result');
  await expect(result).toContainText('is pending');
  return (await result.locator('a').textContent()) ?? '';
}

test('a developer gets edit on a foreign namespace for 30 minutes, until an SRE revokes it', async ({ browser }) => {
  const sam = await signedIn(browser, 'Sam SRE', '/access');
  const samErrors = collectErrors(sam);
  await expect(sam.locator('#access-queue')).toBeVisible();
  const dana = await signedIn(browser, 'Dana Developer', '/access');
  const danaErrors = collectErrors(dana);

  const id = await ask(dana, 'edit', 'search-staging', '30m');
  expect(id).toMatch(/^ar-[0-9a-f]{10}$/);
  const mine = dana.locator(`#access-mine tr.access-row[data-id="${id}"]`);
  await expect(mine).toHaveAttribute('data-state', 'pending');
  // Dana's own row offers no approval, and the server refuses it from the API too.
  await expect(mine.getByRole('button', { name: 'Approve' })).toHaveCount(0);
  const own = await dana.evaluate(async (id) => {
    const res = await fetch('/api/review_access', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ id, approve: 'true', comment: 'me' }),
    });
    return res.text();
  }, id);
  expect(own).toContain('nobody approves their own access request');

  // Sam's page shows it without a reload, and Sam approves it.
  const queued = sam.locator(`#access-queue tr.access-row[data-id="${id}"]`);
  await expect(queued).toBeVisible();
  await expect(queued).toContainText('Dana Developer');
  await expect(queued).toContainText('search-staging');
  await queued.locator('input.reason').fill('ticket checked');
  await queued.getByRole('button', { name: 'Approve' }).click();
  await expect(sam.locator('#access-result')).toContainText('active');
  await expect(mine).toHaveAttribute('data-state', 'active');
  await expect(mine).toContainText('left');

  // The grant's kubeconfig: kubectl works in search-staging and nowhere else.
  const [download] = await Promise.all([
    dana.waitForEvent('download'),
    mine.locator('button[data-action="kubeconfig"]').click(),
  ]);
  expect(download.suggestedFilename()).toBe(`${id}.kubeconfig`);
  const file = await download.path();
  const kubectl = (...args: string[]) =>
    spawnSync('kubectl', ['--kubeconfig', file, ...args], { encoding: 'utf8', timeout: PATIENCE });
  const inside = kubectl('-n', 'search-staging', 'create', 'configmap', 'jit-hotfix', '--from-literal=a=1');
  expect(inside.stderr).toBe('');
  expect(inside.stdout).toContain('configmap/jit-hotfix created');
  const outside = kubectl('-n', 'payments-prod', 'get', 'pods');
  expect(outside.status).not.toBe(0);
  expect(outside.stderr).toContain('Forbidden');
  expect(outside.stderr).toContain(`jit:${id}:demo:dana`);

  // Sam revokes early; within 5 s kubectl is refused.
  const active = sam.locator(`#access-active tr.access-row[data-id="${id}"]`);
  await expect(active).toBeVisible();
  sam.on('dialog', (dialog) => dialog.accept());
  await active.locator('button[data-action="revoke"]').click();
  const revokedAt = Date.now();
  await expect(sam.locator('#access-result')).toContainText('revoked');
  await expect(async () => {
    const after = kubectl('-n', 'search-staging', 'get', 'configmaps');
    expect(after.status).not.toBe(0);
    expect(after.stderr).toContain('Forbidden');
  }).toPass({ timeout: 5_000, intervals: [100] });
  console.log(`kubectl refused ${Date.now() - revokedAt} ms after the revoke click returned`);

  // The request's page shows its whole trail.
  await dana.goto(`/access/${id}`);
  await expect(dana.locator('#access-state')).toHaveAttribute('data-state', 'revoked');
  const trail = dana.locator('#access-audit');
  for (const action of ['access.request', 'access.approve', 'access.grant', 'access.kubeconfig', 'access.revoke']) {
    await expect(trail.locator(`tr[data-action="${action}"]`).first()).toBeVisible();
  }
  expect(samErrors).toEqual([]);
  expect(danaErrors).toEqual([]);
});

test('cluster-wide admin needs two different SREs', async ({ browser }) => {
  const dana = await signedIn(browser, 'Dana Developer', '/access');
  const id = await ask(dana, 'cluster-admin', 'cluster', '15m');
  const sam = await signedIn(browser, 'Sam SRE', '/access');
  const row = sam.locator(`#access-queue tr.access-row[data-id="${id}"]`);
  await row.locator('input.reason').fill('first look');
  await row.getByRole('button', { name: 'Approve' }).click();
  await expect(sam.locator('#access-result')).toContainText('pending');
  await expect(row).toContainText('1 of 2 approval(s)');
  // Sam cannot be the second approver.
  await expect(row.getByRole('button', { name: 'Approve' })).toHaveCount(0);
  const sid = await signedIn(browser, 'Sid SRE', `/access/${id}`);
  await sid.locator('#access-review input.reason').fill('second look');
  await sid.locator('#access-review').getByRole('button', { name: 'Approve' }).click();
  await expect(sid.locator('#access-state')).toHaveAttribute('data-state', 'active');
  await expect(sid.locator('#access-reviews')).toContainText('Sam SRE approved');
  await expect(sid.locator('#access-reviews')).toContainText('Sid SRE approved');
  // Clean up: the grant ends early.
  sid.on('dialog', (dialog) => dialog.accept());
  await sid.locator('#access-revoke').click();
  await expect(sid.locator('#access-state')).toHaveAttribute('data-state', 'revoked');
});

test('an admin edits the policy as YAML and sees what is wrong before anything is saved', async ({ browser }) => {
  const ada = await signedIn(browser, 'Ada Admin', '/access');
  const errors = collectErrors(ada);
  await ada.locator('#access-policy-link').click();
  const text = ada.locator('#policy-text');
  await expect(text).toHaveValue(/role: cluster-admin/);
  const before = await text.inputValue();
  await text.fill('- role: edit\n  max_minutes: 0\n');
  await ada.getByRole('button', { name: 'Save the policy' }).click();
  await expect(ada.locator('#policy-result')).toContainText('name the namespaces it covers');
  await expect(ada.locator('#policy-result')).toContainText('the maximum duration must be between 1 minute and 7 days');
  await ada.reload();
  await expect(ada.locator('#policy-text')).toHaveValue(before);
  // Others may not open the editor.
  const sam = await signedIn(browser, 'Sam SRE', '/access/policy');
  await expect(sam.locator('#policy-error')).toContainText('only admins edit the access policy');
  expect(errors).toEqual([]);
});
