// The idle-resource report in a real browser against `berth demo` and its month of history: a
// manager applies a rightsizing recommendation to a demo workload, the workload's requests
// change in the cluster (read back with kubectl), and the finding goes away.
import { expect, test } from '@playwright/test';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { PATIENCE, collectErrors, signedIn } from './helpers';

const kubeconfig = path.join(__dirname, '..', '..', 'target', 'e2e', `state-${process.env.E2E_PORT}`, 'sandbox.kubeconfig');

function kubectl(...args: string[]): string {
  const run = spawnSync('kubectl', ['--kubeconfig', kubeconfig, ...args], { encoding: 'utf8', timeout: PATIENCE });
  expect(run.stderr).toBe('');
  return run.stdout;
}

test('a manager applies a rightsizing recommendation and the finding goes away', async ({ browser }) => {
  const mike = await signedIn(browser, 'Mike Manager', '/idle');
  const errors = collectErrors(mike);
  await expect(mike.locator('#idle-summary')).toContainText('finding(s)');
  mike.on('dialog', (dialog) => dialog.accept());

  // payments-prod uses 9 CPU of a 6 CPU quota: fraud-scorer (2 CPU a pod, uses about 150m)
  // would add a new pod before removing an old one, and the quota refuses every new pod. The
  // rollout would never move; Berth says so before it touches anything.
  const stuck = mike.locator('#idle-over-provisioned tr.finding[data-id^="over-provisioned/payments-prod/Deployment/fraud-scorer/"]');
  await expect(stuck).toBeVisible();
  await expect(stuck).toContainText('payments');
  await stuck.locator('button[data-action="apply"]').click();
  await expect(mike.locator('#idle-result')).toContainText('the rollout would stop at its first pod');
  await expect(mike.locator('#idle-result')).toContainText('(9 of 6 used)');
  await expect(stuck).toBeVisible();
  const held = kubectl('-n', 'payments-prod', 'get', 'deployment', 'fraud-scorer', '-o', 'jsonpath={.spec.template.spec.containers[0].resources.requests.cpu}');
  expect(held).toBe('2');

  // payments-staging has no quota: its copy of fraud-scorer (1 CPU, idle) is rightsized.
  const row = mike.locator('#idle-over-provisioned tr.finding[data-id^="over-provisioned/payments-staging/Deployment/fraud-scorer/"]');
  await expect(row).toBeVisible();
  const before = kubectl('-n', 'payments-staging', 'get', 'deployment', 'fraud-scorer', '-o', 'jsonpath={.spec.template.spec.containers[0].resources.requests.cpu}');
  expect(before).toBe('1');
  await row.locator('button[data-action="apply"]').click();
  await expect(mike.locator('#idle-result')).toContainText('fraud-scorer: ');
  await expect(mike.locator('#idle-result')).toContainText('now requests');
  await expect(row).toHaveCount(0);

  const after = kubectl('-n', 'payments-staging', 'get', 'deployment', 'fraud-scorer', '-o', 'jsonpath={.spec.template.spec.containers[0].resources.requests.cpu}');
  expect(after).toMatch(/^\d+m$/);
  expect(parseInt(after, 10)).toBeLessThan(400);
  expect(errors).toEqual([]);
});

test('a workload whose pods the quota refuses says so, once, with a count', async ({ browser }) => {
  // A StatefulSet in payments-prod, over its CPU quota: the controller's every try is refused
  // and the StatefulSet sits at 0 pods.
  const name = `ledger-copy-${process.env.E2E_PORT}`;
  const manifest = {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name, namespace: 'payments-prod' },
    spec: {
      replicas: 1,
      serviceName: name,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: [
            {
              name: 'ledger',
              image: 'registry.example.com/payments/ledger:5.2.0',
              resources: { requests: { cpu: '500m', memory: '512Mi' }, limits: { cpu: '500m', memory: '512Mi' } },
            },
          ],
        },
      },
    },
  };
  const applied = spawnSync('kubectl', ['--kubeconfig', kubeconfig, 'apply', '-f', '-'], {
    input: JSON.stringify(manifest),
    encoding: 'utf8',
    timeout: PATIENCE,
  });
  expect(applied.stderr).toBe('');
  const mike = await signedIn(browser, 'Mike Manager', `/rollouts/statefulset/payments-prod/${name}`);
  const errors = collectErrors(mike);
  const refused = mike.locator('#workload-refused');
  // The page follows the cluster: the refusal appears once the controller has tried.
  await expect(refused).toContainText('New pods are refused', { timeout: PATIENCE });
  await expect(refused).toContainText('exceeded quota');
  await expect(refused).toContainText(`StatefulSet/${name}`);
  // However often the controller tried, the events table holds the refusal in one row.
  await expect(mike.locator('#events tr.event[data-reason="FailedCreate"]')).toHaveCount(1);
  // The rollouts list says it too, on the workload's row.
  await mike.goto('/rollouts?namespace=payments-prod');
  await expect(mike.locator(`#wl-payments-prod-${name} .refused`)).toContainText('exceeded quota');
  // Workloads with all their pods say nothing of the kind.
  await expect(mike.locator('#wl-payments-prod-api .refused')).toHaveCount(0);
  expect(errors).toEqual([]);
});

