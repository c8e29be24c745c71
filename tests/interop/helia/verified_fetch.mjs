// verified_fetch.mjs --gateway http://127.0.0.1:PORT --name k51… [--path /…] [--timeout MS]
//
// @helia/verified-fetch, given the box as its only trustless gateway and only delegated router,
// fetches ipns://<name> and prints {"status": 200, "document": {...}, ...}. Every byte is
// verified: the IPNS record (signature, validity) against the name, the block against its CID.
//
// What verified-fetch asks the box for (see README.md):
//   GET /routing/v1/ipns/<k51…>            Accept: application/vnd.ipfs.ipns-record
//   GET /ipfs/<cid>?format=raw             Accept: application/vnd.ipld.raw
// and it may also ask GET /routing/v1/providers/<cid> (a 404 there is fine).
import { log, main, timeoutFromArgv } from './lib.mjs'

main(async ({ gateway, name, path }) => {
  const gw = new URL(gateway)
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(gw.hostname)) {
    throw new Error(`refusing a non-loopback gateway: ${gateway}`)
  }
  const { createVerifiedFetch } = await import('@helia/verified-fetch')

  const verifiedFetch = await createVerifiedFetch({
    gateways: [gateway],
    routers: [gateway],
    // The box is plain http on 127.0.0.1: both are refused by default.
    allowInsecure: true,
    allowLocal: true,
    // createVerifiedFetch() also starts a libp2p node with Helia's defaults (listening on
    // 0.0.0.0, mDNS, the public bootstrap list, UPnP, AutoNAT, a DHT). None of that may run
    // here: no listeners, no transports, no discovery, no services.
    libp2pConfig: {
      addresses: { listen: [] },
      transports: [],
      peerDiscovery: [],
      services: {},
      connectionGater: { denyDialMultiaddr: () => true, denyInboundConnection: () => true }
    }
  })
  try {
    const url = `ipns://${name.replace(/^\/ipns\//, '')}${path ?? ''}`
    log(`fetching ${url}`)
    const res = await verifiedFetch(url, { signal: AbortSignal.timeout(30_000) })
    const headers = Object.fromEntries(res.headers.entries())
    log(`status ${res.status}, headers ${JSON.stringify(headers)}`)
    const body = await res.text()
    let document = null
    try { document = JSON.parse(body) } catch { /* not JSON: reported as body */ }
    if (res.status !== 200) {
      throw new Error(`verified-fetch answered ${res.status}: ${body.slice(0, 500)}`)
    }
    if (document == null) throw new Error(`the body is not JSON: ${body.slice(0, 200)}`)
    return {
      status: res.status,
      document,
      content_type: headers['content-type'] ?? null,
      x_ipfs_path: headers['x-ipfs-path'] ?? null,
      x_ipfs_roots: headers['x-ipfs-roots'] ?? null
    }
  } finally {
    await verifiedFetch.stop().catch(err => log('stop failed:', err))
  }
}, {
  options: { gateway: { type: 'string' }, name: { type: 'string' }, path: { type: 'string' } },
  required: ['gateway', 'name'],
  timeoutMs: timeoutFromArgv(60_000)
})
