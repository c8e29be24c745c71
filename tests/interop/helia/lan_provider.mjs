// lan_provider.mjs --peer <box multiaddr> --cid <cid> [--protocol /ipfs/lan/kad/1.0.0] [--timeout MS]
//
// A libp2p node (via Helia) speaking only the LAN DHT (@libp2p/kad-dht with protocol
// /ipfs/lan/kad/1.0.0, client mode, no listeners), connected only to the box, asks for the
// providers of the CID and prints {"providers": ["12D3…", …], "addrs": {"12D3…": [...]}}.
import { createNode, connectToPeer, log, main, timeoutFromArgv } from './lib.mjs'

main(async ({ peer, cid: cidText, protocol }) => {
  const { CID } = await import('multiformats/cid')
  const cid = CID.parse(cidText)
  const helia = await createNode({ dhtProtocol: protocol ?? '/ipfs/lan/kad/1.0.0', clientMode: true, listen: false })
  try {
    await connectToPeer(helia, peer)
    const providers = []
    const addrs = {}
    for await (const p of helia.libp2p.contentRouting.findProviders(cid, { signal: AbortSignal.timeout(20_000) })) {
      const id = p.id.toString()
      log(`provider ${id}: ${p.multiaddrs.map(a => a.toString()).join(' ')}`)
      if (!providers.includes(id)) providers.push(id)
      addrs[id] = [...new Set([...(addrs[id] ?? []), ...p.multiaddrs.map(a => a.toString())])]
    }
    return { providers, addrs }
  } finally {
    await helia.stop().catch(err => log('stop failed:', err))
  }
}, {
  options: { peer: { type: 'string' }, cid: { type: 'string' }, protocol: { type: 'string' } },
  required: ['peer', 'cid'],
  timeoutMs: timeoutFromArgv(60_000)
})
