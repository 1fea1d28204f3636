import { defineConfig } from '@playwright/test';
import base from './playwright.config';

// `make bench-frontend`: the front-end figures (bytes of a first visit, time to hydrate)
// against the same demo the browser tests use. Prints; asserts nothing about size or time.
export default defineConfig({
  ...base,
  testDir: './bench',
  timeout: Number(process.env.BENCH_TIMEOUT ?? 300_000),
});
