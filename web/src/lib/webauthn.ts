// WebAuthn in the browser (docs/admin/second-factor.md): the server sends the options of
// `navigator.credentials.create` / `get` as JSON with every binary field in base64url, and
// takes the browser's PublicKeyCredential back the same way. These functions convert between
// that JSON and the ArrayBuffers the browser's API wants.

/** Bytes as unpadded base64url (RFC 4648 §5). */
export function toBase64url(bytes: ArrayBuffer | ArrayBufferView): string {
  const u8 = bytes instanceof ArrayBuffer ? new Uint8Array(bytes) : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let bin = '';
  for (let i = 0; i < u8.length; i++) bin += String.fromCharCode(u8[i]);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** Base64url (padded or not; standard base64 is accepted too) as bytes; throws on anything else. */
export function fromBase64url(s: string): ArrayBuffer {
  const std = s.replace(/-/g, '+').replace(/_/g, '/').replace(/=+$/, '');
  if (!/^[A-Za-z0-9+/]*$/.test(std) || std.length % 4 === 1) throw new Error('not base64url');
  const bin = atob(std + '='.repeat((4 - (std.length % 4)) % 4));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out.buffer;
}

type Json = Record<string, unknown>;

function withIds(list: unknown): unknown {
  if (!Array.isArray(list)) return list;
  return list.map((c: Json) => ({ ...c, id: fromBase64url(String(c.id)) }));
}

/** The server's registration options (`{publicKey: ...}`) as `navigator.credentials.create` wants them. */
export function creationOptions(options: Record<string, unknown>): CredentialCreationOptions {
  const pk = (options.publicKey ?? options) as Json;
  const user = pk.user as Json;
  // webauthn-rs asks for credProtect "userVerificationRequired" opportunistically (not
  // enforced); Chromium refuses the whole request (NotSupportedError) when that comes with a
  // non-resident key and user verification only preferred. Leave the extension out then.
  let extensions = pk.extensions as Json | undefined;
  const selection = pk.authenticatorSelection as Json | undefined;
  if (extensions && 'credentialProtectionPolicy' in extensions && selection?.residentKey !== 'required') {
    const { credentialProtectionPolicy: _policy, enforceCredentialProtectionPolicy: _enforce, ...rest } = extensions;
    extensions = rest;
  }
  return {
    publicKey: {
      ...(pk as unknown as PublicKeyCredentialCreationOptions),
      extensions: extensions as AuthenticationExtensionsClientInputs | undefined,
      challenge: fromBase64url(String(pk.challenge)),
      user: { ...(user as unknown as PublicKeyCredentialUserEntity), id: fromBase64url(String(user.id)) },
      excludeCredentials: withIds(pk.excludeCredentials) as PublicKeyCredentialDescriptor[] | undefined,
    },
  };
}

/** The server's sign-in options (`{publicKey: ...}`) as `navigator.credentials.get` wants them. */
export function requestOptions(options: Record<string, unknown>): CredentialRequestOptions {
  const pk = (options.publicKey ?? options) as Json;
  return {
    publicKey: {
      ...(pk as unknown as PublicKeyCredentialRequestOptions),
      challenge: fromBase64url(String(pk.challenge)),
      allowCredentials: withIds(pk.allowCredentials) as PublicKeyCredentialDescriptor[] | undefined,
    },
  };
}

/** The parts of a PublicKeyCredential the conversion reads (so tests can pass plain objects). */
export interface CredentialLike {
  id: string;
  rawId: ArrayBuffer;
  type: string;
  response: {
    clientDataJSON: ArrayBuffer;
    attestationObject?: ArrayBuffer;
    authenticatorData?: ArrayBuffer;
    signature?: ArrayBuffer;
    userHandle?: ArrayBuffer | null;
    getTransports?: () => string[];
  };
  getClientExtensionResults?: () => unknown;
}

/** A credential from `create` or `get` as the JSON the server takes. */
export function credentialJson(c: CredentialLike): Record<string, unknown> {
  const r = c.response;
  const response: Json = { clientDataJSON: toBase64url(r.clientDataJSON) };
  if (r.attestationObject) {
    response.attestationObject = toBase64url(r.attestationObject);
    if (typeof r.getTransports === 'function') response.transports = r.getTransports();
  }
  if (r.authenticatorData) response.authenticatorData = toBase64url(r.authenticatorData);
  if (r.signature) response.signature = toBase64url(r.signature);
  if (r.signature) response.userHandle = r.userHandle ? toBase64url(r.userHandle) : null;
  return {
    id: c.id,
    rawId: toBase64url(c.rawId),
    type: c.type,
    response,
    extensions: typeof c.getClientExtensionResults === 'function' ? c.getClientExtensionResults() : {},
  };
}

/** Whether this browser can use security keys at all. */
export function webauthnSupported(): boolean {
  return typeof window !== 'undefined' && typeof window.PublicKeyCredential === 'function' && !!navigator.credentials;
}

/** Registers a key: the browser's answer to the server's options, as JSON for the server. */
export async function createCredential(options: Record<string, unknown>): Promise<Record<string, unknown>> {
  const c = await navigator.credentials.create(creationOptions(options));
  if (!c) throw new Error('no credential');
  return credentialJson(c as unknown as CredentialLike);
}

/** [`createCredential`], or `null` when the browser refuses (the person cancelled, it timed
 * out): the browser's own refusal is a DOMException, which the caller tells as "cancelled". */
export async function createCredentialOrRefused(options: Record<string, unknown>): Promise<Record<string, unknown> | null> {
  try {
    return await createCredential(options);
  } catch {
    return null;
  }
}

/** Proves a key at sign-in: the browser's answer to the server's options, as JSON for the server. */
export async function getAssertion(options: Record<string, unknown>): Promise<Record<string, unknown>> {
  const c = await navigator.credentials.get(requestOptions(options));
  if (!c) throw new Error('no credential');
  return credentialJson(c as unknown as CredentialLike);
}
