// Shared helpers for the interop scripts: argument parsing, the one-JSON-line output contract,
// an overall timeout, and a loopback-only Helia/libp2p node (TCP + Noise + Yamux + Kad-DHT,
// no bootstrap list, no mDNS, no delegated HTTP routers, no gateways).
import { parseArgs } from 'node:util'

/** Diagnostics go to stderr, never stdout (stdout carries only the JSON result). */
export function log (...args) {
  const text = args.map(a => (typeof a === 'string' ? a : inspectish(a))).join(' ')
  process.stderr.write(`[${new Date().toISOString()}] ${text}\n`)
}

function inspectish (v) {
  if (v instanceof Error) return v.stack ?? String(v)
  try { return JSON.stringify(v, jsonReplacer) } catch { return String(v) }
}

/** BigInt and Uint8Array safe JSON. */
export function jsonReplacer (_key, value) {
  if (typeof value === 'bigint') return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString()
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64')
  return value
}

/** Writes one JSON line to stdout and resolves once it is flushed. */
export function emit (obj) {
  return new Promise(resolve => {
    process.stdout.write(JSON.stringify(obj, jsonReplacer) + '\n', () => resolve())
  })
}

let finished = false

async function fail (message, code = 1) {
  if (finished) return
  finished = true
  await emit({ error: message })
  process.exit(code)
}

/**
 * Runs `fn(args)` with an overall timeout. Its resolved value is printed as the one JSON line
 * (unless it is `undefined`, when the script printed its own output) and the process exits 0;
 * a throw prints `{"error": ...}` and exits 1; the timeout prints `{"error": "timeout ..."}` and
 * exits 2.
 */
export function main (fn, { options = {}, required = [], timeoutMs = 60_000 } = {}) {
  const timer = setTimeout(() => { fail(`timeout after ${timeoutMs} ms`, 2) }, timeoutMs)
  process.on('unhandledRejection', err => { log('unhandled rejection:', err) })
  const run = async () => {
    let values
    try {
      ({ values } = parseArgs({ options: { timeout: { type: 'string' }, ...options }, strict: true }))
    } catch (err) {
      throw new Error(`bad arguments: ${err.message}`)
    }
    for (const name of required) {
      if (values[name] == null) throw new Error(`missing --${name}`)
    }
    return fn(values)
  }
  run().then(async result => {
    clearTimeout(timer)
    if (finished) return
    finished = true
    if (result !== undefined) await emit(result)
    process.exit(0)
  }, async err => {
    clearTimeout(timer)
    log('failed:', err)
    await fail(err?.message ?? String(err), 1)
  })
}

/** `--timeout MS` on the command line overrides a script's default timeout. */
export function timeoutFromArgv (defaultMs) {
  const i = process.argv.indexOf('--timeout')
  const n = i >= 0 ? Number(process.argv[i + 1]) : NaN
  return Number.isFinite(n) && n > 0 ? n : defaultMs
}

/** True for a multiaddr whose host is loopback (127.0.0.0/8, ::1, localhost). */
export function isLoopback (ma) {
  const s = ma.toString()
  return /^\/ip4\/127\./.test(s) || /^\/ip6\/::1\//.test(s) || /^\/dns[46]?\/localhost\//.test(s)
}

/**
 * A Helia node whose libp2p speaks only TCP + Noise + Yamux, with identify, ping and one Kad-DHT
 * (`protocol`, client or server mode), no peer discovery at all, and a connection gater that
 * refuses any non-loopback address, so nothing can leave the machine.
 */
