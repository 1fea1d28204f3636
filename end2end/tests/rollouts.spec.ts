// Rollouts in a real browser against `berth demo`: a developer deploys into their namespace
// with kubectl, watches the rollout page follow a new image to completion without a reload,
// rolls back from the page, and the audit trail lists it.
import { expect, test } from '@playwright/test';
import { spawnSync } from 'node:child_process';
import { PATIENCE, collectErrors, requestNamespace, signedIn, suffix } from './helpers';

test('a new image rolls out live, with findings, and a rollback from the page is audited', async ({ browser }) => {
  const dana = await signedIn(browser, 'Dana Developer');
  const errors = collectErrors(dana);
  const name = `dana-roll-${suffix}`;
  await requestNamespace(dana, name, '7d');
  const [download] = await Promise.all([
    dana.waitForEvent('download'),
    dana.locator(`#requests-table tr[data-namespace="${name}"]`).getByRole('button', { name: 'Download kubeconfig' }).click(),
  ]);
  const file = await download.path();
  const kubectl = (...args: string[]) =>
    spawnSync('kubectl', ['--kubeconfig', file, ...args], { encoding: 'utf8', timeout: PATIENCE });
  expect(kubectl('create', 'deployment', 'web', '--image=nginx:1.27', '--replicas=2').stderr).toBe('');

  await dana.goto(`/rollouts?namespace=${name}`);
  await expect(dana.locator('.app')).toHaveAttribute('data-hydrated', 'true');
  await expect(dana.locator('#rollout-filter')).toContainText(`namespace ${name}`);
  const row = dana.locator(`#wl-${name}-web`);
  await expect(row).toHaveAttribute('data-state', 'complete');
  await expect(row.locator('[role="progressbar"]')).toHaveAttribute('aria-valuenow', '100');
  await expect(row).toContainText('deployment "web" successfully rolled out');
  await expect(row).toContainText('revision 1');
  // kubectl create deployment sets no requests or limits: a finding with its fix.
  await row.locator('.findings summary').click();
  await expect(row.locator('[data-check="resources"]')).toContainText('set resources.requests');

  // From here the page must follow on its own: mark the window, change the image.
  await dana.evaluate(() => ((window as unknown as Record<string, string>).berthMarker = 'kept'));
  expect(kubectl('set', 'image', 'deployment/web', 'nginx=nginx:1.28').status).toBe(0);
  await expect(row).toContainText('nginx:1.28');
  await expect(row).toHaveAttribute('data-state', 'complete');
  await expect(row).toContainText('revision 2');
  expect(await dana.evaluate(() => (window as unknown as Record<string, string>).berthMarker)).toBe('kept');

  // Roll back to revision 1 from the page (confirmed), and watch it complete again.
  dana.on('dialog', (dialog) => dialog.accept());
  await row.locator('select[name="revision"]').selectOption('1');
  await row.locator('[data-action="rollback"]').click();
  await expect(dana.locator('#action-result')).toContainText('web rolls back to revision 1');
  await expect(row).toContainText('revision 3');
  await expect(row).toHaveAttribute('data-state', 'complete');
  await expect(row.locator('.images')).toHaveText('nginx:1.27');

  // A rollout scripted to stall turns red with the pod that blocks it.
  const stuck = spawnSync('kubectl', ['--kubeconfig', file, 'apply', '-f', '-'], {
    encoding: 'utf8',
    timeout: PATIENCE,
    input: JSON.stringify({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'stuck' },
      spec: {
        replicas: 1,
        progressDeadlineSeconds: 3,
        selector: { matchLabels: { app: 'stuck' } },
        template: {
          metadata: { labels: { app: 'stuck' }, annotations: { 'sandbox.berth.dev/script': 'never-ready' } },
          spec: { containers: [{ name: 'app', image: 'nginx:1.27' }] },
        },
      },
    }),
  });
  expect(stuck.stderr).toBe('');
  const stalled = dana.locator(`#wl-${name}-stuck`);
  await expect(stalled).toHaveAttribute('data-state', 'stalled');
  await expect(stalled).toContainText('exceeded its progress deadline');
  await expect(stalled.locator('.blocking-pod')).toContainText('not ready');

  // Its own page names the pod as kubectl get pods would, with the kubelet's warnings.
  await stalled.locator('a.workload-link').click();
  await expect(dana).toHaveURL(new RegExp(`/rollouts/deployment/${name}/stuck\\?cluster=eu-prod$`));
  await expect(dana.locator('#workload')).toHaveAttribute('data-state', 'stalled');
  const pod = dana.locator('#pods tr.pod');
  await expect(pod).toHaveCount(1);
  await expect(pod).toHaveAttribute('data-status', 'Running');
  await expect(pod).toContainText('0/1');
  await expect(pod.locator('.node')).not.toHaveText('not scheduled');
  await expect(dana.locator('#events tr.event[data-reason="Unhealthy"]').first()).toContainText('Readiness probe failed');
  await expect(dana.locator('#findings [data-check="image-tag"]')).toBeVisible();

  // The web page: three revisions with images and release, both pods on the current one.
  await dana.goto(`/rollouts/deployment/${name}/web`);
  await expect(dana.locator('.app')).toHaveAttribute('data-hydrated', 'true');
  await expect(dana.locator('#history tr.revision')).toHaveCount(2);
  await expect(dana.locator('#history tr.revision.current')).toHaveAttribute('data-revision', '3');
  await expect(dana.locator('#history tr[data-revision="2"] .images')).toHaveText('nginx:1.28');
  await expect(dana.locator('#pods tr.pod[data-status="Running"]')).toHaveCount(2);
  await expect(dana.locator('#events')).toContainText('ScalingReplicaSet');
  // Restart from here, confirmed; the new pods arrive without a reload.
  const before = await dana.locator('#pods tr.pod').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-pod')));
  await dana.locator('[data-action="restart"]').click();
  await expect(dana.locator('#action-result')).toContainText('web');
  await expect
    .poll(
      async () => {
        const now = await dana.locator('#pods tr.pod[data-status="Running"]').evaluateAll((rows) =>
          rows.map((r) => r.getAttribute('data-pod')),
        );
        return now.length === 2 && now.every((p) => !before.includes(p));
      },
    )
    .toBe(true);
  expect(errors).toEqual([]);

  // The audit trail lists the rollback, intent and outcome.
  const sam = await signedIn(browser, 'Sam SRE', `/audit?action=workload.rollback&namespace=${name}`);
  await expect(sam.locator('#audit-table')).toContainText('workload.rollback');
  await expect(sam.locator('#audit-table')).toContainText('requested');
  await expect(sam.locator('#audit-table')).toContainText('success');
});
