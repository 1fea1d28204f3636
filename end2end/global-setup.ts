// Starts `berth demo` on the run's port with a state directory of its own, waits until it
// serves, and stops it (Ctrl-C, so it shuts its Postgres down cleanly) when the run ends.
import { spawn } from 'node:child_process';
import { appendFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PATIENCE } from './tests/helpers';

const repo = path.resolve(__dirname, '..');
// As the integration test of `berth demo` (cli_startup) bounds it.
const DEMO_START_LIMIT_MS = 600_000;

export default async function globalSetup(): Promise<() => Promise<void>> {
  const port = process.env.E2E_PORT;
  if (!port) throw new Error('E2E_PORT is not set; playwright.config.ts sets it');
  const oidcPort = process.env.E2E_OIDC_PORT;
  if (!oidcPort) throw new Error('E2E_OIDC_PORT is not set; playwright.config.ts sets it');
  // BERTH_BINARY: another build of berth (the front-end bench can run a release one).
  const binary = process.env.BERTH_BINARY
    ? path.resolve(process.env.BERTH_BINARY)
    : path.join(repo, 'target', 'debug', 'berth');
  const stateDir = path.join(repo, 'target', 'e2e', `state-${port}`);
  rmSync(stateDir, { recursive: true, force: true });
  mkdirSync(stateDir, { recursive: true });

  // A real OpenID Connect provider first, so Berth can be configured to use it.
  const berthUrl = `http://127.0.0.1:${port}`;
  const issuer = `http://127.0.0.1:${oidcPort}`;
  const provider = spawn(process.execPath, [path.join(__dirname, 'oidc', 'provider.mjs')], {
    env: { ...process.env, OIDC_PORT: oidcPort, BERTH_URL: berthUrl },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let providerOutput = '';
  provider.stdout.on('data', (c) => (providerOutput += c));
  provider.stderr.on('data', (c) => (providerOutput += c));
  const providerStarted = Date.now();
  for (;;) {
    try {
      const res = await fetch(`${issuer}/.well-known/openid-configuration`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (provider.exitCode !== null || Date.now() - providerStarted > PATIENCE) {
      provider.kill('SIGKILL');
      throw new Error(`the OIDC provider did not start:\n${providerOutput}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const config = path.join(stateDir, 'berth.toml');
  writeFileSync(
    config,
    [
      '[oidc]',
      `issuer_url = "${issuer}"`,
      'client_id = "berth"',
      'client_secret = "berth-test-secret"',
      `redirect_url = "${berthUrl}/auth/oidc/callback"`,
      'admins = ["carol@example.com"]',
      '',
      '[oidc.roles]',
      '"platform-sre" = "sre"',
      '"eng-managers" = "manager"',
      '',
      '[oidc.teams]',
      '"team-payments" = "payments"',
      '"platform-sre" = "platform"',
      '',
    ].join('\n'),
  );

  const env = { ...process.env };
  for (const name of Object.keys(env)) {
    if (name.startsWith('BERTH_') || name === 'DATABASE_URL') delete env[name];
  }
  const demo = spawn(binary, ['demo', '--port', port, '--state-dir', stateDir, '--config', config], {
    cwd: repo,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  // The demo's log is kept beside the state directory (which is removed at the end), so a
  // failed run can be read afterwards.
  const log = path.join(repo, 'target', 'e2e', `demo-${port}.log`);
  writeFileSync(log, '');
  const record = (chunk: Buffer) => {
    output += chunk;
    appendFileSync(log, chunk);
  };
  demo.stdout.on('data', record);
  demo.stderr.on('data', record);

  const exited = new Promise<number | null>((resolve) => demo.on('exit', (code) => resolve(code)));
  const started = Date.now();
  while (!output.includes('Berth demo is running at')) {
    if (demo.exitCode !== null) {
      provider.kill('SIGKILL');
      throw new Error(`berth demo exited with ${demo.exitCode}:\n${output}`);
    }
    // The demo starts a control plane, loads its company and imports a month of usage
    // history: about 45 s alone, over 120 s on a 2-core machine busy with other work (a loaded
    // fresh-clone run timed out at 120 s while the history was importing).
    if (Date.now() - started > DEMO_START_LIMIT_MS) {
      demo.kill('SIGKILL');
      provider.kill('SIGKILL');
      throw new Error(`berth demo did not start within ${DEMO_START_LIMIT_MS / 1000} s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  return async () => {
    provider.kill('SIGTERM');
    demo.kill('SIGINT');
    const code = await Promise.race([
      exited,
      new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 30_000)),
    ]);
    if (code === 'timeout') {
      demo.kill('SIGKILL');
      throw new Error(`berth demo did not stop within 30 s:\n${output}`);
    }
    if (code !== 0) throw new Error(`berth demo exited with ${code}:\n${output}`);
    rmSync(stateDir, { recursive: true, force: true });
  };
}
