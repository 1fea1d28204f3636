// Every page as each persona meets it: rendered by the server and hydrated in the browser to
// the same thing (no hydration warning), in a phone's width and a laptop's.
import AxeBuilder from '@axe-core/playwright';
import { expect, test, type ConsoleMessage } from '@playwright/test';
import { PERSONAS, signedInAt } from './helpers';

const PAGES = [
  '/',
  '/onboarding',
  '/namespaces',
  '/rollouts',
  '/cost',
  '/idle',
  '/access',
  '/access/policy',
  '/audit',
  '/me',
  '/tiers',
  '/prices',
  '/clusters',
  '/rollouts/deployment/payments-prod/api',
];


// What Leptos (debug builds) says when server and browser render differently, or when a page
// reads data where the two can differ.
const HYDRATION = /hydrat|outside a <Suspense|mismatch/i;

test('no page logs a hydration warning, for any persona', async ({ browser }) => {
  const found: string[] = [];
  for (const persona of PERSONAS) {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto('/signin');
    await page.getByRole('button', { name: `Sign in as ${persona}` }).click();
    await expect(page.locator('#user-name')).toHaveText(persona);
    let at = '';
    page.on('console', (msg: ConsoleMessage) => {
      if ((msg.type() === 'warning' || msg.type() === 'error') && HYDRATION.test(msg.text())) {
        found.push(`${persona} ${at}: ${msg.text().slice(0, 300)}`);
      }
    });
    // The page's timers run on a clock the test moves: each page's polls (every 2 s and
    // more) fire without the test waiting for them.
    await page.clock.install();
    for (const path of PAGES) {
      at = path;
      await page.goto(path);
      await page.clock.runFor(100);
      await expect(page.locator('.app')).toHaveAttribute('data-hydrated', 'true');
      await page.clock.runFor(61_000);
    }
    // A form's live checks, typed as a person types.
    at = '/onboarding (typing)';
    await page.goto('/onboarding');
    await page.clock.runFor(100);
    await expect(page.locator('.app')).toHaveAttribute('data-hydrated', 'true');
    await page.locator('#namespace-form input[name="name"]').pressSequentially('Typed_Name');
    await page.locator('#namespace-form select[name="lifetime"]').selectOption('7d');
    await page.clock.runFor(5_000);
    await expect(page.locator('#namespace-form .field-error').first()).toBeVisible();
    await context.close();
  }
  expect(found, found.join('\n')).toEqual([]);
});

// axe-core (WCAG 2 A and AA rules) on every page each persona sees, at a phone's width and a
// laptop's: no critical or serious violation, and no page wider than the window.
for (const width of [390, 1280]) {
  test(`every page is accessible and fits at ${width} px`, async ({ browser }) => {
    const found: string[] = [];
    for (const persona of PERSONAS) {
      const context = await signedInAt(browser, persona, width);
      const page = context.pages()[0];
      for (const path of PAGES) {
        await page.goto(path);
        await expect(page.locator('.app')).toHaveAttribute('data-hydrated', 'true');
        const results = await new AxeBuilder({ page })
          .withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'])
          .analyze();
        for (const v of results.violations) {
          if (v.impact === 'critical' || v.impact === 'serious') {
            const where = v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | ');
            found.push(`${persona} ${path}: ${v.impact} ${v.id} (${v.nodes.length}): ${v.help} at ${where}`);
          }
        }
        const [scroll, inner] = await page.evaluate(() => [
          document.documentElement.scrollWidth,
          window.innerWidth,
        ]);
        if (scroll > inner) found.push(`${persona} ${path}: ${scroll} px wide in a ${inner} px window`);
      }
      await context.close();
    }
    expect(found, found.join('\n')).toEqual([]);
  });
}
