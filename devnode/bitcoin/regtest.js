#!/usr/bin/env node
/*
 * A bcoin 1.0.2 regtest full node for development and tests.
 *
 * Configured only by environment variables:
 *   BCOIN_HTTP_PORT  (required) port of the HTTP/JSON-RPC server, bound to 127.0.0.1
 *   BCOIN_API_KEY    (required) JSON-RPC password (basic auth, any user name)
 *   BCOIN_DATA_DIR   (optional) keep the chain in this folder; in memory when unset
 *
 * Prints exactly one line to stdout, "bcoin regtest ready on 127.0.0.1:<port>", once the
 * HTTP server listens. bcoin's own log lines go to stderr.
 */

'use strict';

const bcoin = require('bcoin');

const HOST = '127.0.0.1';

function fail(message) {
  process.stderr.write(`regtest.js: ${message}\n`);
  process.exit(2);
}

function readConfig(env) {
  const port = Number(env.BCOIN_HTTP_PORT);
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    fail('BCOIN_HTTP_PORT must be a port number (1-65535).');
  if (!env.BCOIN_API_KEY)
    fail('BCOIN_API_KEY is required.');
  return { port, apiKey: env.BCOIN_API_KEY, dataDir: env.BCOIN_DATA_DIR || null };
}

// bcoin's regtest has its own address and key prefixes; Bitcoin Core's regtest uses testnet's
// base58 prefixes and the bech32 prefix "bcrt". This must run before the first
// Network.get('regtest'), which caches the network.
function useCorePrefixes(networks) {
  Object.assign(networks.regtest.addressPrefix, {
    pubkeyhash: 0x6f,
    scripthash: 0xc4,
    witnesspubkeyhash: 0x03,
    witnessscripthash: 0x28,
    bech32: 'bcrt'
  });
  Object.assign(networks.regtest.keyPrefix, {
    privkey: 0xef,
    xpubkey: 0x043587cf,
    xprivkey: 0x04358394,
    xpubkey58: 'tpub',
    xprivkey58: 'tprv'
  });
}

// blgr writes every level below "error" to stdout; keep stdout for the ready line only.
function logToStderr(logger) {
  logger.writeConsole = function writeConsole(level, module, args) {
    if (!this.console)
      return false;
    const name = this.constructor.levelsByVal[level];
    const where = module ? ` (${module})` : '';
    return process.stderr.write(`[${name}]${where} ${this.fmt(args, false)}\n`);
  };
}

function createNode({ port, apiKey, dataDir }) {
  const node = new bcoin.FullNode({
    network: 'regtest',
    memory: !dataDir,
    prefix: dataDir || undefined,
    workers: false,
    httpHost: HOST,
    httpPort: port,
    apiKey,
    listen: false,
    only: [HOST],
    indexTX: true,
    indexAddress: true,
    logConsole: true,
    logLevel: 'warning'
  });
  logToStderr(node.logger.logger);
  node.rpc.calls.sendrawtransaction = (args) => sendRawTransaction(node, args);
  return node;
}

function rpcError(code, message) {
  // bweb answers {"error": {"code", "message"}} for errors of type 'RPCError'.
  return Object.assign(new Error(message), { type: 'RPCError', code });
}

function decodeTX(args) {
  if (args.length < 1 || args.length > 2 || typeof args[0] !== 'string')
    throw rpcError(-1, 'sendrawtransaction "hexstring" ( maxfeerate )');
  try {
    return bcoin.TX.fromRaw(Buffer.from(args[0], 'hex'));
  } catch (err) {
    throw rpcError(-22, `TX decode failed: ${err.message}`);
  }
}

// bcoin 1.0.2's sendrawtransaction returns the txid at once and only logs the mempool's
// verdict, so an invalid or conflicting transaction looks broadcast. This one answers like
// Bitcoin Core: the txid when accepted or already in the mempool, else -25, -26 or -27.
async function sendRawTransaction(node, args) {
  const tx = decodeTX(args);
  let missing;
  try {
    missing = await node.mempool.addTX(tx);
  } catch (err) {
    if (err.type !== 'VerifyError')
      throw err;
    if (err.reason === 'txn-already-in-mempool')
      return tx.txid();
    if (err.reason === 'txn-already-known')
      throw rpcError(-27, 'Transaction outputs already in utxo set');
    throw rpcError(-26, err.reason);
  }
  if (missing) {
    node.mempool.removeOrphan(tx.hash('hex'));
    throw rpcError(-25, 'bad-txns-inputs-missingorspent');
  }
  return tx.txid();
}

function closeOnSignals(node) {
  let closing = false;
  const close = async (signal) => {
    if (closing)
      return;
    closing = true;
    process.stderr.write(`regtest.js: ${signal}, closing the node\n`);
    try {
      await node.close();
    } catch (err) {
      process.stderr.write(`regtest.js: close failed: ${err.stack || err}\n`);
      process.exit(1);
    }
    process.exit(0);
  };
  process.on('SIGTERM', () => close('SIGTERM'));
  process.on('SIGINT', () => close('SIGINT'));
}

async function main() {
  const config = readConfig(process.env);
  useCorePrefixes(bcoin.networks);
  const node = createNode(config);
  closeOnSignals(node);
  await node.ensure();
  await node.open();
  await node.connect();
  node.startSync();
  process.stdout.write(`bcoin regtest ready on ${HOST}:${config.port}\n`);
}

// As bcoin's own bin/node does: an unhandled rejection is a bug, so die loudly.
process.on('unhandledRejection', (err) => {
  throw err;
});

main().catch((err) => {
  process.stderr.write(`regtest.js: ${err.stack || err}\n`);
  process.exit(1);
});
