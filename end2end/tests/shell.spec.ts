// The portal shell in a real browser: it renders, hydrates, reacts without reloading, and
// every navigation link leads to its page, with no console errors on the way.
import { expect, test, type Page } from '@playwright/test';

const AREAS = [
  { title: 'Onboarding', path: '/onboarding' },
  { title: 'Namespaces', path: '/namespaces' },
  { title: 'Rollouts', path: '/rollouts' },
  { title: 'Cost', path: '/cost' },
  { title: 'Idle resources', path: '/idle' },
  { title: 'Access', path: '/access' },
  { title: 'Audit', path: '/audit' },
];

function collectErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(msg.text());
  });
  page.on('pageerror', (err) => errors.push(err.message));
  page.on('requestfailed', (req) => errors.push(`request failed: ${req.url()}`));
  return errors;
}

test('home page renders, hydrates and answers a click without reloading', async ({ page }) => {
  const errors = collectErrors(page);
  await page.goto('/');
  await expect(page).toHaveTitle('Home · Berth');
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Berth');
  await expect(page.locator('.app')).toHaveAttribute('data-hydrated', 'true');

  // A full reload would wipe this.
  await page.evaluate(() => ((window as unknown as Record<string, string>).berthMarker = 'kept'));
  await expect(page.locator('#readiness-result')).toHaveText('Not checked yet.');
  await page.getByRole('button', { name: 'Check now' }).click();
  await expect(page.locator('#readiness-result')).toContainText('Ready: every dependency answers.');
  await expect(page.locator('#readiness-result')).toContainText(/postgres: answered in \d+ ms/);
  expect(await page.evaluate(() => (window as unknown as Record<string, string>).berthMarker)).toBe(
    'kept',
  );
  expect(errors).toEqual([]);
});

test('every navigation link leads to its page in place', async ({ page }) => {
  const errors = collectErrors(page);
  await page.goto('/');
  await expect(page.locator('.app')).toHaveAttribute('data-hydrated', 'true');
  await page.evaluate(() => ((window as unknown as Record<string, string>).berthMarker = 'kept'));

  const nav = page.getByRole('navigation', { name: 'Main' });
  for (const area of AREAS) {
    await nav.getByRole('link', { name: area.title, exact: true }).click();
    await expect(page).toHaveURL(area.path);
    await expect(page.getByRole('heading', { level: 1 })).toHaveText(area.title);
    await expect(page).toHaveTitle(`${area.title} · Berth`);
    await expect(nav.getByRole('link', { name: area.title, exact: true })).toHaveAttribute(
      'aria-current',
      'page',
    );
  }
  // Client-side navigation: the page was never reloaded.
  expect(await page.evaluate(() => (window as unknown as Record<string, string>).berthMarker)).toBe(
    'kept',
  );

  await page.getByRole('link', { name: /Berth/ }).first().click();
  await expect(page).toHaveURL('/');
  expect(errors).toEqual([]);
});

test('every area page loads directly', async ({ page }) => {
  const errors = collectErrors(page);
  for (const area of AREAS) {
    const response = await page.goto(area.path);
    expect(response?.status()).toBe(200);
    await expect(page.getByRole('heading', { level: 1 })).toHaveText(area.title);
    await expect(page.locator('.app')).toHaveAttribute('data-hydrated', 'true');
  }
  expect(errors).toEqual([]);
});

test('an unknown address shows the 404 page', async ({ page }) => {
  const response = await page.goto('/no/such/page');
  expect(response?.status()).toBe(404);
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Page not found');
  await expect(page).toHaveTitle('Not found · Berth');
});

test('a demo persona signs in, reads the audit trail and signs out', async ({ page }) => {
  const errors = collectErrors(page);
  await page.goto('/signin');
  await expect(page).toHaveTitle('Sign in · Berth');
  await page.getByRole('button', { name: 'Sign in as Sam SRE' }).click();
  await expect(page).toHaveURL('/');
  await expect(page.locator('#user-name')).toHaveText('Sam SRE');

  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Audit', exact: true }).click();
  await expect(page).toHaveURL('/audit');
  await expect(page.locator('#audit-table')).toContainText('session.sign_in');
  await expect(page.locator('#audit-table')).toContainText('Sam SRE (demo:sam)');

  await page.getByRole('link', { name: 'Sam SRE' }).click();
  await expect(page.locator('#me-roles')).toHaveText('developer, sre');
  await page.getByRole('button', { name: 'Sign out' }).first().click();
  await expect(page).toHaveURL('/signin');
  await expect(page.locator('#sign-in-link')).toBeVisible();

  // Signed out, the audit trail is closed.
  await page.goto('/audit');
  await expect(page.locator('#audit-error')).toContainText('sign in to see the audit trail');
  expect(errors).toEqual([]);
});