test("the idle report names owners and costs, and a developer sees only their teams'", async ({ browser }) => {
  const dana = await signedIn(browser, 'Dana Developer', '/idle');
  await expect(dana.locator('#idle-summary')).toContainText('a month');
  // By the owning team, not the namespace's name: other tests leave namespaces of Dana's
  // teams with names of their own.
  const teams = await dana.locator('tr.finding').evaluateAll((rows) =>
    rows.map((r) => r.getAttribute('data-team') ?? ''),
  );
  expect(teams.length).toBeGreaterThan(0);
  for (const team of teams) {
    expect(['payments', 'checkout', ''], team).toContain(team);
  }
});

test('an owner deletes a claim nothing mounts, from the report', async ({ browser }) => {
  const dana = await signedIn(browser, 'Dana Developer', '/idle');
  const errors = collectErrors(dana);
  // payments-staging keeps a 100 GiB snapshot claim no pod mounts.
  const row = dana.locator('#idle-unused tr.finding[data-id="unused/PersistentVolumeClaim/payments-staging/old-ledger-snapshot"]');
  // The scan runs in the background from start-up; the page says when it last finished and a
  // reload shows a newer one. Each look at a reloaded page is short: a page rendered before
  // the scan finished never changes by itself, and only the next reload can show it (the
  // whole wait had gone to the first page when that was so).
  await expect(async () => {
    await dana.reload();
    await expect(dana.locator('#idle-scan')).toContainText('as found by the scan of', { timeout: 1_000 });
  }).toPass({ timeout: PATIENCE });
  // A click before the reloaded page has hydrated would go nowhere.
  await expect(dana.locator('.app')).toHaveAttribute('data-hydrated', 'true');
  await expect(row).toBeVisible();
  // The demo's StatefulSets mount their claims: none of them is called unused.
  await expect(dana.locator('#idle-unused tr.finding[data-id*="/data-ledger-"]')).toHaveCount(0);
  await expect(row).toContainText('no pod or workload mounts it');
  await expect(row).toContainText('$4.00');
  dana.on('dialog', (dialog) => dialog.accept());
  await row.locator('button[data-action="delete"]').click();
  await expect(dana.locator('#idle-result')).toHaveText('PersistentVolumeClaim old-ledger-snapshot deleted from payments-staging');
  await expect(row).toHaveCount(0);
  const left = spawnSync('kubectl', ['--kubeconfig', kubeconfig, '-n', 'payments-staging', 'get', 'pvc', 'old-ledger-snapshot'], {
    encoding: 'utf8',
    timeout: PATIENCE,
  });
  expect(left.stderr).toContain('NotFound');
  expect(errors).toEqual([]);
});

test('the headline counts each cost once, node capacity apart, and the findings filter by team and kind', async ({ browser }) => {
  const mike = await signedIn(browser, 'Mike Manager', '/idle');
  const errors = collectErrors(mike);
  await expect(mike.locator('#idle-summary')).toContainText('finding(s)');
  const dollars = (text: string | null) => Number((text ?? '').replace(/[^0-9.]/g, ''));
  const headline = async () => {
    const text = (await mike.locator('#idle-summary').textContent()) ?? '';
    return dollars(/· \$([0-9.]+) a month could be saved/.exec(text)?.[1] ?? null);
  };
  const rowsSum = async () =>
    (await mike.locator('tr.finding:not([data-kind="stranded"]) td.num').allTextContents()).reduce((a, t) => a + dollars(t), 0);
  // payments-staging's api is both abandoned and over-provisioned: counted once.
  await expect(mike.locator('#idle-overlap')).toContainText('counted once');
  expect(await headline()).toBeLessThan((await rowsSum()) - 1);
  // Stranded node capacity is said apart, not added in.
  await expect(mike.locator('#idle-nodes')).toContainText('node capacity');

  const filters = mike.locator('#idle-filters');
  await filters.locator('select[name="team"]').selectOption('payments');
  await filters.locator('select[name="kind"]').selectOption('abandoned');
  await filters.getByRole('button', { name: 'Show' }).click();
  // The demo serves two clusters, so the form has a cluster select too (every cluster).
  await expect(mike).toHaveURL(/\/idle\?team=payments&cluster=&kind=abandoned$/);
  const rows = mike.locator('tr.finding');
  await expect(rows.first()).toBeVisible();
  const shown = await rows.evaluateAll((rs) => rs.map((r) => `${r.getAttribute('data-team')}/${r.getAttribute('data-kind')}`));
  expect(new Set(shown)).toEqual(new Set(['payments/abandoned']));
  await expect(mike.locator('#idle-summary strong')).toHaveText(`${shown.length} finding(s)`);
  // Abandoned workloads of one team do not overlap each other: the headline is their sum.
  expect(Math.abs((await headline()) - (await rowsSum()))).toBeLessThan(0.02 * shown.length + 0.01);
  expect(errors).toEqual([]);
});
