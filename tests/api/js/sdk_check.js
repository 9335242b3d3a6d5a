// ExaVault's own JavaScript SDK (@exavault/exavault-api 2.2.5, unchanged) against a running
// sharehook: every webhook, activity (log) and resource call the SDK has, each answer read
// back through the SDK's own model classes (what `constructFromObject` makes of it), and the
// values an ExaVault customer's script reads checked, not only that nothing was thrown.
//
// Environment: SHAREHOOK_API (base URL, .../api/v2), SHAREHOOK_KEY, SHAREHOOK_TOKEN and
// SHAREHOOK_ADMIN (an admin's token and name), SHAREHOOK_VIEWER_TOKEN and SHAREHOOK_VIEWER (a
// viewer's, not used before this script), SHAREHOOK_SHARE (the share's folder, where files are
// written), SHAREHOOK_ACCOUNT (the account name), SHAREHOOK_FILE_WEBHOOK (the id of a webhook
// defined in the configuration file), SHAREHOOK_PATIENCE (seconds to wait for a delivery).
// Prints "ok N - what" or "not ok N - what: why" per check, then "checks: P passed, F failed"
// and "OK" when none failed; exits non-zero when one did.

'use strict';

const crypto = require('crypto');
const fs = require('fs');
const http = require('http');
const path = require('path');

const ExaVault = require('@exavault/exavault-api');

const env = (name) => {
  const value = process.env[name];
  if (value === undefined) {
    console.log(`FAIL: ${name} is not set`);
    process.exit(2);
  }
  return value;
};
const BASE = env('SHAREHOOK_API');
const KEY = env('SHAREHOOK_KEY');
const TOKEN = env('SHAREHOOK_TOKEN');
const ADMIN = env('SHAREHOOK_ADMIN');
const VIEWER_TOKEN = env('SHAREHOOK_VIEWER_TOKEN');
const VIEWER = env('SHAREHOOK_VIEWER');
const SHARE = env('SHAREHOOK_SHARE');
const ACCOUNT = env('SHAREHOOK_ACCOUNT');
const FILE_WEBHOOK = Number(env('SHAREHOOK_FILE_WEBHOOK'));
const PATIENCE_MS = 1000 * Number(process.env.SHAREHOOK_PATIENCE || '60');

// ----- checks -----

let passed = 0;
let failed = 0;

function check(what, ok, why) {
  const n = passed + failed + 1;
  if (ok) {
    passed += 1;
    console.log(`ok ${n} - ${what}`);
  } else {
    failed += 1;
    console.log(`not ok ${n} - ${what}: ${typeof why === 'function' ? why() : why}`);
  }
  return ok;
}

/** Runs one group of checks; an exception in it is one more failed check, and the rest go on. */
async function group(what, body) {
  try {
    await body();
  } catch (e) {
    check(`${what} ran to its end`, false, e && e.stack ? e.stack : String(e));
  }
}

function show(value) {
  return JSON.stringify(value, (k, v) => (typeof v === 'bigint' ? String(v) : v));
}

/** Calls an SDK method with its callback: {error, data, response}. */
function call(api, method, ...args) {
  return new Promise((resolve) => {
    api[method](...args, (error, data, response) => resolve({ error, data, response }));
  });
}

/** What an SDK call answered: its status and parsed error body. */
function errorOf(result) {
  const res = result.error && result.error.response;
  let body = null;
  try {
    body = res ? JSON.parse(res.text) : null;
  } catch (e) {
    body = null;
  }
  return { status: res ? res.status : null, body, text: res ? res.text : String(result.error) };
}

/** Checks that `result` is a refusal with `status` and ExaVault's error body holding `code`. */
function refused(what, result, status, code, detailHas) {
  if (!result.error) {
    return check(what, false, `the call succeeded (${result.response && result.response.status}): ${show(result.data)}`);
  }
  const e = errorOf(result);
  const first = e.body && Array.isArray(e.body.errors) ? e.body.errors[0] : null;
  const ok = e.status === status
    && e.body && e.body.responseStatus === status
    && first && first.code === code
    && (!detailHas || String(first.detail).includes(detailHas));
  return check(what, ok, `expected ${status} ${code}${detailHas ? ` saying "${detailHas}"` : ''}, got ${e.status}: ${e.text}`);
}

