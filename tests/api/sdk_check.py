"""ExaVault's own Python SDK (`exavault` 2.1.6, unchanged) against a running sharehook: every
webhook call, the delivery log with its filters, resend, token regeneration (the next delivery
verifies with the new token), a wrong token (401), a viewer (403), and the automation of
ExaVault's documents: a listener gets the Upload, downloads the file through the API, then
deletes it, and the Delete that follows names the API user with protocol "api".

Environment: SHAREHOOK_API (base URL, .../api/v2), SHAREHOOK_KEY, SHAREHOOK_TOKEN and
SHAREHOOK_ADMIN (an admin's token and name), SHAREHOOK_VIEWER_TOKEN, SHAREHOOK_SHARE (the
share's folder, where files are written), SHAREHOOK_ACCOUNT (the account name),
SHAREHOOK_FILE_WEBHOOK (the id of a webhook defined in the configuration file).
Prints a line per step and "OK" at the end; exits non-zero at the first broken expectation.
"""

import datetime
import hashlib
import http.server
import json
import os
import re
import sys
import threading
import time

import exavault
from exavault.rest import ApiException

BASE = os.environ["SHAREHOOK_API"]
KEY = os.environ["SHAREHOOK_KEY"]
TOKEN = os.environ["SHAREHOOK_TOKEN"]
ADMIN = os.environ["SHAREHOOK_ADMIN"]
VIEWER_TOKEN = os.environ["SHAREHOOK_VIEWER_TOKEN"]
SHARE = os.environ["SHAREHOOK_SHARE"]
ACCOUNT = os.environ["SHAREHOOK_ACCOUNT"]
FILE_WEBHOOK = int(os.environ["SHAREHOOK_FILE_WEBHOOK"])
PATIENCE = float(os.environ.get("SHAREHOOK_PATIENCE", "60"))


def check(condition, message):
    if not condition:
        print("FAIL: " + message, flush=True)
        sys.exit(1)


def step(message):
    print(message, flush=True)


def refused(call, status, code):
    """Runs `call`, which must raise ApiException with `status` and `code` in its body."""
    try:
        call()
    except ApiException as e:
        check(e.status == status, f"expected {status}, got {e.status}: {e.body}")
        body = json.loads(e.body)
        check(body["errors"][0]["code"] == code, f"expected {code}: {e.body}")
        return body["errors"][0]["detail"]
    check(False, f"expected a refusal with {status} {code}, the call succeeded")


# ----- a webhook listener, as a customer of ExaVault ran one -----

class Listener(http.server.BaseHTTPRequestHandler):
    got = []
    lock = threading.Condition()

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with Listener.lock:
            Listener.got.append(({k.lower(): v for k, v in self.headers.items()}, body))
            Listener.lock.notify_all()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


def wait_delivery(what, match):
    """The first delivery whose JSON body `match` accepts, within PATIENCE seconds."""
    deadline = time.monotonic() + PATIENCE
    with Listener.lock:
        while True:
            for headers, body in Listener.got:
                if match(json.loads(body)):
                    return headers, body
            left = deadline - time.monotonic()
            check(left > 0, f"no delivery of {what} within {PATIENCE} s; got {[b for _, b in Listener.got]}")
            Listener.lock.wait(left)


def signed_with(token, headers, body):
    want = hashlib.md5(token.encode() + body).hexdigest()
    return headers.get("x-exavault-signature") == want


def write(name, text):
    path = os.path.join(SHARE, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Listener)
threading.Thread(target=server.serve_forever, daemon=True).start()
LISTENER_URL = f"http://127.0.0.1:{server.server_address[1]}/exavault"

# ----- the SDK, pointed at the box by changing only the host -----

config = exavault.Configuration()
config.host = BASE
client = exavault.ApiClient(config)
account_api = exavault.AccountApi(client)
users_api = exavault.UsersApi(client)
webhooks = exavault.WebhooksApi(client)
activity = exavault.ActivityApi(client)
resources = exavault.ResourcesApi(client)

