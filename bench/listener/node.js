#!/usr/bin/env node
/*
 * The listener benchmark's bcoin 1.0.2 regtest node: in memory, with bcoin's wallet plugin.
 *
 * Like devnode/bitcoin/regtest.js (Core's regtest prefixes, a sendrawtransaction that
 * reports rejections), plus the wallet: its HTTP/JSON-RPC server on BCOIN_WALLET_PORT and one
 * extra wallet RPC call, `benchrescan <height>`, which runs WalletDB.rescan(height) (what
 * POST /rescan starts) and answers when it is finished, so the benchmark can time it.
 *
 * Environment: BCOIN_MODULE (path of the bcoin package), BCOIN_HTTP_PORT, BCOIN_WALLET_PORT,
 * BCOIN_API_KEY. Prints "bcoin bench node ready" once both servers listen.
 */

'use strict';

const bcoin = require(process.env.BCOIN_MODULE);

const HOST = '127.0.0.1';

Object.assign(bcoin.networks.regtest.addressPrefix, {
  pubkeyhash: 0x6f,
  scripthash: 0xc4,
  witnesspubkeyhash: 0x03,
  witnessscripthash: 0x28,
  bech32: 'bcrt'
});
bcoin.networks.regtest.keyPrefix.privkey = 0xef;

// blgr writes every level below "error" to stdout; keep stdout for the ready line only.
function logToStderr(logger) {
  logger.writeConsole = function writeConsole(level, module, args) {
    const name = this.constructor.levelsByVal[level];
    const where = module ? ` (${module})` : '';
    return process.stderr.write(`[${name}]${where} ${this.fmt(args, false)}\n`);
  };
}

function rpcError(code, message) {
  return Object.assign(new Error(message), { type: 'RPCError', code });
}

async function sendRawTransaction(node, args) {
  let tx;
  try {
    tx = bcoin.TX.fromRaw(Buffer.from(args[0], 'hex'));
  } catch (err) {
    throw rpcError(-22, `TX decode failed: ${err.message}`);
  }
  let missing;
  try {
    missing = await node.mempool.addTX(tx);
  } catch (err) {
    if (err.type !== 'VerifyError')
      throw err;
    if (err.reason === 'txn-already-in-mempool')
      return tx.txid();
    throw rpcError(-26, err.reason);
  }
  if (missing) {
    node.mempool.removeOrphan(tx.hash('hex'));
    throw rpcError(-25, 'bad-txns-inputs-missingorspent');
  }
  return tx.txid();
}

async function main() {
  const env = process.env;
  const node = new bcoin.FullNode({
    network: 'regtest',
    memory: true,
    workers: false,
    httpHost: HOST,
    httpPort: Number(env.BCOIN_HTTP_PORT),
    apiKey: env.BCOIN_API_KEY,
    walletHttpHost: HOST,
    walletHttpPort: Number(env.BCOIN_WALLET_PORT),
    listen: false,
    only: [HOST],
    logConsole: true,
    logLevel: 'warning'
  });
  logToStderr(node.logger.logger);
  node.rpc.calls.sendrawtransaction = (args) => sendRawTransaction(node, args);
  const wallet = node.use(bcoin.wallet.plugin);
  wallet.rpc.add('benchrescan', async (args) => {
    await wallet.wdb.rescan(Number(args[0]));
    return null;
  });
  process.on('SIGTERM', async () => {
    await node.close();
    process.exit(0);
  });
  await node.ensure();
  await node.open();
  await node.connect();
  node.startSync();
  process.stdout.write('bcoin bench node ready\n');
}

main().catch((err) => {
  process.stderr.write(`node.js: ${err.stack || err}\n`);
  process.exit(1);
});
