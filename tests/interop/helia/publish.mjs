// publish.mjs --peer <box multiaddr> [--full-document] [--protocol DHT] [--timeout MS]
//
// A Helia node listening on /ip4/127.0.0.1/tcp/0, DHT server mode on /ipfs/kad/1.0.0, connected
// to the box. It makes an Ed25519 key, stores a DAG-JSON DID document naming itself
// (did:ipid:<k51…>) pinned in its blockstore, publishes an IPNS record (V1+V2) pointing at it
// through the DHT, prints ONE JSON line {"name", "peer_id_name", "cid", "addrs", ...} as soon as
// that is done, and then keeps serving DHT and Bitswap until its stdin closes (exit 0).
// The timeout covers only the start-up and publishing; serving has no time limit.
// --protocol: the DHT to speak instead (/ipfs/lan/kad/1.0.0: the record goes into a kubo node's
// LAN DHT, which the benchmark then asks).
//
// By default the document is the minimal {"@context": [DID v1], "id": …}. The box only accepts
// documents of its own shape (document.rs check_shape: Multikey verificationMethod,
// authentication, assertionMethod, keyAgreement), so --full-document publishes that shape:
// #signing-key is the IPNS key itself (Multikey z6Mk…), #agreement-key a fresh X25519 key.
import { createNode, connectToPeer, emit, log, timeoutFromArgv } from './lib.mjs'
import { parseArgs } from 'node:util'

const timeoutMs = timeoutFromArgv(60_000)

async function run () {
  const { values } = parseArgs({ options: { peer: { type: 'string' }, timeout: { type: 'string' }, 'full-document': { type: 'boolean' }, protocol: { type: 'string' } }, strict: true })
  if (values.peer == null) throw new Error('missing --peer')
  const { ipns } = await import('@helia/ipns')
  const { dagJson } = await import('@helia/dag-json')
  const { peerIdFromCID } = await import('@libp2p/peer-id')
  const { base36 } = await import('multiformats/bases/base36')

  const helia = await createNode({ clientMode: false, listen: true, dhtProtocol: values.protocol ?? '/ipfs/kad/1.0.0' })
  const box = await connectToPeer(helia, values.peer)

  // The IPNS key: a fresh Ed25519 key in Helia's keychain (publish() signs with it).
  const keyName = 'did-key'
  const key = await helia.keychain.generateKey(keyName)
  if (key.type !== 'Ed25519') throw new Error(`the keychain made a ${key.type} key`)
  const name = key.publicKey.toCID().toString(base36) // k51…
  const peerIdName = peerIdFromCID(key.publicKey.toCID()).toString() // 12D3…

  const did = `did:ipid:${name}`
  const document = values['full-document'] ? await fullDocument(did, key) : {
    '@context': ['https://www.w3.org/ns/did/v1'],
    id: did
  }
  const cid = await dagJson(helia).add(document)
  // Pinned: held in the blockstore so that Bitswap serves it for as long as this node runs.
  for await (const _ of helia.pins.add(cid)) { /* pinning walks the (one-block) DAG */ }
  log(`document ${cid} stored and pinned`)

  // Announce the block too (a provider record on the box), so that DHT lookups find us.
  await helia.routing.provide(cid, { signal: AbortSignal.timeout(20_000) })
    .catch(err => log('provide failed (not fatal):', err))

  const result = await ipns(helia).publish(keyName, cid, { signal: AbortSignal.timeout(30_000) })
  if (result.name !== `/ipns/${name}`) throw new Error(`published under ${result.name}, expected /ipns/${name}`)
  log(`published ${result.name} -> /ipfs/${cid} (sequence ${result.record.sequence})`)

  const addrs = helia.libp2p.getMultiaddrs().map(a => a.toString())
  return { helia, line: { name, peer_id_name: peerIdName, cid: cid.toString(), addrs, peer_id: helia.libp2p.peerId.toString(), sequence: result.record.sequence, box: box.toString() } }
}

/** A document of the box's shape, with Multikey verification methods. */
async function fullDocument (did, key) {
  const { base58btc } = await import('multiformats/bases/base58')
  const { generateKeyPairSync } = await import('node:crypto')
  const multikey = (prefix, raw) => base58btc.encode(Uint8Array.from([...prefix, ...raw]))
  const x = generateKeyPairSync('x25519').publicKey.export({ format: 'jwk' }).x
  const signing = `${did}#signing-key`
  const agreement = `${did}#agreement-key`
  return {
    '@context': ['https://www.w3.org/ns/did/v1', 'https://w3id.org/security/multikey/v1'],
    id: did,
    controller: did,
    verificationMethod: [
      { id: signing, type: 'Multikey', controller: did, publicKeyMultibase: multikey([0xed, 0x01], Buffer.from(key.publicKey.toJWK().x, 'base64url')) },
      { id: agreement, type: 'Multikey', controller: did, publicKeyMultibase: multikey([0xec, 0x01], Buffer.from(x, 'base64url')) }
    ],
    authentication: [signing],
    assertionMethod: [signing],
    keyAgreement: [agreement]
  }
}

const timer = setTimeout(async () => {
  await emit({ error: `timeout after ${timeoutMs} ms` })
  process.exit(2)
}, timeoutMs)

run().then(async ({ helia, line }) => {
  clearTimeout(timer)
  await emit(line)
  log('serving DHT and Bitswap until stdin closes')
  const stop = async why => {
    log(`${why}: stopping`)
    const t = setTimeout(() => process.exit(0), 5_000)
    await helia.stop().catch(err => log('stop failed:', err))
    clearTimeout(t)
    process.exit(0)
  }
  process.stdin.on('end', () => { stop('stdin closed') })
  process.stdin.on('error', () => { stop('stdin error') })
  process.on('SIGTERM', () => { stop('SIGTERM') })
  process.on('SIGINT', () => { stop('SIGINT') })
  process.stdin.resume()
}, async err => {
  clearTimeout(timer)
  log('failed:', err)
  await emit({ error: err?.message ?? String(err) })
  process.exit(1)
})