account = account_api.get_account(KEY, TOKEN)
check(account.data.attributes.account_name == ACCOUNT, f"account: {account.data}")
check(account.data.attributes.quota.disk_limit >= account.data.attributes.quota.disk_used, "quota")
users = users_api.list_users(KEY, TOKEN)
check(any(u.attributes.username == ADMIN for u in users.data), f"users: {users.data}")
# What ExaVault's own sample-list-users.py does with each user's last sign-in.
for u in users.data:
    last = "never" if u.attributes.access_timestamp[:4] == "0000" else u.attributes.access_timestamp
    if u.attributes.username == ADMIN:
        check(last != "never", f"the admin signed in just now: {u.attributes}")
step(f"account {ACCOUNT}, user {ADMIN}")

# A wrong token is 401 with ExaVault's code; a viewer may read but not make a webhook.
refused(lambda: account_api.get_account(KEY, "0" * 64), 401, "ERROR_INVALID_CREDENTIALS")
Triggers = exavault.WebhookTriggers
Resources = exavault.WebhookTriggersResources
everything = Triggers(resources=Resources(upload=True, delete=True, create_folder=True))
refused(
    lambda: webhooks.add_webhook(KEY, VIEWER_TOKEN, body=exavault.AddWebhookRequestBody(
        endpoint_url=LISTENER_URL, triggers=everything, resource="/", response_version="v1")),
    403, "ERROR_INSUFFICIENT_PRIVILEGES")
seen_by_viewer = webhooks.get_wehooks_list(KEY, VIEWER_TOKEN)
check(all(not w.attributes.verification_token for w in seen_by_viewer.data),
      "a viewer is shown no verification token")
step("wrong token: 401 ERROR_INVALID_CREDENTIALS; viewer adding a webhook: 403")

# ----- every webhook call -----

made = webhooks.add_webhook(KEY, TOKEN, body=exavault.AddWebhookRequestBody(
    endpoint_url=LISTENER_URL, triggers=everything, resource="/", response_version="v1"))
check(len(made.data) == 1, f"one webhook in data: {made}")
hook = made.data[0]
hook_id = int(hook.id)
token = hook.attributes.verification_token
check(re.fullmatch(r"[0-9a-f]{32}", token or ""), f"a 32-hex verification token: {token!r}")
check(hook.attributes.endpoint_url == LISTENER_URL, f"endpoint: {hook.attributes}")
check(hook.attributes.triggers.resources.upload and not hook.attributes.triggers.resources.rename,
      f"triggers as given: {hook.attributes.triggers}")
step(f"add_webhook: id {hook_id}")

listed = webhooks.get_wehooks_list(KEY, TOKEN)
ids = [int(w.id) for w in listed.data]
check(hook_id in ids and FILE_WEBHOOK in ids, f"both webhooks listed: {ids}")
check(listed.total_results == len(listed.data), "totalResults")
got = webhooks.get_webhook_by_id(hook_id, KEY, TOKEN).data[0]
check(int(got.id) == hook_id and got.attributes.verification_token == token, f"get: {got}")

changed = webhooks.update_webhook(KEY, TOKEN, hook_id, body=exavault.UpdateWebhookRequestBody(
    triggers=Triggers(resources=Resources(rename=True)))).data[0]
check(changed.attributes.triggers.resources.rename, "rename turned on")
check(changed.attributes.triggers.resources.upload, "upload kept: triggers merge per key")
for on in (True, False):
    changed = webhooks.update_webhook(KEY, TOKEN, hook_id, body=exavault.UpdateWebhookRequestBody(
        triggers=Triggers(resources=Resources(download=on)))).data[0]
    check(changed.attributes.triggers.resources.download is on, f"download set to {on}: {changed}")
    check(changed.attributes.triggers.resources.rename, "rename kept")
detail = refused(
    lambda: webhooks.update_webhook(KEY, TOKEN, hook_id, body=exavault.UpdateWebhookRequestBody(
        triggers=Triggers(resources=Resources(compress=True)))),
    400, "ERROR_INVALID_PARAMETER")
