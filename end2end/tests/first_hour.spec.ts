// What each persona meets in their first hour, made right (issue 22): each test failed before
// its fix.
import { expect, test } from '@playwright/test';
import { collectErrors, requestNamespace, signedIn, suffix } from './helpers';

test('a keyboard reaches the content first, and a click on a new page shows progress at once', async ({ browser }) => {
  const page = await signedIn(browser, 'Dana Developer', '/');
  const errors = collectErrors(page);
  await page.keyboard.press('Tab');
  const skip = page.getByRole('link', { name: 'Skip to content' });
  await expect(skip).toBeFocused();
  await page.keyboard.press('Enter');
  await expect(page.locator('main#main')).toBeFocused();

  // The cost page's code is held back until the bar has been seen.
  let release: () => void = () => {};
  const held = new Promise<void>((r) => (release = r));
  await page.route(/\/pkg\/pack__cost_view_/, async (route) => {
    await held;
    await route.continue();
  });
  const progress = page.locator('#route-progress');
  await expect(progress).not.toHaveClass(/active/);
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Cost', exact: true }).click();
  await expect(progress).toHaveClass(/active/);
  release();
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Cost');
  await expect(progress).not.toHaveClass(/active/);
  expect(errors).toEqual([]);
});

test('a refused access request keeps what was typed, from the least role, and says why where focus is', async ({ browser }) => {
  const page = await signedIn(browser, 'Dana Developer', '/access');
  const form = page.locator('#access-form');
  // The least the policy offers, not admin.
  await expect(form.locator('select[name="role"]')).toHaveValue('view');
  await form.locator('select[name="role"]').selectOption('edit');
  await form.locator('input[name="namespaces"]').fill(`nowhere-${suffix}`);
  await form.locator('input[name="reason"]').fill('looking into the incident');
  await form.locator('input[name="ticket"]').fill('OPS-1');
  // The page refreshes itself every few seconds; what was typed survives it.
  await page.waitForResponse((r) => r.url().includes('/api/access_overview'));
  await expect(form.locator('input[name="reason"]')).toHaveValue('looking into the incident');

  await form.getByRole('button', { name: 'Request' }).click();
  const answer = page.locator('#access-request-answer');
  await expect(answer.locator('.error')).toBeVisible();
  // The whole reason, not a cut-off one.
  await expect(answer.locator('.error')).toHaveText(`no namespace nowhere-${suffix} on cluster eu-prod`);
  await expect(answer).toBeFocused();
  await expect(answer).toHaveAttribute('role', 'status');
  await expect(form.locator('select[name="role"]')).toHaveValue('edit');
  await expect(form.locator('input[name="namespaces"]')).toHaveValue(`nowhere-${suffix}`);
  await expect(form.locator('input[name="reason"]')).toHaveValue('looking into the incident');
  await expect(form.locator('input[name="ticket"]')).toHaveValue('OPS-1');
});

test("a namespace request's answer is announced and takes the focus", async ({ browser }) => {
  const page = await signedIn(browser, 'Dana Developer', '/onboarding');
  const errors = collectErrors(page);
  const form = page.locator('#namespace-form');
  await form.locator('input[name="name"]').fill(`focus-${suffix}`);
  await form.locator('textarea[name="purpose"]').fill('Browser test');
  await form.locator('input[name="cost_centre"]').fill('CC-1042');
  await form.getByRole('button', { name: 'Request namespace' }).click();
  const answer = page.locator('#submit-answer');
  await expect(answer).toContainText('approved');
  await expect(answer).toBeFocused();
  await expect(answer).toHaveAttribute('aria-live', 'polite');
  expect(errors).toEqual([]);
});