function isDate(d) {
  return d instanceof Date && !Number.isNaN(d.getTime());
}

function recent(d, minutes) {
  return isDate(d) && Math.abs(Date.now() - d.getTime()) < minutes * 60 * 1000;
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function until(what, probe) {
  const deadline = Date.now() + PATIENCE_MS;
  for (;;) {
    const got = await probe();
    if (got) {
      return got;
    }
    if (Date.now() > deadline) {
      throw new Error(`${what}: not within ${PATIENCE_MS / 1000} s`);
    }
    await sleep(100);
  }
}

function write(name, text) {
  const file = path.join(SHARE, name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
}

// ----- a webhook listener, as an ExaVault customer ran one -----

const deliveries = [];
const listener = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    deliveries.push({ headers: req.headers, body: Buffer.concat(chunks) });
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end('{}');
  });
});

function waitDelivery(what, match) {
  return until(`a delivery of ${what}`, async () => deliveries.find((d) => {
    try {
      return match(JSON.parse(d.body.toString('utf8')));
    } catch (e) {
      return false;
    }
  }));
}

function signedWith(token, delivery) {
  const want = crypto.createHash('md5').update(Buffer.concat([Buffer.from(token), delivery.body])).digest('hex');
  return delivery.headers['x-exavault-signature'] === want;
}

// ----- the SDK, pointed at the box by changing only the host -----

const client = new ExaVault.ApiClient();
client.basePath = BASE;
const account = new ExaVault.AccountApi(client);
const users = new ExaVault.UsersApi(client);
const webhooks = new ExaVault.WebhooksApi(client);
const activity = new ExaVault.ActivityApi(client);
const resources = new ExaVault.ResourcesApi(client);

const triggers = (on) => {
  const t = new ExaVault.WebhookTriggers();
  t.resources = new ExaVault.WebhookTriggersResources();
  Object.assign(t.resources, on);
  return t;
};

