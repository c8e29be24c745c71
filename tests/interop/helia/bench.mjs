// bench.mjs --peer <multiaddr> --name <k51…> [--repeat N] [--protocol DHT] [--records-only] [--timeout MS]
//
// For BENCHMARKS.md (scripts/bench-interop.sh): a Helia node (client-mode DHT, no listeners)
// dials only --peer (and no peer it names), then N times resolves the name over the DHT (a GET_VALUE answered by the
// peer: "the DHT answer") and fetches the document's block over Bitswap from it, each round from
// a fresh node (nothing cached).
// --protocol: the DHT to ask (default /ipfs/kad/1.0.0; /ipfs/lan/kad/1.0.0 is kubo's LAN DHT,
// which the box speaks too). --records-only: the record alone (a peer that does not hold the
// document, such as the kubo node the benchmark puts a record into).
// Prints {"record_ms": [...], "document_ms": [...], "total_ms": [...]}.
import { createNode, connectToPeer, main, timeoutFromArgv } from './lib.mjs'

main(async ({ peer, name, repeat, protocol, 'records-only': recordsOnly }) => {
  const { ipns } = await import('@helia/ipns')
  const { dagJson } = await import('@helia/dag-json')
  const { CID } = await import('multiformats/cid')
  const { base36 } = await import('multiformats/bases/base36')
  const { multiaddr } = await import('@multiformats/multiaddr')
  const provider = multiaddr(peer)
  const digest = CID.parse(name, base36).multihash
  const rounds = Number(repeat ?? 20)

  const out = { record_ms: [], document_ms: [], total_ms: [] }
  for (let i = 0; i < rounds; i++) {
    // A fresh node each round: nothing cached, and Bitswap's per-peer state starts anew (a
    // js-bitswap peer does not send a block again that it sent on the same connection).
    // Only the peer is dialled: the time is its answer's, not that of the peers it names.
    const onlyPeer = peer.split('/p2p/').pop()
    const helia = await createNode({ clientMode: true, listen: false, dhtProtocol: protocol ?? '/ipfs/kad/1.0.0', onlyPeer })
    try {
      await connectToPeer(helia, peer)
      const t0 = performance.now()
      let result
      for await (const r of ipns(helia).resolve(digest, { nocache: true, signal: AbortSignal.timeout(20_000) })) {
        result = r
      }
      const t1 = performance.now()
      if (recordsOnly) {
        out.record_ms.push(+(t1 - t0).toFixed(2))
        continue
      }
      const cid = CID.parse(/^\/ipfs\/([^/]+)/.exec(result.value)[1])
      // Named as the provider, so that both kinds of peer are asked the same way.
      await dagJson(helia).get(cid, { providers: [provider], signal: AbortSignal.timeout(20_000) })
      const t2 = performance.now()
      out.record_ms.push(+(t1 - t0).toFixed(2))
      out.document_ms.push(+(t2 - t1).toFixed(2))
      out.total_ms.push(+(t2 - t0).toFixed(2))
    } finally {
      await helia.stop().catch(() => {})
    }
  }
  return out
}, {
  options: { peer: { type: 'string' }, name: { type: 'string' }, repeat: { type: 'string' }, protocol: { type: 'string' }, 'records-only': { type: 'boolean' } },
  required: ['peer', 'name'],
  timeoutMs: timeoutFromArgv(300_000)
})