test('a failing kubeconfig download says why inside the page, and the app stays', async ({ browser }) => {
  const page = await signedIn(browser, 'Dana Developer', '/onboarding');
  const name = `dl-${suffix}`;
  await requestNamespace(page, name, '1d');
  const row = page.locator(`#requests-table tr[data-namespace="${name}"]`);
  // The cluster's signer is down: the server answers with a Problem.
  await page.route(/\/api\/v1\/namespaces\/[^/]+\/kubeconfig(\?.*)?$/, (route) =>
    route.fulfill({
      status: 503,
      contentType: 'application/problem+json',
      body: JSON.stringify({
        type: 'urn:berth:problem:unavailable',
        title: 'Service Unavailable',
        status: 503,
        detail: 'the cluster did not sign the certificate in time; try again',
        code: 'unavailable',
      }),
    }),
  );
  await row.getByRole('button', { name: 'Download kubeconfig' }).click();
  await expect(row.locator('.download-error')).toHaveText('the cluster did not sign the certificate in time; try again');
  await expect(page).toHaveURL('/onboarding');
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Onboarding');

  await page.unroute(/\/api\/v1\/namespaces\/[^/]+\/kubeconfig(\?.*)?$/);
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    row.getByRole('button', { name: 'Download kubeconfig' }).click(),
  ]);
  expect(download.suggestedFilename()).toBe(`${name}.kubeconfig`);
  await expect(row.locator('.download-error')).toHaveCount(0);
});

test('the namespace form scolds only what was touched, in its own words, and starts afresh after a request', async ({ browser }) => {
  const page = await signedIn(browser, 'Dana Developer', '/onboarding');
  const form = page.locator('#namespace-form');
  const name = form.locator('input[name="name"]');
  // A long name is not cut: it is refused, saying how long it is.
  const long = `a${'b'.repeat(69)}`;
  await name.fill(long);
  await expect(name).toHaveValue(long);
  await expect(form.locator('.field-error[data-field="name"]')).toContainText('at most 63 characters (this one has 70)');
  // Purpose and cost centre are required but untouched: nothing said under them yet.
  await expect(form.locator('.field-error[data-field="purpose"]')).toHaveCount(0);
  await expect(form.locator('.field-error[data-field="cost_centre"]')).toHaveCount(0);
  // Sent as it is, every field's complaint shows, the summary in the form's words.
  await form.getByRole('button', { name: 'Request namespace' }).click();
  await expect(form.locator('.field-error[data-field="purpose"]')).toBeVisible();
  const summary = page.locator('#submit-errors');
  await expect(summary).toContainText('Cost centre:');
  await expect(summary).not.toContainText('cost_centre');

  const fresh = `fresh-${suffix}`;
  await name.fill(fresh);
  await form.locator('textarea[name="purpose"]').fill('Browser test');
  await form.locator('input[name="cost_centre"]').fill('CC-1042');
  await form.getByRole('button', { name: 'Request namespace' }).click();
  await expect(page.locator('#submit-result')).toContainText(`for ${fresh}: approved at once`);
  // The form is ready for the next one, and says nothing about the empty fields.
  await expect(name).toHaveValue('');
  await expect(form.locator('textarea[name="purpose"]')).toHaveValue('');
  await expect(form.locator('.field-error')).toHaveCount(0);
  await expect(page.locator(`#requests-table tr[data-namespace="${fresh}"]`)).toHaveAttribute('data-state', 'ready');
  await expect(page.locator(`#requests-table tr[data-namespace="${fresh}"] td.expires`)).not.toHaveText('never');
});

test('a cost link with a parameter the report does not know says so', async ({ browser }) => {
  const page = await signedIn(browser, 'Mike Manager', '/cost?group=team');
  await expect(page.locator('#cost-problems')).toContainText('unknown parameter "group"');
  await expect(page.locator('#cost-problems')).toContainText('by, label, window');
});

