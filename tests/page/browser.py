#!/usr/bin/env python3
"""The web page in a real browser: headless Chromium driven by Selenium against a running
sharehook. Signs in, makes a webhook to the page's own inbox through the form, writes files on
the share and watches their rows arrive without a reload, resends, regenerates the token,
checks what a viewer may not do, the CSRF token, signing out, the browser console of every
page and sideways scrolling at phone width (390 x 844). Saves a screenshot of every page.
With --people, only the overview's People table and its chart of events per hour instead.

Prints each step; the first failure ends it with a message and status 1. The last line is OK
when everything passed.
"""

import argparse
import html
import json
import os
import pwd
import re
import shutil
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
COOKIE = "sharehook_session"
PHONE = (390, 844)
DESKTOP = (1280, 900)
# Why a page may never finish loading in Chromium while it does in curl.
STUCK = (
    " (Chromium opens at most 6 connections to one host over HTTP/1.1 and keeps the pages"
    " left behind in its back/forward cache with their connections open: pages whose /events"
    " stream stays open once left use them up, and the next page waits for ever)"
)


def first_word(text):
    """The number of an attempt cell, which may carry a word after it ("2 resend")."""
    words = text.split()
    return words[0] if words else ""


class Failure(Exception):
    pass


def fail(message):
    raise Failure(message)


def step(message):
    print(f"step: {message}", flush=True)


def patience():
    """The deadline of every wait: 30 s, scaled by SHAREHOOK_PATIENCE_SCALE (qemu is slow)."""
    scale = float(os.environ.get("SHAREHOOK_PATIENCE_SCALE") or "1")
    return 30.0 * scale


try:
    from selenium import webdriver
    from selenium.common.exceptions import (
        NoSuchElementException,
        StaleElementReferenceException,
        TimeoutException,
        WebDriverException,
    )
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait
except ImportError as e:
    print(
        f"FAIL: selenium cannot be imported ({e}): run this with the Python of "
        "`bash tests/api/venv.sh` (it installs tests/api/requirements.txt)",
        flush=True,
    )
    sys.exit(1)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects are answers to check, not to follow."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