export async function createNode ({ dhtProtocol = '/ipfs/kad/1.0.0', clientMode = true, listen = false, onlyPeer = null } = {}) {
  const { createHeliaLight } = await import('helia')
  const { withLibp2pLight } = await import('@helia/libp2p')
  const { withBitswap } = await import('@helia/bitswap')
  const { tcp } = await import('@libp2p/tcp')
  const { noise } = await import('@libp2p/noise')
  const { yamux } = await import('@libp2p/yamux')
  const { identify } = await import('@libp2p/identify')
  const { ping } = await import('@libp2p/ping')
  const { kadDHT, passthroughMapper } = await import('@libp2p/kad-dht')
  const dagJsonCodec = await import('@ipld/dag-json')

  const helia = createHeliaLight({ codecs: [dagJsonCodec] })
  withLibp2pLight(helia, {
    addresses: { listen: listen ? ['/ip4/127.0.0.1/tcp/0'] : [] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    peerDiscovery: [],
    // js-libp2p refuses a host's sixth inbound connection within a second by default; the
    // benchmark (bench.mjs) dials a node once per round from fresh nodes on the same host.
    connectionManager: { inboundConnectionThreshold: 1000 },
    connectionGater: {
      denyDialMultiaddr: ma => !isLoopback(ma),
      // `onlyPeer` (a peer id): no other peer is dialled, so that a DHT query is answered by
      // that peer alone (the peers it names are refused at once).
      denyDialPeer: peer => onlyPeer != null && peer.toString() !== onlyPeer,
      denyInboundConnection: maConn => !isLoopback(maConn.remoteAddr)
    },
    services: {
      identify: identify(),
      ping: ping(),
      dht: kadDHT({
        protocol: dhtProtocol,
        clientMode,
        // The default mapper drops private/loopback addresses, and every peer here is on
        // 127.0.0.1.
        peerInfoMapper: passthroughMapper,
        // Don't make queries wait for a self-query against an empty routing table.
        allowQueryWithZeroPeers: true
      })
    }
  })
  withBitswap(helia)
  await helia.start()
  const routers = helia.routing.routers?.map(r => r.name ?? r.toString())
  log(`helia started: peer ${helia.libp2p.peerId}, dht ${dhtProtocol} ${clientMode ? 'client' : 'server'} mode, routers ${JSON.stringify(routers)}, block brokers ${JSON.stringify(helia.blockBrokers.map(b => b.name))}`)
  return helia
}

/**
 * Dials the box and waits until the DHT has it in its routing table (identify tells kad-dht
 * which protocols the box speaks).
 */
export async function connectToPeer (helia, peerAddr, { timeoutMs = 15_000 } = {}) {
  const protocol = helia.libp2p.services.dht.protocol
  const { multiaddr } = await import('@multiformats/multiaddr')
  const ma = multiaddr(peerAddr)
  if (!isLoopback(ma)) throw new Error(`refusing a non-loopback peer address: ${peerAddr}`)
  const conn = await helia.libp2p.dial(ma, { signal: AbortSignal.timeout(timeoutMs) })
  const peer = conn.remotePeer
  log(`connected to ${peer} via ${conn.remoteAddr}`)
  const dht = helia.libp2p.services.dht
  const start = Date.now()
  let seen = null
  while (true) {
    const found = await dht.routingTable.find(peer)
    if (found != null) break
    const p = await helia.libp2p.peerStore.get(peer).catch(() => null)
    const protocols = JSON.stringify(p?.protocols ?? [])
    if (protocols !== seen) {
      log(`+${Date.now() - start} ms: the peer's protocols: ${protocols}`)
      seen = protocols
    }
    // The box's first identify message may come before its Kademlia handler is in server mode
    // (rust-libp2p then sends an identify push with the DHT protocol), so a missing protocol is
    // only final after a grace period.
    const missing = p?.protocols?.length > 0 && !p.protocols.includes(protocol)
    if ((missing && Date.now() - start > 5_000) || Date.now() - start > timeoutMs) {
      throw new Error(`the peer ${peer} ${missing ? `does not speak ${protocol}` : 'never joined the DHT routing table'} (its protocols: ${protocols})`)
    }
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  const p = await helia.libp2p.peerStore.get(peer)
  log(`peer ${peer} is in the routing table; protocols: ${JSON.stringify(p.protocols)}`)
  return peer
}
