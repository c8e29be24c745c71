// resolve.mjs --peer <box multiaddr> --name <k51… | 12D3… | /ipns/…> [--timeout MS]
//
// A Helia node (client-mode DHT on /ipfs/kad/1.0.0, no listeners) dials only the box, resolves
// the IPNS name over the DHT, fetches the value's block over Bitswap, decodes it as DAG-JSON and
// prints {"value", "cid", "sequence", "document", "record_valid", ...}.
import { createNode, connectToPeer, log, main, timeoutFromArgv } from './lib.mjs'

main(async ({ peer, name }) => {
  const { ipns, ipnsValidator, multihashToIPNSRoutingKey, IPNSEntry } = await import('@helia/ipns')
  const { dagJson } = await import('@helia/dag-json')
  const { CID } = await import('multiformats/cid')
  const { base36 } = await import('multiformats/bases/base36')
  const { peerIdFromString } = await import('@libp2p/peer-id')

  const bare = name.replace(/^\/ipns\//, '')
  // The base36 form (k51…) is a CIDv1 with the libp2p-key codec; the peer-id form is 12D3…/Qm….
  const digest = /^[1Q]/.test(bare)
    ? peerIdFromString(bare).toMultihash()
    : CID.parse(bare, base36).multihash
  const routingKey = multihashToIPNSRoutingKey(digest)

  const helia = await createNode({ clientMode: true, listen: false })
  try {
    const routers = helia.routing.routers.map(r => r.name)
    if (routers.length !== 1 || routers[0] !== 'libp2p-router') {
      throw new Error(`unexpected routers ${JSON.stringify(routers)}: only the libp2p DHT may be used`)
    }
    await connectToPeer(helia, peer)

    const names = ipns(helia)
    log(`IPNS routers: ${names.routers.map(r => r.toString()).join(', ')}`)
    let result
    // resolve() yields one result per hop of a recursive name; the last one is the answer.
    for await (const r of names.resolve(digest, { nocache: true, signal: AbortSignal.timeout(30_000) })) {
      log(`resolved a record: value ${r.value}`)
      result = r
    }
    if (result == null) throw new Error('the name resolved to nothing')
    const { record, value } = result

    // @helia/ipns already validated the record (resolve's `validate` defaults to true: V2
    // signature against the key in the name, EOL validity, V1 fields equal to the CBOR data),
    // and so did the DHT's validator for /ipns/ keys. Check once more, explicitly.
    await ipnsValidator(routingKey, IPNSEntry.encode(record), helia.keychain)

    const m = /^\/ipfs\/([^/]+)/.exec(value)
    if (m == null) throw new Error(`the record's value is not an /ipfs/ path: ${value}`)
    const cid = CID.parse(m[1])
    log(`fetching ${cid} over Bitswap`)
    const document = await dagJson(helia).get(cid, { signal: AbortSignal.timeout(20_000) })

    return {
      value,
      cid: cid.toString(),
      sequence: record.sequence,
      document,
      record_valid: true,
      validity: record.validity != null ? Buffer.from(record.validity).toString() : null,
      ttl_ns: record.ttl,
      has_signature_v1: record.signatureV1 != null,
      has_signature_v2: record.signatureV2 != null,
      name_base36: CID.createV1(0x72, digest).toString(base36)
    }
  } finally {
    await helia.stop().catch(err => log('stop failed:', err))
  }
}, {
  options: { peer: { type: 'string' }, name: { type: 'string' } },
  required: ['peer', 'name'],
  timeoutMs: timeoutFromArgv(60_000)
})