class Page:
    def __init__(self, args):
        self.base = args.base.rstrip("/")
        self.share = Path(args.share)
        self.share_name = args.share_name
        self.shots = Path(args.shots or ".")
        if args.shots:
            self.shots.mkdir(parents=True, exist_ok=True)
        self.admin = args.admin.split(":", 1)
        self.viewer = args.viewer.split(":", 1)
        self.driver = None
        self.opener = urllib.request.build_opener(NoRedirect)
        self.seen_pages = set()

    # The browser

    def start_browser(self):
        for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
            if not os.access(path, os.X_OK):
                fail(f"{path} is needed and not installed: apt-get install {package}")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for arg in (
            "--headless=new",
            "--no-sandbox",
            "--disable-dev-shm-usage",
            f"--window-size={DESKTOP[0]},{DESKTOP[1]}",
        ):
            options.add_argument(arg)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        try:
            self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        except WebDriverException as e:
            fail(f"cannot start {CHROMIUM} through {CHROMEDRIVER}: {e.msg}")
        self.driver.set_page_load_timeout(patience())

    def wait(self, what, condition):
        """Waits until `condition(driver)` is truthy and returns it, or fails naming `what`."""
        try:
            return WebDriverWait(
                self.driver,
                patience(),
                poll_frequency=0.1,
                ignored_exceptions=(NoSuchElementException, StaleElementReferenceException),
            ).until(condition)
        except TimeoutException:
            fail(f"timed out after {patience():.0f} s waiting for {what} on {self.url()}")

    def url(self):
        return self.driver.current_url

    def path(self):
        return urllib.parse.urlsplit(self.url()).path

    def one(self, css, within=None):
        try:
            return (within or self.driver).find_element(By.CSS_SELECTOR, css)
        except NoSuchElementException:
            fail(f"{self.path()} has no {css}")

    def all(self, css, within=None):
        return (within or self.driver).find_elements(By.CSS_SELECTOR, css)

    def none(self, css, why):
        found = self.all(css)
        if found:
            fail(f"{self.path()} shows {len(found)} {css} ({why})")

    def console(self, allowed=()):
        """Fails on any SEVERE entry of the browser console since the last look, except those
        containing one of `allowed` (the status of a page refused on purpose)."""
        errors = [
            e["message"]
            for e in self.driver.get_log("browser")
            if e.get("level") == "SEVERE" and not any(a in e["message"] for a in allowed)
        ]
        if errors:
            fail(f"errors in the browser console on {self.path()}: " + "; ".join(errors))

    def loaded(self, shot=None, allowed=()):
        """After a navigation: the document is complete, the console is clean, and the page
        is photographed as `shot`."""
        self.wait(
            "the document to load",
            lambda d: d.execute_script("return document.readyState") == "complete",
        )
        self.console(allowed)
        if shot:
            self.shoot(shot)

    def shoot(self, name):
        path = self.shots / f"{name}.png"
        if not self.driver.save_screenshot(str(path)):
            fail(f"cannot save the screenshot {path}")
        self.seen_pages.add(name)

    def get(self, url):
        try:
            self.driver.get(url)
        except TimeoutException:
            fail(f"{url} did not load in {patience():.0f} s{STUCK}")

    def visit(self, path, shot=None, allowed=()):
        self.get(self.base + path)
        self.loaded(shot, allowed)

    def expect_path(self, path):
        self.wait(f"the browser to be at {path}", lambda d: self.path() == path)

    def status(self):
        """The HTTP status of the document shown (Navigation Timing's responseStatus)."""
        return self.driver.execute_script(
            "const n = performance.getEntriesByType('navigation')[0];"
            "return n ? n.responseStatus : null"
        )

    def submit(self, form):
        """Submits `form` with its own button, as a person would, and waits for the document
        it leads to (which may have the same address as the one it was sent from)."""
        button = self.one("button[type=submit], button:not([type]), input[type=submit]", form)
        self.driver.execute_script("window.sharehookBeforeSubmit = true")
        button.click()
        self.wait(
            "the page the form leads to",
            lambda d: d.execute_script(
                "return window.sharehookBeforeSubmit !== true && document.readyState === 'complete'"
            ),
        )

    def mark(self):
        """Marks the document, to tell later whether it was reloaded."""
        self.driver.execute_script("window.sharehookUnreloaded = true")

    def still_marked(self, what):
        if not self.driver.execute_script("return window.sharehookUnreloaded === true"):
            fail(f"the page was reloaded while waiting for {what}: rows must arrive live")

    def nav(self, admin):
        nav = self.one("nav")
        for href in ("/", "/webhooks", "/activity", "/inbox"):
            self.one(f'a[href="{href}"]', nav)
        developer = self.all('a[href="/developer"]', nav)
        if admin and not developer:
            fail(f"{self.path()}: an admin's nav has no link to /developer")
        if not admin and developer:
            fail(f"{self.path()}: a viewer's nav links to /developer")
        self.one("form#logout button", None)

    # Raw HTTP, outside the browser

    def cookie(self):
        c = self.driver.get_cookie(COOKIE)
        if not c:
            fail(f"the browser holds no {COOKIE} cookie on {self.path()}")
        return c

    def http(self, method, path, cookie=None, form=None):
        """(status, Location, body) of one request, redirects not followed."""
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if cookie:
            req.add_header("Cookie", f"{COOKIE}={cookie}")
        if data is not None:
            req.add_header("Content-Type", "application/x-www-form-urlencoded")
            # As a browser would send it for a form of the page itself, so that a refusal is
            # about the token or the role, not about where the form came from.
            req.add_header("Origin", self.base)
            req.add_header("Referer", self.base + "/")
        try:
            with self.opener.open(req, timeout=patience()) as r:
                return r.status, r.headers.get("Location"), r.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as e:
            return e.code, e.headers.get("Location"), e.read().decode("utf-8", "replace")
        except OSError as e:
            fail(f"{method} {self.base}{path}: {e}")

    def refused(self, method, path, cookie, form, h1_words):
        status, _, body = self.http(method, path, cookie, form)
        if status != 403:
            fail(f"{method} {path} answered {status}, not 403 (expected a page saying {h1_words!r})")
        m = re.search(r"<h1[^>]*>(.*?)</h1>", body, re.S | re.I)
        title = html.unescape(re.sub(r"<[^>]+>", "", m.group(1))).strip() if m else ""
        if h1_words not in title.lower():
            fail(f"{method} {path}: the 403 page's h1 is {title!r}, without {h1_words!r}")

    # Pieces of pages

    def sign_in(self, user, next_path="/"):
        name, password = user
        self.one("form#login")
        self.one("form#login input[name=csrf]")
        self.one("form#login input[name=username]").send_keys(name)
        self.one("form#login input[name=password]").send_keys(password)
        self.submit(self.one("form#login"))
        self.expect_path(next_path)
        self.loaded()
        c = self.cookie()
        if not c.get("httpOnly"):
            fail(f"the {COOKIE} cookie is not HttpOnly: {c}")
        if c.get("sameSite") != "Strict":
            fail(f"the {COOKIE} cookie is not SameSite=Strict: {c}")

    def sign_out(self):
        self.submit(self.one("form#logout"))
        self.expect_path("/login")
        self.loaded()
        self.visit("/")
        self.expect_path("/login")

    def webhook_row(self, hook_id):
        return self.one(f'tr.webhook[data-webhook-id="{hook_id}"]')

    def token(self, hook_id):
        return self.one("code.token", self.webhook_row(hook_id)).text.strip()

    def attempt_ids(self):
        return [r.get_attribute("data-attempt-id") for r in self.all("table#activity tr.attempt")]

    def until_reloaded(self, path, what, found):
        """`found()` once it is truthy, looking again every second and reloading `path` every
        other second, up to the deadline."""
        deadline = time.monotonic() + patience()
        tries = 0
        while True:
            try:
                value = found()
            except StaleElementReferenceException:
                value = None
            if value:
                return value
            if time.monotonic() > deadline:
                fail(f"{path} shows no {what} after {patience():.0f} s")
            time.sleep(1)
            tries += 1
            if tries % 2 == 0:
                self.visit(path)

    def inbox_request(self, needle, what):
        """The newest article.request of /inbox whose body holds `needle`, reloading until it
        arrives (the inbox may also update live)."""

        def newest():
            for article in self.all("article.request"):
                if needle in self.one("pre.body", article).text:
                    return article
            return None

        return self.until_reloaded("/inbox", f"request with {needle!r} ({what})", newest)

    def valid(self, article, hook_id, what):
        signature = self.one(".signature", article).text.strip()
        if signature != "valid":
            fail(f"/inbox: the signature of {what} is {signature!r}, not 'valid'")
        webhook = self.one(".webhook", article).text
        if not re.search(rf"(?<!\d){re.escape(str(hook_id))}(?!\d)", webhook):
            fail(f"/inbox: {what} names webhook {webhook!r}, not {hook_id}")

    def write_file(self, name):
        path = self.share / name
        path.write_text(f"{name} for the page test\n")
        return "/" + name

    def weigh(self, paths):
        """Prints, for each page loaded with an empty cache, the bytes of its HTML and of
        everything it loads (as sent, and decoded), and the time to its first contentful
        paint, from the browser's own Navigation, Resource and Paint Timing."""
        self.driver.execute_cdp_cmd("Network.enable", {})
        self.driver.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})
        fcp = ("return performance.getEntriesByType('paint')"
               ".some(e => e.name === 'first-contentful-paint')")
        for path in paths:
            self.visit(path)
            try:
                WebDriverWait(self.driver, 5, poll_frequency=0.05).until(lambda d: d.execute_script(fcp))
            except TimeoutException:
                pass
            html, sent, decoded, parts, paint = self.driver.execute_script(
                "const n = performance.getEntriesByType('navigation')[0];"
                "const r = performance.getEntriesByType('resource')"
                "  .filter(e => !e.name.includes('/events'));"
                "const p = performance.getEntriesByType('paint')"
                "  .find(e => e.name === 'first-contentful-paint');"
                "return [n.decodedBodySize,"
                "  n.transferSize + r.reduce((a, e) => a + e.transferSize, 0),"
                "  n.decodedBodySize + r.reduce((a, e) => a + e.decodedBodySize, 0),"
                "  r.length, p ? p.startTime : null];"
            )
            paint = f"{paint:.0f} ms" if paint is not None else "none"
            print(f"figure: {path}: HTML {html} B; with its {parts} assets {decoded} B decoded, "
                  f"{sent} B sent; first contentful paint {paint}", flush=True)
        self.driver.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": False})

    def phone(self, on):
        if on:
            self.driver.execute_cdp_cmd(
                "Emulation.setDeviceMetricsOverride",
                {"width": PHONE[0], "height": PHONE[1], "deviceScaleFactor": 2, "mobile": True},
            )
        else:
            self.driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})

    def narrow(self, path, shot, allowed=()):
        """`path` on a phone: laid out for its width, and nothing wider (Chromium's mobile
        emulation widens the layout viewport to fit what overflows, as a phone zooms out)."""
        self.visit(path, shot, allowed)
        inner, scroll, viewport = self.driver.execute_script(
            "const m = document.querySelector('meta[name=viewport]');"
            "return [window.innerWidth, document.documentElement.scrollWidth,"
            " m ? m.content : null]"
        )
        if viewport is None or "width=device-width" not in viewport.replace(" ", ""):
            fail(
                f"{path} has no <meta name=\"viewport\" content=\"width=device-width, ...\">"
                f" (it has {viewport!r}): a phone shows it shrunk"
            )
        if inner != PHONE[0] or scroll > inner:
            wide = self.driver.execute_script(
                f"const w = {PHONE[0]};"
                "return [...document.querySelectorAll('body *')]"
                ".filter(e => e.getBoundingClientRect().right > w + 1)"
                ".filter(e => !e.parentElement || e.parentElement.getBoundingClientRect().right <= w + 1)"
                ".slice(0, 6)"
                ".map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') +"
                " (typeof e.className === 'string' && e.className.trim() ? '.' +"
                " e.className.trim().split(/\\s+/).join('.') : '') + ' ' +"
                " Math.round(e.getBoundingClientRect().right) + 'px')"
            )
            fail(
                f"{path} scrolls sideways at {PHONE[0]} x {PHONE[1]}: the page is "
                f"{max(inner, scroll)} px wide; the first things past the edge: "
                f"{', '.join(wide) or '(none found)'}"
            )

    # The whole walk

    def run_live_order(self, gap, rows):
        """/activity, kept open while a file is written, then another `gap` seconds later:
        webhook 1's slow receiver makes its attempts be written after webhook 2's later ones,
        and the live rows must still read newest first by the time each attempt was made."""
        self.start_browser()
        self.visit("/activity")
        self.sign_in(self.admin, "/activity")
        if self.attempt_ids():
            fail(f"/activity lists attempts before any file was written: {self.attempt_ids()}")
        self.mark()
        step("two files, the second one after the first one's quick delivery")
        self.write_file(f"order-first-{os.getpid()}.txt")
        time.sleep(gap)
        self.write_file(f"order-second-{os.getpid()}.txt")
        self.wait(f"{rows} live rows in table#activity", lambda d: len(self.attempt_ids()) >= rows)
        self.still_marked("the live rows")
        self.console()
        shown = [
            (r.get_attribute("data-attempt-id"), int(r.get_attribute("data-time")), self.all("td", r)[1].text)
            for r in self.all("table#activity tr.attempt")
        ]
        for row in shown:
            step(f"row {row}")
        times = [t for _, t, _ in shown]
        if times != sorted(times, reverse=True):
            fail(f"/activity: the live rows are not newest first by time: {times}")

    def person(self, user):
        """The overview's People row of `user`, or None."""
        for row in self.all("table#people-table tr.person"):
            if row.get_attribute("data-user") == user:
                return row
        return None

    def person_cells(self, row):
        return {td.get_attribute("data-label"): td.text.strip() for td in self.all("td", row)}

    def run_people(self, user, address):
        """The overview after changes were made: its People table names `user` with `address`,
        and its chart (an inline SVG drawn by the server) has at least one bar the browser draws.
        Then a file written on the share counts for its owner without a reload (live feed)."""
        self.start_browser()
        self.visit("/")
        self.sign_in(self.admin, "/")
        step(f"the People table names {user} from {address}")
        row = self.until_reloaded("/", f"a People row for {user}", lambda: self.person(user))
        cells = self.person_cells(row)
        if address not in cells.get("Addresses", "").split():
            fail(f"the People row of {user} does not name {address}: {cells}")
        if not cells.get("Events", "").isdigit() or int(cells["Events"]) < 1:
            fail(f"the People row of {user} counts no event: {cells}")
        if not cells.get("Protocols") or not self.all("time", row):
            fail(f"the People row of {user} has no protocol or no last seen: {cells}")
        step("the chart: an accessible inline SVG with at least one drawn bar")
        chart = self.one("section#people svg#hours-chart")
        label = chart.get_attribute("aria-label") or ""
        if chart.get_attribute("role") != "img" or " in all " not in label:
            fail(f"the chart is not an image saying its totals: role {chart.get_attribute('role')!r}, {label!r}")
        if not self.all("title", chart):
            fail("the chart has no <title>")
        bars = self.all("rect.bar", chart)
        if not bars:
            fail(f"the chart has no bar though {cells['Events']} events were counted: {label!r}")
        drawn = [b.size for b in bars]
        if not any(size["height"] > 0 and size["width"] > 0 for size in drawn):
            fail(f"the chart's bars are not drawn: {drawn}")
        if len(self.all("ul.legend li")) < 5:
            fail("the chart's legend does not name every operation")
        if self.driver.execute_script("return typeof window.Chart + typeof window.d3") != "undefinedundefined":
            fail("a chart library was loaded")
        self.console()
        self.driver.execute_script("document.getElementById('people').scrollIntoView()")
        self.shoot("overview-people")
        step("a file written on the share counts for its owner without a reload")
        owner = pwd.getpwuid(os.getuid()).pw_name
        before = self.person(owner)
        count = int(self.person_cells(before)["Events"]) if before else 0
        self.mark()
        self.write_file(f"people-{os.getpid()}.txt")

        def counted():
            row = self.person(owner)
            return row and int(self.person_cells(row)["Events"]) > count

        self.wait(f"the People row of {owner} counting more than {count} events", lambda d: counted())
        self.still_marked("the People row")
        self.console()

    def run(self):
        self.start_browser()
        d = self.driver

        step("without a session, every page answers 303 to /login?next=<path>")
        for path in ("/", "/webhooks", "/activity", "/inbox", "/developer"):
            status, location, _ = self.http("GET", path)
            where = urllib.parse.urlsplit(location or "")
            nxt = urllib.parse.parse_qs(where.query).get("next")
            if status != 303 or where.path != "/login" or nxt != [path]:
                fail(
                    f"GET {path} without a session answered {status} to {location!r}, "
                    f"not 303 to /login?next={path}"
                )
        self.visit("/activity")
        self.expect_path("/login")
        self.loaded("login")

        step("a wrong password: the login page again, 401, with an error")
        self.one("form#login input[name=username]").send_keys(self.admin[0])
        self.one("form#login input[name=password]").send_keys(self.admin[1] + "-wrong")
        self.submit(self.one("form#login"))
        self.wait("the login page with .flash.error", lambda d: d.find_element(By.CSS_SELECTOR, ".flash.error"))
        self.loaded(allowed=("401",))
        if self.status() != 401:
            fail(f"a wrong password answered {self.status()}, not 401")
        self.shoot("login-refused")
        if self.cookie_or_none():
            fail(f"a wrong password set the {COOKIE} cookie")

        step("the admin signs in and lands on the page asked for (/activity)")
        self.visit("/activity")
        self.sign_in(self.admin, "/activity")
        self.nav(admin=True)

        step("the overview names the share")
        self.visit("/")
        shares = self.all("section#shares tr.share")
        if not any(str(self.share) in r.text for r in shares):
            fail(f"the overview's shares do not name {self.share}: {[r.text for r in shares]}")
        if self.share_name and not any(self.share_name in r.text for r in shares):
            fail(f"the overview's shares do not name {self.share_name!r}: {[r.text for r in shares]}")
        self.one("section#webhooks")
        self.one("section#events table#events tbody")
        self.nav(admin=True)

        step("a webhook to the inbox, through the form")
        self.visit("/webhooks")
        before = {r.get_attribute("data-webhook-id") for r in self.all("table#webhooks tr.webhook")}
        self.one("a#new-webhook").click()
        self.expect_path("/webhooks/new")
        self.loaded()
        form = self.one("form#webhook-form")
        self.one("input[name=csrf]", form)
        inbox_url = self.one("code#inbox-url").text.strip()
        if not inbox_url.startswith(("http://", "https://")):
            fail(f"/webhooks/new: code#inbox-url is {inbox_url!r}, not a URL")
        resources = [o.get_attribute("value") for o in Select(self.one("select[name=resource]", form)).options]
        if not resources or resources[0] != "/":
            fail(f"/webhooks/new: the folders offered do not start with '/': {resources}")
        versions = {o.get_attribute("value") for o in Select(self.one("select[name=responseVersion]", form)).options}
        if not {"v1", "v2"} <= versions:
            fail(f"/webhooks/new: the response versions offered are {sorted(versions)}, not v1 and v2")
        for trigger in ("upload", "delete", "move", "rename", "createFolder"):
            box = self.one(f'input[type=checkbox][name="{trigger}"]', form)
            if not box.is_selected():
                fail(f"/webhooks/new: {trigger} is not checked on a new webhook")
        self.one("button#use-inbox").click()
        endpoint = self.one("input[name=endpointUrl]", form)
        self.wait("button#use-inbox to fill endpointUrl", lambda d: endpoint.get_attribute("value") == inbox_url)
        self.console()
        self.shoot("webhook-new")
        self.submit(form)
        self.expect_path("/webhooks")
        self.loaded()
        rows = {r.get_attribute("data-webhook-id") for r in self.all("table#webhooks tr.webhook")}
        new = rows - before
        if len(new) != 1:
            fail(f"after the form, /webhooks lists {sorted(rows)} (before: {sorted(before)}): not one new webhook")
        hook_id = new.pop()
        row = self.webhook_row(hook_id)
        if inbox_url not in row.text:
            fail(f"/webhooks: webhook {hook_id}'s row does not show {inbox_url}: {row.text!r}")
        for css in ("a.edit", "form.regenerate", "form.test", "form.delete", "code.token", "button.copy"):
            self.one(css, row)
        if self.all("form.enable", row):
            fail(f"/webhooks: webhook {hook_id} is new and enabled, yet offers form.enable")
        token1 = self.token(hook_id)
        if not token1:
            fail(f"/webhooks: webhook {hook_id} shows an empty token")
        self.nav(admin=True)
        self.shoot("webhooks")
        step(f"webhook {hook_id} delivers to {inbox_url}")

        self.visit(f"/webhooks/{hook_id}/edit", "webhook-edit")
        form = self.one("form#webhook-form")
        if self.one("input[name=endpointUrl]", form).get_attribute("value") != inbox_url:
            fail(f"/webhooks/{hook_id}/edit does not hold the endpoint {inbox_url}")

        step("a file written on the share: its row appears on the overview without a reload")
        self.visit("/")
        if not any((r.get_attribute("data-webhook-id") or "") == hook_id or inbox_url in r.text
                   for r in self.all("section#webhooks tr.webhook")):
            fail(f"the overview's webhooks do not list webhook {hook_id}")
        self.mark()
        first = self.write_file(f"page-first-{os.getpid()}.txt")
        self.wait(
            f"a tr.event row naming {first} in table#events",
            lambda d: any(first in r.text for r in d.find_elements(By.CSS_SELECTOR, "table#events tbody tr.event")),
        )
        self.still_marked(first)
        newest = self.all("table#events tbody tr.event")[0].text
        if first not in newest:
            fail(f"the overview's newest event is {newest!r}, not {first}")
        step("the share's last event and the webhook's last success follow, without a reload")
        self.wait(
            f"the share's row naming {first} as its last event",
            lambda d: any(first in r.text for r in d.find_elements(By.CSS_SELECTOR, "section#shares tr.share")),
        )
        self.wait(
            f"webhook {hook_id}'s row with a last success and nothing queued",
            lambda d: any(
                (r.get_attribute("data-webhook-id") or "") == hook_id
                and r.find_elements(By.CSS_SELECTOR, "td[data-label='Last success'] time")
                and r.find_element(By.CSS_SELECTOR, "td[data-label='Queued']").text.strip() == "0"
                for r in d.find_elements(By.CSS_SELECTOR, "section#webhooks tr.webhook")
            ),
        )
        self.still_marked(first)
        self.console()
        self.shoot("overview")
        if os.environ.get("SHAREHOOK_SCREENSHOT_DOCS") == "1":
            docs = Path(__file__).resolve().parents[2] / "docs"
            docs.mkdir(exist_ok=True)
            shutil.copyfile(self.shots / "overview.png", docs / "overview.png")
            step(f"copied the overview's screenshot to {docs / 'overview.png'}")

        step("another file: its delivery appears on /activity without a reload")
        self.visit("/activity")
        self.one("form#filters")
        self.one("section#failed")
        if not self.all("section#failed form#resend-all"):
            # Nothing has failed yet: a page may leave out a button with nothing to do.
            print("note: /activity offers no form#resend-all while nothing has failed", flush=True)
        old = set(self.attempt_ids())
        self.mark()
        second = self.write_file(f"page-second-{os.getpid()}.txt")
        # The first file's delivery may land now too: the new row is the one whose details
        # hold the second file.
        self.wait(
            "a new tr.attempt row in table#activity",
            lambda d: set(self.attempt_ids()) - old,
        )
        self.still_marked(second)
        self.console()
        new_ids = [i for i in self.attempt_ids() if i not in old]
        step(f"new attempts {new_ids}")
        attempt = None
        for attempt_id in new_ids:
            row = self.one(f'tr.attempt[data-attempt-id="{attempt_id}"]')
            cells = self.all("td", row)
            if len(cells) < 7:
                fail(f"/activity: attempt {attempt_id} has {len(cells)} cells, not 7: {row.text!r}")
            self.one("time", cells[0])
            if cells[1].text.strip() != inbox_url:
                fail(f"/activity: attempt {attempt_id}'s endpoint is {cells[1].text!r}, not {inbox_url}")
            # The cell may name the file too, under the event.
            if cells[2].text.strip().split("\n")[0].strip() != "resources.upload":
                fail(f"/activity: attempt {attempt_id}'s event is {cells[2].text!r}, not resources.upload")
            self.one("a.details", cells[6])
            self.one("form.resend", row)
            status, number = cells[3].text.strip(), first_word(cells[4].text)
            href = self.one("a.details", row).get_attribute("href")
            self.get(href)
            self.loaded()
            body = self.one("pre#body").text
            self.one("pre#response")
            try:
                json.loads(body)
            except ValueError:
                fail(f"{self.path()}: pre#body is not JSON: {body[:200]!r}")
            if second in body:
                attempt = (attempt_id, status, number, href)
                self.shoot("activity-details")
                break
            self.visit("/activity")
        if not attempt:
            fail(f"/activity: none of the new attempts {new_ids} sent {second}")
        attempt_id, status, number, details = attempt
        step(f"attempt {attempt_id}: status {status!r}, attempt {number!r}")
        if number != "1" or not attempt_id.endswith("-1"):
            fail(f"/activity: the first delivery of {second} is attempt {number!r} ({attempt_id}), not 1")
        self.visit("/activity")
        self.nav(admin=True)
        self.shoot("activity")

        step("/inbox: both deliveries, signed with the webhook's token")
        self.visit("/inbox")
        if self.one("code#inbox-url").text.strip() != inbox_url:
            fail(f"/inbox shows {self.one('code#inbox-url').text!r}, /webhooks/new showed {inbox_url}")
        for path in (first, second):
            self.valid(self.inbox_request(path, f"the Upload of {path}"), hook_id, f"the Upload of {path}")
        self.nav(admin=True)
        self.shoot("inbox")

        step("resend from /activity adds an attempt")
        event = attempt_id.rsplit("-", 1)[0]
        self.visit("/activity")
        row = self.one(f'tr.attempt[data-attempt-id="{attempt_id}"]')
        resend = self.one("form.resend", row)
        # What the form posts, for a viewer to post it later.
        resend_target = (
            urllib.parse.urlsplit(resend.get_attribute("action")).path,
            {
                i.get_attribute("name"): i.get_attribute("value")
                for i in self.all("input[name]", resend)
                if i.get_attribute("name") != "csrf"
            },
        )
        self.submit(resend)
        self.wait("the page after Resend", lambda d: self.path().startswith("/activity"))
        self.loaded()
        # The issue asks for live rows of new files; a resend's row may also come by reloading.
        resent = self.until_reloaded(
            "/activity",
            f"a second attempt of event {event} on /activity",
            lambda: [i for i in self.attempt_ids() if i.startswith(event + "-") and i != attempt_id],
        )
        row = self.one(f'tr.attempt[data-attempt-id="{resent[0]}"]')
        number = first_word(self.all("td", row)[4].text)
        if number != "2":
            fail(f"/activity: the resent delivery {resent[0]} is attempt {number!r}, not 2")
        self.console()

        step("regenerate token: the token shown changes")
        self.visit("/webhooks")
        self.submit(self.one("form.regenerate", self.webhook_row(hook_id)))
        self.expect_path("/webhooks")
        self.loaded()
        token2 = self.wait(
            f"webhook {hook_id}'s token to change from {token1!r}",
            lambda d: (t := self.token(hook_id)) != token1 and t,
        )

        step("the next delivery verifies with the new token")
        third = self.write_file(f"page-third-{os.getpid()}.txt")
        self.visit("/inbox")
        self.valid(self.inbox_request(third, "the Upload after regenerating"), hook_id, f"the Upload of {third}")

        step("Send test delivers an Upload of sharehook-test.txt, signed")
        self.visit("/webhooks")
        self.submit(self.one("form.test", self.webhook_row(hook_id)))
        self.loaded()
        self.visit("/inbox")
        self.valid(self.inbox_request("sharehook-test.txt", "the test delivery"), hook_id, "the test delivery")

        step("/developer: a new API key and a token for it are shown once")
        self.visit("/developer")
        for css in ("section#users", "section#apikeys", "section#tokens"):
            self.one(css)
        self.nav(admin=True)
        form = self.one("form#key-add")
        self.one("input[name=name]", form).send_keys("page-made")
        self.submit(form)
        self.expect_path("/developer")
        self.loaded()
        key = self.one(".flash.secret code.secret-value").text.strip()
        if "-" not in key or len(key) < 20:
            fail(f"/developer: the new API key {key!r} is not <account>-<random>")
        self.one(".flash.secret button.copy")
        self.submit(self.one("form#token-add"))
        self.expect_path("/developer")
        self.loaded()
        token = self.one(".flash.secret code.secret-value").text.strip()
        if len(token) < 32 or token == key:
            fail(f"/developer: the new access token {token!r} is not a token")
        self.shoot("developer")
        self.visit("/developer")
        if self.all(".flash.secret"):
            fail("/developer shows a new secret a second time")
        if not self.all("section#tokens tr.token"):
            fail("/developer lists no access token after one was made")

        step("/developer: a user's Remove removes that user, whatever its name holds")
        # The browser leaves out what follows a # in a form's address: unencoded, the Remove
        # of "admin2#x" posted to /developer/users/admin2 and removed admin2.
        for name in ("admin2", "admin2#x", "%61dmin2"):
            form = self.one("form#user-add")
            self.one("input[name=name]", form).send_keys(name)
            self.submit(form)
            self.expect_path("/developer")
            self.loaded()
        users = lambda: [r.get_attribute("data-user") for r in self.all("section#users tr.user")]
        for name in ("admin2#x", "%61dmin2"):
            row = next((r for r in self.all("section#users tr.user") if r.get_attribute("data-user") == name), None)
            if row is None:
                fail(f"/developer lists no user {name!r}: {users()}")
            self.submit(self.one("form.remove", row))
            self.expect_path("/developer")
            self.loaded()
            if name in users() or "admin2" not in users():
                fail(f"the Remove of {name!r} left {users()}")

        step("a receiver that cannot be reached: its failed event, Resend all, then Delete")
        self.visit("/webhooks/new")
        form = self.one("form#webhook-form")
        dead = "http://127.0.0.1:9/unreachable"
        self.one("input[name=endpointUrl]", form).send_keys(dead)
        self.submit(form)
        self.expect_path("/webhooks")
        self.loaded()
        dead_id = next(
            (r.get_attribute("data-webhook-id") for r in self.all("table#webhooks tr.webhook") if dead in r.text),
            None,
        )
        if not dead_id:
            fail(f"/webhooks lists no webhook to {dead}")
        fourth = self.write_file(f"page-fourth-{os.getpid()}.txt")
        self.visit(f"/activity?webhookId={dead_id}")
        failed = self.until_reloaded(
            f"/activity?webhookId={dead_id}",
            f"the failed event of {fourth}",
            lambda: [r for r in self.all("section#failed tr.failed") if fourth in r.text],
        )
        if dead_id not in failed[0].text:
            fail(f"the failed event does not name webhook {dead_id}: {failed[0].text!r}")
        transport = [r for r in self.all("table#activity tr.attempt") if "no answer" in r.text]
        if not transport:
            fail("/activity shows no transport failure in words for the unreachable receiver")
        self.shoot("activity-failed")
        self.submit(self.one("form#resend-all"))
        self.wait("the page after Resend all", lambda d: self.path() == "/activity")
        self.loaded()
        done = self.one(".flash.done").text
        if "put back" not in done:
            fail(f"Resend all said {done!r}")
        self.visit("/webhooks")
        self.submit(self.one("form.delete", self.webhook_row(dead_id)))
        self.expect_path("/webhooks")
        self.loaded()
        if self.all(f'tr.webhook[data-webhook-id="{dead_id}"]'):
            fail(f"webhook {dead_id} is still listed after Delete")

        step("page weight and time to first render, with the browser's cache off")
        self.weigh(["/", "/webhooks", "/webhooks/new", "/activity", urllib.parse.urlsplit(details).path,
                    "/inbox", "/developer"])

        step(f"every page at phone width ({PHONE[0]} x {PHONE[1]}): no sideways scrolling")
        self.phone(True)
        for path, shot in (
            ("/", "overview-phone"),
            ("/webhooks", "webhooks-phone"),
            ("/webhooks/new", "webhook-new-phone"),
            (f"/webhooks/{hook_id}/edit", "webhook-edit-phone"),
            ("/activity", "activity-phone"),
            (urllib.parse.urlsplit(details).path, "activity-details-phone"),
            ("/inbox", "inbox-phone"),
            ("/developer", "developer-phone"),
        ):
            self.narrow(path, shot)
        self.phone(False)

        step("a POST without the CSRF token, or with a wrong one, is refused")
        cookie = self.cookie()["value"]
        for form in ({}, {"csrf": "not-the-token"}):
            self.refused("POST", f"/webhooks/{hook_id}/regenerate-token", cookie, form, "expired or missing")
        self.visit("/webhooks")
        if self.token(hook_id) != token2:
            fail("a regenerate-token POST without a valid CSRF token changed the token")

        step("after logout, the pages redirect to login")
        self.sign_out()
        for path in ("/webhooks", "/activity", "/inbox"):
            self.visit(path)
            self.expect_path("/login")
            self.loaded()
        status, location, _ = self.http("GET", "/", cookie)
        if status != 303 or "/login" not in (location or ""):
            fail(f"the signed-out session's cookie still opens /: {status} {location!r}")

        step("a viewer sees no admin controls")
        self.visit("/login")
        self.sign_in(self.viewer)
        self.nav(admin=False)
        self.visit("/webhooks", "webhooks-viewer")
        self.webhook_row(hook_id)
        for css in ("a#new-webhook", "a.edit", "form.regenerate", "form.enable", "form.test",
                    "form.delete", "code.token", "button.copy"):
            self.none(css, "a viewer may not manage webhooks")
        if token2 in self.driver.page_source:
            fail("/webhooks shows the webhook's token to a viewer")
        self.nav(admin=False)
        self.visit("/activity", "activity-viewer")
        self.one("table#activity tr.attempt")
        self.none("form.resend", "a viewer may not resend")
        self.none("form#resend-all", "a viewer may not resend")
        self.visit("/", "overview-viewer")
        self.visit("/inbox")

        step("a viewer gets 403 from /developer and from every admin POST")
        self.visit("/developer", "forbidden", allowed=("403",))
        if self.status() != 403:
            fail(f"a viewer's GET /developer answered {self.status()}, not 403")
        if "not allowed" not in self.one("h1").text.lower():
            fail(f"a viewer's GET /developer: h1 is {self.one('h1').text!r}, without 'not allowed'")
        self.visit("/")
        csrf = self.one("form#logout input[name=csrf]").get_attribute("value")
        cookie = self.cookie()["value"]
        for path, form in (
            (f"/webhooks/{hook_id}/delete", {}),
            (f"/webhooks/{hook_id}/regenerate-token", {}),
            (f"/webhooks/{hook_id}/test", {}),
            ("/webhooks", {"endpointUrl": inbox_url, "resource": "/", "responseVersion": "v2", "upload": "on"}),
            resend_target,
        ):
            self.refused("POST", path, cookie, {"csrf": csrf, **form}, "not allowed")
        self.visit("/webhooks")
        if len(self.all("table#webhooks tr.webhook")) != len(rows):
            fail("a viewer's refused POSTs changed the webhooks listed")
        self.webhook_row(hook_id)
        self.sign_out()

        step(f"the login page at phone width ({PHONE[0]} x {PHONE[1]})")
        self.phone(True)
        self.narrow("/login", "login-phone")
        self.phone(False)

        step(f"screenshots in {self.shots}: {', '.join(sorted(self.seen_pages))}")

    def cookie_or_none(self):
        return self.driver.get_cookie(COOKIE)

    def failure_evidence(self):
        if not self.driver:
            return
        try:
            self.driver.save_screenshot(str(self.shots / "failure.png"))
            print(f"at {self.url()} (screenshot {self.shots / 'failure.png'})", flush=True)
            text = self.driver.find_element(By.TAG_NAME, "body").text
            print("page text:\n" + text[:3000], flush=True)
        except Exception as e:  # the evidence is a courtesy; the failure is already known
            print(f"(no evidence of the page: {e})", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the daemon's web address, http://HOST:PORT")
    parser.add_argument("--share", required=True, help="the share's folder (files are written there)")
    parser.add_argument("--share-name", help="the share's name, as the overview should show it")
    parser.add_argument("--admin", required=True, help="USER:PASSWORD of an admin")
    parser.add_argument("--viewer", default=":", help="USER:PASSWORD of a viewer")
    parser.add_argument("--shots", help="the folder the screenshots are saved in")
    parser.add_argument(
        "--live-order",
        type=int,
        metavar="ROWS",
        help="instead of the whole walk: write two files with --gap seconds between them and "
        "check the ROWS live rows of /activity are newest first by time",
    )
    parser.add_argument("--gap", type=float, default=1.0, help="seconds between the two files")
    parser.add_argument(
        "--people",
        nargs=2,
        metavar=("USER", "ADDRESS"),
        help="instead of the whole walk: check the overview's People table names USER from "
        "ADDRESS and its chart draws bars, then that a file written counts live",
    )
    args = parser.parse_args()
    if not args.live_order and not args.people and (args.viewer == ":" or not args.shots):
        parser.error("the whole walk needs --viewer and --shots")
    page = Page(args)
    started = time.monotonic()
    try:
        if args.live_order:
            page.run_live_order(args.gap, args.live_order)
        elif args.people:
            page.run_people(*args.people)
        else:
            page.run()
    except Failure as e:
        print(f"FAIL: {e}", flush=True)
        page.failure_evidence()
        return 1
    except TimeoutException as e:
        print(f"FAIL: the browser timed out: {e.msg}{STUCK}", flush=True)
        page.failure_evidence()
        return 1
    except WebDriverException as e:
        print(f"FAIL: the browser: {e.msg}", flush=True)
        page.failure_evidence()
        return 1
    finally:
        if page.driver:
            page.driver.quit()
    print(f"all steps passed in {time.monotonic() - started:.1f} s", flush=True)
    print("OK", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
