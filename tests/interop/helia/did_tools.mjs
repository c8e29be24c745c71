// did_tools.mjs --resolver http://127.0.0.1:PORT/1.0/identifiers/ --did did:ipid:k51… [--jwt JWT]
//
// did-resolver's Resolver with @veramo/did-resolver's universal-resolver driver for the `ipid`
// method (the box's GET /1.0/identifiers/<did>) resolves the DID and prints
// {"didDocument": {...}, "didResolutionMetadata": {...}, "didDocumentMetadata": {...},
//  "jwt": null | {"verified": true, "issuer": "...", "kid": "...", "payload": {...}}}.
// With --jwt, did-jwt's verifyJWT checks the compact JWT (EdDSA, issued by the DID, kid
// <did>#signing-key) against the key the resolved document lists.
import { log, main, timeoutFromArgv } from './lib.mjs'

main(async ({ resolver: url, did, jwt, audience }) => {
  const u = new URL(url)
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname)) {
    throw new Error(`refusing a non-loopback resolver: ${url}`)
  }
  if (!url.endsWith('/')) throw new Error('--resolver must end with "/" (the DID is appended to it)')
  const { Resolver } = await import('did-resolver')
  const { getUniversalResolverFor } = await import('@veramo/did-resolver')
  const { verifyJWT, decodeJWT } = await import('did-jwt')

  const resolver = new Resolver({ ...getUniversalResolverFor(['ipid'], url) })
  const result = await resolver.resolve(did)
  log(`resolution metadata: ${JSON.stringify(result.didResolutionMetadata)}`)
  if (result.didDocument == null) {
    throw new Error(`no document: ${JSON.stringify(result.didResolutionMetadata ?? result)}`)
  }

  let jwtResult = null
  if (jwt != null) {
    const { header, payload } = decodeJWT(jwt)
    log(`JWT header ${JSON.stringify(header)}`)
    const v = await verifyJWT(jwt, {
      resolver,
      // An `aud` claim must name the verifier; let the caller give it.
      audience: audience ?? payload.aud
    })
    jwtResult = {
      verified: v.verified,
      issuer: v.issuer,
      kid: header.kid ?? null,
      alg: header.alg,
      signer: v.signer?.id ?? null,
      signer_type: v.signer?.type ?? null,
      payload: v.payload
    }
  }
  return {
    didDocument: result.didDocument,
    didResolutionMetadata: result.didResolutionMetadata,
    didDocumentMetadata: result.didDocumentMetadata,
    jwt: jwtResult
  }
}, {
  options: { resolver: { type: 'string' }, did: { type: 'string' }, jwt: { type: 'string' }, audience: { type: 'string' } },
  required: ['resolver', 'did'],
  timeoutMs: timeoutFromArgv(60_000)
})