test('a user makes an API token, sees it once, and revokes it', async ({ page, request }) => {
  const errors = collectErrors(page);
  await page.goto('/signin');
  await page.getByRole('button', { name: 'Sign in as Dana Developer' }).click();
  await expect(page.locator('#user-name')).toHaveText('Dana Developer');
  await page.goto('/me');
  await expect(page.locator('.app')).toHaveAttribute('data-hydrated', 'true');
  await expect(page.locator('#me-teams')).toHaveText('payments, checkout');

  await page.getByPlaceholder('ci pipeline').fill('release bot');
  await page.getByRole('button', { name: 'Make a token' }).click();
  const token = (await page.locator('#new-token-value').textContent()) ?? '';
  expect(token).toMatch(/^berth_[0-9a-f]{64}$/);
  await expect(page.locator('#token-table')).toContainText('release bot');

  // The token works for a script, without the browser's cookie.
  const me = await request.get('/api/v1/me', { headers: { Authorization: `Bearer ${token}` } });
  expect(me.status()).toBe(200);
  expect((await me.json()).id).toBe('demo:dana');

  await page.getByRole('button', { name: 'Revoke' }).click();
  await expect(page.locator('#token-table')).toContainText('revoked');
  const after = await request.get('/api/v1/me', { headers: { Authorization: `Bearer ${token}` } });
  expect(after.status()).toBe(401);
  expect(errors).toEqual([]);
});

test('a user signs in through the OpenID Connect provider with roles from their groups', async ({ page }) => {
  await page.goto('/signin');
  await page.locator('#oidc-sign-in').click();
  // The provider's own login form (oidc-provider's development interactions).
  await page.locator('input[name="login"]').fill('bob');
  await page.locator('input[name="password"]').fill('any password');
  await page.locator('button[type="submit"]').click();
  // The provider may ask for consent first; wait for whichever page comes.
  const consent = page.getByRole('button', { name: 'Continue' });
  await expect(page.locator('#user-name').or(consent)).toBeVisible();
  if (await consent.isVisible()) await consent.click();

  await expect(page).toHaveURL('/');
  await expect(page.locator('#user-name')).toHaveText('Bob Manager');
  await page.goto('/me');
  await expect(page.locator('#me-roles')).toHaveText('developer, manager');
  await expect(page.locator('#me-teams')).toHaveText('payments');
  await page.getByRole('button', { name: 'Sign out' }).first().click();
  await expect(page).toHaveURL('/signin');
  await expect(page.locator('#sign-in-link')).toBeVisible();
});

test('an admin by e-mail is one only with the address verified', async ({ browser }) => {
  // A browser of its own per user: the provider remembers who signed in.
  const rolesOf = async (login: string) => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto('/signin');
    await page.locator('#oidc-sign-in').click();
    await page.locator('input[name="login"]').fill(login);
    await page.locator('input[name="password"]').fill('any password');
    await page.locator('button[type="submit"]').click();
    const consent = page.getByRole('button', { name: 'Continue' });
    await expect(page.locator('#user-name').or(consent)).toBeVisible();
    if (await consent.isVisible()) await consent.click();
    await expect(page).toHaveURL('/');
    await page.goto('/me');
    const roles = (await page.locator('#me-roles').textContent()) ?? '';
    await context.close();
    return roles;
  };
  // Mallory's provider lets her claim carol@example.com, unverified: she is no admin.
  expect(await rolesOf('mallory')).toBe('developer');
  // Carol has proved the address: admin.
  expect(await rolesOf('carol')).toBe('developer, admin');
});

test("a page's code comes in one file with the page, another page's when it is first shown", async ({ page }) => {
  const errors = collectErrors(page);
  const wasm: string[] = [];
  page.on('request', (req) => {
    const path = new URL(req.url()).pathname;
    if (path.endsWith('.wasm')) wasm.push(path);
  });
  const fetched = (route: string) => wasm.some((p) => p.startsWith(`/pkg/pack__${route}_view_`));

  const response = await page.goto('/audit');
  // The server names the route's pack in the page, so it loads beside the main module.
  expect(await response?.text()).toMatch(/href="\/pkg\/pack__audit_view_[0-9]+\.wasm"/);
  await expect(page.locator('.app')).toHaveAttribute('data-hydrated', 'true');
  // The main module and the route's pack: its 50-130 chunks come in that one file.
  expect(wasm).toEqual(['/pkg/berth_bg.wasm', expect.stringMatching(/^\/pkg\/pack__audit_view_/)]);
  expect(fetched('cost')).toBe(false);

  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Cost', exact: true }).click();
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Cost');
  expect(fetched('cost')).toBe(true);
  expect(wasm).toHaveLength(3);
  expect(errors).toEqual([]);
});

// What a first visit of each page costs a signed-in user, in requests (issue 22: 108-187 when
// every chunk was its own file).
test('a signed-in first visit of any page takes at most 15 requests', async ({ browser }) => {
  const counts: Record<string, number> = {};
  for (const path of [...AREAS.map((a) => a.path), '/me', '/tiers', '/prices', '/access/policy']) {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto('/signin');
    await page.getByRole('button', { name: 'Sign in as Ada Admin' }).click();
    await expect(page.locator('#user-name')).toHaveText('Ada Admin');
    // A new tab, signed in: the sign-in page loaded the main module, which is revalidated
    // (Cache-Control: no-cache) and counted.
    const visit = await context.newPage();
    const seen: string[] = [];
    visit.on('request', (req) => seen.push(new URL(req.url()).pathname));
    await visit.goto(path);
    await expect(visit.locator('.app')).toHaveAttribute('data-hydrated', 'true');
    await expect(visit.locator('main')).toBeVisible();
    counts[path] = seen.length;
    await context.close();
  }
  console.log(`requests on a first visit: ${JSON.stringify(counts)}`);
  for (const [path, count] of Object.entries(counts)) {
    expect(count, `${path}: ${count} requests`).toBeLessThanOrEqual(15);
  }
});
