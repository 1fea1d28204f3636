// A real OpenID Connect provider for the browser tests: `oidc-provider` on a loopback port,
// with one client (Berth) and four users: two in different groups, an admin by e-mail, and one
// who claims that e-mail unverified. Its built-in development login
// form accepts any password for a known login.
import Provider from 'oidc-provider';

const port = Number(process.env.OIDC_PORT);
const berth = process.env.BERTH_URL;
if (!port || !berth) {
  console.error('OIDC_PORT and BERTH_URL must be set');
  process.exit(2);
}

const users = {
  alice: { sub: 'alice', email: 'alice@example.com', email_verified: true, name: 'Alice Sre', groups: ['platform-sre'] },
  bob: { sub: 'bob', email: 'bob@example.com', email_verified: true, name: 'Bob Manager', groups: ['eng-managers', 'team-payments'] },
  // Berth's config names carol@example.com an admin; carol proves the address, mallory only
  // claims it (an IdP that lets users set their own e-mail).
  carol: { sub: 'carol', email: 'carol@example.com', email_verified: true, name: 'Carol Admin', groups: [] },
  mallory: { sub: 'mallory', email: 'carol@example.com', email_verified: false, name: 'Mallory', groups: [] },
};

const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [
    {
      client_id: 'berth',
      client_secret: 'berth-test-secret',
      redirect_uris: [`${berth}/auth/oidc/callback`],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  scopes: ['openid', 'email', 'profile', 'groups'],
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'], groups: ['groups'] },
  async findAccount(ctx, id) {
    const user = users[id];
    if (!user) return undefined;
    return { accountId: id, async claims() { return user; } };
  },
  pkce: { required: () => true },
  cookies: { keys: ['berth-e2e-cookie-key'] },
  features: { devInteractions: { enabled: true } },
});
provider.proxy = false;
provider.listen(port, '127.0.0.1', () => console.log(`oidc provider listening on ${port}`));
