// Regenerates docs/screens/home-<persona>-<width>.png (`make screens`).
import { expect, test } from '@playwright/test';
import { PERSONAS, signedInAt } from '../tests/helpers';

for (const width of [390, 1280]) {
  test(`each persona's home at ${width} px`, async ({ browser }) => {
    for (const persona of PERSONAS) {
      const context = await signedInAt(browser, persona, width);
      const page = context.pages()[0];
      await expect(page.locator('.app')).toHaveAttribute('data-hydrated', 'true');
      await expect(page.locator('#for-you .card').first()).toBeVisible();
      await expect(page.locator('#for-you')).not.toContainText('Loading…');
      const slug = persona.split(' ')[0].toLowerCase();
      await page.screenshot({ path: `../docs/screens/home-${slug}-${width}.png`, fullPage: true });
      await context.close();
    }
  });
}
