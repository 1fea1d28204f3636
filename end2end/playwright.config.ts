import { defineConfig } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import { PATIENCE } from './tests/helpers';

// One free loopback port for the whole run. The config is evaluated again in every worker, so
// the first evaluation stores the port in the environment the workers inherit.
function freePort(): string {
  return execFileSync(process.execPath, [
    '-e',
    "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})",
  ])
    .toString()
    .trim();
}
if (!process.env.E2E_PORT) process.env.E2E_PORT = freePort();
// The OpenID Connect provider the sign-in test goes through.
if (!process.env.E2E_OIDC_PORT) process.env.E2E_OIDC_PORT = freePort();

export default defineConfig({
  testDir: './tests',
  globalSetup: './global-setup.ts',
  // A test does several waits in a row, each bounded by PATIENCE.
  timeout: 5 * PATIENCE,
  expect: { timeout: PATIENCE },
  workers: 1,
  retries: 0,
  reporter: [['list']],
  outputDir: './test-results',
  use: {
    baseURL: `http://127.0.0.1:${process.env.E2E_PORT}`,
    headless: true,
    screenshot: 'only-on-failure',
    trace: 'off',
    launchOptions: {
      // Debian's Chromium: nothing is downloaded at run time.
      executablePath: '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    },
  },
});
