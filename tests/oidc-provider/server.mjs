// OIDC providers for Enclave's single sign-on tests, on loopback, on a free port.
//
//   node server.mjs --redirect URI[,URI...] [--client-id ID] [--client-secret S]
//       A real provider (the npm package oidc-provider) with its development login form: any
//       login and password sign in; the login names the account (claims below).
//   node server.mjs --forge --redirect URI
//       A provider speaking the real wire protocol (discovery, JWKS, authorize, token) whose
//       token endpoint answers the ID token the test chose with `GET /_variant?v=NAME`:
//       ok, tamper, wrong_nonce, wrong_aud, expired, none, wrong_key, wrong_iss, hs256.
//
// Prints `READY <issuer>` on stdout once listening.

import http from 'node:http';
import crypto from 'node:crypto';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    redirect: { type: 'string' },
    'client-id': { type: 'string', default: 'enclave' },
    'client-secret': { type: 'string', default: 'enclave-test-secret' },
    forge: { type: 'boolean', default: false },
    port: { type: 'string', default: '0' },
  },
});
const redirects = (args.redirect || '').split(',').filter(Boolean);
const clientId = args['client-id'];
const clientSecret = args['client-secret'];

const server = http.createServer();
await new Promise((r) => server.listen(Number(args.port), '127.0.0.1', r));
const issuer = `http://127.0.0.1:${server.address().port}`;

// People of the test directory: groups map to roles and departments in the tests.
const PEOPLE = {
  alice: { name: 'Alice Liddell', groups: ['staff', 'it-admins'] },
  bob: { name: 'Bob Builder', groups: ['staff'] },
  carol: { name: 'Carol Danvers', groups: ['staff'], email_verified: false },
};

function claimsOf(login) {
  const p = PEOPLE[login] || { name: login, groups: [] };
  return {
    sub: login,
    email: `${login}@example.org`,
    email_verified: p.email_verified ?? true,
    name: p.name,
    preferred_username: login,
    groups: p.groups,
  };
}

if (!args.forge) {
  const { default: Provider } = await import('oidc-provider');
  const provider = new Provider(issuer, {
    clients: [{
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: redirects,
      post_logout_redirect_uris: redirects.map((r) => new URL(r).origin + '/'),
      grant_types: ['authorization_code'],
      response_types: ['code'],
    }],
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'preferred_username'],
      groups: ['groups'],
    },
    scopes: ['openid', 'email', 'profile', 'groups'],
    // Claims of the requested scopes go into the ID token (Enclave reads groups from it).
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true } },
    cookies: { keys: ['enclave-test-cookie-key'] },
    async findAccount(_ctx, id) {
      return { accountId: id, async claims() { return claimsOf(id); } };
    },
  });
  provider.proxy = false;
  server.on('request', provider.callback());
} else {
  const jose = await import('jose');
  const good = await jose.generateKeyPair('RS256', { extractable: true });
  const evil = await jose.generateKeyPair('RS256', { extractable: true });
  const kid = 'test-key-1';
  const jwk = { ...(await jose.exportJWK(good.publicKey)), kid, alg: 'RS256', use: 'sig' };
  const codes = new Map();
  let variant = 'ok';

  const json = (res, status, body) => {
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify(body));
  };
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');

  async function idToken(c) {
    const now = Math.floor(Date.now() / 1000);
    const claims = {
      ...claimsOf(c.login),
      iss: issuer,
      aud: c.clientId,
      iat: now,
      exp: now + 300,
      nonce: c.nonce,
    };
    const sign = (cl, key = good.privateKey) =>
      new jose.SignJWT(cl).setProtectedHeader({ alg: 'RS256', kid }).sign(key);
    switch (variant) {
      case 'ok': return sign(claims);
      case 'tamper': {
        const [h, , s] = (await sign(claims)).split('.');
        return `${h}.${b64({ ...claims, sub: 'alice', email: 'alice@example.org' })}.${s}`;
      }
      case 'wrong_nonce': return sign({ ...claims, nonce: 'not-the-nonce' });
      case 'wrong_aud': return sign({ ...claims, aud: 'another-client' });
      case 'wrong_iss': return sign({ ...claims, iss: 'http://127.0.0.1:9' });
      case 'expired': return sign({ ...claims, iat: now - 7200, exp: now - 3600 });
      case 'none': return `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`;
      case 'wrong_key': return sign(claims, evil.privateKey);
      case 'hs256':
        return new jose.SignJWT(claims).setProtectedHeader({ alg: 'HS256' })
          .sign(new TextEncoder().encode(clientSecret));
      default: throw new Error(`unknown variant ${variant}`);
    }
  }

  server.on('request', async (req, res) => {
    const url = new URL(req.url, issuer);
    try {
      if (url.pathname === '/.well-known/openid-configuration') {
        return json(res, 200, {
          issuer,
          authorization_endpoint: `${issuer}/authorize`,
          token_endpoint: `${issuer}/token`,
          jwks_uri: `${issuer}/jwks`,
          end_session_endpoint: `${issuer}/logout`,
          response_types_supported: ['code'],
          subject_types_supported: ['public'],
          id_token_signing_alg_values_supported: ['RS256'],
          token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
          code_challenge_methods_supported: ['S256'],
        });
      }
      if (url.pathname === '/jwks') return json(res, 200, { keys: [jwk] });
      if (url.pathname === '/_variant') {
        variant = url.searchParams.get('v');
        return json(res, 200, { variant });
      }
      if (url.pathname === '/authorize') {
        const p = url.searchParams;
        const code = crypto.randomBytes(16).toString('hex');
        codes.set(code, {
          nonce: p.get('nonce'),
          clientId: p.get('client_id'),
          challenge: p.get('code_challenge'),
          login: p.get('login_hint') || 'mallory',
        });
        const back = new URL(p.get('redirect_uri'));
        back.searchParams.set('code', code);
        back.searchParams.set('state', p.get('state'));
        res.writeHead(302, { location: back.toString() });
        return res.end();
      }
      if (url.pathname === '/token' && req.method === 'POST') {
        let body = '';
        for await (const chunk of req) body += chunk;
        const form = new URLSearchParams(body);
        const c = codes.get(form.get('code'));
        codes.delete(form.get('code'));
        if (!c) return json(res, 400, { error: 'invalid_grant' });
        const verifier = form.get('code_verifier') || '';
        const challenge = crypto.createHash('sha256').update(verifier).digest('base64url');
        if (challenge !== c.challenge) return json(res, 400, { error: 'invalid_grant', error_description: 'PKCE' });
        return json(res, 200, {
          access_token: 'forged-access-token',
          token_type: 'Bearer',
          expires_in: 300,
          id_token: await idToken(c),
        });
      }
      res.writeHead(404);
      res.end();
    } catch (e) {
      json(res, 500, { error: 'server_error', error_description: String(e) });
    }
  });
}

process.stdout.write(`READY ${issuer}\n`);
// The test reads only that line and may close the pipe: everything else goes to stderr.
process.stdout.on('error', () => {});
console.log = (...a) => console.error(...a);
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
