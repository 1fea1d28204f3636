import { defineConfig } from '@playwright/test';
import base from './playwright.config';

// `make screens`: each persona's home at a phone's width and a laptop's, into docs/screens/,
// from the same demo the browser tests use.
export default defineConfig({
  ...base,
  testDir: './screens',
});
