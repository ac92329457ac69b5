// The SDK matrix's scenario for one stripe-node version, run by test_stripe_node.py with the
// directory whose node_modules holds that version alone:
//
//     node scenario_node.cjs BASE_URL API_KEY PDF_PATH SDK_DIR
//
// Upload (stripe-node 22+ sends files.create to the constructor's host), link
// create/retrieve/update/list (auto-paging forward and backward), expand, errors mapped to the
// SDK's classes (a publishable key's StripePermissionError, an over-long Idempotency-Key's
// StripeIdempotencyError among them), an idempotent retry, and the link URL's bytes. A failed check throws (exit
// status 1); at the end one JSON line says what was seen.
'use strict';

const fs = require('fs');
const crypto = require('crypto');
const [base, key, pdfPath, sdkDir] = process.argv.slice(2);
const StripeModule = require(require.resolve('stripe', {paths: [sdkDir]}));
const Stripe = StripeModule.default || StripeModule;
const url = new URL(base);
const config = {
  host: url.hostname,
  port: Number(url.port),
  protocol: url.protocol.replace(':', ''),
  maxNetworkRetries: 0,
};
const stripe = new Stripe(key, config);
const seen = {stripe: Stripe.PACKAGE_VERSION};

function check(condition, what) {
  if (!condition) {
    throw new Error(`check failed: ${what}`);
  }
}

async function ids(list) {
  const found = [];
  for await (const item of list) {
    found.push(item.id);
  }
  return found;
}

async function raises(errorClass, call) {
  try {
    await call();
  } catch (error) {
    check(error instanceof errorClass, `${error.type}: ${error.message}`);
    return error;
  }
  throw new Error(`no ${errorClass.name}`);
}

async function main() {
  const pdf = fs.readFileSync(pdfPath);
  const file = await stripe.files.create({
    purpose: 'dispute_evidence',
    file: {data: pdf, name: 'evidence.pdf', type: 'application/pdf'},
  });
  check(file.object === 'file' && file.id.startsWith('file_'), `upload: ${JSON.stringify(file)}`);
  check(file.size === pdf.length, 'upload: size');
  check((await stripe.files.retrieve(file.id)).id === file.id, 'retrieve file');
  const echoed = file.lastResponse.headers['stripe-version'];
  seen.stripe_version_sent = stripe.getApiField('version');
  seen.stripe_version_echoed = echoed;
  check(echoed === seen.stripe_version_sent, `Stripe-Version echoed: ${echoed}`);

  const link = await stripe.fileLinks.create({file: file.id, metadata: {order: '6735', step: '1'}});
  check(link.object === 'file_link' && link.file === file.id, 'create link');
  check(link.expired === false && link.livemode === false, 'create link: flags');
  const expanded = await stripe.fileLinks.retrieve(link.id, {expand: ['file']});
  check(expanded.file.object === 'file' && expanded.file.id === file.id, 'expand file');
  const updated = await stripe.fileLinks.update(link.id, {
    metadata: {step: '', note: 'paid'},
    expires_at: 4000000000,
  });
  check(JSON.stringify(updated.metadata) === JSON.stringify({order: '6735', note: 'paid'}),
    `update: ${JSON.stringify(updated.metadata)}`);
  check(updated.expires_at === 4000000000, 'update: expires_at');
  const publicBytes = Buffer.from(await (await fetch(link.url)).arrayBuffer());
  check(publicBytes.equals(pdf), 'the link URL serves the bytes');

  const created = [link];
  for (let i = 0; i < 4; i += 1) {
    created.push(await stripe.fileLinks.create({file: file.id}));
  }
  const newestFirst = created.map((item) => item.id).reverse();
  const forward = await ids(stripe.fileLinks.list({file: file.id, limit: 2}));
  check(JSON.stringify(forward) === JSON.stringify(newestFirst), `forward: ${forward}`);
  const backward = await ids(
    stripe.fileLinks.list({file: file.id, limit: 2, ending_before: created[0].id}));
  const wanted = created.slice(1).map((item) => item.id);
  check(JSON.stringify(backward) === JSON.stringify(wanted), `backward: ${backward}`);
  const listed = await stripe.fileLinks.list({file: file.id, limit: 1, expand: ['data.file']});
  check(listed.has_more === true, 'list: has_more');
  check(listed.data[0].file.id === file.id, 'list: expand data.file');
  const files = await ids(stripe.files.list({limit: 1, purpose: 'dispute_evidence'}));
  check(JSON.stringify(files) === JSON.stringify([file.id]), `files: ${files}`);

  const missing = await raises(Stripe.errors.StripeInvalidRequestError,
    () => stripe.fileLinks.retrieve('link_missing'));
  check(missing.statusCode === 404, 'missing link: 404');
  check(missing.code === 'resource_missing' && missing.param === 'id', 'missing link: code');
  const tooLong = await raises(Stripe.errors.StripeInvalidRequestError,
    () => stripe.fileLinks.create({file: 'f'.repeat(5001)}));
  check(tooLong.param === 'file', '5001 characters: param');
  check(tooLong.message.endsWith('must be at most 5000 characters'), '5001 characters: message');
  const badKey = new Stripe('not a key', config);
  const unauthorized = await raises(Stripe.errors.StripeAuthenticationError,
    () => badKey.fileLinks.list());
  check(unauthorized.statusCode === 401, 'bad key: 401');
  const publishable = new Stripe('pk_test_' + 'p'.repeat(24), config);
  const forbidden = await raises(Stripe.errors.StripePermissionError,
    () => publishable.fileLinks.list());
  check(forbidden.statusCode === 403, 'publishable key: 403');
  check(forbidden.code === 'secret_key_required', 'publishable key: code');
  const longKey = await raises(Stripe.errors.StripeIdempotencyError,
    () => stripe.fileLinks.create({file: file.id}, {idempotencyKey: 'k'.repeat(256)}));
  check(longKey.statusCode === 400, 'a 256-character Idempotency-Key: 400');
  check(longKey.message.startsWith('Idempotent key length is 256'), '256-character key: message');

  const idempotencyKey = crypto.randomUUID();
  const first = await stripe.fileLinks.create({file: file.id}, {idempotencyKey});
  const retried = await stripe.fileLinks.create({file: file.id}, {idempotencyKey});
  check(retried.id === first.id, 'idempotent retry: same link');
  check(retried.lastResponse.headers['idempotent-replayed'] === 'true', 'idempotent: replayed');
  check(first.lastResponse.idempotencyKey === idempotencyKey, 'idempotency key echoed');
  seen.ok = true;
  console.log(JSON.stringify(seen));
}

main().catch((error) => {
  console.error(error && error.stack ? error.stack : error);
  process.exit(1);
});