async function main() {
  await new Promise((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const LISTENER_URL = `http://127.0.0.1:${listener.address().port}/exavault`;
  const state = {};

  await group('account and users', async () => {
    const a = await call(account, 'getAccount', KEY, TOKEN, {});
    check('getAccount answers an AccountResponse', !a.error && a.data instanceof ExaVault.AccountResponse, () => errorOf(a).text);
    const attrs = a.data.data.attributes;
    check('getAccount: accountName and quota', attrs.accountName === ACCOUNT
      && attrs.quota.diskLimit >= attrs.quota.diskUsed && attrs.quota.diskUsed > 0, show(attrs));

    const u = await call(users, 'listUsers', KEY, TOKEN, {});
    check('listUsers answers a UserCollectionResponse of Users', !u.error && u.data.data.every((x) => x instanceof ExaVault.User), () => errorOf(u).text);
    const admin = u.data.data.find((x) => x.attributes.username === ADMIN);
    const viewer = u.data.data.find((x) => x.attributes.username === VIEWER);
    check('listUsers: roles, permissions and dates', admin && viewer
      && admin.attributes.role === 'admin' && viewer.attributes.role === 'user'
      && admin.attributes.permissions.delete === true && viewer.attributes.permissions.delete === false
      && isDate(admin.attributes.created) && Number.isInteger(admin.id), show(u.data.data));
    check('listUsers: the admin, who just signed in, has a recent accessTimestamp',
      admin && typeof admin.attributes.accessTimestamp === 'string'
      && recent(new Date(admin.attributes.accessTimestamp), 10), show(admin && admin.attributes));
    check('listUsers: the viewer, never signed in, has ExaVault\'s "never" accessTimestamp',
      viewer && typeof viewer.attributes.accessTimestamp === 'string'
      && viewer.attributes.accessTimestamp.startsWith('0000'), show(viewer && viewer.attributes));

    const seen = await call(webhooks, 'getWehooksList', KEY, VIEWER_TOKEN, {});
    check('a viewer lists webhooks without their tokens', !seen.error
      && seen.data.data.length > 0 && seen.data.data.every((w) => !w.attributes.verificationToken), () => errorOf(seen).text);
    const again = await call(users, 'listUsers', KEY, TOKEN, {});
    const viewerNow = again.data.data.find((x) => x.attributes.username === VIEWER);
    check('listUsers: the viewer\'s accessTimestamp follows its first call',
      viewerNow && recent(new Date(viewerNow.attributes.accessTimestamp), 10), show(viewerNow && viewerNow.attributes));

    refused('a wrong token is 401', await call(account, 'getAccount', KEY, '0'.repeat(64), {}), 401, 'ERROR_INVALID_CREDENTIALS');
    const body = new ExaVault.AddWebhookRequestBody(LISTENER_URL);
    refused('a viewer adding a webhook is 403', await call(webhooks, 'addWebhook', KEY, VIEWER_TOKEN, { body }), 403, 'ERROR_INSUFFICIENT_PRIVILEGES');
  });

  await group('webhooks', async () => {
    const v1 = new ExaVault.AddWebhookRequestBody(LISTENER_URL);
    v1.triggers = triggers({ upload: true, delete: true, createFolder: true });
    v1.resource = '/';
    v1.responseVersion = 'v1';
    const made = await call(webhooks, 'addWebhook', KEY, TOKEN, { body: v1 });
    const hook = !made.error && made.data.data[0];
    check('addWebhook (v1): 201 with one Webhook in data', hook && made.response.status === 201
      && made.data.data.length === 1 && hook instanceof ExaVault.Webhook && Number.isInteger(hook.id), () => errorOf(made).text);
    state.v1 = hook.id;
    state.token = hook.attributes.verificationToken;
    check('addWebhook (v1): token, endpoint, triggers and version as given',
      /^[0-9a-f]{32}$/.test(state.token) && hook.attributes.endpointUrl === LISTENER_URL
      && hook.attributes.triggers.resources.upload === true && hook.attributes.triggers.resources.rename === false
      && hook.attributes.responseVersion === 'v1', show(hook));

    const v2 = new ExaVault.AddWebhookRequestBody(LISTENER_URL);
    v2.resource = '/v2';
    v2.responseVersion = 'v2';
    const made2 = await call(webhooks, 'addWebhook', KEY, TOKEN, { body: v2 });
    check('addWebhook (v2, a folder, every trigger)', !made2.error && made2.data.data[0].attributes.responseVersion === 'v2'
      && made2.data.data[0].attributes.triggers.resources.rename === true, () => errorOf(made2).text);
    state.v2 = made2.data.data[0].id;

    const listed = await call(webhooks, 'getWehooksList', KEY, TOKEN, {});
    const ids = listed.data.data.map((w) => w.id);
    check('getWehooksList: the new ones and the file\'s', [state.v1, state.v2, FILE_WEBHOOK].every((id) => ids.includes(id))
      && listed.data.totalResults === listed.data.data.length, show(ids));
    const got = await call(webhooks, 'getWebhookById', state.v1, KEY, TOKEN, {});
    check('getWebhookById: the same webhook and token', !got.error && got.data.data[0].id === state.v1
      && got.data.data[0].attributes.verificationToken === state.token, () => errorOf(got).text);

    const change = new ExaVault.UpdateWebhookRequestBody();
    change.triggers = triggers({ rename: true });
    const changed = await call(webhooks, 'updateWebhook', state.v1, KEY, TOKEN, { body: change });
    check('updateWebhook: triggers merge key by key', !changed.error && changed.data.data[0].attributes.triggers.resources.rename === true
      && changed.data.data[0].attributes.triggers.resources.upload === true, () => errorOf(changed).text);
    const bad = new ExaVault.UpdateWebhookRequestBody();
    bad.triggers = triggers({ compress: true });
    refused('updateWebhook: a trigger sharehook cannot see is 400', await call(webhooks, 'updateWebhook', state.v1, KEY, TOKEN, { body: bad }),
      400, 'ERROR_INVALID_PARAMETER', 'compress');
    const file = new ExaVault.UpdateWebhookRequestBody();
    file.endpointUrl = LISTENER_URL;
    refused('updateWebhook: the file\'s webhook is read-only', await call(webhooks, 'updateWebhook', FILE_WEBHOOK, KEY, TOKEN, { body: file }),
      403, 'ERROR_INSUFFICIENT_PRIVILEGES');
  });

  await group('deliveries and regenerate-token', async () => {
    state.start = new Date(Date.now() - 60 * 1000);
    write('reports/first.txt', 'first\n');
    const first = await waitDelivery('the Upload of first.txt', (b) => b.operation === 'Upload' && b.path === '/reports/first.txt');
    check('a v1 delivery is signed md5(token || body)', signedWith(state.token, first), show(first.headers));
    const regenerated = await call(webhooks, 'regenerateWebhookToken', state.v1, KEY, TOKEN);
    const fresh = !regenerated.error && regenerated.data.data[0].attributes.verificationToken;
    check('regenerateWebhookToken: a new token', /^[0-9a-f]{32}$/.test(fresh || '') && fresh !== state.token, () => errorOf(regenerated).text);
    state.token = fresh;
    write('reports/second.txt', 'second\n');
    const second = await waitDelivery('the Upload of second.txt', (b) => b.operation === 'Upload' && b.path === '/reports/second.txt');
    check('the next delivery verifies with the new token', signedWith(fresh, second), show(second.headers));

    write('v2/a.txt', 'v2 body\n');
    const d = await waitDelivery('the v2 Upload of a.txt', (b) => b.event === 'resources.upload' && b.eventData.resources[0].path === '/v2/a.txt');
    const raw = JSON.parse(d.body.toString('utf8'));
    const details = ExaVault.WebhookV2Details.constructFromObject(raw);
    const r = details.eventData.resources[0];
    // The model reads `id` with parseFloat: a hex string would give its leading digits (or
    // NaN), so the value read must be the JSON number sent, whole and exact.
    check('a v2 body read by WebhookV2Details: the resource id is an exact Number', r instanceof ExaVault.WebhookV2EventDataResources
      && Number.isSafeInteger(r.id) && r.id > 0 && r.id === raw.eventData.resources[0].id
      && /^[0-9a-f]{32}$/.test(r.hash), show(raw.eventData.resources[0]));
    check('a v2 body read by WebhookV2Details: event, time, name, type, size', details.event === 'resources.upload'
      && recent(details.eventTimestamp, 10) && r.name === 'a.txt' && r.type === 'file' && r.size === 8, show(details));
    const info = await call(resources, 'getResourceInfoById', String(r.id), KEY, TOKEN, {});
    check('the v2 body\'s resource id is the id the resources API takes', !info.error && info.data.data.id === r.id
      && info.data.data.attributes.path === '/v2/a.txt' && info.data.data.attributes.hash === r.hash, () => errorOf(info).text);
    state.v2Id = r.id;
  });

  await group('activity', async () => {
    const logs = (opts) => call(activity, 'getWebhookLogs', KEY, TOKEN, Object.assign({ endpointUrl: LISTENER_URL }, opts));
    const end = new Date(Date.now() + 60 * 1000);
    const page = await until('two uploads under /reports in the log', async () => {
      const p = await logs({ event: 'resources.upload', statusCode: 200, resourcePath: '/reports/*', startDate: state.start, endDate: end, sort: '-date' });
      return !p.error && p.data.totalResults >= 2 ? p : null;
    });
    check('getWebhookLogs: a WebhookActivityResponse of two uploads, newest first', page.data instanceof ExaVault.WebhookActivityResponse
      && page.data.totalResults === 2 && page.data.returnedResults === 2
      && page.data.data[0].attributes.resourcePath === '/reports/second.txt', show(page.data));
    const entry = page.data.data[1];
    check('a log entry is a WebhookActivityEntry with a Number id', entry instanceof ExaVault.WebhookActivityEntry
      && Number.isInteger(entry.id) && entry.type === 'webhookActivity', show(entry));
    const v1 = ExaVault.WebhookActivityAttributesV1.constructFromObject(entry.attributes);
    check('a v1 entry read by WebhookActivityAttributesV1', v1.webhookId === state.v1 && v1.webhookFormat === 'v1'
      && v1.event === 'resources.upload' && v1.status === 200 && v1.resend === false
      && v1.resourcePath === '/reports/first.txt' && v1.endpointUrl === LISTENER_URL, show(v1));
    const dd = v1.details;
    check('a v1 entry\'s details read by WebhookV1Details: attemptId, accountName, event, attempt',
      dd instanceof ExaVault.WebhookV1Details && /^\d+-1$/.test(dd.attemptId || '') && dd.attemptId === v1.attemptId
      && dd.accountName === ACCOUNT && dd.event === 'resources.upload' && dd.attempt === 1
      && dd.protocol && dd.username, show(dd));

    // The v1 webhook watches the whole share, so /v2/a.txt has a v1 entry too, logged before
    // or after the v2 one: the v2 webhook's is picked by its format.
    const v2entry = await until('the v2 upload in the log', async () => {
      const p = await logs({ resourcePath: '/v2/a.txt' });
      return (!p.error && p.data.data.find((e) => e.attributes.webhookFormat === 'v2')) || null;
    });
    const v2 = ExaVault.WebhookActivityAttributesV2.constructFromObject(v2entry.attributes);
    const res = v2.details && v2.details.eventData && v2.details.eventData.resources[0];
    check('a v2 entry read by WebhookActivityAttributesV2: details as sent, the id a Number',
      v2.webhookId === state.v2 && v2.webhookFormat === 'v2' && isDate(v2.details.eventTimestamp)
      && res && res.id === state.v2Id && res.path === '/v2/a.txt', show(v2));

    const ascending = await logs({ resourcePath: '/reports/*', sort: 'date', offset: 1, limit: 1 });
    check('offset and limit page an ascending sort', !ascending.error && ascending.data.totalResults === 2
      && ascending.data.returnedResults === 1 && ascending.data.data[0].attributes.resourcePath === '/reports/second.txt', show(ascending.data));
    const none = await Promise.all([
      logs({ event: 'resources.delete', resourcePath: '/reports/*' }),
      logs({ statusCode: 500 }),
      logs({ endDate: new Date(Date.now() - 2 * 86400 * 1000) }),
      logs({ username: 'nobody-at-all' }),
    ]);
    check('filters: event, statusCode, endDate and username', none.every((p) => !p.error && p.data.totalResults === 0),
      show(none.map((p) => p.data && p.data.totalResults)));

    const count = deliveries.length;
    const resent = await call(webhooks, 'resendWebhookActivityEntry', String(entry.id), KEY, TOKEN);
    check('resendWebhookActivityEntry: an EmptyResponse', !resent.error && resent.data.responseStatus === 200, () => errorOf(resent).text);
    await until('the resent Upload', async () => deliveries.slice(count).some((d) => JSON.parse(d.body).path === '/reports/first.txt'));
    const marked = await until('the resend in the log', async () => {
      const p = await logs({ resourcePath: '/reports/first.txt' });
      return !p.error && p.data.totalResults >= 2 ? p : null;
    });
    check('the log marks the resend', marked.data.data.some((e) => e.attributes.resend === true), show(marked.data));

    refused('getSessionLogs: 404, sharehook keeps no session log', await call(activity, 'getSessionLogs', KEY, TOKEN, {}),
      404, 'ERROR_RESOURCE_NOT_FOUND', 'does not serve');
  });

  await group('resources', async () => {
    const content = 'invoice 42: 3 boxes of widgets\n';
    write('incoming/invoice-42.txt', content);
    await waitDelivery('the Upload of the invoice', (b) => b.operation === 'Upload' && b.path === '/incoming/invoice-42.txt');
    const name = '/incoming/invoice-42.txt';

    const got = await call(resources, 'download', KEY, TOKEN, [name], {});
    check('download: the file, byte for byte, named for a save', !got.error && got.data === content
      && /filename\*=UTF-8''invoice-42\.txt$/.test(got.response.headers['content-disposition'] || ''), () => (got.error ? errorOf(got).text : show(got.data)));

    const byPath = await call(resources, 'getResourceInfoById', name, KEY, TOKEN, {});
    const r = !byPath.error && byPath.data.data;
    check('getResourceInfoById (a path): a Resource with a Number id', r instanceof ExaVault.Resource
      && Number.isSafeInteger(r.id) && r.type === 'resource', () => errorOf(byPath).text);
    const a = r.attributes;
    check('the Resource\'s attributes as the SDK reads them', a instanceof ExaVault.ResourceAttributes
      && a.name === 'invoice-42.txt' && a.extension === 'txt' && a.type === 'file' && a.size === content.length
      && a.path === name && /^[0-9a-f]{32}$/.test(a.hash) && isDate(a.createdAt) && recent(a.updatedAt, 10)
      && isDate(a.uploadDate) && typeof a.createdBy === 'string' && a.createdBy.length > 0, show(a));
    const byNumber = await call(resources, 'getResourceInfoById', r.id, KEY, TOKEN, {});
    check('getResourceInfoById (the number the API gave)', !byNumber.error && byNumber.data.data.attributes.path === name
      && byNumber.data.data.id === r.id, () => errorOf(byNumber).text);
    const byId = await call(resources, 'getResourceInfoById', `id:${r.id}`, KEY, TOKEN, {});
    check('getResourceInfoById (id:N)', !byId.error && byId.data.data.attributes.path === name, () => errorOf(byId).text);
    const props = await call(resources, 'getResourceInfo', KEY, TOKEN, name, {});
    check('getResourceInfo (properties by path): the same Resource', !props.error && props.data instanceof ExaVault.ResourceResponse
      && props.data.data.id === r.id && props.data.data.attributes.size === content.length, () => errorOf(props).text);

    const listed = await call(resources, 'listResources', KEY, TOKEN, '/incoming', { sort: 'name', type: 'file' });
    check('listResources: a ResourceCollectionResponse of the folder\'s files', !listed.error
      && listed.data instanceof ExaVault.ResourceCollectionResponse && listed.data.totalResults === 1
      && listed.data.data[0] instanceof ExaVault.Resource && listed.data.data[0].id === r.id, () => errorOf(listed).text);
    const folder = await call(resources, 'getResourceInfoById', '/incoming', KEY, TOKEN, {});
    check('a folder is a dir with its fileCount', !folder.error && folder.data.data.attributes.type === 'dir'
      && folder.data.data.attributes.fileCount === 1, () => errorOf(folder).text);
    const contents = await call(resources, 'listResourceContents', KEY, TOKEN, folder.data.data.id, { sort: 'name' });
    check('listResourceContents (the folder\'s number): its entries', !contents.error
      && contents.data instanceof ExaVault.ResourceCollectionResponse && contents.data.totalResults === 1
      && contents.data.data[0].attributes.name === 'invoice-42.txt', () => errorOf(contents).text);
    const contentsByPath = await call(resources, 'listResourceContents', KEY, TOKEN, '/incoming', { type: 'dir' });
    check('listResourceContents (a path) with a type filter', !contentsByPath.error && contentsByPath.data.totalResults === 0,
      () => errorOf(contentsByPath).text);

    write('incoming/a.txt', 'a\n');
    write('incoming/b.txt', 'b\n');
    const zip = await call(resources, 'download', KEY, TOKEN, ['/incoming/a.txt', '/incoming/b.txt'], { downloadArchiveName: 'both' });
    check('download of two files: one zip, named as asked', !zip.error && zip.response.headers['content-type'] === 'application/zip'
      && /''both\.zip$/.test(zip.response.headers['content-disposition'] || '') && zip.data.startsWith('PK'), () => (zip.error ? errorOf(zip).text : show(zip.response.headers)));

    refused('a viewer\'s deleteResourceById is 403', await call(resources, 'deleteResourceById', r.id, KEY, VIEWER_TOKEN), 403, 'ERROR_INSUFFICIENT_PRIVILEGES');
    const viewerMany = await call(resources, 'deleteResources', KEY, VIEWER_TOKEN, { body: new ExaVault.DeleteResourcesRequestBody(['/incoming/a.txt', '/incoming/b.txt']) });
    refused('a viewer\'s deleteResources is refused whole with 403', viewerMany, 403, 'ERROR_INSUFFICIENT_PRIVILEGES');
    check('and nothing was deleted', fs.existsSync(path.join(SHARE, 'incoming/a.txt')) && fs.existsSync(path.join(SHARE, 'incoming/b.txt')), 'a file went');

    const gone = await call(resources, 'deleteResourceById', r.id, KEY, TOKEN);
    check('deleteResourceById (the number): an EmptyResponse, the file gone', !gone.error && gone.data instanceof ExaVault.EmptyResponse
      && !fs.existsSync(path.join(SHARE, 'incoming/invoice-42.txt')), () => errorOf(gone).text);
    const del = await waitDelivery('the Delete of the invoice', (b) => b.operation === 'Delete' && b.path === name);
    const delBody = JSON.parse(del.body);
    check('the Delete names the API user, over api, signed', delBody.username === ADMIN && delBody.protocol === 'api'
      && signedWith(state.token, del), show(delBody));

    // One by the id the SDK read (a Number), one by its path.
    const aInfo = await call(resources, 'getResourceInfoById', '/incoming/a.txt', KEY, TOKEN, {});
    const many = await call(resources, 'deleteResources', KEY, TOKEN, { body: new ExaVault.DeleteResourcesRequestBody([aInfo.data.data.id, '/incoming/b.txt']) });
    check('deleteResources (an id and a path): both gone', !many.error && !fs.existsSync(path.join(SHARE, 'incoming/a.txt'))
      && !fs.existsSync(path.join(SHARE, 'incoming/b.txt')), () => errorOf(many).text);
    write('incoming/c.txt', 'c\n');
    const mixed = await call(resources, 'deleteResources', KEY, TOKEN, { body: new ExaVault.DeleteResourcesRequestBody(['/incoming/c.txt', '/incoming/none.txt']) });
    const statuses = !mixed.error && (mixed.response.body.responses || []).map((x) => x.responseStatus);
    check('deleteResources of one there and one not: 207, one result each', !mixed.error && mixed.response.status === 207
      && show(statuses) === '[200,404]' && !fs.existsSync(path.join(SHARE, 'incoming/c.txt')), () => (mixed.error ? errorOf(mixed).text : show(mixed.response.body)));
    const missing = await call(resources, 'deleteResources', KEY, TOKEN, { body: new ExaVault.DeleteResourcesRequestBody(['/incoming/none.txt']) });
    refused('deleteResources where nothing could be deleted is an error', missing, 404, 'ERROR_RESOURCE_NOT_FOUND');
  });

  await group('resource routes sharehook does not serve', async () => {
    const cases = [
      ['addFolder', () => call(resources, 'addFolder', KEY, TOKEN, { body: { path: '/made-by-api' } })],
      ['compressFiles', () => call(resources, 'compressFiles', KEY, TOKEN, { body: new ExaVault.CompressFilesRequestBody(['/reports']) })],
      ['copyResources', () => call(resources, 'copyResources', KEY, TOKEN, { body: new ExaVault.CopyResourcesRequestBody(['/reports/first.txt'], '/copied') })],
      ['extractFiles', () => call(resources, 'extractFiles', KEY, TOKEN, { body: new ExaVault.ExtractFilesRequestBody('/a.zip', '/') })],
      ['getPreviewImage', () => call(resources, 'getPreviewImage', KEY, TOKEN, '/reports/first.txt', 'small', {})],
      ['moveResources', () => call(resources, 'moveResources', KEY, TOKEN, { body: new ExaVault.MoveResourcesRequestBody(['/reports/first.txt'], '/moved') })],
      ['updateResourceById', () => call(resources, 'updateResourceById', '/reports/first.txt', TOKEN, KEY, { body: { name: 'renamed.txt' } })],
      ['uploadFile', () => call(resources, 'uploadFile', KEY, TOKEN, '/uploaded.txt', 3, { file: Buffer.from('abc') })],
    ];
    for (const [method, run] of cases) {
      refused(`${method}: 404, sharehook does not serve it`, await run(), 404, 'ERROR_RESOURCE_NOT_FOUND', 'does not serve');
    }
    check('and none of them changed the share', !fs.existsSync(path.join(SHARE, 'made-by-api')) && !fs.existsSync(path.join(SHARE, 'uploaded.txt'))
      && fs.existsSync(path.join(SHARE, 'reports/first.txt')), fs.readdirSync(SHARE).join(', '));
  });

  await group('deleting webhooks', async () => {
    for (const id of [state.v1, state.v2]) {
      const gone = await call(webhooks, 'deleteWebhook', id, KEY, TOKEN);
      check(`deleteWebhook ${id}: an EmptyResponse`, !gone.error && gone.data.responseStatus === 200, () => errorOf(gone).text);
      refused(`getWebhookById ${id} after: 404`, await call(webhooks, 'getWebhookById', id, KEY, TOKEN, {}), 404, 'ERROR_RESOURCE_NOT_FOUND');
    }
  });

  listener.close();
  console.log(`checks: ${passed} passed, ${failed} failed`);
  if (failed === 0) {
    console.log('OK');
  }
  process.exit(failed === 0 ? 0 : 1);
}

main().catch((e) => {
  console.log(`FAIL: ${e && e.stack ? e.stack : e}`);
  process.exit(1);
});
