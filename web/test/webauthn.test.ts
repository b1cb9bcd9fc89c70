import { describe, expect, it } from 'vitest';
import { creationOptions, credentialJson, fromBase64url, requestOptions, toBase64url } from '../src/lib/webauthn';

const bytes = (...b: number[]) => new Uint8Array(b).buffer;
const arr = (b: ArrayBuffer | BufferSource | undefined) => Array.from(new Uint8Array(b as ArrayBuffer));

describe('WebAuthn base64url', () => {
  it('encodes without padding, with the URL-safe alphabet', () => {
    expect(toBase64url(bytes())).toBe('');
    expect(toBase64url(bytes(0xff))).toBe('_w');
    expect(toBase64url(bytes(0xfb, 0xff))).toBe('-_8');
    expect(toBase64url(new TextEncoder().encode('foobar'))).toBe('Zm9vYmFy');
    expect(toBase64url(new Uint8Array([1, 2, 3, 4]).subarray(1, 3))).toBe('AgM');
  });

  it('decodes padded and unpadded, and round-trips every byte', () => {
    expect(arr(fromBase64url('_w'))).toEqual([0xff]);
    expect(arr(fromBase64url('_w=='))).toEqual([0xff]);
    expect(arr(fromBase64url('+/8'))).toEqual([0xfb, 0xff]);
    const all = new Uint8Array(256).map((_, i) => i);
    expect(arr(fromBase64url(toBase64url(all)))).toEqual(Array.from(all));
  });

  it('refuses what is not base64url', () => {
    expect(() => fromBase64url('a b')).toThrow();
    expect(() => fromBase64url('abcde')).toThrow();
    expect(() => fromBase64url('é')).toThrow();
  });
});

describe('WebAuthn options and answers', () => {
  it('turns the server’s registration options into ArrayBuffers where the browser wants them', () => {
    const o = creationOptions({
      publicKey: {
        challenge: 'AQID',
        rp: { id: 'localhost', name: 'Enclave' },
        user: { id: 'BAU', name: 'alice', displayName: 'Alice' },
        pubKeyCredParams: [{ type: 'public-key', alg: -7 }],
        excludeCredentials: [{ type: 'public-key', id: 'Bg' }],
        authenticatorSelection: { residentKey: 'discouraged', userVerification: 'preferred' },
        extensions: { credProps: true, uvm: true, credentialProtectionPolicy: 'userVerificationRequired', enforceCredentialProtectionPolicy: false },
      },
    });
    // Chromium refuses credProtect with a non-resident key: it is left out, the rest kept.
    expect(o.publicKey!.extensions).toEqual({ credProps: true, uvm: true });
    expect(arr(o.publicKey!.challenge)).toEqual([1, 2, 3]);
    expect(arr(o.publicKey!.user.id)).toEqual([4, 5]);
    expect(o.publicKey!.user.name).toBe('alice');
    expect(o.publicKey!.rp.id).toBe('localhost');
    expect(arr(o.publicKey!.excludeCredentials![0].id)).toEqual([6]);
  });

  it('turns the sign-in options likewise', () => {
    const o = requestOptions({ publicKey: { challenge: 'AQID', rpId: 'localhost', allowCredentials: [{ type: 'public-key', id: 'Bwg' }] } });
    expect(arr(o.publicKey!.challenge)).toEqual([1, 2, 3]);
    expect(o.publicKey!.rpId).toBe('localhost');
    expect(arr(o.publicKey!.allowCredentials![0].id)).toEqual([7, 8]);
  });

  it('sends an assertion back with its binary fields in base64url', () => {
    const json = credentialJson({
      id: 'AQ',
      rawId: bytes(1),
      type: 'public-key',
      response: { clientDataJSON: bytes(2), authenticatorData: bytes(3), signature: bytes(4), userHandle: null },
      getClientExtensionResults: () => ({}),
    });
    expect(json).toEqual({
      id: 'AQ',
      rawId: 'AQ',
      type: 'public-key',
      response: { clientDataJSON: 'Ag', authenticatorData: 'Aw', signature: 'BA', userHandle: null },
      extensions: {},
    });
  });

  it('sends a registration back with its attestation and transports', () => {
    const json = credentialJson({
      id: 'AQ',
      rawId: bytes(1),
      type: 'public-key',
      response: { clientDataJSON: bytes(2), attestationObject: bytes(5), getTransports: () => ['usb'] },
    });
    expect(json.response).toEqual({ clientDataJSON: 'Ag', attestationObject: 'BQ', transports: ['usb'] });
  });
});
