// One stripe-node call under a fault rule, for tests/e2e/test_faults.py:
//
//     node faults_node.cjs BASE_URL API_KEY SDK_DIR FILE_ID MAX_NETWORK_RETRIES TIMEOUT_MS
//
// Creates a file link for FILE_ID with the SDK's own retries (and its own Idempotency-Key), and
// prints one JSON line: what the call returned or raised.
'use strict';

const [base, key, sdkDir, fileId, retries, timeout] = process.argv.slice(2);
const StripeModule = require(require.resolve('stripe', {paths: [sdkDir]}));
const Stripe = StripeModule.default || StripeModule;
const url = new URL(base);
const stripe = new Stripe(key, {
  host: url.hostname,
  port: Number(url.port),
  protocol: url.protocol.replace(':', ''),
  maxNetworkRetries: Number(retries),
  timeout: Number(timeout),
});

async function main() {
  let outcome;
  try {
    const link = await stripe.fileLinks.create({file: fileId});
    outcome = {
      ok: true,
      id: link.id,
      replayed: link.lastResponse.headers['idempotent-replayed'] === 'true',
    };
  } catch (error) {
    outcome = {
      ok: false,
      class: error.constructor.name,
      type: error.type,
      status: error.statusCode || null,
      code: error.code || null,
    };
  }
  console.log(JSON.stringify({stripe: Stripe.PACKAGE_VERSION, ...outcome}));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
