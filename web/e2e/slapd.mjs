// A real OpenLDAP server (Debian slapd) for the directory-sync step: a slapd.conf in a temporary
// folder, a free loopback port, a small tree filled with ldapadd. The same tree shape as the
// Rust tests' crates/server/tests/common/slapd.rs.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const SUFFIX = 'dc=example,dc=org';
const ROOT_DN = `cn=admin,${SUFFIX}`;
const ROOT_PW = 'root-secret';
export const SERVICE_DN = `cn=enclave,ou=services,${SUFFIX}`;
export const SERVICE_PW = 'service-secret';
export const PEOPLE = `ou=people,${SUFFIX}`;

export function slapdInstalled() {
  return existsSync('/usr/sbin/slapd') && spawnSync('ldapadd', ['-VV']).error === undefined;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

function canConnect(port) {
  return new Promise((resolve) => {
    const c = connect(port, '127.0.0.1');
    c.on('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.on('error', () => resolve(false));
  });
}

export class Slapd {
  static async start() {
    const dir = mkdtempSync(join(tmpdir(), 'enclave-e2e-slapd-'));
    mkdirSync(join(dir, 'db'));
    writeFileSync(
      join(dir, 'slapd.conf'),
      `include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
pidfile ${dir}/slapd.pid
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
database mdb
maxsize 10485760
suffix "${SUFFIX}"
rootdn "${ROOT_DN}"
rootpw ${ROOT_PW}
directory ${dir}/db
overlay memberof
access to attrs=userPassword by anonymous auth by self write by * none
access to * by dn.exact="${SERVICE_DN}" read by self read by anonymous auth by * none
`,
    );
    const port = await freePort();
    const proc = spawn('/usr/sbin/slapd', ['-f', join(dir, 'slapd.conf'), '-h', `ldap://127.0.0.1:${port}/`, '-d', '0'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const s = new Slapd(dir, proc, port);
    const deadline = Date.now() + 20_000;
    while (!(await canConnect(port))) {
      if (proc.exitCode !== null) throw new Error(`slapd exited with ${proc.exitCode}`);
      if (Date.now() > deadline) throw new Error('slapd did not start');
      await new Promise((r) => setTimeout(r, 50));
    }
    s.add(`dn: ${SUFFIX}
objectClass: dcObject
objectClass: organization
o: Example
dc: example

dn: ${PEOPLE}
objectClass: organizationalUnit
ou: people

dn: ou=groups,${SUFFIX}
objectClass: organizationalUnit
ou: groups

dn: ou=services,${SUFFIX}
objectClass: organizationalUnit
ou: services

dn: ${SERVICE_DN}
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: enclave
userPassword: ${SERVICE_PW}
`);
    return s;
  }

  constructor(dir, proc, port) {
    this.dir = dir;
    this.proc = proc;
    this.port = port;
  }

  get url() {
    return `ldap://127.0.0.1:${this.port}`;
  }

  add(ldif) {
    const r = spawnSync('ldapadd', ['-x', '-H', this.url, '-D', ROOT_DN, '-w', ROOT_PW], { input: ldif, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`ldapadd failed: ${r.stderr}\n${ldif}`);
  }

  /** A person under ou=OU,ou=people (the OU is made when missing). */
  person(ou, uid, cn, password, extra = '') {
    spawnSync('ldapadd', ['-x', '-c', '-H', this.url, '-D', ROOT_DN, '-w', ROOT_PW], {
      input: `dn: ou=${ou},${PEOPLE}\nobjectClass: organizationalUnit\nou: ${ou}\n`,
    });
    this.add(`dn: uid=${uid},ou=${ou},${PEOPLE}
objectClass: inetOrgPerson
uid: ${uid}
cn: ${cn}
sn: ${cn}
mail: ${uid}@example.org
userPassword: ${password}
${extra}`);
  }

  stop() {
    this.proc.kill('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }
}
