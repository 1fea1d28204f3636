// What every browser test does: collect console errors, sign in as a demo persona, ask for a
// namespace and wait until it is ready.
import { expect, type Browser, type BrowserContext, type Page } from '@playwright/test';

// How long anything may take before a test gives up: the bound on every wait (assertions,
// kubectl runs, polls), as the integration tests' `common::PATIENCE`. Tests wait for what they
// mean — hydration, the server's answer, the cluster's state — and this only says when to stop
// waiting on a machine busy with other work; it is never a pause.
export const PATIENCE = 120_000;

// A refusal is an answer with its status (400, 403, 409, 422) and a Failure the page shows in
// words; Chromium logs every such answer to the console. Those are not the page's errors (each
// test checks the words shown); a 404, a 5xx or anything else still is.
const REFUSAL = /^Failed to load resource: the server responded with a status of (400|403|409|422) /;

export function collectErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !REFUSAL.test(msg.text())) errors.push(msg.text());
  });
  page.on('pageerror', (err) => errors.push(err.message));
  return errors;
}

export async function signedIn(browser: Browser, persona: string, path = '/onboarding'): Promise<Page> {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto('/signin');
  await page.getByRole('button', { name: `Sign in as ${persona}` }).click();
  await expect(page.locator('#user-name')).toHaveText(persona);
  await page.goto(path);
  await expect(page.locator('.app')).toHaveAttribute('data-hydrated', 'true');
  return page;
}

// The demo's personas, one per role.
export const PERSONAS = ['Dana Developer', 'Mike Manager', 'Sam SRE', 'Ada Admin'];

// A persona's own browser at `width` px (a phone's 390, a laptop's 1280), signed in on home.
export async function signedInAt(browser: Browser, persona: string, width: number): Promise<BrowserContext> {
  const context = await browser.newContext({ viewport: { width, height: 900 } });
  const page = await context.newPage();
  await page.goto('/signin');
  await page.getByRole('button', { name: `Sign in as ${persona}` }).click();
  await expect(page.locator('#user-name')).toHaveText(persona);
  return context;
}

export async function requestNamespace(page: Page, name: string, lifetime: string): Promise<void> {
  await page.locator('#namespace-form input[name="name"]').fill(name);
  await page.locator('#namespace-form textarea[name="purpose"]').fill('Browser test');
  await page.locator('#namespace-form input[name="cost_centre"]').fill('CC-1042');
  await page.locator('#namespace-form select[name="lifetime"]').selectOption(lifetime);
  await expect(page.locator('#namespace-form .field-error')).toHaveCount(0);
  await page.getByRole('button', { name: 'Request namespace' }).click();
  await expect(page.locator('#submit-result')).toContainText('approved');
  await expect(page.locator(`#requests-table tr[data-namespace="${name}"]`)).toHaveAttribute('data-state', 'ready');
}

// Unique per run, so a retry never meets its own earlier request.
export const suffix = Date.now().toString(36).slice(-5);