test("each persona's home shows what needs them", async ({ browser }) => {
  const dana = await signedIn(browser, 'Dana Developer', '/');
  await expect(dana.locator('#home-namespaces')).toBeVisible();
  await expect(dana.locator('#home-namespaces li').first()).toBeVisible();
  await expect(dana.locator('#home-decisions')).toHaveCount(0);
  await expect(dana.locator('#home-access')).toHaveCount(0);

  // The demo leaves a large request waiting for Mike.
  const mike = await signedIn(browser, 'Mike Manager', '/');
  await expect(mike.locator('#home-decision-count')).toHaveText(/^[1-9][0-9]*$/);
  await expect(mike.locator('#home-spend')).toContainText('$');
  await expect(mike.locator('#home-access')).toHaveCount(0);

  const sam = await signedIn(browser, 'Sam SRE', '/');
  await expect(sam.locator('#home-queue-count')).toHaveText(/^[0-9]+$/);
  await expect(sam.locator('#home-decisions')).toHaveCount(0);

  const ada = await signedIn(browser, 'Ada Admin', '/');
  await expect(ada.locator('#home-policy-summary')).toContainText('access rules');
});

test('a shared link opened signed out keeps its view through the sign-in', async ({ page }) => {
  await page.goto('/cost?by=team&window=30d');
  await expect(page.locator('.app')).toHaveAttribute('data-hydrated', 'true');
  await page.locator('#sign-in-link').click();
  await expect(page).toHaveURL(/\/signin\?next=/);
  await page.getByRole('button', { name: 'Sign in as Mike Manager' }).click();
  await expect(page).toHaveURL('/cost?by=team&window=30d');
  await expect(page.locator('#user-name')).toHaveText('Mike Manager');
});

test('a break-glass grant is signed off from the list', async ({ browser }) => {
  const sam = await signedIn(browser, 'Sam SRE', '/access');
  const form = sam.locator('#access-form');
  await form.locator('select[name="role"]').selectOption('admin');
  await form.locator('input[name="namespaces"]').fill('search-staging');
  await form.locator('input[name="duration"]').fill('30m');
  await form.locator('input[name="reason"]').fill('search is down: restarting the cluster');
  await form.locator('input[name="ticket"]').fill('INC-77');
  await form.locator('input[name="break_glass"]').check();
  await form.getByRole('button', { name: 'Request' }).click();
  await expect(sam.locator('#access-request-result')).toContainText('active');
  const id = (await sam.locator('#access-request-result a').textContent()) ?? '';

  // Another SRE reviews it afterwards, without opening its page.
  const sid = await signedIn(browser, 'Sid SRE', '/access');
  const row = sid.locator(`#access-active tr.access-row[data-id="${id}"]`);
  await expect(row).toContainText('break-glass · review open');
  await row.locator('input[name="comment"]').fill('checked the audit trail: restarts only');
  await row.getByRole('button', { name: 'Sign off' }).click();
  await expect(sid.locator('#access-result')).toContainText('Signed off');
  await expect(sid.locator(`tr.access-row[data-id="${id}"] .glass`).first()).not.toContainText('review open');
});

test('the audit trail shows what a change changed, and a bad date is refused in the page', async ({ browser }) => {
  const mike = await signedIn(browser, 'Mike Manager', '/rollouts/deployment/payments-dev/api');
  const errors = collectErrors(mike);
  mike.on('dialog', (dialog) => dialog.accept());
  const replicas = mike.getByRole('spinbutton', { name: 'Replicas of api' });
  const before = await replicas.inputValue();
  const wanted = String(Number(before) + 1);
  await replicas.fill(wanted);
  await mike.locator('button[data-action="scale"]').click();
  await expect(mike.locator('#action-result')).toContainText(`scales to ${wanted}`);

  await mike.goto('/audit?action=workload.scale&namespace=payments-dev');
  const row = mike.locator('#audit-table tbody tr').first();
  await expect(row).toContainText('workload.scale');
  await expect(row.locator('td.changes')).toHaveText(`replicas: ${before} → ${wanted}`);

  // A date the filter cannot read is said so where the results would be, not dropped.
  await mike.goto('/audit?since=yesterday');
  await expect(mike.locator('#audit-error')).toContainText('since must be a date (YYYY-MM-DD)');
  await expect(mike.locator('#audit-table')).toHaveCount(0);
  expect(errors).toEqual([]);
});