check("compress" in detail, f"the refusal names the trigger: {detail}")
detail = refused(
    lambda: webhooks.update_webhook(KEY, TOKEN, FILE_WEBHOOK, body=exavault.UpdateWebhookRequestBody(
        endpoint_url=LISTENER_URL)),
    403, "ERROR_INSUFFICIENT_PRIVILEGES")
check("file" in detail, f"the refusal says the webhook is in the file: {detail}")
step("list, get, update (merged triggers), download on and off, compress=true refused, the file's webhook read-only")

# ----- deliveries, signatures and regeneration -----

start = datetime.datetime.utcnow() - datetime.timedelta(minutes=1)
write("reports/first.txt", "first\n")
headers, body = wait_delivery("the Upload of first.txt",
                              lambda b: b["operation"] == "Upload" and b["path"] == "/reports/first.txt")
check(signed_with(token, headers, body), f"signed md5(token || body): {headers}")
new = webhooks.regenerate_webhook_token(hook_id, KEY, TOKEN).data[0].attributes.verification_token
check(re.fullmatch(r"[0-9a-f]{32}", new or "") and new != token, f"a new token: {new!r}")
write("reports/second.txt", "second\n")
headers, body = wait_delivery("the Upload of second.txt",
                              lambda b: b["operation"] == "Upload" and b["path"] == "/reports/second.txt")
check(signed_with(new, headers, body), f"the next delivery is signed with the new token: {headers}")
step("regenerate-token: the next delivery verifies with the new token")

# ----- the delivery log with its filters -----

def attrs(entry):
    """An activity entry's attributes: the SDK leaves them a dict (ExaVault's v1 or v2 shape,
    `oneOf` in its specification), with the keys as sent."""
    a = entry.attributes
    return a if isinstance(a, dict) else a.to_dict()


def logs(**filters):
    return activity.get_webhook_logs(KEY, TOKEN, endpoint_url=LISTENER_URL, **filters)

def wait_logs(what, want, **filters):
    deadline = time.monotonic() + PATIENCE
    while True:
        page = logs(**filters)
        if page.total_results >= want:
            return page
        check(time.monotonic() < deadline, f"{what}: {page.total_results} entries, not {want}")
        time.sleep(0.2)

end = datetime.datetime.utcnow() + datetime.timedelta(minutes=1)
page = wait_logs("uploads under /reports", 2, event="resources.upload", status_code=200,
                 _resource_path="/reports/*", start_date=start, end_date=end, sort="-date")
check(page.total_results == 2 and page.returned_results == 2, f"two uploads: {page.total_results}")
newest, oldest = page.data
check(attrs(newest)["resourcePath"] == "/reports/second.txt"
      and attrs(oldest)["resourcePath"] == "/reports/first.txt", "sorted newest first")
check(int(attrs(newest)["webhookId"]) == hook_id, "the entry names its webhook")
check(attrs(newest)["details"]["path"] == "/reports/second.txt", "details is the body sent")
ascending = logs(_resource_path="/reports/*", sort="date", offset=1, limit=1)
check(ascending.total_results == 2 and ascending.returned_results == 1
      and attrs(ascending.data[0])["resourcePath"] == "/reports/second.txt",
      "offset and limit page an ascending sort")
check(logs(event="resources.delete").total_results == 0, "no delete yet")
check(logs(status_code=500).total_results == 0, "no 500")
before = datetime.datetime.utcnow() - datetime.timedelta(days=2)
check(logs(end_date=before).total_results == 0, "nothing before endDate")
check(logs(username="nobody-at-all").total_results == 0, "username filter")
step("activity: event, statusCode, resourcePath with *, startDate/endDate, sort, offset, limit")

# ----- resend -----

first_entry = oldest
count = len(Listener.got)
resent = webhooks.resend_webhook_activity_entry(str(first_entry.id), KEY, TOKEN)
check(resent.response_status == 200, f"resend: {resent}")
deadline = time.monotonic() + PATIENCE
while not [b for _, b in Listener.got[count:] if json.loads(b)["path"] == "/reports/first.txt"]:
    check(time.monotonic() < deadline, "the resent Upload never came")
    time.sleep(0.1)
