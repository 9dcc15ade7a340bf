# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The investigation package download: once a collection succeeded, its signed link (``getPackageUri``) and the
package itself, streamed into a 0600 file renamed into place. The link is a credential and the download host
never gets the API's bearer token."""

from __future__ import annotations

import hashlib
import os
import re
import stat
import time
from urllib.parse import urlsplit

from ansible_collections.defender.endpoint.plugins.module_utils import machines as M
from ansible_collections.defender.endpoint.plugins.module_utils import progress
from ansible_collections.defender.endpoint.plugins.module_utils.client import segment
from ansible_collections.defender.endpoint.plugins.module_utils.transport import build_session
from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderError
from ansible_collections.defender.endpoint.plugins.module_utils.export import file_digest
from ansible_collections.defender.endpoint.plugins.module_utils.files import AtomicWrite, write_atomically

PACKAGE_URI = M.ACTIONS + "/%s/getPackageUri"
CHUNK = 1024 * 1024


def _no_auth(request):
    """No Authorization header ever reaches the download host (not the API's token, not a .netrc entry)."""
    request.headers.pop("Authorization", None)
    return request


def package_name(result):
    """``<computer name>_<action id>.zip``, the computer name reduced to safe characters."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", result.get("computer_dns_name") or result["machine_id"]).strip(".")
    return "%s_%s.zip" % (name or result["machine_id"], result["action"]["id"])


class PackageDownloader:
    """Gets a package's signed link (GET getPackageUri, which the client paces in its own 2-a-minute budget) and
    downloads it over HTTPS with the collection's TLS settings, streamed into a 0600 temporary file renamed into
    place.

    The link is a credential: it never appears in a result, a message or an exception raised from here, and
    the download session is not the API's, so the bearer token is never sent to the download host.
    """

    def __init__(self, client, validate_certs=True, ca_path=None, timeout=30, session=None,
                 sleeper=time.sleep, clock=time.monotonic):
        self.client = client
        self.timeout = timeout
        self.session = session if session is not None else build_session(validate_certs, ca_path, pool_size=2)
        self.session.auth = _no_auth
        self.sleeper, self.clock = sleeper, clock

    def link(self, action_id, timeout, sleep):
        """The signed link, asking again while the API answers 404 (not ready) until ``timeout`` seconds pass."""
        deadline = self.clock() + max(0, timeout)
        path = PACKAGE_URI % segment(action_id, "action id")
        while True:
            try:
                answer = self.client.get(path)
                break
            except DefenderError as exc:
                if exc.status != 404 or self.clock() >= deadline:
                    raise
            self.sleeper(max(sleep, 0.05))
        value = answer.get("value") if isinstance(answer, dict) else answer
        # The documented example wraps the link in literal double quotes.
        url = value.strip().strip('"').strip() if isinstance(value, str) else ""
        if urlsplit(url).scheme.lower() != "https" or not urlsplit(url).hostname:
            raise DefenderError("getPackageUri did not return an HTTPS link; nothing was downloaded",
                                method="GET", path=path)
        return url

    def fetch(self, url, dest):
        """Download ``url`` to ``dest`` atomically; ``(sha256, size)``. Errors name the host, never the link."""
        host = urlsplit(url).hostname
        h, size = hashlib.sha256(), 0
        # A file or link planted at the package's name is replaced (the rename never writes through it).
        with AtomicWrite(dest, replace_link=True) as out:
            try:
                with self.session.get(url, stream=True, timeout=self.timeout,
                                      headers={"Accept": "application/octet-stream, */*"}) as response:
                    if response.status_code >= 400:
                        raise DefenderError("the download host %s answered HTTP %s" % (host, response.status_code),
                                            status=response.status_code)
                    for block in response.iter_content(CHUNK):
                        out.file.write(block)
                        h.update(block)
                        size += len(block)
            except DefenderError:
                raise
            except Exception as exc:  # pylint: disable=broad-except
                # requests' messages quote the URL, signature included: only the kind of failure is kept.
                raise DefenderError("downloading the package from %s failed (%s)" % (host, type(exc).__name__)) \
                    from None
        return h.hexdigest(), size

    def read(self, url, limit):
        """The body behind ``url`` in memory (at most ``limit`` bytes, for small results). Errors name the host only."""
        host = urlsplit(url).hostname
        try:
            with self.session.get(url, stream=True, timeout=self.timeout,
                                  headers={"Accept": "application/octet-stream, */*"}) as response:
                if response.status_code >= 400:
                    raise DefenderError("the download host %s answered HTTP %s" % (host, response.status_code),
                                        status=response.status_code)
                body = b""
                for block in response.iter_content(CHUNK):
                    body += block
                    if len(body) > limit:
                        raise DefenderError("the result from %s is larger than %d bytes" % (host, limit))
                return body
        except DefenderError:
            raise
        except Exception as exc:  # pylint: disable=broad-except
            raise DefenderError("downloading from %s failed (%s)" % (host, type(exc).__name__)) from None

    def download(self, action_id, dest, timeout, sleep):
        """Link, then download; one fresh link when the first is refused (expired): Microsoft's get-package-sas-uri
        page says the link is valid for a short time."""
        for attempt in (1, 2):
            url = self.link(action_id, timeout, sleep)
            try:
                return self.fetch(url, dest)
            except DefenderError as exc:
                if attempt == 2 or exc.status not in (401, 403):
                    raise
        raise AssertionError("unreachable")


def _record(path):
    """Where the SHA-256 of a package this module downloaded is kept (a hidden file beside it)."""
    return os.path.join(os.path.dirname(path), ".%s.sha256" % os.path.basename(path))


def downloaded_before(path):
    """``(sha256, size)`` of the package at ``path`` when it is one this module wrote: a regular file (not a link,
    FIFO or device), owned by this user, whose SHA-256 is the one recorded at its download; else None (it is then
    downloaded again, replacing whatever is there: never written through, never reported as evidence)."""
    try:
        st = os.lstat(path)
        record = os.lstat(_record(path))
    except OSError:
        return None
    uid = os.geteuid()
    if not (stat.S_ISREG(st.st_mode) and stat.S_ISREG(record.st_mode) and st.st_uid == uid == record.st_uid):
        return None
    with open(_record(path), encoding="ascii", errors="replace") as fh:
        recorded = fh.read().strip()
    digest = file_digest(path)
    return (digest, st.st_size) if digest == recorded else None


def _write_record(path, digest):
    write_atomically(_record(path), digest + "\n", encoding="ascii", replace_link=True)


def collect_packages(results, dest, downloader, check_mode, timeout, sleep):
    """After the collections succeeded: each machine's package into ``dest`` (named after the machine and the
    action, so a package already there is not downloaded again). Fills ``package_path``, ``package_sha256`` and
    ``package_size``; a failed download fails that machine and keeps its ``changed``."""
    todo = sum(1 for r in results if not r["failed"] and (r.get("action") or {}).get("status") == "Succeeded")
    done = 0
    for r in results:
        action = r.get("action")
        if r["failed"] or not r["machine_id"]:
            continue
        if check_mode or not action or action.get("status") != "Succeeded":
            if check_mode:
                r["msg"] += "; would download the package into %s" % dest
            continue
        path = os.path.join(dest, package_name(r))
        try:
            before = downloaded_before(path)
            if before is not None:
                digest, size = before
                r["msg"] += "; package already downloaded"
            else:
                if not os.path.isdir(dest):
                    os.makedirs(dest, mode=0o700, exist_ok=True)
                # The links are paced at 2 a minute: a fleet's downloads take a while.
                progress.report("downloading package %d of %d (%s)" % (done + 1, todo, r["computer_dns_name"]
                                                                       or r["machine_id"]),
                                done=done, total=todo, force=True)
                digest, size = downloader.download(action["id"], path, timeout, sleep)
                _write_record(path, digest)
                done += 1
                r["changed"] = True
                r["msg"] += "; package downloaded (%d bytes)" % size
        except (DefenderError, OSError) as exc:
            r.update(failed=True, msg="%s; the package could not be downloaded: %s" % (
                M.action_summary(action), exc if isinstance(exc, DefenderError) else (exc.strerror or type(exc).__name__)))
            continue
        r.update(package_path=path, package_sha256=digest, package_size=size)