test('a developer withdraws a request nobody has decided, and it leaves the review queue', async ({ browser }) => {
  const sam = await signedIn(browser, 'Sam SRE', '/access');
  const dana = await signedIn(browser, 'Dana Developer', '/access');
  const errors = collectErrors(dana);
  const form = dana.locator('#access-form');
  await form.locator('input[name="namespaces"]').fill('search-staging');
  await form.locator('input[name="duration"]').fill('30m');
  await form.locator('input[name="reason"]').fill('asked the wrong team; taking it back');
  await form.getByRole('button', { name: 'Request' }).click();
  const result = dana.locator('#access-request-result');
  await expect(result).toContainText('is pending');
  const id = (await result.locator('a').textContent()) ?? '';
  await expect(sam.locator(`#access-queue tr.access-row[data-id="${id}"]`)).toBeVisible();

  const mine = dana.locator(`#access-mine tr.access-row[data-id="${id}"]`);
  dana.on('dialog', (dialog) => dialog.accept());
  await mine.getByRole('button', { name: 'Withdraw' }).click();
  await expect(dana.locator('#access-result')).toContainText('Withdrawn');
  await expect(mine).toHaveAttribute('data-state', 'withdrawn');
  await expect(mine.getByRole('button', { name: 'Withdraw' })).toHaveCount(0);
  // The reviewer's open page drops it on its next refresh.
  await expect(sam.locator(`#access-queue tr.access-row[data-id="${id}"]`)).toHaveCount(0);
  expect(errors).toEqual([]);
});

// Presses Tab until the focused element matches `selector` (at most `limit` times): what a
// keyboard user does, without a pointer or a script focusing anything.
async function tabTo(page: import('@playwright/test').Page, selector: string, limit = 80): Promise<void> {
  for (let i = 0; i < limit; i++) {
    if (await page.evaluate((s) => document.activeElement?.matches(s) ?? false, selector)) {
      return;
    }
    await page.keyboard.press('Tab');
  }
  throw new Error(`Tab never reached ${selector}`);
}

test('a developer signs in, asks for a namespace and downloads its kubeconfig with the keyboard alone', async ({ page }) => {
  const errors = collectErrors(page);
  const name = `keys-${suffix}`;
  await page.goto('/signin');
  await expect(page.locator('.app')).toHaveAttribute('data-hydrated', 'true');
  await tabTo(page, 'form:has(input[value="demo:dana"]) button');
  await page.keyboard.press('Enter');
  await expect(page.locator('#user-name')).toHaveText('Dana Developer');
  await expect(page.locator('.app')).toHaveAttribute('data-hydrated', 'true');

  // The first Tab offers the skip link; the menu is next.
  await page.keyboard.press('Tab');
  await expect(page.getByRole('link', { name: 'Skip to content' })).toBeFocused();
  await tabTo(page, 'nav a[href="/onboarding"]');
  await page.keyboard.press('Enter');
  await expect(page).toHaveURL('/onboarding');

  await tabTo(page, '#namespace-form input[name="name"]');
  await page.keyboard.type(name);
  await tabTo(page, '#namespace-form textarea[name="purpose"]');
  await page.keyboard.type('Keyboard journey');
  await tabTo(page, '#namespace-form input[name="cost_centre"]');
  await page.keyboard.type('CC-1042');
  await tabTo(page, '#namespace-form button[type="submit"]');
  await page.keyboard.press('Enter');
  // The answer takes the focus, so the next Tab starts from it.
  const answer = page.locator('#submit-answer');
  await expect(answer).toContainText('approved');
  await expect(answer).toBeFocused();
  const row = page.locator(`#requests-table tr[data-namespace="${name}"]`);
  await expect(row).toHaveAttribute('data-state', 'ready');

  await tabTo(page, `#requests-table tr[data-namespace="${name}"] button.download`, 200);
  const [download] = await Promise.all([page.waitForEvent('download'), page.keyboard.press('Enter')]);
  expect(download.suggestedFilename()).toBe(`${name}.kubeconfig`);
  expect(errors).toEqual([]);
});