page = wait_logs("the resend in the log", 2, _resource_path="/reports/first.txt")
check(any(attrs(e)["resend"] for e in page.data), "the log marks the resend")
step("resend: delivered again and marked in the log")

# ----- ExaVault's automation: Upload → download → delete → Delete by the API user -----

content = "invoice 42: 3 boxes of widgets\n"
write("incoming/invoice-42.txt", content)
headers, body = wait_delivery("the Upload of the invoice",
                              lambda b: b["operation"] == "Upload" and b["path"] == "/incoming/invoice-42.txt")
path = json.loads(body)["path"]
# The SDK saves a download in its temp folder under the name it reads from
# Content-Disposition's filename*= (it needs a 200, and filename* last).
saved = resources.download(KEY, TOKEN, [path])
check(os.path.basename(saved) == "invoice-42.txt", f"saved as {saved!r}")
with open(saved, "rb") as f:
    downloaded = f.read()
os.remove(saved)
check(downloaded == content.encode(), f"the download is the file, byte for byte: {downloaded!r}")
info = resources.get_resource_info_by_id(path, KEY, TOKEN).data
check(info.attributes.name == "invoice-42.txt" and info.attributes.size == len(content)
      and info.attributes.type == "file", f"info: {info}")
same = resources.get_resource_info_by_id(f"id:{info.id}", KEY, TOKEN).data
check(same.attributes.path == path, f"by id:{info.id}: {same}")
listed = resources.list_resources(KEY, TOKEN, "/incoming", sort="name", type="file")
check(listed.total_results == 1 and listed.data[0].attributes.name == "invoice-42.txt",
      f"list: {listed}")
step("resources: info by path and by id:N, list")
resources.delete_resource_by_id(path, KEY, TOKEN)
check(not os.path.exists(os.path.join(SHARE, "incoming/invoice-42.txt")), "the file is gone")
headers, body = wait_delivery("the Delete of the invoice",
                              lambda b: b["operation"] == "Delete" and b["path"] == "/incoming/invoice-42.txt")
deleted = json.loads(body)
check(deleted["username"] == ADMIN and deleted["protocol"] == "api", f"the Delete names the API user: {deleted}")
check(signed_with(new, headers, body), "signed with the current token")
step(f"automation: Upload, download, delete_resource_by_id, Delete by {ADMIN} over api")

write("incoming/a.txt", "a\n")
write("incoming/b.txt", "b\n")
for name in ("a", "b"):
    wait_delivery(f"the Upload of {name}.txt",
                  lambda b, name=name: b["operation"] == "Upload" and b["path"] == f"/incoming/{name}.txt")
multi = resources.delete_resources(KEY, TOKEN, body=exavault.DeleteResourcesRequestBody(
    resources=["/incoming/a.txt", "/incoming/b.txt"]))
for name in ("a", "b"):
    _, body = wait_delivery(f"the Delete of {name}.txt",
                            lambda b, name=name: b["operation"] == "Delete" and b["path"] == f"/incoming/{name}.txt")
    check(json.loads(body)["username"] == ADMIN, f"{name}.txt deleted by {ADMIN}")
step("delete_resources: both deleted, each Delete by the API user")

# ----- delete the webhook -----

gone = webhooks.delete_webhook(hook_id, KEY, TOKEN)
check(gone.response_status == 200, f"delete: {gone}")
refused(lambda: webhooks.get_webhook_by_id(hook_id, KEY, TOKEN), 404, "ERROR_RESOURCE_NOT_FOUND")
count = len(Listener.got)
write("after/third.txt", "third\n")
# Once the file's webhook has delivered it, the deleted one would have had it too.
deadline = time.monotonic() + PATIENCE
while activity.get_webhook_logs(KEY, TOKEN, _resource_path="/after/third.txt").total_results < 1:
    check(time.monotonic() < deadline, "the file's webhook never delivered third.txt")
    time.sleep(0.2)
check(len(Listener.got) == count, "a deleted webhook delivers nothing")
step("delete_webhook: gone, and it delivers no more")
print("OK", flush=True)
